// Helpers for ReadinessTests: one graced on one listener with a config rewritten per
// reload, the graced text log's timestamps and levels, `graced status --json`, a client
// that timestamps every connection, and a process's CPU time from /proc.

import Foundation

/// One graced on one listener ("http", TCP on 127.0.0.1 or a Unix socket), no `ready`
/// key unless the test gives one.
final class ReadinessFixture: @unchecked Sendable {
    let directory: TemporaryDirectory
    let endpoint: Endpoint
    let address: String
    private(set) var configPath: String
    private(set) var graced: GracedProcess?

    /// - Parameters:
    ///   - unixSocket: listen on unix:<dir>/http.sock instead of TCP.
    init(unixSocket: Bool = false) throws {
        directory = try TemporaryDirectory(prefix: "readiness")
        if unixSocket {
            let path = directory.file("http.sock")
            endpoint = .unix(path: path)
            address = "unix:" + path
        } else {
            let port = freeTCPPort()
            endpoint = .tcp(host: "127.0.0.1", port: port)
            address = "127.0.0.1:\(port)"
        }
        configPath = directory.file("graced.conf")
    }

    /// The TCP port (0 for a Unix listener).
    var port: UInt16 {
        if case let .tcp(_, port) = endpoint { return port }
        return 0
    }

    /// Writes the config: `command` ({fd:http} expands in graced), more `[worker]` lines.
    func write(command: [String], workerLines: [String] = []) throws {
        configPath = try writeConfig(in: directory.path, listeners: [("http", address)], command: command,
                                     workerLines: workerLines)
    }

    /// Starts graced; with `waitReady`, waits for "generation 1 ready".
    @discardableResult
    func start(waitReady: Bool = true, timeout: Duration = .seconds(60)) throws -> GracedProcess {
        let process = try GracedProcess(config: configPath)
        graced = process
        if waitReady { try process.waitForLog(containing: "generation 1 ready", timeout: timeout) }
        return process
    }

    var log: String { graced?.log() ?? "" }

    /// `graced reload --config PATH`, blocking until the verdict.
    func reload(timeout: Duration = .seconds(90)) -> (status: Int32, stdout: String, stderr: String) {
        runGraced(["reload", "--config", configPath], timeout: timeout)
    }

    /// `graced status --json` as a JSON object.
    func status() throws -> [String: Any] {
        let result = runGraced(["status", "--json", "--config", configPath], timeout: .seconds(30))
        guard result.status == 0,
              let object = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        else { throw TestSupportError("graced status --json exited \(result.status): \(result.stdout) \(result.stderr)") }
        return object
    }

    /// The worker pids of generation `number` per `graced status --json`.
    func workerPIDs(generation number: Int) throws -> Set<Int> {
        let generations = try status()["generations"] as? [[String: Any]] ?? []
        return Set(generations.filter { $0["number"] as? Int == number }
            .flatMap { $0["workers"] as? [[String: Any]] ?? [] }
            .compactMap { $0["pid"] as? Int })
    }

    func stop() { graced?.terminate() }
    deinit { graced?.terminate() }
}

/// The pid and generation a worker answering {"pid": ..., "generation": ...} reports
/// (probe_worker.py, asgi_lifespan_app.py, worker.py).
func pidAndGeneration(_ endpoint: Endpoint, timeout: Duration = .seconds(10)) throws -> (pid: Int, generation: String) {
    let response = try httpRequest(endpoint, path: "/", timeout: timeout)
    guard response.status == 200,
          let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
          let pid = object["pid"] as? Int
    else { throw TestSupportError("GET \(endpoint)/: no JSON with a pid: \(response.text.prefix(300))") }
    let generation = (object["generation"] as? String) ?? (object["generation"] as? Int).map(String.init) ?? "-"
    return (pid, generation)
}

// MARK: - The text log

/// One line of graced's text log: "2026-11-30T06:16:38.123Z info  message k=v".
struct GracedLogLine {
    var text: String
    var time: Date?
    var level: String?

    init(_ text: String) {
        self.text = text
        let tokens = text.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        time = tokens.first.flatMap { parseLogTime(String($0)) }
        level = tokens.count >= 2 ? String(tokens[1]) : nil
    }

    /// The value of `key=` among the fields (unquoted values only).
    func field(_ key: String) -> String? {
        for token in text.split(separator: " ").reversed() where token.hasPrefix(key + "=") {
            return String(token.dropFirst(key.count + 1))
        }
        return nil
    }
}

/// Parses "2026-11-30T06:16:38.123Z" (UTC, milliseconds).
func parseLogTime(_ text: String) -> Date? {
    let digits = text.split(whereSeparator: { "-T:.Z".contains($0) }).map { Int($0) }
    guard text.hasSuffix("Z"), digits.count == 7, !digits.contains(nil) else { return nil }
    var parts = tm()
    parts.tm_year = Int32(digits[0]! - 1900)
    parts.tm_mon = Int32(digits[1]! - 1)
    parts.tm_mday = Int32(digits[2]!)
    parts.tm_hour = Int32(digits[3]!)
    parts.tm_min = Int32(digits[4]!)
    parts.tm_sec = Int32(digits[5]!)
    let fraction = String(text.split(separator: ".").last!.dropLast())
    let seconds = timegm(&parts)
    return Date(timeIntervalSince1970: Double(seconds) + Double(digits[6]!) / pow(10, Double(fraction.count)))
}

extension GracedProcess {
    /// The parsed log lines after byte `since`.
    func parsedLines(since: Int = 0) -> [GracedLogLine] {
        logLines(since: since).map(GracedLogLine.init)
    }
}

// MARK: - A client that timestamps every connection

/// One request of a `TimedClient`.
struct TimedRequest: Sendable {
    var started: Date
    var ok: Bool
    var error: String?
    var pid: Int?
}

/// Sends one request after another on new connections from `concurrency` threads and
/// keeps the time and outcome of each.
final class TimedClient: @unchecked Sendable {
    let endpoint: Endpoint
    let concurrency: Int
    private let results = Locked([TimedRequest]())
    private let stopping = Locked(false)
    private let group = DispatchGroup()

    init(endpoint: Endpoint, concurrency: Int = 2) {
        self.endpoint = endpoint
        self.concurrency = concurrency
    }

    func start() {
        for _ in 0..<concurrency {
            group.enter()
            Thread { [self] in
                while !stopping.withLock({ $0 }) {
                    let started = Date()
                    var request = TimedRequest(started: started, ok: false)
                    do {
                        let response = try httpRequest(endpoint, path: "/", timeout: .seconds(5))
                        request.ok = response.status == 200
                        if !request.ok { request.error = "status \(response.status)" }
                        let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
                        request.pid = object?["pid"] as? Int
                    } catch {
                        request.error = "\(error)"
                        sleepThread(.milliseconds(2))
                    }
                    results.withLock { $0.append(request) }
                }
                group.leave()
            }.start()
        }
    }

    func snapshot() -> [TimedRequest] { results.withLock { $0 } }

    func stop() -> [TimedRequest] {
        stopping.withLock { $0 = true }
        group.wait()
        return snapshot()
    }
}

// MARK: - /proc

/// utime + stime of a process in clock ticks (/proc/PID/stat fields 14 and 15).
func cpuTicks(pid: Int) -> Int? {
    guard let bytes = readWholeFile("/proc/\(pid)/stat") else { return nil }
    let text = String(decoding: bytes, as: UTF8.self)
    guard let closeParen = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: closeParen)...].split(separator: " ")
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
    return user + system
}

/// Clock ticks per second (sysconf(_SC_CLK_TCK)).
let clockTicksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

// MARK: - Statistics

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
