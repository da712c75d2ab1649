// A tiny blocking HTTP client on raw sockets (see Sockets.swift): one-shot GETs over
// TCP (IPv4, IPv6) or Unix sockets, keep-alive connections, and JSON decoding of what
// examples/worker.py and examples/app.py answer.

import Foundation

/// A parsed HTTP response.
struct HTTPResponse: Sendable {
    var status: Int
    /// Header names lowercased; a repeated header keeps its last value.
    var headers: [String: String]
    var body: [UInt8]
    /// The body as UTF-8 text.
    var text: String { String(decoding: body, as: UTF8.self) }
    /// True if the server announced it closes the connection after this response.
    var closesConnection: Bool
}

/// One client connection that can carry several requests (HTTP/1.1 keep-alive).
final class HTTPConnection {
    /// A reused keep-alive connection was closed by the server before any byte of the
    /// response arrived: the usual keep-alive race, after which clients retry.
    struct StaleConnection: Error, CustomStringConvertible {
        var description: String
    }

    let endpoint: Endpoint
    private let socket: ClientSocket
    private var buffer: [UInt8] = []
    /// Requests completed on this connection.
    private(set) var requestCount = 0
    /// False once the server said `Connection: close` or the connection failed.
    private(set) var isReusable = true
    /// Bytes received since the current request was sent.
    private var bytesReceived = 0

    /// Connects, waiting at most `timeout`.
    init(_ endpoint: Endpoint, timeout: Duration = .seconds(5)) throws {
        self.endpoint = endpoint
        socket = try ClientSocket(connectingTo: endpoint, deadline: Deadline(after: timeout))
    }

    /// Sends one GET and reads its response. `keepAlive: false` sends HTTP/1.0 without
    /// keep-alive (the server answers, then closes: no chunked encoding possible).
    func get(_ path: String = "/", keepAlive: Bool = true, headers: [String: String] = [:],
             timeout: Duration = .seconds(5)) throws -> HTTPResponse {
        let deadline = Deadline(after: timeout)
        guard isReusable else { throw TestSupportError("GET \(endpoint)\(path): connection no longer usable") }
        isReusable = false   // until this request has completed cleanly
        var request = keepAlive ? "GET \(path) HTTP/1.1\r\n" : "GET \(path) HTTP/1.0\r\n"
        request += "Host: \(hostHeader)\r\nUser-Agent: graced-tests\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        bytesReceived = 0
        let response: HTTPResponse
        do {
            try socket.send(Array(request.utf8), deadline: deadline)
            response = try readResponse(deadline: deadline, context: "GET \(endpoint)\(path)")
        } catch {
            if requestCount > 0 && bytesReceived == 0 && !deadline.hasPassed {
                throw StaleConnection(description: "\(error) (on a reused keep-alive connection)")
            }
            throw error
        }
        requestCount += 1
        isReusable = keepAlive && !response.closesConnection
        return response
    }

    /// True if the server has closed the connection (e.g. an idle keep-alive connection
    /// during a drain).
    func serverHasClosed() -> Bool {
        socket.peerHasClosed()
    }

    /// Waits until the server closes the connection; true if it did within `timeout`.
    func waitForServerClose(timeout: Duration) -> Bool {
        let deadline = Deadline(after: timeout)
        while true {
            guard let bytes = try? socket.receive(deadline: deadline) else { return false }
            if bytes.isEmpty { return true }
        }
    }

    private var hostHeader: String {
        switch endpoint {
        case .tcp: return endpoint.description
        case .unix: return "localhost"
        }
    }

    // MARK: Response parsing

    /// Makes sure `buffer` holds at least `count` bytes; false on EOF.
    private func fill(_ count: Int, deadline: Deadline) throws -> Bool {
        while buffer.count < count {
            let bytes = try socket.receive(deadline: deadline)
            if bytes.isEmpty { return false }
            bytesReceived += bytes.count
            buffer += bytes
        }
        return true
    }

