// The Swift example worker (examples/swift-worker: SwiftNIO, withBoundSocket) under the
// real graced (issue 13): what it receives, READY=1 and STATUS= through graced's notify
// socket, reloads under load with no failed request, an in-flight request finished by
// the old generation, a clean stop, and the listener's backlog left as graced set it.
//
// The worker is its own SwiftPM package; `make test` builds it first (`make swift-worker`).
// Without the binary these tests are skipped, saying how to build it.

import Foundation
import Testing

private let swiftWorkerBuilt = Binaries.swiftWorker != nil

/// The log lines of graced at warn level or above.
private func badLines(_ graced: GracedProcess) -> [String] {
    graced.logLines().filter { CoreHarness.badLevels.contains(CoreHarness.level(of: $0) ?? "") }
}

/// One request in a thread of its own (a slow request kept in flight across a reload or
/// a stop); `wait` returns its response or its error.
private final class BackgroundRequest: @unchecked Sendable {
    private let outcome = Locked<(response: HTTPResponse?, error: String?)>((nil, nil))
    private let done = DispatchSemaphore(value: 0)

    init(_ endpoint: Endpoint, path: String) {
        let thread = Thread { [self] in
            do {
                let response = try httpRequest(endpoint, path: path, timeout: .seconds(30))
                outcome.withLock { $0 = (response, nil) }
            } catch {
                outcome.withLock { $0 = (nil, "\(error)") }
            }
            done.signal()
        }
        thread.start()
    }

    func wait(timeout: Duration = .seconds(40)) throws -> HTTPResponse {
        guard done.wait(timeout: .now() + timeout.seconds) == .success else {
            throw TestSupportError("the request did not finish within \(timeout)")
        }
        let (response, error) = outcome.withLock { $0 }
        guard let response else { throw TestSupportError("the request failed: \(error ?? "?")") }
        return response
    }
}

/// The Send-Q column of `ss -ltn` for a TCP listener: its backlog (nil if ss is missing).
private func listenBacklog(port: UInt16) -> Int? {
    guard let ss = Binaries.onPath("ss") else { return nil }
    let result = runCommand(ss, ["-Hltn", "sport = :\(port)"], timeout: .seconds(10))
    // "LISTEN 0 64 127.0.0.1:PORT 0.0.0.0:*"
    let words = result.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" })
    return words.count >= 3 ? Int(words[2]) : nil
}

@Suite(.enabled(if: swiftWorkerBuilt, "\(Binaries.swiftWorkerMissing)"))
struct SwiftWorkerTests {
    /// `[worker]` lines of these tests.
    static let workerLines = ["ready = \"notify\"", "ready_timeout = \"30s\"", "drain_timeout = \"20s\""]

    @Test func receivesTheActivationEnvironmentNotifiesAndStopsCleanly() throws {
        let tmp = try TemporaryDirectory(prefix: "swift-worker")
        let port = freeTCPPort()
        let graced = try CoreHarness.startGraced(in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
                                                 command: try Binaries.swiftWorkerCommand(["--threads", "1"]),
                                                 workerLines: Self.workerLines + ["processes = 2"],
                                                 environment: [:])
        defer { graced.terminate() }

        // Both workers answer (the kernel spreads the connections); ask until both did.
        var seen: [String: WorkerInfo] = [:]
        let bothSeen = try poll(timeout: .seconds(20), interval: .milliseconds(1)) {
            let info = try workerInfo(port: port, path: "/x?y=1")
            seen[info.worker ?? "?"] = info
            return seen.count >= 2
        }
        #expect(bothSeen, "only workers \(seen.keys.sorted()) answered")
        #expect(Set(seen.keys) == ["0", "1"])
        for info in seen.values {
            #expect(info.listenPID == info.pid)
            #expect(info.ppid == graced.pid)
            #expect(info.listenFDs == 1)
            #expect(info.listenFDNames == "http")
            #expect(info.einhornFDs == "3")
            #expect(info.generation == "1")
            // graced's notify socket: a path (graced-interface.md §3) or an abstract @name.
            #expect(info.notifySocket?.hasPrefix("/") == true || info.notifySocket?.hasPrefix("@") == true,
                    "NOTIFY_SOCKET \(info.notifySocket ?? "nil")")
            #expect(info.inheritedFDs == [0, 1, 2, 3])
            #expect(info.fdTargets["3"]?.hasPrefix("socket:[") == true)
            #expect(info.listener == "http")
            #expect(info.listeners.first?.address == "127.0.0.1:\(port)")
            #expect(info.path == "/x?y=1")
        }
        #expect(try httpGet(port: port, path: "/health").body == "ok")

