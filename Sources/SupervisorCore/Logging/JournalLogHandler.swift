#if canImport(Glibc)
import Glibc
#endif
import CSystemd
import Logging

/// Logs to the systemd journal through `sd_journal_sendv`, with structured fields:
/// `GRACED_EVENT`, `GRACED_GENERATION`, `WORKER_PID`, `LISTENER`, and any other
/// metadata key as `GRACED_<KEY>`. Fields travel separately, so a worker's output
/// cannot forge another field.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]

    public init(label: String, level: Logger.Level = .info) {
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

    public func log(
        level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
        source: String, file: String, function: String, line: UInt
    ) {
        var fields = metadata
        if let explicit { fields.merge(explicit) { _, new in new } }
        var entries = [
            "MESSAGE=\(message)",
            "PRIORITY=\(JournalLogHandler.priority(level))",
            "SYSLOG_IDENTIFIER=graced",
        ]
        for (key, value) in fields {
            entries.append("\(JournalLogHandler.fieldName(key))=\(value)")
        }
        JournalLogHandler.send(entries)
    }

    static func send(_ entries: [String]) {
        let total = entries.reduce(0) { $0 + $1.utf8.count }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(total, 1), alignment: 1)
        defer { buffer.deallocate() }
        var vectors: [iovec] = []
        vectors.reserveCapacity(entries.count)
        var offset = 0
        for entry in entries {
            let bytes = Array(entry.utf8)
            bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + bytes.count)]).copyMemory(from: $0) }
            vectors.append(iovec(iov_base: buffer.baseAddress! + offset, iov_len: bytes.count))
            offset += bytes.count
        }
        _ = sd_journal_sendv(vectors, Int32(vectors.count))
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
