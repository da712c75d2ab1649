/// The control protocol: one JSON object per line in each direction.
///
/// Requests: `{"command": "reload", "wait_drained": false}`, `{"command": "status"}`,
/// `{"command": "stop"}`. Replies: zero or more `{"event": "progress", "message": ...}`
/// lines, then one `{"event": "result", "ok": ..., ...}` line.
public enum ControlCommand: String, Codable, Sendable, CaseIterable {
    case reload
    case status
    case stop
}

public struct ControlRequest: Codable, Equatable, Sendable {
    public var command: ControlCommand
    /// For `reload`: reply only once the previous generation has exited.
    public var waitDrained: Bool?

    public init(command: ControlCommand, waitDrained: Bool? = nil) {
        self.command = command
        self.waitDrained = waitDrained
    }

    enum CodingKeys: String, CodingKey {
        case command
        case waitDrained = "wait_drained"
    }
}

/// Why a request line was refused; sent back to the client, never fatal to graced.
public struct ControlProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
}

public enum ControlProtocol {
    /// Requests are short; anything longer is refused before it is parsed.
    public static let maxRequestBytes = 64 * 1024
    /// Requests are flat objects; replies nest four levels (status, generations, workers).
    public static let maxDepth = 16

    private static var commandNames: String { ControlCommand.allCases.map(\.rawValue).joined(separator: ", ") }

    /// Decodes one request line (without its newline).
    public static func decodeRequest(_ line: [UInt8]) throws(ControlProtocolError) -> ControlRequest {
        guard line.count <= maxRequestBytes else {
            throw ControlProtocolError(description: "request larger than \(maxRequestBytes) bytes")
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(line, maxDepth: maxDepth)
        } catch {
            throw ControlProtocolError(description: "malformed JSON: \(error)")
        }
        guard case .object(let dictionary) = value else {
            throw ControlProtocolError(description: "a request must be a JSON object, not \(value.kindName)")
        }
        guard let commandValue = dictionary["command"] else {
            throw ControlProtocolError(description: "missing \"command\" (one of: \(commandNames))")
        }
        guard case .string(let name) = commandValue else {
            throw ControlProtocolError(description: "\"command\" must be a string (one of: \(commandNames))")
        }
        guard let command = ControlCommand(rawValue: name) else {
            throw ControlProtocolError(description: "unknown command '\(printable(name))' (one of: \(commandNames))")
        }
        for key in dictionary.keys.sorted() where key != "command" && key != "wait_drained" {
            throw ControlProtocolError(description: "unknown field '\(printable(key))'")
        }
        var waitDrained: Bool?
        if let value = dictionary["wait_drained"] {
            guard case .bool(let flag) = value else {
                throw ControlProtocolError(description: "\"wait_drained\" must be true or false")
            }
            waitDrained = flag
        }
        return ControlRequest(command: command, waitDrained: waitDrained)
    }

    /// At most 100 characters of a client's string, control characters escaped, for a reply.
    private static func printable(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(100) {
            out += scalar.value < 0x20 || scalar.value == 0x7F ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return text.unicodeScalars.count > 100 ? out + "…" : out
    }

    /// One request line: `{"command":"reload","wait_drained":true}` and a newline.
    public static func encodeRequest(_ request: ControlRequest) -> [UInt8] {
        encode(request)
    }

    /// One line (keys sorted, `/` not escaped) and its newline.
    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        guard let json = try? JSONCoding.encode(value) else {
            return Array(#"{"event":"result","message":"encoding failed","ok":false}"#.utf8) + [UInt8(ascii: "\n")]
        }
        return json.serialized() + [UInt8(ascii: "\n")]
    }

    /// Decodes one reply line (without its newline).
    public static func decodeReply(_ line: [UInt8]) throws -> ControlReply {
        try JSONCoding.decode(ControlReply.self, from: line, maxDepth: maxDepth)
    }
}

/// A reply line from graced.
public struct ControlReply: Codable, Equatable, Sendable {
    public enum Event: String, Codable, Sendable {
        case progress
        case result
    }

    public var event: Event
    public var ok: Bool?
    public var message: String?
    public var generation: Int?
    public var retired: Int?
    public var status: SupervisorStatus?
    /// The request was not served at all (permission, connection limit): nothing was tried.
    public var refused: Bool?

    public init(event: Event, ok: Bool? = nil, message: String? = nil, generation: Int? = nil, retired: Int? = nil, status: SupervisorStatus? = nil, refused: Bool? = nil) {
        self.refused = refused
        self.event = event
        self.ok = ok
        self.message = message
        self.generation = generation
        self.retired = retired
        self.status = status
    }

    public static func progress(_ message: String) -> ControlReply { ControlReply(event: .progress, message: message) }
    public static func failure(_ message: String) -> ControlReply { ControlReply(event: .result, ok: false, message: message) }
    public static func refusal(_ message: String) -> ControlReply { ControlReply(event: .result, ok: false, message: message, refused: true) }
}

/// What `graced status` shows.
public struct SupervisorStatus: Codable, Equatable, Sendable {
    public struct ListenerInfo: Codable, Equatable, Sendable {
        public var name: String
        public var address: String
        public var fd: Int32
        public var origin: String
        public var inode: UInt64?
    }

    public struct WorkerInfo: Codable, Equatable, Sendable {
        public var pid: Int32
        public var index: Int
        public var state: String
        public var uptimeSeconds: Double
        /// For a draining worker: seconds since its stop signal.
        public var drainingSeconds: Double?
        public var restarts: Int
        public var statusText: String?
        /// For a draining worker: client connections it still holds.
        public var connections: Int?
        /// The last line the worker wrote to stdout or stderr.
        public var lastLine: String?

        enum CodingKeys: String, CodingKey {
            case pid, index, state, restarts, connections
            case uptimeSeconds = "uptime_seconds"
            case drainingSeconds = "draining_seconds"
            case statusText = "status_text"
            case lastLine = "last_line"
        }
    }

    public struct GenerationInfo: Codable, Equatable, Sendable {
        public var number: Int
        public var state: String
        public var workers: [WorkerInfo]
    }

    public struct ReloadInfo: Codable, Equatable, Sendable {
        public var ok: Bool
        public var detail: String
        public var durationSeconds: Double
        public var secondsAgo: Double
        /// How long each phase took: "drain slot", "prepare", "ready", "settle", "stop accepting".
        public var phases: [PhaseInfo]?

        enum CodingKeys: String, CodingKey {
            case ok, detail, phases
            case durationSeconds = "duration_seconds"
            case secondsAgo = "seconds_ago"
        }
    }

    public struct PhaseInfo: Codable, Equatable, Sendable {
        public var name: String
        public var seconds: Double
    }

    public var pid: Int32
    public var version: String
    public var config: String
    public var uptimeSeconds: Double
    public var state: String
    public var listeners: [ListenerInfo]
    public var generations: [GenerationInfo]
    public var lastReload: ReloadInfo?
    /// Listeners on which no process of the serving generation waits (an error).
    public var notAccepting: [String]?
    /// Notify datagrams dropped: from uids that run no worker, or from outside the worker trees.
    public var notifyDropped: Int?
    /// Log lines dropped because the log reader (stderr, journald) was too slow.
    public var logLinesDropped: UInt64?

    enum CodingKeys: String, CodingKey {
        case pid, version, config, state, listeners, generations
        case uptimeSeconds = "uptime_seconds"
        case lastReload = "last_reload"
        case notAccepting = "not_accepting"
        case notifyDropped = "notify_dropped"
        case logLinesDropped = "log_lines_dropped"
    }
}
