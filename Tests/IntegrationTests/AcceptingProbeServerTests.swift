// The "accepting" readiness probe (AcceptingProbe) against real servers, each started as
// graced starts a worker (fd 3, LISTEN_FDS, LISTEN_PID): not accepting right after exec,
// accepting once it serves, not accepting any more soon after SIGTERM while it still
// drains a slow request. A server that cannot be installed here is skipped with the
// reason printed. Each run prints one `accepting-probe:` line per server: the mechanism
// seen, the latencies from start to "accepting" and from SIGTERM to "not accepting".
//
// Serialized: the latencies mean something only when the servers do not compete.

import Foundation
import Testing
@testable import SupervisorCore

/// One server under test.
struct ProbedServer: CustomStringConvertible, Sendable {
    var name: String
    /// argv; "{port}" is replaced by the listener's port, "{python}" by python3.
    var command: [String]
    /// nil when it can run here, else why not.
    var unavailable: @Sendable () -> String?
    /// It answers GET /slow after 2 s (so draining can be watched).
    var hasSlowPath = true
    var environment: [String: String] = [:]

    var description: String { name }

    static let examples = Binaries.examplesDirectory + "/readiness"

    static func python(_ mode: String) -> ProbedServer {
        ProbedServer(name: "python-\(mode)", command: ["{python}", "py_server.py", mode], unavailable: { nil })
    }

    static func pythonModule(_ name: String, _ module: String, _ arguments: [String]) -> ProbedServer {
        ProbedServer(name: name, command: ["{python}", "-m", module] + arguments, unavailable: {
            Binaries.pythonHasModule(module) ? nil : "python3 cannot import \(module) (pip install \(module))"
        })
    }

    static let all: [ProbedServer] = [
        python("accept"), python("accept-threads"), python("epoll"), python("poll"), python("select"),
        python("socketserver"), python("asyncio"),
        pythonModule("uvicorn", "uvicorn", ["--fd", "3", "asgi_app:app"]),
        pythonModule("hypercorn", "hypercorn", ["--bind", "fd://3", "asgi_app:app"]),
        ProbedServer(name: "twistd", command: [
            "{python}", "-c", "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()",
            "-n", "--pidfile=", "web", "--listen", "systemd:domain=INET:index=0", "--path", "."],
            unavailable: { Binaries.pythonHasModule("twisted") ? nil : "python3 cannot import twisted (pip install twisted)" },
            hasSlowPath: false),
        ProbedServer(name: "gunicorn-sync", command: ["{python}", "-m", "gunicorn", "--no-control-socket", "wsgi_app:app"],
                     unavailable: gunicornUnavailable),
        ProbedServer(name: "gunicorn-gthread-2", command: [
            "{python}", "-m", "gunicorn", "--no-control-socket", "-k", "gthread", "--threads", "4", "-w", "2", "wsgi_app:app"],
            unavailable: gunicornUnavailable),
        ProbedServer(name: "go-net-http", command: ["{goserver}"], unavailable: { GoServer.build().failure }),
        ProbedServer(name: "node-http", command: ["node", "server.js"],
                     unavailable: { Binaries.onPath("node") == nil ? "node is not installed (apt-get install nodejs)" : nil }),
        ProbedServer(name: "puma", command: ["puma", "--bind", "tcp://127.0.0.1:{port}", "config.ru"],
                     unavailable: { Binaries.onPath("puma") == nil ? "puma is not installed (apt-get install puma)" : nil }),
    ]

    static let gunicornUnavailable: @Sendable () -> String? = {
        guard Binaries.pythonHasModule("gunicorn") else { return "python3 cannot import gunicorn (pip install gunicorn)" }
        let help = runCommand(Binaries.python3, ["-m", "gunicorn", "--help"], timeout: .seconds(30)).stdout
        return help.contains("--no-control-socket") ? nil : "this gunicorn has no --no-control-socket (needs 25.1 or later)"
    }

