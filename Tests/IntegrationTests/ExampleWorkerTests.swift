// Tests of examples/worker.py, examples/app.py and the test support code, without
// graced: systemd-socket-activate plays the supervisor (it binds, then execs the worker
// at the first connection with LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES set).

import Foundation
import Testing

/// examples/worker.py started by systemd-socket-activate. The worker keeps the pid of
/// systemd-socket-activate (it execs), so `process.pid` is the worker's pid.
private final class ActivatedWorker {
    let directory: TemporaryDirectory
    let process: ChildProcess
    let stdoutPath: String
    let stderrPath: String
    let listeners: [(name: String, address: String)]

    /// - Parameters:
    ///   - listeners: names and addresses for `-l` ("127.0.0.1:PORT", "[::1]:PORT", a path).
    ///   - environment: variables for the worker (passed with `-E`).
    ///   - arguments: worker.py arguments.
    init(listeners: [(name: String, address: String)], environment: [String: String] = [:],
         arguments: [String] = []) throws {
        directory = try TemporaryDirectory(prefix: "worker")
        stdoutPath = directory.file("stdout")
        stderrPath = directory.file("stderr")
        self.listeners = listeners
        var activateArguments = listeners.flatMap { ["-l", $0.address] }
        activateArguments.append("--fdname=" + listeners.map(\.name).joined(separator: ":"))
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) {
            activateArguments += ["-E", "\(name)=\(value)"]
        }
        activateArguments += Binaries.workerCommand(arguments)
        guard let activate = Binaries.systemdSocketActivate else {
            throw TestSupportError("systemd-socket-activate is not installed")
        }
        process = try ChildProcess(executable: activate, arguments: activateArguments,
                                   environment: cleanEnvironment(), stdoutPath: stdoutPath, stderrPath: stderrPath)
    }

    var pid: Int { process.pid }

    func stdout() -> String { String(decoding: readWholeFile(stdoutPath) ?? [], as: UTF8.self) }
    func stderr() -> String { String(decoding: readWholeFile(stderrPath) ?? [], as: UTF8.self) }

    /// Waits until systemd-socket-activate listens on every address (it says so on stderr).
    func waitUntilListening() throws {
        let listening = poll(timeout: .seconds(10)) {
            stderr().components(separatedBy: "Listening on ").count - 1 >= listeners.count
        }
        guard listening else { throw TestSupportError("systemd-socket-activate not listening: \(stderr())") }
    }

    /// Makes the first connection (which starts the worker) and waits until it serves.
    func start(_ endpoint: Endpoint) throws {
        try waitUntilListening()
        do {
            _ = try waitForHTTP(endpoint, path: "/health", timeout: .seconds(20))
        } catch {
            throw TestSupportError("\(error); worker stderr:\n\(stderr())")
        }
    }
}

private let hasSocketActivate = Binaries.systemdSocketActivate != nil

@Suite(.enabled(if: hasSocketActivate, "needs /usr/bin/systemd-socket-activate"))
struct ExampleWorkerTests {
    @Test func servesSocketActivatedListenerAndDrainsOnSIGTERM() throws {
        let port = freeTCPPort()
        let worker = try ActivatedWorker(listeners: [("http", "127.0.0.1:\(port)")],
                                         environment: ["GRACED_GENERATION": "7", "GRACED_WORKER": "0",
                                                       "APP_ENV": "test", "TEST_MARKER": "42", "OTHER": "x"])
        try worker.start(.tcp(host: "127.0.0.1", port: port))

        let info = try workerInfo(port: port, path: "/some/path?q=1")
        #expect(info.pid == worker.pid)
        #expect(info.listenPID == info.pid)
        #expect(info.listenFDs == 1)
        #expect(info.listenFDNames == "http")
        #expect(info.generation == "7")
        #expect(info.worker == "0")
        #expect(info.listener == "http")
        #expect(info.path == "/some/path?q=1")
        #expect(info.env == ["APP_ENV": "test", "TEST_MARKER": "42"])
        #expect(info.inheritedFDs == [0, 1, 2, 3])
        #expect(info.fdTargets["3"]?.hasPrefix("socket:[") == true)
        #expect(info.listeners.first?.address == "127.0.0.1:\(port)")
        #expect(info.uid == Int(getuid()))

        let health = try httpGet(port: port, path: "/health")
        #expect(health.status == 200 && health.body == "ok")

        worker.process.signal(SIGTERM)
        #expect(try worker.process.waitForExit(timeout: .seconds(10)) == 0)
        let log = worker.stderr()
        #expect(log.contains("worker \(worker.pid) generation 7 serving on http"), "\(log)")
        #expect(log.contains("worker \(worker.pid) draining"), "\(log)")
        #expect(log.contains("worker \(worker.pid) drained, exiting"), "\(log)")
    }

