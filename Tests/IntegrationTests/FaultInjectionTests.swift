// Injected faults (issue 6, "hardening", item 2): graced must stay up, stay consistent
// (`graced status` lists exactly the workers that exist, all of them its children) and
// log every outcome at the right level while workers are SIGKILLed, SIGSTOPped, flood
// their output, close it, leave listener-holding descendants behind, while graced runs
// out of fds, loses its stderr, is hit by a reload storm, or its config is replaced or
// deleted under it.
//
// Each test starts its own graced (the real binary) in its own TemporaryDirectory on a
// free port; graced and everything below it are SIGKILLed when the test ends. The
// suite is serialized: most tests drive both cores hard. Figures are printed with the
// prefix "FAULT" for the README's Reliability table.
//
// The helpers (`Reliability`, `ReliabilityFixture`) are shared with SoakTests.swift.
// Workers: examples/worker.py, and examples/faulty_worker.py for the faults worker.py
// lacks (flooding, a 10 MB line, closed stdio, a listener-holding child, a start delay).

import Foundation
import Testing

// MARK: - Shared helpers

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

// MARK: - Tests

@Suite(.serialized) struct FaultInjectionTests {
    // a. SIGKILL of random workers during a series of reloads.
    @Test func sigkillOfRandomWorkersDuringReloads() throws {
        let fixture = try ReliabilityFixture(
            command: Binaries.workerCommand(["--work-ms", "2", "--ready-after", "0.2"]),
            workerLines: ["drain_timeout = \"10s\"", "ready_timeout = \"20s\"", "restart = \"on-failure\""],
            processes: 2)
        var servingVictims: [Int] = []
        var newVictims: [Int] = []
        var outcomes: [String] = []
        var inFlight = 0   // client connections the victims held when they were killed
        var generator = SystemRandomNumberGenerator()
        let rounds = 10
        let result = try Reliability.underLoad(fixture.endpoint) { load in
            for round in 1...rounds {
                let before = try fixture.status()
                let serving = try #require(before.serving.first, "no serving generation: \(before)")
                if round % 3 == 0 {
                    // The victim is a worker of the generation this reload starts.
                    let gracedPID = fixture.pid
                    let target = serving.number + 1
                    let killed = Locked<(pid: Int, held: Int)?>(nil)
                    let stop = Locked(false)
                    let killer = Reliability.Background("killer") {
                        while !stop.withLock({ $0 }) {
                            if let victim = Reliability.children(of: gracedPID, generation: target).first {
                                let held = Reliability.killCountingConnections(victim)
                                killed.withLock { $0 = (victim, held) }
                                return
                            }
                            sleepThread(.milliseconds(2))
                        }
                    }
                    let reload = fixture.reload()
                    stop.withLock { $0 = true }
                    killer.wait()
                    let victim = killed.withLock { $0 }?.pid
                    if let killed = killed.withLock({ $0 }) {
                        newVictims.append(killed.pid)
                        inFlight += killed.held
                    }
                    #expect(reload.status == 0 || reload.status == 1, "round \(round): \(reload)")
                    if reload.status == 1 {
                        #expect(reload.stderr.contains("reload failed"), "round \(round): \(reload.stderr)")
                        let after = try fixture.status()
                        #expect(after.serving.first?.number == serving.number,
                                "round \(round): the failed reload changed the serving generation: \(after)")
                    }
                    outcomes.append("r\(round): kill new-gen pid \(victim.map(String.init) ?? "none") -> exit \(reload.status)")
                } else {
                    let candidates = serving.workers.filter { $0.state == "ready" }
                    let victim = try #require(candidates.randomElement(using: &generator), "no ready worker: \(before)")
                    let offset = fixture.graced.logOffset()
                    inFlight += Reliability.killCountingConnections(victim.pid)
                    servingVictims.append(victim.pid)
                    try fixture.graced.waitForLog(
                        matching: { Reliability.isEvent("worker-died", $0) && $0.contains("worker \(victim.pid) ") },
                        since: offset, timeout: .seconds(20), what: "worker-died for pid \(victim.pid)")
                    if round % 3 == 2 {
                        // Let the restart happen first.
                        let restarted = poll(timeout: .seconds(20), interval: .milliseconds(50)) {
                            guard let now = try? fixture.status(), let gen = now.serving.first else { return false }
                            return gen.number == serving.number && gen.workers.count == 2
                                && gen.workers.allSatisfy { $0.state == "ready" && $0.pid != victim.pid }
                        }
                        #expect(restarted, "round \(round): pid \(victim.pid) of generation \(serving.number) not restarted: \((try? fixture.status()).map { "\($0)" } ?? "?")")
                    }
                    let reload = fixture.reload()
                    #expect(reload.status == 0, "round \(round) (victim \(victim.pid)): \(reload)\n\(fixture.logTail())")
                    outcomes.append("r\(round): kill serving pid \(victim.pid)\(round % 3 == 2 ? " (restarted first)" : "") -> exit \(reload.status)")
                }
                try load.waitForRequests(20, timeout: .seconds(30))
            }
        }
        let kills = servingVictims.count + newVictims.count
        print("FAULT a sigkill: \(rounds) reloads, \(kills) kills (\(servingVictims.count) serving, \(newVictims.count) new); "
              + "requests ok \(result.ok) failed \(result.failed), the victims held \(inFlight) connections when killed; "
              + "\(outcomes.joined(separator: "; "))")
        if !result.failures.isEmpty { print("FAULT a failures: \(result.failures.joined(separator: " | "))") }
        #expect(result.failed <= inFlight, "more failures than the killed workers had connections in flight (\(inFlight)): \(result)")
        #expect(result.ok > 100, "\(result)")

