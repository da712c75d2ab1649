// Core behaviour of graced against the real binary and examples/worker.py (issue "core"):
// serving, what a worker receives (fds, socket-activation environment, credentials),
// several listeners and workers, and restarts after a crash. Shutdown, output, config
// checking and the CLI are in CoreSupervisionTests.swift.

import Foundation
import Testing

// MARK: - Helpers shared by CoreTests and CoreSupervisionTests

/// Helpers for the core integration tests (a namespace, so nothing clashes with the
/// other test files of the target).
enum CoreHarness {
    /// `[worker]` lines every core test uses unless it says otherwise.
    static let defaultWorkerLines = ["ready = \"notify\"", "ready_timeout = \"30s\"", "drain_timeout = \"10s\""]

    /// Writes a config into `directory`, starts graced on it and waits until generation
    /// 1 is ready. The caller must `terminate()` the result (defer).
    static func startGraced(in directory: TemporaryDirectory, listeners: [(name: String, address: String)],
                            command: [String], workerLines: [String] = defaultWorkerLines,
                            environment: [String: String] = [:],
                            waitForReady: Bool = true) throws -> GracedProcess {
        let config = try writeConfig(in: directory.path, listeners: listeners, command: command,
                                     workerLines: workerLines)
        let graced = try GracedProcess(config: config, environment: environment)
        if waitForReady {
            do {
                try graced.waitForLog(containing: "event=generation-ready")
            } catch {
                graced.terminate()
                throw error
            }
        }
        return graced
    }

    /// `graced status --json --config PATH`, decoded.
    static func status(config: String) throws -> [String: Any] {
        let result = runGraced(["status", "--json", "--config", config])
        guard result.status == 0 else {
            throw TestSupportError("graced status --json exited \(result.status): \(result.stdout) \(result.stderr)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
            throw TestSupportError("graced status --json printed no JSON object: \(result.stdout)")
        }
        return object
    }

    /// Every worker pid in a status document, all generations.
    static func workerPIDs(_ status: [String: Any]) -> [Int] {
        let generations = status["generations"] as? [[String: Any]] ?? []
        return generations.flatMap { ($0["workers"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int } }
    }

    /// The listener entries of a status document.
    static func listeners(_ status: [String: Any]) -> [[String: Any]] {
        status["listeners"] as? [[String: Any]] ?? []
    }

    /// The level column of a log line ("info", "warn", "error", ...): the second
    /// space-separated word, after the time.
    static func level(of line: String) -> String? {
        let words = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        return words.count >= 2 ? String(words[1]) : nil
    }

    /// What follows the time and the level in a log line (the message and the fields).
    static func message(of line: String) -> String {
        let words = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard words.count == 3 else { return "" }
        // A message that contains `=` or `"` is quoted by graced; drop the opening quote.
        let text = words[2].trimmingCharacters(in: .whitespaces)
        return text.hasPrefix("\"") ? String(text.dropFirst()) : text
    }

    /// Levels that mean something went wrong.
    static let badLevels: Set<String> = ["warn", "warning", "error", "crit", "critical", "alert", "emerg"]

    /// The value of the last unquoted ` key=value` field of a line (graced puts its
    /// fields after the message, sorted; values without spaces are not quoted).
    static func field(_ key: String, in line: String) -> String? {
        guard let range = line.range(of: " \(key)=", options: .backwards) else { return nil }
        let rest = line[range.upperBound...]
        if rest.hasPrefix("\"") {
            // Quoted value: up to the next unescaped quote.
            var value = ""
            var escaped = false
            for character in rest.dropFirst() {
                if escaped { value.append(character); escaped = false; continue }
                if character == "\\" { escaped = true; value.append(character); continue }
                if character == "\"" { break }
                value.append(character)
            }
            return value
        }
        return String(rest.prefix { $0 != " " })
    }

    /// The time at the start of a log line ("2026-11-26T03:21:28.257Z").
    static func timestamp(of line: String) -> Date? {
        guard let first = line.split(separator: " ", maxSplits: 1).first else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: String(first))
    }

    /// Lines of `lines` whose `event=` field is `event`.
    static func lines(_ lines: [String], event: String) -> [String] {
        lines.filter { field("event", in: $0) == event }
    }

    /// A listening TCP socket of the test process on host:port (to make a port busy).
    /// Returns the fd; the caller closes it.
    static func listenTCP(host: String, port: UInt16) throws -> Int32 {
        let address = try SocketAddress(host: host, port: port)
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket: \(errnoText())") }
        guard address.withSockaddr({ bind(fd, $0, $1) }) == 0, listen(fd, 16) == 0 else {
            let text = errnoText()
            close(fd)
            throw TestSupportError("bind/listen \(host):\(port): \(text)")
        }
        return fd
    }

    /// True if a TCP socket can be bound to [::1].
    static let ipv6LoopbackAvailable: Bool = {
        guard let address = try? SocketAddress(host: "::1", port: 0) else { return false }
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return address.withSockaddr { bind(fd, $0, $1) } == 0
    }()

    /// The system python3 (readable by every user, unlike a pyenv interpreter under /root).
    static let systemPython: String? = Binaries.isExecutableFile("/usr/bin/python3") ? "/usr/bin/python3" : nil

    /// True if user nobody and group nogroup exist and the tests run as root.
    static let canRunAsNobody: Bool = {
        getuid() == 0 && getpwnam("nobody") != nil && getgrnam("nogroup") != nil && systemPython != nil
    }()

    /// Waits until `pid` no longer runs (gone or a zombie); true if it did within `timeout`.
    static func waitUntilGone(_ pid: Int, timeout: Duration = .seconds(15)) -> Bool {
        poll(timeout: timeout, interval: .milliseconds(50)) { !isAlive(pid: pid) }
    }
}

// MARK: - Tests

@Suite("core: serving and what a worker receives")
struct CoreTests {
    // 1.
    @Test func servesAnHTTPRequest() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let port = freeTCPPort()
        let graced = try CoreHarness.startGraced(in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
                                                 command: Binaries.workerCommand())
        defer { graced.terminate() }

