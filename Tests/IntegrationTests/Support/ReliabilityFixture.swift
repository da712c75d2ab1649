// Shared by the fault-injection and soak suites: measurements, log parsing, a status
// snapshot and a fixture that runs graced on its own port in its own directory.

import Foundation
import Testing

/// Measurements, log parsing and background work for the reliability suites.
enum Reliability {
    /// examples/faulty_worker.py.
    static var faultyWorkerScript: String { Binaries.examplesDirectory + "/faulty_worker.py" }

    /// argv that runs examples/faulty_worker.py with fault options and worker.py options.
    static func faultyWorkerCommand(_ arguments: [String]) -> [String] {
        [Binaries.python3, faultyWorkerScript] + arguments
    }

    /// The level word of a graced text log line ("2026-...Z info  message k=v").
    static func level(of line: String) -> String? {
        let tokens = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        return tokens.count >= 2 ? String(tokens[1]) : nil
    }

    /// True if the line is a graced event of this kind.
    static func isEvent(_ event: String, _ line: String) -> Bool {
        line.contains(" event=\(event) ") || line.hasSuffix(" event=\(event)")
    }

    /// VmRSS of a process in KiB (from /proc/PID/status).
    static func rssKiB(pid: Int) -> Int? {
        statusField("VmRSS", pid: pid)
    }

