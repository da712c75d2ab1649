// The control socket of the real graced (graced-interface.md §1 and §7): its mode,
// SO_PEERCRED checks, bad requests, idle clients, `graced status` (table and JSON),
// exit status 3 without a supervisor, and `graced stop` blocking until graced is gone.
//
// Every test runs its own graced in its own temporary directory on a port from
// freeTCPPort(); graced and everything below it are SIGKILLed when the test ends.

import Foundation
import Testing

// MARK: - Fixture

/// One graced supervising examples/worker.py on one HTTP listener.
private final class ControlFixture {
    let directory: TemporaryDirectory
    let port: UInt16
    let graced: GracedProcess
    let configPath: String
    var socketPath: String { controlSocketPath(in: directory.path) }
    var endpoint: Endpoint { .tcp(host: "127.0.0.1", port: port) }

    init() throws {
        directory = try TemporaryDirectory(prefix: "ctl")
        port = freeTCPPort()
        configPath = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(port)")],
                                     command: Binaries.workerCommand(),
                                     workerLines: ["ready = \"notify\"", "drain_timeout = \"10s\""])
        graced = try GracedProcess(config: configPath)
        try graced.waitForLog(containing: "generation 1 ready", timeout: .seconds(60))
        _ = try waitForHTTP(endpoint, path: "/health", timeout: .seconds(30))
    }

    func reload() -> (status: Int32, stdout: String, stderr: String) {
        runGraced(["reload", "--config", configPath], timeout: .seconds(90))
    }

    /// graced still answers HTTP (through its worker) and `graced status`.
    func expectHealthy(_ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(graced.isRunning, "graced exited \(context); log:\n\(graced.log())", sourceLocation: sourceLocation)
        let health = Result { try httpGet(port: port, path: "/health", timeout: .seconds(10)) }
        #expect((try? health.get().status) == 200, "HTTP \(context): \(health)", sourceLocation: sourceLocation)
        let status = runGraced(["status", "--config", configPath])
        #expect(status.status == 0, "graced status \(context): \(status)", sourceLocation: sourceLocation)
    }
}

/// What a raw control-socket client saw.
private struct ControlExchange {
    var text: String
    /// The connection was closed by graced (EOF or reset) before the deadline.
    var closedByPeer: Bool
    var sendError: String?

    /// The `{"event":"result",...}` line, decoded.
    var result: [String: Any]? {
        for line in text.split(separator: "\n").reversed() {
            if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
               object["event"] as? String == "result" {
                return object
            }
        }
        return nil
    }
}

/// Connects to the control socket, sends `bytes` (nothing if empty), reads until graced
/// closes the connection or `timeout` passes.
private func controlExchange(_ path: String, send bytes: [UInt8], timeout: Duration = .seconds(20)) throws -> ControlExchange {
    let deadline = Deadline(after: timeout)
    let socket = try ClientSocket(connectingTo: .unix(path: path), deadline: deadline)
    var exchange = ControlExchange(text: "", closedByPeer: false)
    if !bytes.isEmpty {
        do {
            try socket.send(bytes, deadline: deadline)
        } catch {
            exchange.sendError = "\(error)"   // graced may close early (oversized request): read what it said
        }
    }
    var received: [UInt8] = []
    while true {
        do {
            let chunk = try socket.receive(deadline: deadline)
            if chunk.isEmpty {
                exchange.closedByPeer = true
                break
            }
            received += chunk
        } catch {
            exchange.closedByPeer = !deadline.hasPassed   // a reset counts as closed; a timeout does not
            break
        }
    }
    exchange.text = String(decoding: received, as: UTF8.self)
    return exchange
}

// MARK: - Tests

@Suite struct ControlSocketTests {
    // 1
    @Test func controlSocketIsMode0600() throws {
        let fixture = try ControlFixture()
        defer { fixture.graced.terminate() }
        var info = stat()
        #expect(stat(fixture.socketPath, &info) == 0, "stat \(fixture.socketPath): \(errnoText())")
        #expect(info.st_mode & S_IFMT == S_IFSOCK)
        #expect(info.st_mode & 0o7777 == 0o600, "mode \(String(info.st_mode & 0o7777, radix: 8))")
        #expect(info.st_uid == geteuid())
    }