        #expect(fixture.graced.isRunning)
        let problem = fixture.waitUntilConsistent(timeout: .seconds(30))
        #expect(problem == nil, "\(problem ?? "")\n\(fixture.logTail())")
        #expect(fixture.waitForNoZombies().isEmpty)
        // Every unasked death is an error naming the pid.
        let lines = fixture.logLines()
        for victim in servingVictims + newVictims {
            let line = lines.first {
                (Reliability.isEvent("worker-died", $0) || Reliability.isEvent("worker-failed", $0)) && $0.contains(" pid=\(victim) ")
            }
            #expect(line != nil, "no worker-died/worker-failed line for pid \(victim)")
            if let line { #expect(Reliability.level(of: line) == "error", "\(line)") }
        }
        let restarts = lines.filter { Reliability.isEvent("restart-scheduled", $0) }
        #expect(!restarts.isEmpty, "no restart-scheduled line")
        for line in restarts { #expect(Reliability.level(of: line) == "info", "\(line)") }
        #expect(fixture.lines(atLevel: "crit").isEmpty, "\(fixture.lines(atLevel: "crit"))")
        print("FAULT a log: \(lines.filter { Reliability.isEvent("worker-died", $0) }.count) worker-died (error), "
              + "\(lines.filter { Reliability.isEvent("worker-failed", $0) }.count) worker-failed (error), "
              + "\(restarts.count) restart-scheduled (info), graced state: \((try? fixture.status()).map { "\($0)" } ?? "?")")
    }

    // b. A new worker SIGSTOPped right after spawn never becomes ready.
    @Test func sigstoppedNewWorkerFailsTheReloadAndIsKilled() throws {
        let fixture = try ReliabilityFixture(
            command: Binaries.workerCommand(["--work-ms", "2"]),
            workerLines: ["ready_timeout = \"10s\"", "drain_timeout = \"2s\""])
        let before = try workerInfo(fixture.endpoint)
        // --start-delay: the new worker sleeps 1 s before it takes its listener, so it is
        // stopped before it accepts anything.
        try fixture.rewrite(command: Reliability.faultyWorkerCommand(["--start-delay", "1", "--work-ms", "2"]),
                            workerLines: ["ready_timeout = \"2s\"", "drain_timeout = \"2s\""])
        var stoppedPID: Int?
        var stoppedState: Character?
        var reload: (status: Int32, stdout: String, stderr: String) = (0, "", "")
        var goneAfter: Duration?
        let reloadReturned = Locked<ContinuousClock.Instant?>(nil)
        let result = try Reliability.underLoad(fixture.endpoint) { load in
            let gracedPID = fixture.pid
            let started = ContinuousClock.now
            let background = Reliability.Background("reload") { [fixture] in
                let outcome = fixture.reload()
                reloadReturned.withLock { $0 = .now }
                return outcome
            }
            poll(timeout: .seconds(10), interval: .milliseconds(2)) {
                guard let pid = Reliability.children(of: gracedPID, generation: 2).first else { return false }
                kill(pid_t(pid), SIGSTOP)
                stoppedPID = pid
                return true
            }
            if let stoppedPID {
                poll(timeout: .seconds(2), interval: .milliseconds(5)) { processStat(pid: stoppedPID)?.state == "T" }
                stoppedState = processStat(pid: stoppedPID)?.state
            }
            reload = background.wait()
            if let stoppedPID {
                let gone = poll(timeout: .seconds(20), interval: .milliseconds(20)) { !processExists(pid: stoppedPID) }
                if gone { goneAfter = ContinuousClock.now - (reloadReturned.withLock { $0 } ?? started) }
            }
            try load.waitForRequests(30, timeout: .seconds(30))
        }
        let stopped = try #require(stoppedPID, "no generation-2 child of graced appeared\n\(fixture.logTail())")
        print("FAULT b sigstop: stopped pid \(stopped) (state \(stoppedState.map(String.init) ?? "?")), reload exit \(reload.status): "
              + "\(reload.stderr.trimmingCharacters(in: .whitespacesAndNewlines)); stopped process gone "
              + "\(goneAfter.map { "\($0) after the verdict" } ?? "NEVER"); requests ok \(result.ok) failed \(result.failed)")
        #expect(stoppedState == "T", "pid \(stopped) was not stopped")
        #expect(reload.status == 1, "\(reload)\n\(fixture.logTail())")
        #expect(reload.stderr.contains("ready_timeout"), "\(reload.stderr)")
        #expect(goneAfter != nil, "the stopped worker \(stopped) was left behind: state \(processStat(pid: stopped).map { String($0.state) } ?? "gone")")
        #expect(result.failed == 0, "\(result)")
        let after = try workerInfo(fixture.endpoint)
        #expect(after.pid == before.pid && after.generation == "1", "\(after.pid) gen \(after.generation ?? "?")")
        let problem = fixture.waitUntilConsistent()
        #expect(problem == nil, "\(problem ?? "")\n\(fixture.logTail())")
        let status = try fixture.status()
        #expect(status.serving.first?.number == 1 && status.allPIDs == [before.pid], "\(status)")
        // The verdict is an error naming ready_timeout; the stopped worker is SIGKILLed
        // after drain_timeout (SIGTERM stays pending in a stopped process), a warning.
        let lines = fixture.logLines()
        let failed = lines.first { Reliability.isEvent("reload-failed", $0) }
        #expect(failed.map { Reliability.level(of: $0) } == "error", "reload-failed line: \(failed ?? "none")")
        #expect(failed?.contains("ready_timeout") == true, "\(failed ?? "none")")
        let killed = lines.first { Reliability.isEvent("drain-timeout", $0) && $0.contains(" pid=\(stopped) ") }
        if let killed { #expect(Reliability.level(of: killed) == "warn", "\(killed)") }
        let abandoned = lines.first { Reliability.isEvent("generation-abandoned", $0) }
        #expect(abandoned.map { Reliability.level(of: $0) } == "info", "generation-abandoned line: \(abandoned ?? "none")")
        print("FAULT b log: \([failed, killed, abandoned].compactMap { $0 }.joined(separator: " || "))")
        #expect(fixture.lines(atLevel: "crit").isEmpty)
    }

    // c. A worker flooding stdout and stderr.
    @Test func floodingWorkerLeavesGracedResponsiveAndBounded() throws {
        let fixture = try ReliabilityFixture(
            command: Reliability.faultyWorkerCommand(["--flood-stdout", "--flood-stderr", "--work-ms", "2"]),
            workerLines: ["drain_timeout = \"2s\""], ready: .status)
        let worker = try #require(try fixture.status().allPIDs.first)
        var latencies: [Double] = []
        var statusFailures: [String] = []
        var maxRSS = 0
        let cpuBefore = Reliability.cpuSeconds(pid: fixture.pid) ?? 0
        let writtenBefore = Reliability.bytesWritten(pid: worker) ?? 0
        let logBefore = Reliability.fileSize(fixture.graced.logPath)
        let started = ContinuousClock.now
        let result = try Reliability.underLoad(fixture.endpoint, concurrency: 4, warmUp: 10) { _ in
            // One `graced status` every second for 6 s, each in its own thread (one that
            // hangs must not hide the others), and graced's RSS every 100 ms meanwhile.
            let controlPath = fixture.controlPath
            var calls: [Reliability.Background<(Double, Int32, String)>] = []
            let deadline = Deadline(after: .seconds(6))
            var nextCall = ContinuousClock.now
            while !deadline.hasPassed {
                if ContinuousClock.now >= nextCall {
                    nextCall += .seconds(1)
                    calls.append(Reliability.Background("status") {
                        let begin = ContinuousClock.now
                        let status = runGraced(["status", "--control", controlPath], timeout: .seconds(30))
                        return ((ContinuousClock.now - begin).seconds, status.status, status.stderr)
                    })
                }
                maxRSS = max(maxRSS, Reliability.rssKiB(pid: fixture.pid) ?? 0)
                sleepThread(.milliseconds(100))
            }
            for call in calls {
                let (seconds, code, stderr) = call.wait()
                latencies.append(seconds)
                if code != 0 { statusFailures.append("exit \(code) after \(String(format: "%.1f", seconds))s: \(stderr)") }
            }
        }
        let elapsed = (ContinuousClock.now - started).seconds
        let written = (Reliability.bytesWritten(pid: worker) ?? writtenBefore) - writtenBefore
        latencies.sort()
        let logged = Reliability.fileSize(fixture.graced.logPath) - logBefore
        let cpu = (Reliability.cpuSeconds(pid: fixture.pid) ?? cpuBefore) - cpuBefore
        let worst = latencies.max() ?? 0
        let median = latencies.isEmpty ? 0 : latencies[latencies.count / 2]
        print(String(format: "FAULT c flood: worker wrote %.1f MB/s, graced logged %.1f MB/s, graced CPU %.0f%%, "
                     + "graced status latency median %.2fs max %.2fs over %d calls, graced VmRSS max %.1f MB; "
                     + "requests ok %d failed %d",
                     Double(written) / elapsed / 1e6, Double(logged) / elapsed / 1e6, cpu / elapsed * 100,
                     median, worst, latencies.count, Double(maxRSS) / 1024, result.ok, result.failed))
        #expect(fixture.graced.isRunning)
        #expect(statusFailures.isEmpty, "\(statusFailures)")
        // Fails with graced as of this writing (reported, not hidden): the event loop
        // reads up to 16 × 64 KiB per stream per wake-up (OutputStream.readAvailable)
        // and logs every line synchronously, so each turn of the loop costs two
        // streams × ~10,000 log lines before a control client gets its turn; the worker
        // meanwhile blocks on its pipe (it gets ~1 MB/s through, not tens of MB/s).
        #expect(worst < 2.0, "graced status took up to \(worst)s while a worker floods its output: \(latencies)")
        #expect(maxRSS < 100 * 1024, "graced VmRSS reached \(maxRSS) KiB")
        #expect(result.failed == 0 && result.ok > 0, "\(result)")
        // The flood is worker output, logged at info.
        let head = Reliability.head(fixture.graced.logPath, limit: 1 << 20).split(separator: "\n")
        let flood = head.first { $0.contains("yyyyyyyyyy") && $0.contains("event=worker-output") }
        #expect(flood.map { Reliability.level(of: String($0)) } == "info", "\(flood.map { String($0.prefix(300)) } ?? "no flood line")")
    }

    // c. A worker writing a 10 MB line without a newline.
    @Test func tenMegabyteLineIsTruncatedAndGracedStaysUp() throws {
        let fixture = try ReliabilityFixture(
            command: Reliability.faultyWorkerCommand(["--long-line", "10485760", "--work-ms", "2"]),
            workerLines: ["drain_timeout = \"5s\""])
        let worker = try #require(try fixture.status().allPIDs.first)
        let line = try fixture.graced.waitForLog(containing: "…[line truncated]", timeout: .seconds(30))
        // The whole 10 MB reached graced (the worker is not blocked on its pipe).
        let drained = poll(timeout: .seconds(20), interval: .milliseconds(50)) {
            (Reliability.bytesWritten(pid: worker) ?? 0) >= 10_485_760
        }
        let rss = Reliability.rssKiB(pid: fixture.pid) ?? 0
        let result = try Reliability.underLoad(fixture.endpoint, concurrency: 4, warmUp: 50) { _ in }
        let logSize = Reliability.fileSize(fixture.graced.logPath)
        let status = runGraced(["status", "--control", fixture.controlPath], timeout: .seconds(10))
        print("FAULT c long line: logged as \(line.utf8.count) bytes at \(Reliability.level(of: line) ?? "?"), "
              + "worker wrote all 10 MiB: \(drained), graced VmRSS \(rss / 1024) MB, log file \(logSize) bytes, "
              + "status exit \(status.status); requests ok \(result.ok) failed \(result.failed)")
        #expect(Reliability.isEvent("worker-output", line), "\(line.prefix(200))")
        #expect(Reliability.level(of: line) == "info", "\(line.prefix(200))")
        #expect(line.utf8.count < 64 * 1024, "a \(line.utf8.count)-byte log line")
        #expect(drained, "the worker could not write its 10 MiB line")
        #expect(rss < 100 * 1024, "graced VmRSS \(rss) KiB")
        #expect(logSize < 2 << 20, "log file of \(logSize) bytes")
        #expect(status.status == 0, "\(status)")
        #expect(result.failed == 0 && result.ok > 0, "\(result)")
        let reload = fixture.reload()
        #expect(reload.status == 0, "\(reload)\n\(fixture.logTail())")
        try fixture.graced.waitForLog(containing: "generation 1 drained", timeout: .seconds(20))
        #expect(fixture.waitUntilConsistent() == nil)
        #expect(fixture.lines(atLevel: "error").isEmpty && fixture.lines(atLevel: "crit").isEmpty,
                "\(fixture.lines(atLevel: "error") + fixture.lines(atLevel: "crit"))")
    }

    // d. A worker that closes its stdout and stderr.
    @Test func workerClosingItsStdoutAndStderrIsStillServed() throws {
        let fixture = try ReliabilityFixture(
            command: Reliability.faultyWorkerCommand(["--close-stdio", "--work-ms", "2"]),
            workerLines: ["drain_timeout = \"5s\""])
        let before = try workerInfo(fixture.endpoint)
        let cpuBefore = Reliability.cpuSeconds(pid: fixture.pid) ?? 0
        let started = ContinuousClock.now
        let result = try Reliability.underLoad(fixture.endpoint, concurrency: 4) { load in
            sleepThread(.seconds(2))
            try load.waitForRequests(20)
        }
        let cpu = (Reliability.cpuSeconds(pid: fixture.pid) ?? cpuBefore) - cpuBefore
        let elapsed = (ContinuousClock.now - started).seconds
        let fd1 = fdTarget(pid: before.pid, fd: 1) ?? "?"
        print(String(format: "FAULT d closed stdio: worker fd 1 -> %@, requests ok %d failed %d, served by pids %@, "
                     + "graced CPU %.1f%% meanwhile", fd1, result.ok, result.failed, "\(result.pids.sorted())",
                     cpu / elapsed * 100))
        #expect(fd1 == "/dev/null", "the worker did not close its stdout pipe: fd 1 -> \(fd1)")
        #expect(result.failed == 0 && result.ok > 0, "\(result)")
        #expect(result.pids == [before.pid], "the worker was replaced: \(result)")
        #expect(cpu < 0.5 * elapsed, "graced spins on the closed pipes: \(cpu)s CPU in \(elapsed)s")
        #expect(fixture.waitUntilConsistent() == nil)
        let reload = fixture.reload()
        #expect(reload.status == 0, "\(reload)\n\(fixture.logTail())")
        try fixture.graced.waitForLog(containing: "generation 1 drained", timeout: .seconds(20))
        let bad = fixture.lines(atLevel: "error") + fixture.lines(atLevel: "crit")
        #expect(bad.isEmpty, "\(bad.joined(separator: "\n"))")
        print("FAULT d log: error/crit lines: \(bad.count); \(fixture.lines(event: "generation-drained").first ?? "")")
    }


    // e. A worker whose forked child keeps the listening socket, after the worker's
    // generation is retired.
    @Test func descendantHoldingTheListenerAfterItsGenerationIsRetired() throws {
        let fixture = try ReliabilityFixture(
            command: Reliability.faultyWorkerCommand(["--fork-holder", "--holder-pid-file", "{dir}/holder.pid",
                                                      "--work-ms", "2"]),
            workerLines: ["drain_timeout = \"3s\""])
        var holder: Int?
        poll(timeout: .seconds(20), interval: .milliseconds(20)) {
            holder = (try? String(contentsOfFile: fixture.directory.file("holder.pid"), encoding: .utf8))
                .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            return holder != nil
        }
        let holderPID = try #require(holder, "the worker wrote no holder pid\n\(fixture.logTail())")
        defer {
            // The holder is no descendant of graced once its worker exits: kill it here.
            if commandLine(pid: holderPID).contains(where: { $0.hasSuffix("faulty_worker.py") }) {
                kill(pid_t(holderPID), SIGKILL)
            }
        }
        let status = try fixture.status()
        let worker = try #require(status.allPIDs.first)
        let inode = try #require(status.listeners.first?.inode, "no listener inode in status")
        func holdsListener(_ pid: Int) -> Bool {
            openFDs(pid: pid).contains { socketInode(pid: pid, fd: $0) == inode }
        }
        try #require(holdsListener(holderPID), "the holder \(holderPID) does not hold the listener (inode \(inode))")
        let group = processStat(pid: holderPID)?.processGroup

        // Retire generation 1 in favour of a worker without such a child.
        try fixture.rewrite(command: Binaries.workerCommand(["--work-ms", "2"]), workerLines: ["drain_timeout = \"3s\""])
        let reload = fixture.reload(["--wait-drained"])
        #expect(reload.status == 0, "\(reload)\n\(fixture.logTail())")
        let drained = try fixture.graced.waitForLog(containing: "generation 1 drained", timeout: .seconds(20))
        #expect(Reliability.level(of: drained) == "info", "\(drained)")
        sleepThread(.milliseconds(500))
        #expect(!processExists(pid: worker), "the retired worker \(worker) still exists")
        // graced sends the leftover group the stop signal (ignored here), then SIGKILL after
        // drain_timeout (3 s), with a warning.
        let leftover = try fixture.graced.waitForLog(containing: "event=leftover-processes", timeout: .seconds(20))
        #expect(Reliability.level(of: leftover) == "warn", "\(leftover)")
        _ = poll(timeout: .seconds(15), interval: .milliseconds(100)) { !isAlive(pid: holderPID) }
        let holderAlive = isAlive(pid: holderPID)
        let keepsListener = holderAlive && holdsListener(holderPID)
        let holderParent = parentPID(of: holderPID)
        #expect(fixture.waitUntilConsistent() == nil)

        // Once graced has stopped and closed its listener, is the port still taken?
        let stop = runGraced(["stop", "--control", fixture.controlPath], timeout: .seconds(30))
        #expect(stop.status == 0, "\(stop)")
        let exit = try fixture.graced.waitForExit(timeout: .seconds(20))
        #expect(exit == 0)
        var afterStop = "refused"
        do {
            let response = try httpRequest(fixture.endpoint, timeout: .seconds(2))
            afterStop = "answered \(response.status)"
        } catch {
            let text = "\(error)"
            afterStop = text.contains("refused") ? "refused" : "accepted but never answered (\(text))"
        }
        print("FAULT e listener holder: holder pid \(holderPID) (process group \(group.map(String.init) ?? "?"), "
              + "the worker's) after generation 1 drained: alive \(holderAlive), parent \(holderParent.map(String.init) ?? "-"), "
              + "keeps listener inode \(inode): \(keepsListener); after `graced stop` the port is \(afterStop); "
              + "graced logged: \(drained.split(separator: " ").dropFirst(2).prefix(10).joined(separator: " "))")
        // What is left of a worker's process group once the worker exits is stopped, then
        // killed: it must not keep the listening socket (a process that left the group with
        // setsid escapes this; see the README).
        #expect(!keepsListener, "pid \(holderPID) still holds the listener (inode \(inode)) after generation 1 drained")
        #expect(afterStop == "refused", "after graced stopped, the port is \(afterStop)")
    }

    // f. graced near RLIMIT_NOFILE with many control clients.
    @Test func lowFileLimitAndManyControlClientsDoNotKillGraced() throws {
        let gracedBinary = try Binaries.graced
        let fixture = try ReliabilityFixture(
            command: Binaries.workerCommand(["--work-ms", "2"]), workerLines: ["drain_timeout = \"5s\""],
            executable: "{dir}/graced-nofile.sh",
            beforeStart: { directory in
                let script = directory.file("graced-nofile.sh")
                try "#!/bin/sh\nulimit -n 40 || exit 97\nexec \(gracedBinary) \"$@\"\n"
                    .write(toFile: script, atomically: true, encoding: .utf8)
                chmod(script, 0o755)
            })
        let limits = String(decoding: readWholeFile("/proc/\(fixture.pid)/limits") ?? [], as: UTF8.self)
        let limitLine = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }.map(String.init) ?? "?"
        try #require(limitLine.split(separator: " ").contains("40"), "\(limitLine)")
        let baseline = fixture.fdCount()
        let address = try SocketAddress(unixPath: fixture.controlPath)
        let clients = Locked<[Int32]>([])
        defer { clients.withLock { $0.forEach { close($0) }; $0 = [] } }
        var peak = 0
        var hupVerdict = "none"
        var warning = ""
        var statusBack: Duration?
        let result = try Reliability.underLoad(fixture.endpoint, concurrency: 4) { load in
            let offset = fixture.graced.logOffset()
            for _ in 0..<60 {
                let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
                guard fd >= 0 else { continue }
                if address.withSockaddr({ connect(fd, $0, $1) }) == 0 || errno == EINPROGRESS {
                    clients.withLock { $0.append(fd) }
                } else {
                    close(fd)
                }
            }
            poll(timeout: .seconds(10), interval: .milliseconds(20)) { fixture.fdCount() >= 40 }
            peak = fixture.fdCount()
            warning = try fixture.graced.waitForLog(matching: { Reliability.isEvent("control-accept-failed", $0) },
                                                    since: offset, timeout: .seconds(10),
                                                    what: "control-accept-failed")[0]
            // A reload while no fd is left.
            let hupOffset = fixture.graced.logOffset()
            fixture.graced.signal(SIGHUP)
            hupVerdict = try fixture.graced.waitForLog(
                matching: { Reliability.isEvent("reload-succeeded", $0) || Reliability.isEvent("reload-failed", $0) },
                since: hupOffset, timeout: .seconds(30), what: "a reload verdict")[0]
            sleepThread(.milliseconds(500))
            #expect(fixture.graced.isRunning)
            clients.withLock { $0.forEach { close($0) }; $0 = [] }
            let closed = ContinuousClock.now
            if poll(timeout: .seconds(20), interval: .milliseconds(100), {
                runGraced(["status", "--control", fixture.controlPath], timeout: .seconds(5)).status == 0
            }) { statusBack = ContinuousClock.now - closed }
            try load.waitForRequests(20)
        }
        let reload = fixture.reload()
        let problem = fixture.waitUntilConsistent()
        let settled = poll(timeout: .seconds(10), interval: .milliseconds(100)) { fixture.fdCount() <= baseline }
        let warnings = fixture.lines(event: "control-accept-failed")
        print("FAULT f nofile: \(limitLine.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")); "
              + "graced fds \(baseline) before, \(peak) with 60 clients held; \(warnings.count) control-accept-failed "
              + "lines at \(Set(warnings.compactMap(Reliability.level(of:))).sorted()); SIGHUP meanwhile: "
              + "\(hupVerdict.split(separator: " ").dropFirst(1).joined(separator: " ").prefix(240)); status answered "
              + "\(statusBack.map { "\($0)" } ?? "NEVER") after the clients closed; reload after: exit \(reload.status); "
              + "fds back to \(fixture.fdCount()); requests ok \(result.ok) failed \(result.failed)")
        #expect(fixture.graced.isRunning)
        #expect(peak >= 39, "graced never came near its limit: \(peak) fds")
        #expect(Reliability.level(of: warning) == "warn", "\(warning)")
        #expect(warnings.allSatisfy { Reliability.level(of: $0) == "warn" })
        #expect(statusBack != nil, "graced status did not answer after the clients closed\n\(fixture.logTail())")
        #expect(reload.status == 0, "\(reload)\n\(fixture.logTail())")
        #expect(problem == nil, "\(problem ?? "")")
        #expect(settled, "graced holds \(fixture.fdCount()) fds, \(baseline) before")
        #expect(result.failed == 0, "\(result)")
        #expect(fixture.lines(atLevel: "crit").isEmpty)
    }

    // g. graced's stderr is a pipe whose reader has gone.
    @Test func brokenStderrPipeDoesNotKillGraced() throws {
        var reader: Int32 = -1
        let fixture = try ReliabilityFixture(
            command: Binaries.workerCommand(["--work-ms", "2"]), workerLines: ["drain_timeout = \"5s\""],
            logPath: "{dir}/stderr.fifo", ready: .status,
            beforeStart: { directory in
                let fifo = directory.file("stderr.fifo")
                guard mkfifo(fifo, 0o600) == 0 else { throw TestSupportError("mkfifo: \(errnoText())") }
                reader = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
                guard reader >= 0 else { throw TestSupportError("open \(fifo): \(errnoText())") }
            })
        defer { if reader >= 0 { close(reader) } }
        // What graced wrote so far, then the reader goes away.
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
        let startLog = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
        #expect(startLog.contains("generation 1 ready"), "\(startLog)")
        close(reader)
        reader = -1
        let ignored = Reliability.signalMask("SigIgn", pid: fixture.pid)
        let report = try exerciseWithoutReadableLog(fixture)
        print("FAULT g broken stderr pipe: SIGPIPE ignored by graced: \(ignored.map { $0 & (1 << 12) != 0 }.map(String.init) ?? "?"); \(report)")
    }

    // g. graced started with stdout and stderr closed.
    @Test func closedStdoutAndStderrDoNotKillGraced() throws {
        let gracedBinary = try Binaries.graced
        let fixture = try ReliabilityFixture(
            command: Binaries.workerCommand(["--work-ms", "2"]), workerLines: ["drain_timeout = \"5s\""],
            executable: "{dir}/graced-closed.sh", ready: .status,
            beforeStart: { directory in
                let script = directory.file("graced-closed.sh")
                try "#!/bin/sh\nexec 1>&- 2>&-\nexec \(gracedBinary) \"$@\"\n"
                    .write(toFile: script, atomically: true, encoding: .utf8)
                chmod(script, 0o755)
            })
        let fd1 = fdTarget(pid: fixture.pid, fd: 1) ?? "closed"
        let fd2 = fdTarget(pid: fixture.pid, fd: 2) ?? "closed"
        // graced does not reopen 0-2 on /dev/null: whatever it opens first lands there,
        // and its log lines are written into it. They must not reach a peer.
        for (fd, target) in [(1, fd1), (2, fd2)] {
            #expect(!target.hasPrefix("socket:") && !target.hasPrefix("pipe:"),
                    "graced's fd \(fd) (where its log goes) is \(target)")
        }
        let report = try exerciseWithoutReadableLog(fixture)
        print("FAULT g closed stdout/stderr: graced's fd 1 -> \(fd1), fd 2 -> \(fd2) (never reopened on /dev/null); \(report)")
    }

    /// Reloads, a SIGHUP, a killed worker and a stop, for a graced whose log goes
    /// nowhere: every step must work, and graced must exit 0 (not 141, SIGPIPE).
    private func exerciseWithoutReadableLog(_ fixture: ReliabilityFixture) throws -> String {
        var reloads: [Int32] = []
        var restarted = false
        let result = try Reliability.underLoad(fixture.endpoint, concurrency: 4) { load in
            for _ in 1...3 {
                let reload = fixture.reload()
                reloads.append(reload.status)
                #expect(reload.status == 0, "\(reload)")
            }
            fixture.graced.signal(SIGHUP)
            try fixture.waitForServing(generation: 5, timeout: .seconds(30))
            let victim = try #require(try fixture.status().allPIDs.first)
            kill(pid_t(victim), SIGKILL)   // an error line and a restart, both logged into nowhere
            restarted = poll(timeout: .seconds(20), interval: .milliseconds(50)) {
                guard let status = try? fixture.status(), let pid = status.allPIDs.first else { return false }
                return pid != victim && status.serving.first?.workers.first?.state == "ready"
            }
            try load.waitForRequests(20)
        }
        #expect(restarted, "the killed worker was not restarted")
        #expect(fixture.waitUntilConsistent() == nil)
        #expect(result.failed <= 4, "\(result)")   // the killed worker's in-flight requests at most
        let stop = runGraced(["stop", "--control", fixture.controlPath], timeout: .seconds(30))
        #expect(stop.status == 0, "\(stop)")
        let exit = try fixture.graced.waitForExit(timeout: .seconds(20))
        #expect(exit == 0, "graced exited \(exit)\(exit == 128 + SIGPIPE ? " (SIGPIPE)" : "")")
        return "reloads \(reloads), SIGHUP reload ok, killed worker restarted: \(restarted), requests ok \(result.ok) "
            + "failed \(result.failed), graced stop exit \(stop.status), graced exit status \(exit)"
    }

    // h. 100 concurrent `graced reload` and 100 SIGHUPs within about a second.
    @Test func reloadStormOfConcurrentReloadsAndSighups() throws {
        let fixture = try ReliabilityFixture(
            command: Binaries.workerCommand(["--work-ms", "2"]),
            workerLines: ["drain_timeout = \"10s\"", "max_draining = 2"])
        let offset = fixture.graced.logOffset()
        let outcomes = Locked<[(status: Int32, stderr: String, seconds: Double)]>([])
        var afterStorm: GracedStatusSnapshot?
        let started = ContinuousClock.now
        let result = try Reliability.underLoad(fixture.endpoint) { load in
            let group = DispatchGroup()
            let controlPath = fixture.controlPath
            for index in 0..<100 {
                group.enter()
                let thread = Thread {
                    let begin = ContinuousClock.now
                    let reload = runGraced(["reload", "--control", controlPath], timeout: .seconds(90))
                    outcomes.withLock { $0.append((reload.status, reload.stderr, (ContinuousClock.now - begin).seconds)) }
                    group.leave()
                }
                thread.name = "storm-\(index)"
                thread.start()
            }
            let gracedPID = fixture.pid
            group.enter()
            let hupper = Thread {
                for _ in 0..<100 {
                    kill(pid_t(gracedPID), SIGHUP)
                    sleepThread(.milliseconds(10))
                }
                group.leave()
            }
            hupper.start()
            #expect(group.wait(timeout: .now() + 150) == .success, "the storm did not end")
            afterStorm = try fixture.status()
            try load.waitForRequests(30)
        }
        let all = outcomes.withLock { $0 }
        let elapsed = ContinuousClock.now - started
        var byStatus: [Int32: Int] = [:]
        var reasons: [String: Int] = [:]
        for outcome in all {
            byStatus[outcome.status, default: 0] += 1
            if outcome.status != 0 {
                let reason = outcome.stderr.split(separator: "\n").first.map(String.init) ?? "(no message)"
                reasons[String(reason.prefix(120)), default: 0] += 1
            }
        }
        let storm = fixture.graced.logLines(since: offset)
        let reloadsRun = storm.filter { Reliability.isEvent("reload-started", $0) }.count
        let succeeded = Set(storm.filter { Reliability.isEvent("reload-succeeded", $0) }.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("generation=") }.map(String.init)
        }).count
        let worst = all.map(\.seconds).max() ?? 0
        print("FAULT h storm: 100 reload clients + 100 SIGHUPs in \(elapsed): exit statuses \(byStatus.sorted { $0.key < $1.key }), "
              + "slowest client \(String(format: "%.1f", worst))s; \(reloadsRun) reloads run (\(succeeded) generations succeeded); "
              + "right after: \(afterStorm.map { "\($0.serving.count) serving, \($0.draining.count) draining" } ?? "?"); "
              + "requests ok \(result.ok) failed \(result.failed); non-zero reasons: \(reasons)")
        #expect(all.count == 100)
        #expect(all.allSatisfy { $0.status == 0 || $0.status == 1 }, "exit statuses \(byStatus): \(reasons)")
        #expect(fixture.graced.isRunning)
        if let afterStorm {
            #expect(afterStorm.serving.count == 1, "\(afterStorm)")
            #expect(afterStorm.draining.count <= 2, "\(afterStorm)")
        }
        let problem = fixture.waitUntilConsistent(timeout: .seconds(30))
        #expect(problem == nil, "\(problem ?? "")\n\(fixture.logTail())")
        #expect(fixture.waitForNoZombies().isEmpty)
        #expect(result.failed == 0, "\(result)")
        #expect(fixture.lines(atLevel: "crit").isEmpty)
        let failedReloads = storm.filter { Reliability.isEvent("reload-failed", $0) }
        #expect(failedReloads.isEmpty, "\(failedReloads.prefix(5))")
    }

    // h, continued: what the storm's 65th and later clients meet, made deterministic.
    // graced serves at most 64 control connections and refuses the rest with a reply
    // and a close; a `graced reload` or `graced status` refused that way must exit with
    // a message (1, or 3), not be killed by SIGPIPE while it sends its request.
    // Fails with graced as of this writing (reported): ControlClient.send writes the
    // request with write(2) (FileDescriptor.writeAll), no MSG_NOSIGNAL, and the client
    // commands keep SIGPIPE's default action, so when graced's refusal and close come
    // first the client dies silently with status 141.
    @Test func controlClientsRefusedForTooManyConnectionsExitWithAMessage() throws {
        let fixture = try ReliabilityFixture(command: Binaries.workerCommand(["--work-ms", "2"]),
                                             workerLines: ["drain_timeout = \"5s\""])
        let address = try SocketAddress(unixPath: fixture.controlPath)
        var held: [Int32] = []
        defer { held.forEach { close($0) } }
        // graced serves 256 control connections at once; hold them all.
        for _ in 0..<256 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { continue }
            if address.withSockaddr({ connect(fd, $0, $1) }) == 0 { held.append(fd) } else { close(fd) }
        }
        try #require(held.count == 256)
        sleepThread(.milliseconds(300))   // graced has accepted them
        var statuses: [String: Int] = [:]
        var messages: Set<String> = []
        for round in 0..<12 {
            let command = round % 2 == 0 ? "reload" : "status"
            let result = runGraced([command, "--control", fixture.controlPath], timeout: .seconds(30))
            statuses["\(command) \(result.status)", default: 0] += 1
            let message = result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            messages.insert("\(command) \(result.status): \(message.isEmpty ? "(nothing)" : message)")
        }
        print("FAULT h refused clients: with 256 idle control connections held, 6 × graced reload and 6 × graced status "
              + "exited \(statuses.sorted { $0.key < $1.key }); \(messages.sorted())")
        for message in messages {
            #expect(!message.contains(" 141: "), "a refused client was killed by SIGPIPE (exit 141): \(message)")
            #expect(!message.hasSuffix("(nothing)"), "a refused client exited without a message: \(message)")
        }
        held.forEach { close($0) }
        held = []
        #expect(fixture.graced.isRunning)
        #expect(poll(timeout: .seconds(10), interval: .milliseconds(100)) {
            runGraced(["status", "--control", fixture.controlPath], timeout: .seconds(5)).status == 0
        })
    }

    // i. The config file replaced (rename over it) while reloading, then deleted.
    @Test func configReplacedDuringReloadsAndConfigThatDisappears() throws {
        func command(_ work: String) -> [String] { Binaries.workerCommand(["--work-ms", work]) }
        func lines(_ variant: String) -> [String] {
            ["drain_timeout = \"10s\"", "environment = { TEST_VARIANT = \"\(variant)\" }"]
        }
        let fixture = try ReliabilityFixture(command: command("2"), workerLines: lines("a"))
        let variants = [
            try fixture.configText(command: command("2"), workerLines: lines("a"), padding: 128 * 1024),
            try fixture.configText(command: command("3"), workerLines: lines("b"), padding: 128 * 1024),
        ]
        let configPath = fixture.configPath
        let temporary = fixture.directory.file("graced.conf.new")
        let stop = Locked(false)
        let replacer = Reliability.Background("replacer") { () -> Int in
            var count = 0
            while !stop.withLock({ $0 }) {
                do {
                    try variants[count % 2].write(toFile: temporary, atomically: false, encoding: .utf8)
                    if rename(temporary, configPath) == 0 { count += 1 }
                } catch {}
                sleepThread(.milliseconds(1))
            }
            return count
        }
        var mixed: [String] = []
        var reloads: [Int32] = []
        let result = try Reliability.underLoad(fixture.endpoint) { load in
            defer { stop.withLock { $0 = true } }
            for _ in 1...10 {
                let reload = fixture.reload()
                reloads.append(reload.status)
                #expect(reload.status == 0, "\(reload)\n\(fixture.logTail())")
                for pid in (try fixture.status().serving.first?.workers.map(\.pid)) ?? [] {
                    let work = commandLine(pid: pid).last
                    let variant = environment(pid: pid)["TEST_VARIANT"]
                    if !((work == "2" && variant == "a") || (work == "3" && variant == "b")) {
                        mixed.append("pid \(pid): --work-ms \(work ?? "?") with TEST_VARIANT \(variant ?? "nil")")
                    }
                }
            }
            try load.waitForRequests(20)
        }
        let replacements = replacer.wait()
        #expect(mixed.isEmpty, "a worker got parts of two config versions: \(mixed)")
        #expect(result.failed == 0, "\(result)")

        // The config disappears. First let the last reload's old generation finish, so
        // that every answer comes from the serving one.
        #expect(fixture.waitUntilConsistent() == nil)
        let servingBefore = try #require(try fixture.status().serving.first)
        let generationBefore = servingBefore.number
        let before = try #require(servingBefore.workers.first)
        let saved = fixture.directory.file("graced.conf.saved")
        try #require(rename(configPath, saved) == 0)
        let offset = fixture.graced.logOffset()
        let missing = fixture.reload()
        let clientWithMissingConfig = runGraced(["reload", "--config", configPath], timeout: .seconds(30))
        #expect(missing.status == 1, "\(missing)")
        #expect(missing.stderr.contains(configPath), "the message does not name \(configPath): \(missing.stderr)")
        let failedLine = try fixture.graced.waitForLog(matching: { Reliability.isEvent("reload-failed", $0) },
                                                       since: offset, timeout: .seconds(10), what: "reload-failed")[0]
        #expect(Reliability.level(of: failedLine) == "error", "\(failedLine)")
        let still = try workerInfo(fixture.endpoint)
        #expect(still.pid == before.pid && still.generation == String(generationBefore),
                "another worker serves: pid \(still.pid) generation \(still.generation ?? "?"), was \(before.pid) of \(generationBefore)")
        #expect(try fixture.status().serving.first?.number == generationBefore)
        #expect(isAlive(pid: before.pid))

        // Restored.
        try #require(rename(saved, configPath) == 0)
        let restored = fixture.reload()
        #expect(restored.status == 0, "\(restored)\n\(fixture.logTail())")
        #expect(try fixture.status().serving.first?.number ?? 0 > generationBefore)
        #expect(fixture.waitUntilConsistent() == nil)
        print("FAULT i config: \(replacements) renames over the config during 10 reloads (exits \(reloads)), "
              + "mixed versions \(mixed.count), requests ok \(result.ok) failed \(result.failed); deleted config: "
              + "reload exit \(missing.status) \"\(missing.stderr.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\n", with: " / "))\", "
              + "logged at \(Reliability.level(of: failedLine) ?? "?"); `graced reload --config <deleted>` exit "
              + "\(clientWithMissingConfig.status): \(clientWithMissingConfig.stderr.trimmingCharacters(in: .whitespacesAndNewlines)); "
              + "restored: reload exit \(restored.status)")
    }
}
