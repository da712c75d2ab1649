/// A log line decided by a state machine and written by the runtime: the pure core
/// says what happened and how serious it is, and never touches a logger itself.
public struct LogNote: Equatable, Sendable {
    public enum Level: Int, Comparable, Sendable {
        case debug, info, notice, warning, error, critical

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    public var level: Level
    public var message: String
    /// Structured fields (`event`, `generation`, `pid`, ...), as `key=value` or journal fields.
    public var fields: [String: String]

    public init(_ level: Level, _ message: String, _ fields: [String: String] = [:]) {
        self.level = level
        self.message = message
        self.fields = fields
    }
}