    // 2
    @Test(.enabled(if: getuid() == 0, "needs root to run a client as nobody"),
          .enabled(if: Binaries.isExecutableFile("/usr/bin/setpriv") && Binaries.isExecutableFile("/usr/bin/python3"),
                   "needs /usr/bin/setpriv and /usr/bin/python3"))
    func nonRootClientIsRefusedWithPermissionDenied() throws {
        let fixture = try ControlFixture()
        defer { fixture.graced.terminate() }
        // The socket's 0600 already keeps nobody out at connect(2). To reach graced's own
        // SO_PEERCRED check, open the file system path to everyone (as root, in the test).
        #expect(chmod(fixture.directory.path, 0o755) == 0)
        #expect(chmod(fixture.socketPath, 0o666) == 0)
        let client = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(15)
            s.connect(sys.argv[1])
            try:
                s.sendall(b'{"command":"status"}\\n')
            except OSError as e:
                print("send:", e, file=sys.stderr)
            data = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except OSError as e:
                    print("recv:", e, file=sys.stderr)
                    break
                if not chunk:
                    break
                data += chunk
            sys.stdout.write(data.decode(errors="replace"))
            """
        let offset = fixture.graced.logOffset()
        let result = runCommand("/usr/bin/setpriv",
                                ["--reuid=65534", "--regid=65534", "--clear-groups",
                                 "/usr/bin/python3", "-c", client, fixture.socketPath],
                                timeout: .seconds(30))
        #expect(result.status == 0, "client: \(result)")
        #expect(result.stdout.contains("permission denied"), "reply: \(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("\"ok\":false"), "reply: \(result.stdout)")
        #expect(!result.stdout.contains("\"status\""), "a refused client got the status: \(result.stdout)")
        try fixture.graced.waitForLog(containing: "event=control-refused", since: offset, timeout: .seconds(10))
        fixture.expectHealthy("after the refused client")
    }

    // 3
    @Test func badRequestsGetAnErrorReplyAndLeaveGracedServing() throws {
        let fixture = try ControlFixture()
        defer { fixture.graced.terminate() }
        let oversized = Array(#"{"command":"status","pad":""#.utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 70 * 1024)
            + Array("\"}\n".utf8)
        let cases: [(String, [UInt8])] = [
            ("garbage bytes", [0x00, 0xff, 0xfe, 0x80, 0x1b, 0x5b, 0x41, 0x7f] + Array("garbage\r\n".utf8)),
            ("invalid JSON", Array("{\"command\": \"status\",\n".utf8)),
            ("unknown command", Array(#"{"command":"explode"}"#.utf8) + [0x0a]),
            ("request over 64 KiB", oversized),
            ("64 KiB without a newline", [UInt8](repeating: UInt8(ascii: "{"), count: 66 * 1024)),
        ]
        for (name, bytes) in cases {
            let exchange = try controlExchange(fixture.socketPath, send: bytes)
            let result = exchange.result
            #expect(result != nil, "\(name): no result line in \(exchange.text.debugDescription)")
            #expect(result?["ok"] as? Bool == false, "\(name): \(exchange.text)")
            #expect((result?["message"] as? String)?.isEmpty == false, "\(name): \(exchange.text)")
            #expect(exchange.closedByPeer, "\(name): graced kept the connection open")
            fixture.expectHealthy("after \(name)")
        }
        let reload = fixture.reload()
        #expect(reload.status == 0, "reload: \(reload)\nlog:\n\(fixture.graced.log())")
        let served = poll(timeout: .seconds(20), interval: .milliseconds(50)) {
            (try? workerInfo(fixture.endpoint))?.generation == "2"
        }
        #expect(served, "generation 2 does not serve after the reload")
    }

    // 4
    @Test func silentClientIsDroppedAfterAFewSeconds() throws {
        let fixture = try ControlFixture()
        defer { fixture.graced.terminate() }
        let started = ContinuousClock.now
        let socket = try ClientSocket(connectingTo: .unix(path: fixture.socketPath), deadline: Deadline(after: .seconds(10)))

        // Meanwhile graced answers others.
        let status = runGraced(["status", "--config", fixture.configPath])
        #expect(status.status == 0, "status while a client idles: \(status)")
        #expect(status.stdout.contains("ready"), "\(status.stdout)")

        let deadline = Deadline(after: .seconds(30))
        var closed = false
        var received: [UInt8] = []
        while !deadline.hasPassed {
            do {
                let chunk = try socket.receive(deadline: deadline)
                if chunk.isEmpty { closed = true; break }
                received += chunk
            } catch {
                closed = !deadline.hasPassed
                break
            }
        }
        let elapsed = ContinuousClock.now - started
        print("ControlSocketTests idle client dropped after \(elapsed): \(String(decoding: received, as: UTF8.self))")
        #expect(closed, "the silent client was not dropped within 30 s")
        #expect(elapsed < .seconds(15), "dropped after \(elapsed)")
        fixture.expectHealthy("after the silent client")
    }

    // 5
    @Test func statusShowsListenerGenerationAndWorkerAndNoSupervisorExits3() throws {
        let fixture = try ControlFixture()
        defer { fixture.graced.terminate() }
        let worker = try workerInfo(fixture.endpoint)

        let table = runGraced(["status", "--config", fixture.configPath])
        #expect(table.status == 0, "\(table)")
        let rows = table.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(rows.contains { $0.first == "http" && $0.contains("127.0.0.1:\(fixture.port)") },
                "no listener row:\n\(table.stdout)")
        #expect(rows.contains { $0.first == "1" && $0.contains(String(worker.pid)) && $0.contains("ready") },
                "no ready worker row for generation 1, pid \(worker.pid):\n\(table.stdout)")

        let json = runGraced(["status", "--json", "--config", fixture.configPath])
        #expect(json.status == 0, "\(json)")
        let object = try #require(try? JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any],
                                  "not JSON: \(json.stdout)")
        let generations = object["generations"] as? [[String: Any]] ?? []
        let workers = generations.flatMap { $0["workers"] as? [[String: Any]] ?? [] }
        #expect(workers.contains { $0["pid"] as? Int == worker.pid }, "\(json.stdout)")
        #expect(generations.first?["number"] as? Int == 1, "\(json.stdout)")
        #expect(object["pid"] as? Int == fixture.graced.pid, "\(json.stdout)")
        let listeners = object["listeners"] as? [[String: Any]] ?? []
        #expect(listeners.first?["name"] as? String == "http", "\(json.stdout)")

        let missing = fixture.directory.file("nonexistent.sock")
        let status = runGraced(["status", "--control", missing])
        #expect(status.status == 3, "\(status)")
        let reload = runGraced(["reload", "--control", missing])
        #expect(reload.status == 3, "\(reload)")
        let absent = runGraced(["status", "--control", "/nonexistent.sock"])
        #expect(absent.status == 3, "\(absent)")
    }

    // 6
    /// `graced stop` must block until graced has exited. The gap it could leave is a few
    /// milliseconds, so five supervisors are stopped in turn, and `graced stop` is watched
    /// closely (every 0.5 ms, where runGraced polls every 10 ms).
    @Test func stopReturnsOnlyAfterGracedHasExited() throws {
        var stillRunning: [Int] = []
        var socketStillThere: [Int] = []
        for round in 1...5 {
            let fixture = try ControlFixture()
            defer { fixture.graced.terminate() }
            let worker = try workerInfo(fixture.endpoint)

            let stopper = try ChildProcess(executable: try Binaries.graced, arguments: ["stop", "--config", fixture.configPath],
                                           environment: cleanEnvironment(),
                                           stdoutPath: fixture.directory.file("stop.out"),
                                           stderrPath: fixture.directory.file("stop.err"))
            let deadline = Deadline(after: .seconds(60))
            var stopStatus: Int32?
            while stopStatus == nil && !deadline.hasPassed {
                stopStatus = stopper.exitStatus()
                if stopStatus == nil { usleep(500) }
            }
            // Right after `graced stop` returned:
            let runningRightAfter = fixture.graced.isRunning
            let socketRightAfter = FileManager.default.fileExists(atPath: fixture.socketPath)
            if runningRightAfter { stillRunning.append(round) }
            if socketRightAfter { socketStillThere.append(round) }
            if stopStatus == nil { stopper.killAll() }
            let output = String(decoding: (readWholeFile(fixture.directory.file("stop.out")) ?? [])
                                + (readWholeFile(fixture.directory.file("stop.err")) ?? []), as: UTF8.self)
            #expect(stopStatus == 0, "round \(round): graced stop: \(stopStatus.map(String.init) ?? "still running after 60 s") \(output)")
            #expect(try fixture.graced.waitForExit(timeout: .seconds(30)) == 0)
            #expect(!processExists(pid: worker.pid))
            #expect(fixture.graced.log().contains("graced stopped"))
        }
        print("ControlSocketTests when graced stop returned, graced was still running in \(stillRunning.count) of 5 rounds, "
              + "its control socket still existed in \(socketStillThere.count) of 5")
        #expect(stillRunning.isEmpty, "graced was still running when graced stop returned (rounds \(stillRunning))")
        #expect(socketStillThere.isEmpty, "graced had not even closed its control socket when graced stop returned (rounds \(socketStillThere))")
    }
}