        // STATUS= reached graced and shows in `graced status`.
        let status = try CoreHarness.status(config: graced.configPath)
        let workers = (status["generations"] as? [[String: Any]] ?? []).flatMap { $0["workers"] as? [[String: Any]] ?? [] }
        #expect(workers.count == 2)
        for worker in workers {
            #expect(worker["state"] as? String == "ready", "\(worker)")
            #expect(worker["status_text"] as? String == "serving on http", "\(worker)")
        }

        // An idle keep-alive connection does not hold the stop up.
        let idle = try HTTPConnection(.tcp(host: "127.0.0.1", port: port))
        #expect(try idle.get("/health").status == 200)

        let pids = seen.values.map(\.pid)
        let started = ContinuousClock.now
        graced.signal(SIGTERM)
        #expect(try graced.waitForExit(timeout: .seconds(30)) == 0)
        #expect(ContinuousClock.now - started < .seconds(10), "the stop took \(ContinuousClock.now - started)")
        #expect(idle.waitForServerClose(timeout: .seconds(5)), "the idle keep-alive connection was not closed")
        let log = graced.log()
        for pid in pids {
            #expect(log.contains("worker \(pid) generation 1 serving on http"), "\(log)")
            #expect(log.contains("worker \(pid) draining (SIGTERM)"), "\(log)")
            #expect(log.contains("worker \(pid) drained in"), "\(log)")
            #expect(CoreHarness.waitUntilGone(pid), "worker \(pid) still runs after graced exited")
        }
        #expect(log.contains("generation 1 drained"), "\(log)")
        #expect(badLines(graced).isEmpty, "warn/error/crit lines during a clean stop: \(badLines(graced))")
    }

    @Test func reloadsUnderLoadWithoutAFailedRequest() throws {
        let tmp = try TemporaryDirectory(prefix: "swift-worker")
        let port = freeTCPPort()
        let endpoint = Endpoint.tcp(host: "127.0.0.1", port: port)
        let graced = try CoreHarness.startGraced(in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
                                                 command: try Binaries.swiftWorkerCommand(["--threads", "1"]),
                                                 workerLines: Self.workerLines)
        defer { graced.terminate() }
        let first = try workerInfo(port: port)
        #expect(first.generation == "1")

        // Light load: one connection per request, and keep-alive connections.
        let perRequest = LoadGenerator(endpoint: endpoint, concurrency: 4, newConnectionPerRequest: true,
                                       pause: .milliseconds(2))
        let keepAlive = LoadGenerator(endpoint: endpoint, concurrency: 4, newConnectionPerRequest: false,
                                      pause: .milliseconds(2))
        perRequest.start()
        keepAlive.start()
        var results: (LoadResult, LoadResult) = (LoadResult(), LoadResult())
        var slowResponse: HTTPResponse?
        do {
            defer { results = (perRequest.stop(), keepAlive.stop()) }
            try perRequest.waitForRequests(100, timeout: .seconds(30))
            try keepAlive.waitForRequests(100, timeout: .seconds(30))

            // A slow request in flight on generation 1 when the first reload stops it.
            let slow = BackgroundRequest(endpoint, path: "/sleep?ms=1500")
            sleepThread(.milliseconds(300))
            for generation in 2...4 {
                let reload = runGraced(["reload", "--config", graced.configPath], timeout: .seconds(60))
                #expect(reload.status == 0, "reload to generation \(generation): \(reload)\nlog:\n\(graced.log())")
                try perRequest.waitForRequests(100, timeout: .seconds(30))
                try keepAlive.waitForRequests(100, timeout: .seconds(30))
            }
            slowResponse = try slow.wait()
        }
        print("SwiftWorkerTests reload load: per request \(results.0); keep-alive \(results.1)")
        #expect(results.0.failed == 0, "\(results.0)")
        #expect(results.1.failed == 0, "\(results.1)")
        #expect(results.0.generations.isSuperset(of: ["1", "4"]), "\(results.0)")
        #expect(results.1.generations.isSuperset(of: ["1", "4"]), "\(results.1)")

        // The old generation finished the slow request and said it closes the connection.
        #expect(slowResponse?.status == 200)
        let slowBody = try slowResponse.map(jsonObject)
        #expect(slowBody?["generation"] as? String == "1", "\(slowBody ?? [:])")
        #expect(slowResponse?.closesConnection == true)

        try graced.waitForLog(containing: "generation 3 drained", timeout: .seconds(30))
        #expect(try workerInfo(port: port).generation == "4")
        #expect(!isAlive(pid: first.pid))

        let stop = runGraced(["stop", "--config", graced.configPath], timeout: .seconds(30))
        #expect(stop.status == 0, "\(stop)")
        #expect(try graced.waitForExit(timeout: .seconds(30)) == 0)
        #expect(badLines(graced).isEmpty, "warn/error/crit lines: \(badLines(graced))\nlog:\n\(graced.log())")
    }

    /// With graced's default readiness (`accepting`: the listener in the worker's epoll
    /// set, seen from /proc) the worker needs no READY=1 at all.
    @Test func worksWithTheDefaultAcceptingReadiness() throws {
        let tmp = try TemporaryDirectory(prefix: "swift-worker")
        let port = freeTCPPort()
        let graced = try CoreHarness.startGraced(in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
                                                 command: try Binaries.swiftWorkerCommand(["--threads", "1", "--no-notify"]),
                                                 workerLines: ["ready_timeout = \"30s\"", "drain_timeout = \"20s\""])
        defer { graced.terminate() }
        #expect(try workerInfo(port: port).generation == "1")
        let reload = runGraced(["reload", "--config", graced.configPath], timeout: .seconds(60))
        #expect(reload.status == 0, "\(reload)\nlog:\n\(graced.log())")
        #expect(try workerInfo(port: port).generation == "2")
        graced.signal(SIGTERM)
        #expect(try graced.waitForExit(timeout: .seconds(30)) == 0)
        #expect(badLines(graced).isEmpty, "warn/error/crit lines: \(badLines(graced))")
    }

    /// SwiftNIO's withBoundSocket calls listen(fd, 128) on the socket it is given, which
    /// would change the backlog of the shared socket for every generation; the worker
    /// restores the one graced set.
    @Test(.enabled(if: Binaries.onPath("ss") != nil, "needs ss (iproute2) to read the backlog"),
          arguments: [64, 1024])
    func keepsTheListenerBacklog(backlog: Int) throws {
        let port = freeTCPPort()
        let tmp = try TemporaryDirectory(prefix: "swift-worker")
        let config = try writeConfig(in: tmp.path, listeners: [("http", "127.0.0.1:\(port)")],
                                     command: try Binaries.swiftWorkerCommand(["--threads", "1"]),
                                     workerLines: Self.workerLines, listenerLines: ["http": ["backlog = \(backlog)"]])
        let graced = try GracedProcess(config: config)
        defer { graced.terminate() }
        try graced.waitForLog(containing: "event=generation-ready")
        #expect(try httpGet(port: port, path: "/health").body == "ok")
        #expect(listenBacklog(port: port) == backlog)
    }
}