    func argv(port: UInt16) -> [String] {
        command.map {
            switch $0 {
            case "{python}": return Binaries.python3
            case "{goserver}": return GoServer.build().path ?? "/nonexistent"
            default: return $0.replacingOccurrences(of: "{port}", with: String(port))
            }
        }
    }
}

/// examples/readiness/go built once per test run.
enum GoServer {
    struct Build: Sendable {
        var path: String?
        var failure: String?
        /// Keeps the directory of the executable for the whole run.
        var directory: TemporaryDirectory?
    }

    static func build() -> Build { built }

    private static let built: Build = {
        guard let go = Binaries.onPath("go") ?? (Binaries.isExecutableFile("/usr/lib/go/bin/go") ? "/usr/lib/go/bin/go" : nil)
        else { return Build(path: nil, failure: "go is not installed (apt-get install golang-go)") }
        guard let directory = try? TemporaryDirectory(prefix: "goserver") else { return Build(path: nil, failure: "mkdtemp") }
        let output = directory.file("server")
        let home = ProcessInfo.processInfo.environment["HOME"] ?? directory.path
        let result = runCommand("/bin/sh", ["-c", "cd \"$1\" && exec \"$2\" build -o \"$3\" .", "sh",
                                            ProbedServer.examples + "/go", go, output],
                                environment: cleanEnvironment(["HOME": home, "GOFLAGS": "-mod=mod"]),
                                timeout: .seconds(300))
        guard result.status == 0 else { return Build(path: nil, failure: "go build failed: \(result.stderr)") }
        return Build(path: output, failure: nil, directory: directory)
    }()
}

/// Probes a server's process group until `condition` holds or `timeout` passes; returns
/// the report that satisfied it and the time it took.
private func probeUntil(_ server: ActivatedServer, inode: UInt64, timeout: Duration,
                        _ condition: (AcceptingProbe.Report) -> Bool) -> (AcceptingProbe.Report, Duration)? {
    let probe = AcceptingProbe()
    let members = ProcessGroupMembers()
    let start = MonotonicInstant.now()
    while MonotonicInstant.now().since(start) < timeout {
        let report = probe.probe(pids: members.members(ofGroup: server.pid), listenerInodes: [inode])
        if condition(report) { return (report, MonotonicInstant.now().since(start)) }
        sleepThread(.milliseconds(5))
    }
    return nil
}

/// CPU time of the calling thread in nanoseconds: what a probe costs, whatever else runs.
private func threadCPUTime() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

private func milliseconds(_ d: Duration) -> String { String(format: "%.0f ms", d.seconds * 1000) }

private func mechanisms(_ report: AcceptingProbe.Report) -> String {
    report.waiters.map { waiter -> String in
        switch waiter.mechanism {
        case .epoll: return "epoll"
        case .accept: return "accept"
        case .poll: return "poll"
        case .select: return "select"
        }
    }.joined(separator: ",")
}