    /// A "Name:   1234 kB" field of /proc/PID/status as a number.
    static func statusField(_ name: String, pid: Int) -> Int? {
        guard let bytes = readWholeFile("/proc/\(pid)/status") else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix(name + ":") {
            return line.dropFirst(name.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
        }
        return nil
    }

    /// User + system CPU time of a process in seconds (/proc/PID/stat fields 14 and 15).
    static func cpuSeconds(pid: Int) -> Double? {
        guard let bytes = readWholeFile("/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Bytes a process has written so far (wchar of /proc/PID/io).
    static func bytesWritten(pid: Int) -> Int? {
        guard let bytes = readWholeFile("/proc/\(pid)/io") else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("wchar:") {
            return Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// The size of a file in bytes (0 if missing).
    static func fileSize(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    /// The first `limit` bytes of a file, as text.
    static func head(_ path: String, limit: Int) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: limit)
        var total = 0
        while total < limit {
            let n = buffer[total...].withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            total += n
        }
        return String(decoding: buffer[0..<total], as: UTF8.self)
    }

    /// A signal mask line of /proc/PID/status ("SigIgn", "SigBlk", ...), as a number.
    static func signalMask(_ name: String, pid: Int) -> UInt64? {
        guard let bytes = readWholeFile("/proc/\(pid)/status") else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix(name + ":") {
            return UInt64(line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces), radix: 16)
        }
        return nil
    }

    /// SIGKILLs a worker after freezing it with SIGSTOP, and returns how many client
    /// connections it held at that moment (its sockets other than the listener at fd 3):
    /// the requests the kill can fail, no more, since a stopped process accepts nothing.
    @discardableResult
    static func killCountingConnections(_ pid: Int) -> Int {
        kill(pid_t(pid), SIGSTOP)
        poll(timeout: .seconds(2), interval: .milliseconds(1)) { processStat(pid: pid).map { $0.state == "T" } ?? true }
        let held = openFDs(pid: pid).filter { $0 != 3 && (fdTarget(pid: pid, fd: $0) ?? "").hasPrefix("socket:") }.count
        kill(pid_t(pid), SIGKILL)
        return held
    }

    /// The children of `pid` that are not zombies.
    static func liveChildren(of pid: Int) -> [Int] {
        IntegrationTests.children(of: pid).filter { !isZombie(pid: $0) }
    }

    /// The zombie descendants of `pid`.
    static func zombies(below pid: Int) -> [Int] {
        descendants(of: pid).filter { isZombie(pid: $0) }
    }

    /// The children of `pid` whose environment says GRACED_GENERATION=`generation`.
    static func children(of pid: Int, generation: Int) -> [Int] {
        IntegrationTests.children(of: pid).filter { environment(pid: $0)["GRACED_GENERATION"] == String(generation) }
    }

    /// Recv-Q of graced's control (listening, u_str) and notify (u_dgr) sockets from `ss -xanp`;
    /// nil if ss is missing or shows nothing.
    static func socketQueues(gracedPID: Int) -> (control: Int?, notify: Int?)? {
        guard let ss = Binaries.onPath("ss") ?? (Binaries.isExecutableFile("/usr/bin/ss") ? "/usr/bin/ss" : nil) else {
            return nil
        }
        let result = runCommand(ss, ["-xanp"], timeout: .seconds(20))
        guard result.status == 0 else { return nil }
        var control: Int?
        var notify: Int?
        for line in result.stdout.split(separator: "\n") where line.contains("pid=\(gracedPID),") {
            let columns = line.split(separator: " ", omittingEmptySubsequences: true)
            guard columns.count > 4, let queue = Int(columns[2]) else { continue }
            if columns[0] == "u_str" && columns[1] == "LISTEN" { control = queue }
            if columns[0] == "u_dgr" && line.contains("/notify") { notify = queue }
        }
        return control == nil && notify == nil ? nil : (control, notify)
    }

    /// Runs `body` on a thread of its own; `wait()` returns its result.
    final class Background<Value>: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private let value = Locked<Value?>(nil)

        init(_ name: String, _ body: @escaping @Sendable () -> Value) {
            let thread = Thread { [value, done] in
                let result = body()
                value.withLock { $0 = result }
                done.signal()
            }
            thread.name = name
            thread.start()
        }

        func wait() -> Value {
            done.wait()
            done.signal()
            return value.withLock { $0! }
        }
    }

    /// Runs `body` while a LoadGenerator (a new connection per request) sends requests to
    /// `endpoint`; returns what the load saw. The load stops also when `body` throws.
    static func underLoad(_ endpoint: Endpoint, concurrency: Int = 8, warmUp: Int = 30,
                          _ body: (LoadGenerator) throws -> Void) throws -> LoadResult {
        let load = LoadGenerator(endpoint: endpoint, concurrency: concurrency, newConnectionPerRequest: true,
                                 requestTimeout: .seconds(10))
        load.start()
        var result = LoadResult()
        do {
            defer { result = load.stop() }
            if warmUp > 0 { try load.waitForRequests(warmUp, timeout: .seconds(30)) }
            try body(load)
        }
        return result
    }
}

/// `graced status --json`, the parts the reliability tests look at.
struct GracedStatusSnapshot: Decodable, CustomStringConvertible {
    struct Worker: Decodable {
        var pid: Int
        var index: Int
        var state: String
        var restarts: Int
    }
    struct Generation: Decodable {
        var number: Int
        var state: String
        var workers: [Worker]
    }
    struct Reload: Decodable {
        var ok: Bool
        var detail: String
    }
    struct Listener: Decodable {
        var name: String
        var inode: UInt64?
    }
    var pid: Int
    var listeners: [Listener]
    var state: String
    var generations: [Generation]
    var lastReload: Reload?

    enum CodingKeys: String, CodingKey {
        case pid, state, generations, listeners
        case lastReload = "last_reload"
    }

    var serving: [Generation] { generations.filter { $0.state == "serving" } }
    var draining: [Generation] { generations.filter { $0.state == "draining" } }
    var allPIDs: [Int] { generations.flatMap { $0.workers.map(\.pid) } }

    var description: String {
        generations.map { generation in
            "gen \(generation.number) \(generation.state): "
                + generation.workers.map { "#\($0.index) pid \($0.pid) \($0.state) restarts \($0.restarts)" }.joined(separator: ", ")
        }.joined(separator: "; ") + (lastReload.map { " | last reload ok=\($0.ok): \($0.detail)" } ?? "")
    }
}

/// One graced on one HTTP listener in a temporary directory, with helpers to rewrite
/// the config, reload, query status and check that status matches the process table.
final class ReliabilityFixture: @unchecked Sendable {
    /// How the initializer waits for generation 1.
    enum ReadyCheck {
        /// "generation 1 ready" in the log, then HTTP.
        case log
        /// `graced status --json` shows a serving generation with every worker ready, then
        /// HTTP (for a graced whose stderr goes nowhere readable, or a flooded log).
        case status
    }

    let directory: TemporaryDirectory
    let port: UInt16
    let graced: GracedProcess
    let configPath: String
    let processes: Int

    var endpoint: Endpoint { .tcp(host: "127.0.0.1", port: port) }
    var controlPath: String { controlSocketPath(in: directory.path) }
    var pid: Int { graced.pid }

    /// - Parameters:
    ///   - command: `[worker] command`.
    ///   - workerLines: more `[worker]` lines (`ready = "notify"` and `processes` are added).
    ///   - executable, logPath: see GracedProcess (a wrapper script; where stdout/stderr go).
    ///   - beforeStart: runs once the directory exists, before graced starts.
    ///   In `command`, `executable` and `logPath`, "{dir}" stands for the temporary directory.
    init(prefix: String = "rel", command: [String], workerLines: [String] = [], processes: Int = 1,
         executable: String? = nil, logPath: String? = nil, ready: ReadyCheck = .log,
         beforeStart: (TemporaryDirectory) throws -> Void = { _ in }) throws {
        directory = try TemporaryDirectory(prefix: prefix)
        port = freeTCPPort()
        self.processes = processes
        configPath = directory.file("graced.conf")
        try ReliabilityFixture.write(in: directory.path, port: port, command: command, workerLines: workerLines,
                                     processes: processes)
        try beforeStart(directory)
        let dir = directory.path
        graced = try GracedProcess(config: configPath,
                                   logPath: logPath.map { $0.replacingOccurrences(of: "{dir}", with: dir) },
                                   executable: executable.map { $0.replacingOccurrences(of: "{dir}", with: dir) })
        switch ready {
        case .log: try graced.waitForLog(containing: "generation 1 ready", timeout: .seconds(60))
        case .status: try waitForServing(generation: 1, timeout: .seconds(60))
        }
        _ = try waitForHTTP(endpoint, path: "/health", timeout: .seconds(30))
    }

    deinit { graced.terminate() }

    private static func write(in directory: String, port: UInt16, command: [String], workerLines: [String],
                              processes: Int, padding: Int = 0) throws {
        var lines = ["ready = \"notify\"", "processes = \(processes)"] + workerLines
        if padding > 0 {
            // Comments after the last key make the file long enough to need several reads.
            lines += (0..<(padding / 64 + 1)).map { "# padding \($0) " + String(repeating: "-", count: 48) }
        }
        let command = command.map { $0.replacingOccurrences(of: "{dir}", with: directory) }
        try writeConfig(in: directory, listeners: [("http", "127.0.0.1:\(port)")], command: command, workerLines: lines)
    }

    /// Rewrites graced.conf (atomically: a temporary file renamed over it).
    func rewrite(command: [String], workerLines: [String] = []) throws {
        try ReliabilityFixture.write(in: directory.path, port: port, command: command, workerLines: workerLines,
                                     processes: processes)
    }

    /// The config text that `rewrite` would write, for writing it elsewhere.
    func configText(command: [String], workerLines: [String] = [], padding: Int = 0) throws -> String {
        let scratch = try TemporaryDirectory(prefix: "cfg")
        try ReliabilityFixture.write(in: scratch.path, port: port, command: command, workerLines: workerLines,
                                     processes: processes, padding: padding)
        var text = try String(contentsOfFile: scratch.file("graced.conf"), encoding: .utf8)
        text = text.replacingOccurrences(of: controlSocketPath(in: scratch.path), with: controlPath)
        return text
    }

    /// `graced reload --control SOCK [extra]`, blocking until the verdict.
    func reload(_ extra: [String] = [], timeout: Duration = .seconds(90)) -> (status: Int32, stdout: String, stderr: String) {
        runGraced(["reload", "--control", controlPath] + extra, timeout: timeout)
    }

    /// `graced status --json`, decoded.
    func status(timeout: Duration = .seconds(30)) throws -> GracedStatusSnapshot {
        let result = runGraced(["status", "--json", "--control", controlPath], timeout: timeout)
        guard result.status == 0 else {
            throw TestSupportError("graced status --json exited \(result.status): \(result.stdout) \(result.stderr)")
        }
        do {
            return try JSONDecoder().decode(GracedStatusSnapshot.self, from: Data(result.stdout.utf8))
        } catch {
            throw TestSupportError("graced status --json: cannot decode (\(error)): \(result.stdout.prefix(2000))")
        }
    }

    /// Polls status until `generation` serves with every worker ready.
    func waitForServing(generation: Int, timeout: Duration) throws {
        var last = "no status"
        let deadline = Deadline(after: timeout)
        while !deadline.hasPassed {
            guard graced.isRunning else { throw TestSupportError("graced exited: \(logTail())") }
            if let status = try? status(timeout: .seconds(10)) {
                last = "\(status)"
                if let serving = status.serving.first, serving.number == generation,
                   serving.workers.count == processes, serving.workers.allSatisfy({ $0.state == "ready" }) {
                    return
                }
            }
            sleepThread(.milliseconds(50))
        }
        throw TestSupportError("generation \(generation) not serving within \(timeout); last status: \(last)\n\(logTail())")
    }

    /// Current open fds of graced.
    func fdCount() -> Int { openFDs(pid: pid).count }

    /// The log as lines, if it is a regular file (not a FIFO).
    func logLines() -> [String] {
        var info = stat()
        guard stat(graced.logPath, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return [] }
        return graced.logLines()
    }

    /// The last lines of the log (for failure messages), bounded.
    func logTail(_ count: Int = 60) -> String {
        var info = stat()
        guard stat(graced.logPath, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return "(no log file)" }
        if info.st_size > 4 << 20 { return "(log of \(info.st_size) bytes not shown)" }
        return "log tail:\n" + graced.logLines().suffix(count).joined(separator: "\n")
    }

    /// Log lines of one event kind.
    func lines(event: String) -> [String] {
        logLines().filter { Reliability.isEvent(event, $0) }
    }

    /// Log lines at a level ("error", "crit", "warn", ...), worker output excluded.
    func lines(atLevel level: String) -> [String] {
        logLines().filter { Reliability.level(of: $0) == level && !Reliability.isEvent("worker-output", $0) }
    }

    /// nil if graced runs, `graced status` lists exactly one serving generation of
    /// `processes` ready workers (and, unless `allowDraining`, nothing else), and the
    /// listed pids are exactly graced's live children; otherwise what differs.
    func inconsistency(allowDraining: Bool = false) -> String? {
        guard graced.isRunning else { return "graced is not running" }
        let status: GracedStatusSnapshot
        do { status = try self.status(timeout: .seconds(15)) } catch { return "\(error)" }
        var problems: [String] = []
        if status.serving.count != 1 { problems.append("\(status.serving.count) serving generations") }
        if let serving = status.serving.first {
            if serving.workers.count != processes { problems.append("\(serving.workers.count) of \(processes) workers") }
            if !serving.workers.allSatisfy({ $0.state == "ready" }) { problems.append("a serving worker is not ready") }
        }
        let others = status.generations.filter { $0.state != "serving" }
        if !allowDraining && !others.isEmpty { problems.append("other generations listed") }
        let listed = Set(status.allPIDs)
        let live = Set(Reliability.liveChildren(of: pid))
        for worker in listed.sorted() {
            if !isAlive(pid: worker) { problems.append("listed pid \(worker) is not alive") }
            else if parentPID(of: worker) != pid { problems.append("listed pid \(worker) is not graced's child") }
        }
        let unlisted = live.subtracting(listed)
        if !unlisted.isEmpty { problems.append("children of graced missing from status: \(unlisted.sorted())") }
        return problems.isEmpty ? nil : problems.joined(separator: ", ") + " | status: \(status) | children: \(live.sorted())"
    }

    /// Polls until `inconsistency` is nil; returns the last problem otherwise.
    func waitUntilConsistent(allowDraining: Bool = false, timeout: Duration = .seconds(20)) -> String? {
        var last: String?
        let ok = poll(timeout: timeout, interval: .milliseconds(100)) {
            last = inconsistency(allowDraining: allowDraining)
            return last == nil
        }
        return ok ? nil : last
    }

    /// Polls until graced has no zombie descendants; returns those left.
    func waitForNoZombies(timeout: Duration = .seconds(5)) -> [Int] {
        var left: [Int] = []
        poll(timeout: timeout, interval: .milliseconds(50)) {
            left = graced.isRunning ? Reliability.zombies(below: pid) : []
            return left.isEmpty
        }
        return left
    }
}
