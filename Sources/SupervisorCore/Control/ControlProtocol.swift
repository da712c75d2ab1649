import Foundation

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

    /// Decodes one request line (without its newline).
    public static func decodeRequest(_ line: [UInt8]) throws(ControlProtocolError) -> ControlRequest {
        guard line.count <= maxRequestBytes else {
            throw ControlProtocolError(description: "request larger than \(maxRequestBytes) bytes")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(line))
        } catch {
            throw ControlProtocolError(description: "malformed JSON")
        }
        guard let dictionary = object as? [String: Any] else {
            throw ControlProtocolError(description: "a request must be a JSON object")
        }
        guard let name = dictionary["command"] as? String else {
            throw ControlProtocolError(description: "missing \"command\" (one of: \(ControlCommand.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let command = ControlCommand(rawValue: name) else {
            throw ControlProtocolError(description: "unknown command '\(name)' (one of: \(ControlCommand.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        for key in dictionary.keys where key != "command" && key != "wait_drained" {
            throw ControlProtocolError(description: "unknown field '\(key)'")
        }
        var waitDrained: Bool?
        if let value = dictionary["wait_drained"] {
            guard let flag = value as? Bool, CFGetTypeIDIsBool(value) else {
                throw ControlProtocolError(description: "\"wait_drained\" must be true or false")
            }
            waitDrained = flag
        }
        return ControlRequest(command: command, waitDrained: waitDrained)
    }

    public static func encodeRequest(_ request: ControlRequest) -> [UInt8] {
        let data = (try? JSONEncoder().encode(request)) ?? Data()
        return Array(data) + [UInt8(ascii: "\n")]
    }

    /// One reply line.
    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data(#"{"event":"result","ok":false,"message":"encoding failed"}"#.utf8)
        return Array(data) + [UInt8(ascii: "\n")]
    }
}

/// JSONSerialization gives NSNumber for both numbers and booleans; only a real JSON
/// `true`/`false` counts as a flag.
private func CFGetTypeIDIsBool(_ value: Any) -> Bool {
    guard let number = value as? NSNumber else { return false }
    return String(cString: number.objCType) == "c"
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

        enum CodingKeys: String, CodingKey {
            case pid, index, state, restarts, connections
            case uptimeSeconds = "uptime_seconds"
            case drainingSeconds = "draining_seconds"
            case statusText = "status_text"
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

        enum CodingKeys: String, CodingKey {
            case ok, detail
            case durationSeconds = "duration_seconds"
            case secondsAgo = "seconds_ago"
        }
    }

    public var pid: Int32
    public var version: String
    public var config: String
    public var uptimeSeconds: Double
    public var state: String
    public var listeners: [ListenerInfo]
    public var generations: [GenerationInfo]
    public var lastReload: ReloadInfo?

    enum CodingKeys: String, CodingKey {
        case pid, version, config, state, listeners, generations
        case uptimeSeconds = "uptime_seconds"
        case lastReload = "last_reload"
    }
}