@Suite(.serialized) struct AcceptingProbeServerTests {
    @Test(arguments: ProbedServer.all)
    func realServer(_ server: ProbedServer) throws {
        if let reason = server.unavailable() {
            print("accepting-probe: \(server.name): SKIPPED: \(reason)")
            return
        }
        let listener = try TestListener()
        let directory = try TemporaryDirectory(prefix: "accepting")
        let process = try ActivatedServer(command: server.argv(port: listener.port), listener: listener,
                                          directory: ProbedServer.examples, logPath: directory.file("log"),
                                          environment: server.environment)
        let spawned = MonotonicInstant.now()
        // Just after exec nothing waits on the listener yet.
        let probe = AcceptingProbe()
        let first = probe.probe(pids: [process.pid], listenerInodes: [listener.inode])
        let firstDelay = MonotonicInstant.now().since(spawned)
        if firstDelay < .milliseconds(2) {
            #expect(first.waiters.isEmpty, "\(server.name) accepting right after exec: \(first.waiters)")
        }

        guard let (ready, _) = probeUntil(process, inode: listener.inode, timeout: .seconds(60), { !$0.waiters.isEmpty }) else {
            Issue.record("\(server.name) never read as accepting; log:\n\(process.log())")
            return
        }
        let startLatency = MonotonicInstant.now().since(spawned)
        #expect(ready.acceptingInodes == [listener.inode])
        let served = try httpGet(port: listener.port, path: "/", timeout: .seconds(20))
        #expect(served.status == 200 || server.name == "twistd")

        // A slow request in flight, then SIGTERM: not accepting while it drains.
        let slowResult = Locked<Int?>(nil)
        var slowThread: Thread?
        if server.hasSlowPath {
            let port = listener.port
            let thread = Thread {
                let status = (try? httpGet(port: port, path: "/slow", timeout: .seconds(15)))?.status ?? -1
                slowResult.withLock { $0 = status }
            }
            thread.start()
            slowThread = thread
            sleepThread(.milliseconds(500))
        }
        let busy = probe.probe(pids: ProcessGroupMembers().members(ofGroup: process.pid), listenerInodes: [listener.inode])
        process.process.signal(SIGTERM)
        let termAt = MonotonicInstant.now()
        guard let (stopped, _) = probeUntil(process, inode: listener.inode, timeout: .seconds(20), { $0.waiters.isEmpty }) else {
            Issue.record("\(server.name) still accepting 20 s after SIGTERM; log:\n\(process.log())")
            return
        }
        let stopLatency = MonotonicInstant.now().since(termAt)
        #expect(stopped.waiters.isEmpty)
        let drainingWhenSeen = process.process.isRunning
        var slowStatus: Int? = nil
        if slowThread != nil {
            _ = poll(timeout: .seconds(20)) { slowResult.withLock { $0 } != nil }
            slowStatus = slowResult.withLock { $0 }
            #expect(slowStatus == 200, "\(server.name): the request in flight got \(String(describing: slowStatus))")
        }
        var notes: [String] = []
        if busy.waiters.isEmpty { notes.append("reads not-accepting while busy with a request") }
        if server.hasSlowPath { notes.append(drainingWhenSeen ? "stopped accepting while draining" : "had exited when seen") }
        print("accepting-probe: \(server.name) | \(mechanisms(ready)) | start->accepting \(milliseconds(startLatency))"
            + " | stop->not-accepting \(milliseconds(stopLatency)) | pids \(ready.waiters.map(\.pid)) | \(notes.joined(separator: "; "))")
        _ = try? process.process.waitForExit(timeout: .seconds(10))
    }

    /// A process that holds the listener and never accepts never reads as accepting.
    @Test func neverAccepting() throws {
        let listener = try TestListener()
        let directory = try TemporaryDirectory(prefix: "accepting")
        let process = try ActivatedServer(command: ["sh", "never_accepts.sh", "30"], listener: listener,
                                          directory: ProbedServer.examples, logPath: directory.file("log"))
        let seen = probeUntil(process, inode: listener.inode, timeout: .seconds(2)) { !$0.waiters.isEmpty }
        #expect(seen == nil, "a sleeping process read as accepting: \(String(describing: seen?.0.waiters))")
        let report = AcceptingProbe().probe(pids: [process.pid], listenerInodes: [listener.inode])
        #expect(report.holders[process.pid] == [listener.inode])
    }