    @Test func servesIPv4IPv6AndUnixListenersAtOnce() throws {
        let port4 = freeTCPPort()
        let port6 = freeTCPPort(host: "::1")
        let directory = try TemporaryDirectory(prefix: "unix")
        let socketPath = directory.file("http.sock")
        let worker = try ActivatedWorker(listeners: [("v4", "127.0.0.1:\(port4)"), ("v6", "[::1]:\(port6)"),
                                                     ("local", socketPath)])
        try worker.start(.tcp(host: "127.0.0.1", port: port4))

        let viaV4 = try workerInfo(port: port4)
        let viaV6 = try workerInfo(.tcp(host: "::1", port: port6))
        let viaUnix = try workerInfo(.unix(path: socketPath))
        #expect([viaV4.listener, viaV6.listener, viaUnix.listener] == ["v4", "v6", "local"])
        #expect(Set([viaV4.pid, viaV6.pid, viaUnix.pid]) == [worker.pid])
        #expect(viaV4.listenFDNames == "v4:v6:local")
        #expect(viaV4.listeners.map(\.fd) == [3, 4, 5])
        #expect(viaV4.listeners.map(\.family) == ["inet", "inet6", "unix"])
        #expect(viaV4.listeners.map(\.address) == ["127.0.0.1:\(port4)", "[::1]:\(port6)", socketPath])
        #expect(try httpGetIPv6(port: port6, path: "/health").body == "ok")
        #expect(try httpGet(unixSocket: socketPath, path: "/health").body == "ok")
    }

    @Test(arguments: [false, true])
    func notifiesReadinessAndStopping(abstract: Bool) throws {
        let directory = try TemporaryDirectory(prefix: "notify")
        let notify = try NotifySocket(directory: abstract ? nil : directory.path)
        let port = freeTCPPort()
        let worker = try ActivatedWorker(listeners: [("web", "127.0.0.1:\(port)")],
                                         environment: ["NOTIFY_SOCKET": notify.address])
        try worker.start(.tcp(host: "127.0.0.1", port: port))
        try notify.waitFor("READY=1")
        #expect(try notify.waitFor("STATUS=") == "STATUS=serving on web")
        #expect(try workerInfo(port: port).notifySocket == notify.address)
        #expect(!notify.assignments.contains("STOPPING=1"))

        worker.process.signal(SIGTERM)
        try notify.waitFor("STOPPING=1")
        #expect(try worker.process.waitForExit(timeout: .seconds(10)) == 0)
    }

    @Test func readyAfterDelaysReadinessAndNoNotifySendsNothing() throws {
        let notify = try NotifySocket()
        let port = freeTCPPort()
        let worker = try ActivatedWorker(listeners: [("web", "127.0.0.1:\(port)")],
                                         environment: ["NOTIFY_SOCKET": notify.address],
                                         arguments: ["--ready-after", "1"])
        try worker.start(.tcp(host: "127.0.0.1", port: port))
        #expect(notify.messages.isEmpty)   // it serves, but is not ready yet
        try notify.waitFor("READY=1", timeout: .seconds(10))

        let silent = try NotifySocket()
        let port2 = freeTCPPort()
        let quiet = try ActivatedWorker(listeners: [("web", "127.0.0.1:\(port2)")],
                                        environment: ["NOTIFY_SOCKET": silent.address], arguments: ["--no-notify"])
        try quiet.start(.tcp(host: "127.0.0.1", port: port2))
        quiet.process.signal(SIGTERM)
        #expect(try quiet.process.waitForExit(timeout: .seconds(10)) == 0)
        #expect(silent.messages.isEmpty)
    }