        let response = try waitForHTTP(.tcp(host: "127.0.0.1", port: port), path: "/hello")
        #expect(response.status == 200)
        #expect(response.headers["content-type"] == "application/json")
        let info = try workerInfo(port: port, path: "/hello")
        #expect(info.path == "/hello")
        #expect(info.listener == "http")
        #expect(info.ppid == graced.pid, "the worker is graced's child")
        #expect(graced.childPIDs() == [info.pid])
        #expect(graced.isRunning)
    }

    // 2.
    @Test func workerReceivesTheSocketActivationProtocolAndNothingOfGraced() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let port = freeTCPPort()
        // graced's own service-manager environment, which must not reach the worker.
        let managerSocket = try NotifySocket()
        let gracedEnvironment = [
            "WATCHDOG_USEC": "999000000",        // 999 s: enabled for graced, harmless
            "LISTEN_FDS": "2",
            "LISTEN_PID": "1",                   // not graced: sd_listen_fds ignores them
            "LISTEN_FDNAMES": "bogus:names",
            "NOTIFY_SOCKET": managerSocket.address,
            "TEST_MARKER": "passed-through",
        ]
        let graced = try CoreHarness.startGraced(in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
                                                 command: Binaries.workerCommand(), environment: gracedEnvironment)
        defer { graced.terminate() }

        // Before any request: the worker's pid from status, its fds from /proc.
        let status = try CoreHarness.status(config: graced.configPath)
        let pids = CoreHarness.workerPIDs(status)
        try #require(pids.count == 1, "status: \(status)")
        let workerPID = pids[0]
        let fdsBeforeRequest = openFDs(pid: workerPID)
        let socketsBeforeRequest = fdsBeforeRequest.filter { socketInode(pid: workerPID, fd: $0) != nil }
        #expect(Array(fdsBeforeRequest.prefix(4)) == [0, 1, 2, 3], "fds: \(fdsBeforeRequest)")
        #expect(socketsBeforeRequest == [3], "the only socket the worker holds before a request is the listener: \(fdsBeforeRequest.map { "\($0)=\(fdTarget(pid: workerPID, fd: $0) ?? "?")" })")
        #expect(fdTarget(pid: workerPID, fd: 0) == "/dev/null")
        #expect(fdTarget(pid: workerPID, fd: 1)?.hasPrefix("pipe:[") == true)
        #expect(fdTarget(pid: workerPID, fd: 2)?.hasPrefix("pipe:[") == true)

        // fd 3 is the very socket graced holds for the listener.
        let listeners = CoreHarness.listeners(status)
        try #require(listeners.count == 1, "status: \(status)")
        let statusInode = (listeners[0]["inode"] as? Int).map(UInt64.init)
        let workerInode = socketInode(pid: workerPID, fd: 3)
        #expect(workerInode != nil)
        #expect(statusInode == workerInode, "status inode \(String(describing: statusInode)), worker fd 3 \(String(describing: workerInode))")
        if let gracedFD = listeners[0]["fd"] as? Int {
            #expect(socketInode(pid: graced.pid, fd: gracedFD) == workerInode, "graced's fd \(gracedFD) is the same socket")
        }