    /// µs per probe for a worker of 1 process and of 8 (gunicorn master + 7 workers).
    @Test func probeCost() throws {
        func measure(_ name: String, _ command: [String]) throws {
            let listener = try TestListener()
            let directory = try TemporaryDirectory(prefix: "accepting")
            let process = try ActivatedServer(command: command, listener: listener,
                                              directory: ProbedServer.examples, logPath: directory.file("log"))
            let expected = command.contains("-w") ? 8 : 1
            let members = ProcessGroupMembers()
            let ready = poll(timeout: .seconds(60), interval: .milliseconds(50)) {
                members.invalidate()
                let pids = members.members(ofGroup: process.pid)
                let report = AcceptingProbe().probe(pids: pids, listenerInodes: [listener.inode])
                return pids.count == expected && Set(report.waiters.map(\.pid)).count >= expected - (expected > 1 ? 1 : 0)
            }
            guard ready else { Issue.record("\(name) not ready; log:\n\(process.log())"); return }
            let pids = members.members(ofGroup: process.pid)
            let probe = AcceptingProbe()
            let rounds = 2000
            var start = (MonotonicInstant.now(), threadCPUTime())
            for _ in 0..<rounds { _ = probe.probe(pids: pids, listenerInodes: [listener.inode]) }
            let perProbe = Double(MonotonicInstant.now().since(start.0).nanoseconds) / Double(rounds) / 1000
            let cpuPerProbe = Double(threadCPUTime() - start.1) / Double(rounds) / 1000
            start = (.now(), threadCPUTime())
            for _ in 0..<200 { members.invalidate(); _ = members.members(ofGroup: process.pid) }
            let perScan = Double(MonotonicInstant.now().since(start.0).nanoseconds) / 200 / 1000
            let cpuPerScan = Double(threadCPUTime() - start.1) / 200 / 1000
            start = (.now(), threadCPUTime())
            for _ in 0..<rounds { _ = probe.probe(pids: pids, listenerInodes: [listener.inode], stopWhenAllSeen: true) }
            let cpuPerEarlyStop = Double(threadCPUTime() - start.1) / Double(rounds) / 1000
            start = (.now(), threadCPUTime())
            for _ in 0..<200 { _ = members.descendantsInGroup(process.pid) }
            let cpuPerWalk = Double(threadCPUTime() - start.1) / 200 / 1000
            let processCount = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.filter { Int($0) != nil }.count ?? 0
            print(String(format: "accepting-probe-cost: %@ (%d processes): %.1f us/probe (CPU %.1f us); "
                         + "group scan of /proc (%d processes): %.0f us (CPU %.0f us)",
                         name, pids.count, perProbe, cpuPerProbe, processCount, perScan, cpuPerScan)
                + String(format: "; stopWhenAllSeen CPU %.1f us; descendant walk CPU %.0f us", cpuPerEarlyStop, cpuPerWalk))
        }
        try measure("python-epoll", [Binaries.python3, "py_server.py", "epoll"])
        if ProbedServer.gunicornUnavailable() == nil {
            try measure("gunicorn-sync-w7", [Binaries.python3, "-m", "gunicorn", "--no-control-socket", "-w", "7", "wsgi_app:app"])
        }
        if let go = GoServer.build().path { try measure("go-net-http", [go]) }
    }
}

/// ListenerGuard against a worker that shuts the shared listener down.
@Suite struct ListenerGuardTests {
    @Test func shutdownInAnotherProcessStopsTheSharedSocketAndListenRestoresIt() throws {
        let listener = try TestListener()
        #expect(ListenerGuard.isListening(listener.fd) == true)
        #expect(ListenerGuard.check(listener.fd, backlog: 128) == .listening)
        let directory = try TemporaryDirectory(prefix: "guard")
        let child = try ActivatedServer(
            command: [Binaries.python3, "-c", "import socket; socket.socket(fileno=3).shutdown(socket.SHUT_RD)"],
            listener: listener, directory: directory.path, logPath: directory.file("log"))
        #expect(try child.process.waitForExit(timeout: .seconds(30)) == 0, "\(child.log())")
        // The child's shutdown of its duplicate stopped the socket graced holds.
        #expect(ListenerGuard.isListening(listener.fd) == false)
        #expect(!listener.connects())
        #expect(ListenerGuard.check(listener.fd, backlog: 128) == .relistened)
        #expect(ListenerGuard.isListening(listener.fd) == true)
        #expect(listener.connects())
        #expect(ListenerGuard.check(listener.fd, backlog: 128) == .listening)
    }

    @Test func notASocket() {
        #expect(ListenerGuard.isListening(-1) == nil)
        if case .failed = ListenerGuard.check(-1, backlog: 1) {} else { Issue.record("expected .failed") }
    }
}