    @Test func drainFinishesInFlightRequestsAndClosesIdleConnections() throws {
        let port = freeTCPPort()
        let endpoint = Endpoint.tcp(host: "127.0.0.1", port: port)
        let worker = try ActivatedWorker(listeners: [("http", "127.0.0.1:\(port)")], arguments: ["--work-ms", "1500"])
        try worker.start(endpoint)

        // An idle keep-alive connection, and a request that is in flight at SIGTERM.
        let idle = try HTTPConnection(endpoint)
        let first = try idle.get("/health")
        #expect(first.status == 200 && !first.closesConnection)
        let inFlight = Locked<Result<HTTPResponse, any Error>?>(nil)
        let requestThread = Thread {
            let result = Result { try httpRequest(endpoint, timeout: .seconds(10)) }
            inFlight.withLock { $0 = result }
        }
        requestThread.start()
        sleepThread(.milliseconds(400))

        worker.process.signal(SIGTERM)
        #expect(idle.waitForServerClose(timeout: .seconds(1)), "idle keep-alive connection not closed")
        #expect(try worker.process.waitForExit(timeout: .seconds(10)) == 0)
        poll(timeout: .seconds(5)) { inFlight.withLock { $0 != nil } }
        let response = try #require(try inFlight.withLock { $0 }?.get())
        #expect(response.status == 200)
        #expect(try jsonObject(response)["pid"] as? Int == worker.pid)
        #expect(worker.stderr().contains("drained, exiting"))
    }

    @Test func printOnDrainAndSpawnedChild() throws {
        let port = freeTCPPort()
        let message = "accept tcp 127.0.0.1:\(port): use of closed network connection"
        let worker = try ActivatedWorker(listeners: [("http", "127.0.0.1:\(port)")],
                                         arguments: ["--print-on-drain", message, "--spawn-child"])
        try worker.start(.tcp(host: "127.0.0.1", port: port))
        let info = try workerInfo(port: port)
        let child = try #require(info.childPID)
        #expect(parentPID(of: child) == worker.pid)
        #expect(commandLine(pid: child) == ["sleep", "1000"])
        #expect(openFDs(pid: child) == [0, 1, 2], "the child must not inherit the listener")
        #expect(descendants(of: Int(getpid())).contains(child))

        worker.process.signal(SIGTERM)
        #expect(try worker.process.waitForExit(timeout: .seconds(10)) == 0)
        #expect(worker.stderr().contains(message))
        #expect(poll(timeout: .seconds(5)) { !isAlive(pid: child) })
    }

    @Test func ignoreSIGTERMNeedsSIGKILL() throws {
        let port = freeTCPPort()
        let worker = try ActivatedWorker(listeners: [("http", "127.0.0.1:\(port)")], arguments: ["--ignore-sigterm"])
        try worker.start(.tcp(host: "127.0.0.1", port: port))
        worker.process.signal(SIGTERM)
        sleepThread(.milliseconds(700))
        #expect(worker.process.isRunning)
        #expect(try httpGet(port: port, path: "/health").status == 200)
        worker.process.signal(SIGKILL)
        #expect(try worker.process.waitForExit(timeout: .seconds(10)) == 128 + SIGKILL)
    }

    @Test func exitAfterExitsWithStatus1() throws {
        let port = freeTCPPort()
        let worker = try ActivatedWorker(listeners: [("http", "127.0.0.1:\(port)")], arguments: ["--exit-after", "0.5"])
        try worker.start(.tcp(host: "127.0.0.1", port: port))
        #expect(try worker.process.waitForExit(timeout: .seconds(10)) == 1)
    }

    @Test func neverReadyServesWithoutNotifying() throws {
        let notify = try NotifySocket()
        let port = freeTCPPort()
        let worker = try ActivatedWorker(listeners: [("http", "127.0.0.1:\(port)")],
                                         environment: ["NOTIFY_SOCKET": notify.address], arguments: ["--never-ready"])
        try worker.start(.tcp(host: "127.0.0.1", port: port))
        sleepThread(.milliseconds(300))
        #expect(!notify.assignments.contains("READY=1"))
        worker.process.signal(SIGTERM)
        try notify.waitFor("STOPPING=1")
        #expect(try worker.process.waitForExit(timeout: .seconds(10)) == 0)
    }