    /// Takes one line ending in CRLF out of `buffer` (reading as needed), without the CRLF.
    private func readLine(deadline: Deadline, context: String) throws -> String {
        while true {
            if let end = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                var line = buffer[..<end]
                if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                buffer.removeSubrange(...end)
                return String(decoding: line, as: UTF8.self)
            }
            let bytes = try socket.receive(deadline: deadline)
            if bytes.isEmpty {
                throw TestSupportError("\(context): connection closed by the server"
                                       + (buffer.isEmpty ? " before any response" : " in the response head"))
            }
            bytesReceived += bytes.count
            buffer += bytes
        }
    }

    private func readResponse(deadline: Deadline, context: String) throws -> HTTPResponse {
        let statusLine = try readLine(deadline: deadline, context: context)
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            throw TestSupportError("\(context): bad status line \(statusLine.debugDescription)")
        }
        var headers: [String: String] = [:]
        while true {
            let line = try readLine(deadline: deadline, context: context)
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let connection = headers["connection"]?.lowercased() ?? ""
        var closes = connection.contains("close")
        if parts[0] == "HTTP/1.0" && !connection.contains("keep-alive") { closes = true }

        var body: [UInt8] = []
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            while true {
                let sizeLine = try readLine(deadline: deadline, context: context)
                guard let size = Int(sizeLine.split(separator: ";")[0].trimmingCharacters(in: .whitespaces), radix: 16) else {
                    throw TestSupportError("\(context): bad chunk size \(sizeLine.debugDescription)")
                }
                if size == 0 {
                    while try !readLine(deadline: deadline, context: context).isEmpty {}   // trailers
                    break
                }
                guard try fill(size + 2, deadline: deadline) else {
                    throw TestSupportError("\(context): connection closed in a chunk")
                }
                body += buffer[..<size]
                buffer.removeSubrange(..<(size + 2))
            }
        } else if let lengthText = headers["content-length"], let length = Int(lengthText) {
            guard try fill(length, deadline: deadline) else {
                throw TestSupportError("\(context): connection closed after \(buffer.count) of \(length) body bytes")
            }
            body = Array(buffer[..<length])
            buffer.removeSubrange(..<length)
        } else {
            while try fill(buffer.count + 1, deadline: deadline) {}   // body runs to EOF
            body = buffer
            buffer = []
            closes = true
        }
        return HTTPResponse(status: status, headers: headers, body: body, closesConnection: closes)
    }
}

// MARK: One-shot requests

/// GET over a new connection that the server closes after the response (HTTP/1.0).
func httpRequest(_ endpoint: Endpoint, path: String = "/", timeout: Duration = .seconds(5)) throws -> HTTPResponse {
    let deadline = Deadline(after: timeout)
    let connection = try HTTPConnection(endpoint, timeout: timeout)
    return try connection.get(path, keepAlive: false, timeout: deadline.remaining)
}

/// GET http://host:port/path (IPv4 or IPv6 numeric host).
func httpGet(host: String = "127.0.0.1", port: UInt16, path: String = "/",
             timeout: Duration = .seconds(5)) throws -> (status: Int, body: String) {
    let response = try httpRequest(.tcp(host: host, port: port), path: path, timeout: timeout)
    return (response.status, response.text)
}

/// GET over IPv6 loopback [::1]:port.
func httpGetIPv6(port: UInt16, path: String = "/", timeout: Duration = .seconds(5)) throws -> (status: Int, body: String) {
    try httpGet(host: "::1", port: port, path: path, timeout: timeout)
}

/// GET over a Unix stream socket at `socketPath` ("@name": abstract).
func httpGet(unixSocket socketPath: String, path: String = "/",
             timeout: Duration = .seconds(5)) throws -> (status: Int, body: String) {
    let response = try httpRequest(.unix(path: socketPath), path: path, timeout: timeout)
    return (response.status, response.text)
}

/// Retries a GET until it answers 200 (e.g. while a server starts); returns that response.
/// On timeout the error names the last failure.
func waitForHTTP(_ endpoint: Endpoint, path: String = "/", timeout: Duration = .seconds(20)) throws -> HTTPResponse {
    let deadline = Deadline(after: timeout)
    var lastFailure = "no attempt"
    while !deadline.hasPassed {
        do {
            let response = try httpRequest(endpoint, path: path, timeout: min(deadline.remaining, .seconds(5)))
            if response.status == 200 { return response }
            lastFailure = "status \(response.status): \(response.text.prefix(200))"
        } catch {
            lastFailure = "\(error)"
        }
        sleepThread(.milliseconds(50))
    }
    throw TestSupportError("\(endpoint)\(path) did not answer 200 within \(timeout); last: \(lastFailure)")
}

// MARK: JSON

