#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Logs to the systemd journal (its native protocol, as `sd_journal_sendv` speaks it,
/// through a non-blocking socket: see ``LogOutput``), with structured fields:
/// `GRACED_EVENT`, `GRACED_GENERATION`, `WORKER_PID`, `LISTENER`, and any other
/// metadata key as `GRACED_<KEY>`. Fields travel separately, so a worker's output
/// cannot forge another field.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let output: LogOutput

    public init(label: String, output: LogOutput = .journal, level: Logger.Level = .info) {
        self.output = output
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static let wellKnownFields: [String: String] = [
        "event": "GRACED_EVENT",
        "generation": "GRACED_GENERATION",
        "pid": "WORKER_PID",
        "listener": "LISTENER",
    ]

    public func log(event: LogEvent) {
        var fields = metadata
        if let explicit = event.metadata { fields.merge(explicit) { _, new in new } }
        let level = event.level, message = event.message
        var entries = [
            "MESSAGE=\(message)",
            "PRIORITY=\(JournalLogHandler.priority(level))",
            "SYSLOG_IDENTIFIER=graced",
        ]
        for (key, value) in fields {
            entries.append("\(JournalLogHandler.fieldName(key))=\(value)")
        }
        output.write(JournalLogHandler.encode(entries))
    }

    /// One datagram of journald's native protocol: `KEY=value\n` per field, or, for a
    /// value with a newline, `KEY\n`, its length as 64-bit little endian, the value, `\n`.
    public static func encode(_ entries: [String]) -> [UInt8] {
        var datagram: [UInt8] = []
        datagram.reserveCapacity(entries.reduce(0) { $0 + $1.utf8.count + 10 })
        for entry in entries {
            let bytes = Array(entry.utf8)
            guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")), equals > 0 else { continue }
            if bytes.contains(UInt8(ascii: "\n")) {
                datagram += bytes[..<equals]
                datagram.append(UInt8(ascii: "\n"))
                var length = UInt64(bytes.count - equals - 1).littleEndian
                withUnsafeBytes(of: &length) { datagram += $0 }
                datagram += bytes[(equals + 1)...]
            } else {
                datagram += bytes
            }
            datagram.append(UInt8(ascii: "\n"))
        }
        return datagram
    }

    /// The entry written once journald has caught up after entries were dropped.
    @Sendable static func dropReport(_ count: UInt64) -> [UInt8] {
        encode([
            "MESSAGE=\(count) log entr\(count == 1 ? "y" : "ies") dropped: journald did not take them fast enough",
            "PRIORITY=4", "SYSLOG_IDENTIFIER=graced", "GRACED_EVENT=log-lines-dropped", "GRACED_DROPPED=\(count)",
        ])
    }

    /// syslog priorities, as journald stores them.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// Journal field names are upper-case letters, digits and underscores.
    static func fieldName(_ key: String) -> String {
        if let known = wellKnownFields[key] { return known }
        let cleaned = key.uppercased().map { ($0.isLetter && $0.isASCII) || ($0.isNumber && $0.isASCII) ? $0 : "_" }
        return "GRACED_" + String(cleaned)
    }

    /// True when stderr is the journal stream systemd set up (`JOURNAL_STREAM=dev:inode`).
    public static func stderrIsJournal(environment: [String: String]) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(2, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }
}