    @Test func loadGeneratorCountsEveryRequest() throws {
        let port = freeTCPPort()
        let worker = try ActivatedWorker(listeners: [("http", "127.0.0.1:\(port)")],
                                         environment: ["GRACED_GENERATION": "3"], arguments: ["--work-ms", "2"])
        try worker.start(.tcp(host: "127.0.0.1", port: port))
        for keepAlive in [false, true] {
            let load = LoadGenerator(port: port, concurrency: 4, newConnectionPerRequest: !keepAlive)
            load.start()
            try load.waitForRequests(50)
            let result = load.stop()
            #expect(result.failed == 0, "\(result)")
            #expect(result.ok >= 50)
            #expect(result.pids == [worker.pid])
            #expect(result.generations == ["3"])
        }
        // With nothing listening any more, every request fails and says why.
        worker.process.killAll()
        let load = LoadGenerator(port: port, concurrency: 2)
        load.start()
        try load.waitForRequests(10)
        let result = load.stop()
        #expect(result.ok == 0 && result.failed >= 10)
        #expect(result.failures.first?.contains("Connection refused") == true, "\(result)")
    }
}

/// worker.py without systemd-socket-activate.
struct ExampleWorkerStartupTests {
    private func runWorker(_ arguments: [String], environment: [String: String] = [:]) -> CommandResult {
        runCommand(Binaries.python3, [Binaries.workerScript] + arguments,
                   environment: cleanEnvironment(environment), timeout: .seconds(30))
    }

    @Test func refusesToStartWithoutListeners() {
        let result = runWorker([])
        #expect(result.status == 2)
        #expect(result.stderr.contains("no listening sockets"), "\(result.stderr)")
    }

    @Test func ignoresListenFDsMeantForAnotherProcess() {
        let result = runWorker([], environment: ["LISTEN_PID": "1", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "http"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("is not my pid"), "\(result.stderr)")
    }

    @Test func crashAtStartAfterPrintingLines() {
        let result = runWorker(["--print-lines", "3", "--crash-at-start"])
        #expect(result.status == 3)
        #expect(result.stdout == "output line 1\noutput line 2\noutput line 3\n")
        #expect(result.stderr.contains("crashing on purpose"))
    }

    /// `--fd N`: a listening socket placed at fd 5 with no socket activation variables.
    @Test func servesOnExplicitFD() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(listener) }
        let address = try SocketAddress(host: "127.0.0.1", port: 0)
        #expect(address.withSockaddr { bind(listener, $0, $1) } == 0)
        #expect(listen(listener, 16) == 0)
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(listener, $0, &length) }
        }
        let port = UInt16(bigEndian: bound.sin_port)

        let directory = try TemporaryDirectory(prefix: "fd")
        let worker = try ChildProcess(executable: Binaries.python3, arguments: [Binaries.workerScript, "--fd", "5"],
                                      environment: cleanEnvironment(), stdoutPath: directory.file("out"),
                                      stderrPath: directory.file("out"), fds: [5: listener])
        let info = try workerInfo(port: port)
        #expect(info.pid == worker.pid)
        #expect(info.listener == "fd5")
        #expect(info.listenPID == nil && info.listenFDs == nil)
        #expect(info.inheritedFDs == [0, 1, 2, 5])
        #expect(socketInode(pid: worker.pid, fd: 5) == socketInode(pid: Int(getpid()), fd: Int(listener)))
        #expect(uid(of: worker.pid) == getuid())
        #expect(environment(pid: worker.pid)["PATH"] != nil)
        #expect(processStat(pid: worker.pid)?.processGroup == worker.pid)
        worker.signal(SIGTERM)
        #expect(try worker.waitForExit(timeout: .seconds(10)) == 0)
        #expect(!processExists(pid: worker.pid))
    }

    /// examples/app.py called as a WSGI app by a stdlib driver.
    @Test func wsgiAppAnswersJSON() {
        let driver = """
            import json, sys
            sys.path.insert(0, sys.argv[1])
            from app import app
            status = []
            body = b"".join(app({"PATH_INFO": "/", "REQUEST_METHOD": "GET"}, lambda s, h: status.append(s)))
            print(status[0]); print(body.decode().strip())
            """
        let result = runCommand(Binaries.python3, ["-c", driver, Binaries.examplesDirectory],
                                environment: cleanEnvironment(["GRACED_GENERATION": "5", "WORK_MS": "1"]))
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.first == "200 OK")
        let object = lines.count > 1
            ? (try? JSONSerialization.jsonObject(with: Data(lines[1].utf8))) as? [String: Any] : nil
        #expect(object?["generation"] as? String == "5")
        #expect(object?["pid"] is Int)
    }
}

/// The support helpers themselves.
struct SupportTests {
    @Test func freePortsAreDistinct() {
        let ports = (0..<20).map { _ in freeTCPPort() }
        #expect(Set(ports).count == ports.count)
    }

