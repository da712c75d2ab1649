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
    private let fd: Int32

    public init(label: String, fd: Int32 = 2, level: Logger.Level = .info) {
        self.fd = fd
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(
        level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
        source: String, file: String, function: String, line: UInt
    ) {
        var fields = metadata
        if let explicit { fields.merge(explicit) { _, new in new } }
        var text = TextLogHandler.timestamp()
        text += " "
        text += TextLogHandler.levelName(level)
        text += " "
        text += LogEscaping.quoteMessageIfNeeded(LogEscaping.escape(message.description))
        for key in fields.keys.sorted() {
            text += " \(key)=\(LogEscaping.quoteIfNeeded(LogEscaping.escape(fields[key]!.description)))"
        }
        text += "\n"
        FileDescriptor.writeAll(fd, Array(text.utf8))
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
