#if canImport(Glibc)
import Glibc
#endif
import Logging

/// One line per event on stderr: `TIME LEVEL message key=value ...`.
///
/// Worker output flows into messages, so everything is escaped: a worker can print
/// neither a newline nor a fake `level=` field into graced's log.
public struct TextLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let output: LogOutput

    /// Logs to `output`: by default fd 2, never blocking (see ``LogOutput``).
    public init(label: String, output: LogOutput = .standardError, level: Logger.Level = .info) {
        self.output = output
        self.logLevel = level
    }

    /// Logs to `fd` (fd 2: the shared ``LogOutput/standardError``; any other fd gets its
    /// own queue).
    public init(label: String, fd: Int32, level: Logger.Level = .info) {
        self.init(label: label, output: fd == 2 ? .standardError : LogOutput(fd: fd), level: level)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let explicit = event.metadata { fields.merge(explicit) { _, new in new } }
        let level = event.level, message = event.message
        output.write(TextLogHandler.format(level: level, message: message.description, fields: fields))
    }

    /// One line: `TIME LEVEL message key=value ...\n`, escaped and quoted.
    public static func format(level: Logger.Level, message: String, fields: Logger.Metadata) -> [UInt8] {
        var text = TextLogHandler.timestamp()
        text += " "
        text += TextLogHandler.levelName(level)
        text += " "
        text += LogEscaping.quoteMessageIfNeeded(LogEscaping.escape(message))
        for key in fields.keys.sorted() {
            text += " \(key)=\(LogEscaping.quoteIfNeeded(LogEscaping.escape(fields[key]!.description)))"
        }
        text += "\n"
        return Array(text.utf8)
    }

    /// The line written once the reader has caught up after lines were dropped.
    @Sendable static func dropReport(_ count: UInt64) -> [UInt8] {
        format(level: .warning, message: "\(count) log line\(count == 1 ? "" : "s") dropped: nobody read graced's log fast enough",
               fields: ["event": "log-lines-dropped", "dropped": "\(count)"])
    }

    static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace: return "trace"
        case .debug: return "debug"
        case .info: return "info "
        case .notice: return "notice"
        case .warning: return "warn "
        case .error: return "error"
        case .critical: return "crit "
        }
    }

    /// `2026-11-26T03:40:12.345Z` (UTC, millisecond precision), without Foundation.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }
}
