// Continuous HTTP load from several threads, to prove that reloads and restarts lose
// no request: every failure is counted and the first few are kept verbatim.

import Foundation

/// What a LoadGenerator saw.
struct LoadResult: Sendable, CustomStringConvertible {
    /// Requests answered with status 200.
    var ok = 0
    /// Requests that failed: connection refused or reset, timeout, status other than 200.
    var failed = 0
    /// The texts of the first failures (at most `LoadGenerator.keptFailures`).
    var failures: [String] = []
    /// The "pid" fields of the JSON bodies (worker.py, app.py).
    var pids: Set<Int> = []
    /// The "generation" fields of the JSON bodies.
    var generations: Set<String> = []
    /// Keep-alive only: requests retried on a new connection because a reused one was
    /// closed by the server before answering (what HTTP clients do); not failures.
    var retriedStaleConnections = 0

    var total: Int { ok + failed }

    var description: String {
        "ok \(ok), failed \(failed), retried \(retriedStaleConnections), pids \(pids.sorted()), "
            + "generations \(generations.sorted())"
            + (failures.isEmpty ? "" : ", first failures: " + failures.joined(separator: " | "))
    }
}

/// Sends GET requests from `concurrency` threads in a loop until stopped.
///
///     let load = LoadGenerator(port: port)
///     load.start()
///     ... reload ...
///     let result = load.stop()
///     #expect(result.failed == 0, "\(result)")
final class LoadGenerator: @unchecked Sendable {
    static let keptFailures = 10

    let endpoint: Endpoint
    let path: String
    let concurrency: Int
    let newConnectionPerRequest: Bool
    let requestTimeout: Duration
    let pause: Duration

    private let result = Locked(LoadResult())
    private let stopping = Locked(false)
    private let group = DispatchGroup()

    /// - Parameters:
    ///   - newConnectionPerRequest: true: one HTTP/1.0 connection per request; false:
    ///     keep-alive connections, reconnecting when the server closes one.
    ///   - requestTimeout: a request that takes longer counts as failed.
    ///   - pause: sleep between two requests of one thread.
    init(endpoint: Endpoint, path: String = "/", concurrency: Int = 16, newConnectionPerRequest: Bool = true,
         requestTimeout: Duration = .seconds(5), pause: Duration = .zero) {
        self.endpoint = endpoint
        self.path = path
        self.concurrency = concurrency
        self.newConnectionPerRequest = newConnectionPerRequest
        self.requestTimeout = requestTimeout
        self.pause = pause
    }

    /// Load on http://host:port/path.
    convenience init(host: String = "127.0.0.1", port: UInt16, path: String = "/", concurrency: Int = 16,
                     newConnectionPerRequest: Bool = true, requestTimeout: Duration = .seconds(5),
                     pause: Duration = .zero) {
        self.init(endpoint: .tcp(host: host, port: port), path: path, concurrency: concurrency,
                  newConnectionPerRequest: newConnectionPerRequest, requestTimeout: requestTimeout, pause: pause)
    }

    /// Starts the threads.
    func start() {
        for index in 0..<concurrency {
            group.enter()
            let thread = Thread { [self] in
                run()
                group.leave()
            }
            thread.name = "load-\(index)"
            thread.start()
        }
    }

    /// The counts so far, while the load goes on.
    func snapshot() -> LoadResult {
        result.withLock { $0 }
    }

    /// Waits until at least `count` more requests have completed (ok or failed) than
    /// when called; throws on timeout.
    func waitForRequests(_ count: Int, timeout: Duration = .seconds(20)) throws {
        let target = snapshot().total + count
        guard poll(timeout: timeout, { snapshot().total >= target }) else {
            throw TestSupportError("load: fewer than \(count) requests within \(timeout): \(snapshot())")
        }
    }

    /// Stops the threads, waits for their last requests, returns the totals.
    func stop() -> LoadResult {
        stopping.withLock { $0 = true }
        group.wait()
        return snapshot()
    }

    private var isStopping: Bool { stopping.withLock { $0 } }

    /// One thread's loop.
    private func run() {
        var connection: HTTPConnection?
        while !isStopping {
            do {
                let response: HTTPResponse
                if newConnectionPerRequest {
                    response = try httpRequest(endpoint, path: path, timeout: requestTimeout)
                } else {
                    response = try keepAliveRequest(&connection)
                }
                record(response)
            } catch {
                connection = nil
                recordFailure("\(error)")
            }
            if pause > .zero { sleepThread(pause) }
        }
    }

    /// One request on the thread's keep-alive connection, reconnecting as needed and
    /// retrying once when a reused connection turns out to be closed.
    private func keepAliveRequest(_ connection: inout HTTPConnection?) throws -> HTTPResponse {
        let deadline = Deadline(after: requestTimeout)
        if connection?.isReusable != true {
            connection = try HTTPConnection(endpoint, timeout: requestTimeout)
        }
        do {
            return try connection!.get(path, timeout: deadline.remaining)   // reconnects next time if it closes
        } catch is HTTPConnection.StaleConnection {
            result.withLock { $0.retriedStaleConnections += 1 }
            connection = try HTTPConnection(endpoint, timeout: deadline.remaining)
            return try connection!.get(path, timeout: deadline.remaining)
        }
    }

    private func record(_ response: HTTPResponse) {
        guard response.status == 200 else {
            recordFailure("status \(response.status): \(response.text.prefix(200))")
            return
        }
        let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        result.withLock { totals in
            totals.ok += 1
            if let pid = object?["pid"] as? Int { totals.pids.insert(pid) }
            if let generation = object?["generation"] {
                if let text = generation as? String { totals.generations.insert(text) }
                else if let number = generation as? Int { totals.generations.insert(String(number)) }
            }
        }
    }

    private func recordFailure(_ text: String) {
        result.withLock { totals in
            totals.failed += 1
            if totals.failures.count < LoadGenerator.keptFailures { totals.failures.append(text) }
        }
    }
}