        let info = try workerInfo(port: port)
        #expect(info.pid == workerPID)
        #expect(info.listenPID == info.pid)
        #expect(info.listenFDs == 1)
        #expect(info.listenFDNames == "http")
        #expect(info.einhornFDs == "3")
        #expect(info.generation == "1")
        #expect(info.worker == "0")
        #expect(info.inheritedFDs == [0, 1, 2, 3], "exactly 0, 1, 2 and the listener")
        #expect(info.env["TEST_MARKER"] == "passed-through", "graced's ordinary environment is passed on")
        let notify = try #require(info.notifySocket, "NOTIFY_SOCKET is set")
        #expect(!notify.isEmpty)
        #expect(notify != managerSocket.address, "the worker's NOTIFY_SOCKET is graced's own, not graced's manager's")

        // The environment as exec'd, straight from /proc.
        let environ = environment(pid: workerPID)
        #expect(environ["LISTEN_PID"] == String(workerPID))
        #expect(environ["LISTEN_FDS"] == "1")
        #expect(environ["LISTEN_FDNAMES"] == "http")
        #expect(environ["GRACED_GENERATION"] == "1")
        #expect(environ["GRACED_WORKER"] == "0")
        #expect(environ["EINHORN_FDS"] == "3")
        #expect(environ["NOTIFY_SOCKET"] == notify)
        #expect(environ["WATCHDOG_USEC"] == nil, "graced's WATCHDOG_USEC leaked: \(environ)")
        #expect(environ["WATCHDOG_PID"] == nil)
        #expect(graced.isRunning)
    }

    // 3.
    @Test func servesTwoTCPListenersAndAUnixSocketInConfigOrder() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let httpPort = freeTCPPort()
        let adminPort = freeTCPPort()
        let socketPath = tmp.file("app.sock")
        let graced = try CoreHarness.startGraced(
            in: tmp,
            listeners: [("http", "127.0.0.1:\(httpPort)"), ("admin", "127.0.0.1:\(adminPort)"), ("local", "unix:\(socketPath)")],
            command: Binaries.workerCommand())
        defer { graced.terminate() }

        let viaHTTP = try workerInfo(port: httpPort)
        let viaAdmin = try workerInfo(port: adminPort)
        let viaUnix = try workerInfo(.unix(path: socketPath))
        #expect(viaHTTP.listener == "http")
        #expect(viaAdmin.listener == "admin")
        #expect(viaUnix.listener == "local")
        #expect(Set([viaHTTP.pid, viaAdmin.pid, viaUnix.pid]).count == 1, "one worker serves all three")
        #expect(viaHTTP.listenFDs == 3)
        #expect(viaHTTP.listenFDNames == "http:admin:local")
        #expect(viaHTTP.einhornFDs == "3 4 5")
        #expect(viaHTTP.inheritedFDs == [0, 1, 2, 3, 4, 5])
        #expect(viaHTTP.listeners.map(\.name) == ["http", "admin", "local"])
        #expect(viaHTTP.listeners.map(\.fd) == [3, 4, 5])
        #expect(viaHTTP.listeners.map(\.family) == ["inet", "inet", "unix"])
        #expect(viaHTTP.listeners.map(\.address) == ["127.0.0.1:\(httpPort)", "127.0.0.1:\(adminPort)", socketPath])

        // The worker's fds are graced's listeners, in config order.
        let status = try CoreHarness.status(config: graced.configPath)
        let statusListeners = CoreHarness.listeners(status)
        #expect(statusListeners.compactMap { $0["name"] as? String } == ["http", "admin", "local"])
        let statusInodes = statusListeners.compactMap { ($0["inode"] as? Int).map(UInt64.init) }
        let workerInodes = [3, 4, 5].map { socketInode(pid: viaHTTP.pid, fd: $0) }
        #expect(statusInodes.map(Optional.some) == workerInodes, "status \(statusInodes), worker \(workerInodes)")
    }

    // 4.
    @Test func fdPlaceholderInArgvExpandsToTheListenersNumber() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let adminPort = freeTCPPort()
        let httpPort = freeTCPPort()
        let graced = try CoreHarness.startGraced(
            in: tmp, listeners: [("admin", "127.0.0.1:\(adminPort)"), ("http", "127.0.0.1:\(httpPort)")],
            command: Binaries.workerCommand(["--fd", "{fd:http}"]))
        defer { graced.terminate() }

        let started = try graced.waitForLog(containing: "event=worker-started")
        #expect(started.contains("--fd 4"), "argv expanded in the log: \(started)")
        let info = try workerInfo(port: httpPort)
        #expect(info.listener == "http")
        #expect(info.listeners.map(\.fd) == [4], "the worker serves on fd 4 only: \(info.listeners)")
        #expect(info.listeners.first?.address == "127.0.0.1:\(httpPort)")
        #expect(commandLine(pid: info.pid).suffix(2) == ["--fd", "4"], "argv: \(commandLine(pid: info.pid))")
        #expect(info.inheritedFDs == [0, 1, 2, 3, 4])
    }

    // 5.
    @Test(.enabled(if: CoreHarness.ipv6LoopbackAvailable, "IPv6 loopback ::1 is not available"))
    func servesAnIPv6Listener() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let port = freeTCPPort(host: "::1")
        let graced = try CoreHarness.startGraced(in: tmp, listeners: [("http6", "[::1]:\(port)")],
                                                 command: Binaries.workerCommand())
        defer { graced.terminate() }

        let response = try waitForHTTP(.tcp(host: "::1", port: port))
        #expect(response.status == 200)
        let info = try workerInfo(.tcp(host: "::1", port: port))
        #expect(info.listener == "http6")
        #expect(info.listeners.first?.family == "inet6")
        #expect(info.listeners.first?.address == "[::1]:\(port)")
    }

    // 6.
    @Test(.enabled(if: CoreHarness.canRunAsNobody, "needs root, user nobody, group nogroup and /usr/bin/python3"))
    func workerRunsAsTheConfiguredUserWithoutRootGroups() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let port = freeTCPPort()
        let python = try #require(CoreHarness.systemPython)
        let graced = try CoreHarness.startGraced(
            in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
            command: [python, Binaries.workerScript],
            workerLines: CoreHarness.defaultWorkerLines + ["user = \"nobody\"", "group = \"nogroup\"", "directory = \"/\""])
        defer { graced.terminate() }

        let info = try workerInfo(port: port)
        #expect(info.uid == 65534)
        #expect(info.gid == 65534)
        #expect(!info.groups.contains(0), "root's supplementary group leaked: \(info.groups)")
        #expect(info.cwd == "/")
        #expect(uid(of: info.pid) == 65534)
        #expect(effectiveUID(of: info.pid) == 65534)
        #expect(gid(of: info.pid) == 65534)
        let supplementary = groups(of: info.pid)
        #expect(supplementary != nil)
        #expect(supplementary?.contains(0) == false, "groups of the worker: \(String(describing: supplementary))")
        // graced itself stays root (it bound the port).
        #expect(uid(of: graced.pid) == 0)
        #expect(try httpGet(port: port, path: "/health").body == "ok")

        // The parent-death signal survives the change of credentials (the kernel clears
        // it on setuid, so it must be set afterwards): killing graced stops the worker.
        graced.signal(SIGKILL)
        _ = try graced.waitForExit(timeout: .seconds(10))
        #expect(CoreHarness.waitUntilGone(info.pid, timeout: .seconds(10)),
                "worker \(info.pid) running as nobody survived graced's SIGKILL")
    }

    // 7.
    @Test func startsTheConfiguredNumberOfWorkersWithTheirIndexes() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let port = freeTCPPort()
        let graced = try CoreHarness.startGraced(
            in: tmp, listeners: [("http", "127.0.0.1:\(port)")], command: Binaries.workerCommand(),
            workerLines: CoreHarness.defaultWorkerLines + ["processes = 3"])
        defer { graced.terminate() }

        try graced.waitForLog(matching: { $0.contains("event=worker-ready") }, count: 3, what: "worker-ready")
        let children = graced.childPIDs()
        #expect(children.count == 3, "graced's children: \(children)")
        var indexes: [String] = []
        for pid in children {
            let environ = environment(pid: pid)
            indexes.append(environ["GRACED_WORKER"] ?? "-")
            #expect(environ["GRACED_GENERATION"] == "1")
            #expect(environ["LISTEN_PID"] == String(pid))
        }
        #expect(indexes.sorted() == ["0", "1", "2"], "GRACED_WORKER of \(children): \(indexes)")
        let statusPIDs = CoreHarness.workerPIDs(try CoreHarness.status(config: graced.configPath))
        #expect(statusPIDs.sorted() == children)
        #expect(try waitForHTTP(.tcp(host: "127.0.0.1", port: port)).status == 200)
    }

    // 8.
    @Test func killedWorkerIsReportedAsAnErrorAndReplaced() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let port = freeTCPPort()
        let graced = try CoreHarness.startGraced(in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
                                                 command: Binaries.workerCommand())
        defer { graced.terminate() }

        let first = try workerInfo(port: port)
        let offset = graced.logOffset()
        #expect(kill(pid_t(first.pid), SIGKILL) == 0)

        let died = try graced.waitForLog(containing: "event=worker-died", since: offset)
        #expect(CoreHarness.level(of: died) == "error", "\(died)")
        #expect(died.contains("\(first.pid)"), "\(died)")
        #expect(CoreHarness.field("pid", in: died) == String(first.pid), "\(died)")
        #expect(died.contains("killed by SIGKILL"), "\(died)")

        try graced.waitForLog(containing: "event=worker-ready", since: offset)
        let second = try workerInfo(port: port)
        #expect(second.pid != first.pid)
        #expect(second.generation == "1")
        #expect(second.worker == "0")
        #expect(graced.isRunning)
        #expect(CoreHarness.workerPIDs(try CoreHarness.status(config: graced.configPath)) == [second.pid])
    }
}