    @Test func temporaryDirectoryIsRemoved() throws {
        var path = ""
        do {
            let directory = try TemporaryDirectory()
            path = directory.path
            try directory.write("a", "b")
            #expect(FileManager.default.fileExists(atPath: directory.file("a")))
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func configFileIsWrittenWithEscapedStrings() throws {
        let directory = try TemporaryDirectory()
        let path = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:8080")],
                                   command: ["/bin/echo", "quote \" and \\ backslash"],
                                   workerLines: ["ready = \"delay\""], gracedLines: ["fd_store = false"],
                                   listenerLines: ["http": ["backlog = 16"]])
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("control_socket = \"\(directory.path)/control.sock\""))
        #expect(text.contains(#"command = ["/bin/echo", "quote \" and \\ backslash"]"#))
        #expect(text.contains("[[listener]]\nname = \"http\"\naddress = \"127.0.0.1:8080\"\nbacklog = 16"))
        #expect(text.contains("ready = \"delay\"") && text.contains("fd_store = false"))
    }

    @Test func runCommandReportsStatusOutputAndTimeout() {
        let done = runCommand("/bin/sh", ["-c", "echo out; echo err >&2; exit 4"])
        #expect(done.status == 4 && done.stdout == "out\n" && done.stderr == "err\n")
        let slow = runCommand("/bin/sleep", ["10"], timeout: .milliseconds(200))
        #expect(slow.status == 124)
        let missing = runCommand("/nonexistent/program", [])
        #expect(missing.status == 127)
    }

    @Test func killAllReachesEveryDescendant() throws {
        let directory = try TemporaryDirectory()
        // A shell whose grandchild starts a session of its own: only the ppid walk finds it.
        let parent = try ChildProcess(executable: "/bin/sh",
                                      arguments: ["-c", "setsid sh -c 'sleep 1000 & wait' & wait"],
                                      environment: cleanEnvironment(), stdoutPath: nil, stderrPath: directory.file("err"))
        #expect(poll(timeout: .seconds(5)) { descendants(of: parent.pid).count >= 2 })
        let below = descendants(of: parent.pid)
        parent.killAll()
        #expect(poll(timeout: .seconds(5)) { below.allSatisfy { !isAlive(pid: $0) } })
    }

    /// The built graced is found next to the test runner and runs.
    @Test func findsAndRunsTheBuiltGraced() throws {
        let graced = try Binaries.graced
        #expect(graced.hasSuffix("/graced") && Binaries.isExecutableFile(graced))
        #expect(FileManager.default.fileExists(atPath: Binaries.workerScript))
        let version = runGraced(["--version"], timeout: .seconds(10))
        #expect(version.status == 0, "\(version.stderr)")
        #expect(!version.stdout.isEmpty)
    }

    /// GracedProcess against a stand-in script: log waiting, its errors, and cleanup of a
    /// "worker" that runs in a session of its own.
    @Test func gracedProcessWaitsForLogAndKillsEverything() throws {
        let directory = try TemporaryDirectory()
        let script = try directory.write("fake-graced", """
            #!/bin/sh
            echo "args: $*"
            setsid sleep 1000 &
            echo "worker $! started" >&2
            while true; do sleep 0.1; done
            """)
        chmod(script, 0o755)
        let config = try writeConfig(in: directory.path, listeners: [], command: ["/bin/true"])
        let graced = try GracedProcess(config: config, executable: script)
        #expect(try graced.waitForLog(containing: "args: run --config \(config)") == "args: run --config \(config)")
        let line = try graced.waitForLog(containing: "started")
        let worker = try #require(Int(line.split(separator: " ")[1]))
        #expect(graced.childPIDs().contains(worker))
        #expect(processStat(pid: worker)?.session == worker)

        let mark = graced.logOffset()
        do {
            try graced.waitForLog(containing: "never printed", since: mark, timeout: .milliseconds(200))
            Issue.record("waitForLog did not time out")
        } catch {
            #expect("\(error)".contains("timed out") && "\(error)".contains("worker \(worker) started"))
        }
        graced.signal(SIGSTOP)
        graced.terminate()
        #expect(!graced.isRunning)
        #expect(try graced.waitForExit(timeout: .seconds(1)) == 128 + SIGKILL)
        #expect(poll(timeout: .seconds(5)) { !isAlive(pid: worker) })
    }
}