/// Decodes a JSON object body; throws with the body text if it is not one.
func jsonObject(_ response: HTTPResponse) throws -> [String: Any] {
    guard let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
        throw TestSupportError("not a JSON object (status \(response.status)): \(response.text.prefix(500))")
    }
    return object
}

/// GET and decode the JSON object it answers (status must be 200).
func getJSON(_ endpoint: Endpoint, path: String = "/", timeout: Duration = .seconds(5)) throws -> [String: Any] {
    let response = try httpRequest(endpoint, path: path, timeout: timeout)
    guard response.status == 200 else {
        throw TestSupportError("GET \(endpoint)\(path): status \(response.status): \(response.text.prefix(500))")
    }
    return try jsonObject(response)
}

/// GET http://host:port/path and decode the JSON object.
func getJSON(host: String = "127.0.0.1", port: UInt16, path: String = "/",
             timeout: Duration = .seconds(5)) throws -> [String: Any] {
    try getJSON(.tcp(host: host, port: port), path: path, timeout: timeout)
}

/// What examples/worker.py answers to every request except /health.
struct WorkerInfo: Decodable, Sendable {
    /// One listener as the worker sees it.
    struct Listener: Decodable, Sendable {
        var name: String
        var fd: Int
        /// "inet", "inet6" or "unix".
        var family: String
        /// "127.0.0.1:8080", "[::1]:8080", "/path" or "@abstract".
        var address: String?
    }

    var pid: Int
    var ppid: Int
    /// GRACED_GENERATION, verbatim.
    var generation: String?
    /// GRACED_WORKER, verbatim.
    var worker: String?
    /// LISTEN_PID and LISTEN_FDS as numbers (nil if unset or not a number).
    var listenPID: Int?
    var listenFDs: Int?
    var listenFDNames: String?
    var einhornFDs: String?
    var notifySocket: String?
    var uid: Int
    var gid: Int
    var groups: [Int]
    var cwd: String
    /// Open fds at the time of the request (includes the worker's own: the request's
    /// socket, an epoll fd, a wake-up pipe).
    var fds: [Int]
    /// Open fds when the worker started, before it opened anything: what it inherited.
    var inheritedFDs: [Int]
    /// fd number (as a string) -> readlink of /proc/self/fd/N.
    var fdTargets: [String: String]
    /// The listener this request came in on.
    var listener: String
    var listeners: [Listener]
    var method: String
    var path: String
    /// The pid of the `--spawn-child` child, if any.
    var childPID: Int?
    /// Environment variables named APP_* and TEST_*.
    var env: [String: String]

    enum CodingKeys: String, CodingKey {
        case pid, ppid, generation, worker, uid, gid, groups, cwd, fds, listener, listeners, method, path, env
        case listenPID = "listen_pid", listenFDs = "listen_fds", listenFDNames = "listen_fdnames"
        case einhornFDs = "einhorn_fds", notifySocket = "notify_socket", inheritedFDs = "inherited_fds"
        case fdTargets = "fd_targets", childPID = "child_pid"
    }
}

/// GET and decode the JSON body (status must be 200) into `type`.
func getJSON<T: Decodable>(_ type: T.Type, _ endpoint: Endpoint, path: String = "/",
                           timeout: Duration = .seconds(5)) throws -> T {
    let response = try httpRequest(endpoint, path: path, timeout: timeout)
    guard response.status == 200 else {
        throw TestSupportError("GET \(endpoint)\(path): status \(response.status): \(response.text.prefix(500))")
    }
    do {
        return try JSONDecoder().decode(T.self, from: Data(response.body))
    } catch {
        throw TestSupportError("GET \(endpoint)\(path): cannot decode \(T.self) (\(error)): \(response.text.prefix(500))")
    }
}

/// GET and decode the worker's JSON into WorkerInfo.
func workerInfo(_ endpoint: Endpoint, path: String = "/", timeout: Duration = .seconds(5)) throws -> WorkerInfo {
    try getJSON(WorkerInfo.self, endpoint, path: path, timeout: timeout)
}

/// GET http://host:port/path and decode the worker's JSON.
func workerInfo(host: String = "127.0.0.1", port: UInt16, path: String = "/",
                timeout: Duration = .seconds(5)) throws -> WorkerInfo {
    try workerInfo(.tcp(host: host, port: port), path: path, timeout: timeout)
}
