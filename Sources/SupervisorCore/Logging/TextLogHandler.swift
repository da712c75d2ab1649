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

/// Escaping for the text log format. Everything works on Unicode scalars, not
/// Characters: a `"` followed by a combining mark is one Character but still a raw quote
/// to any log reader.
public enum LogEscaping {
    /// C0 and C1 controls, DEL and the Unicode line/paragraph separators become `\n`,
    /// `\t`, `\xNN` or `\u{NNNN}`; backslashes are doubled.
    public static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
                } else if needsEscape(scalar) {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return v < 0x20 || v == 0x7f || (0x80...0x9f).contains(v) || v == 0x2028 || v == 0x2029 || scalar == "\\"
    }

    /// A message that contains `=` or `"` is quoted, so that text a worker printed
    /// (`level=error event=worker-died`) can never read as fields of graced's line.
    public static func quoteMessageIfNeeded(_ message: String) -> String {
        guard message.unicodeScalars.contains(where: { $0 == "=" || $0 == "\"" }) else { return message }
        return quoted(message)
    }

    /// Values with spaces, quotes or '=' are quoted so fields stay separable.
    public static func quoteIfNeeded(_ value: String) -> String {
        guard value.isEmpty || value.unicodeScalars.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) else { return value }
        return quoted(value)
    }

    /// `"text"` with every `"` scalar escaped.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            if scalar == "\"" { out += "\\" }
            out.unicodeScalars.append(scalar)
        }
        return out + "\""
    }
}

extension String {
    /// Foundation-free replacement of every occurrence of `target`.
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        result += rest
        return result
    }
}
