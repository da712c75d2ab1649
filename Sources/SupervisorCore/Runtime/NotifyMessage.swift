/// `KEY=VALUE` lines of an sd_notify message, split on bytes as systemd does (a `\r\n`
/// is not a line break to systemd, and must not hide the next line from graced either).
public enum NotifyMessage {
    public static func parse(_ text: String) -> [(key: String, value: String)] {
        Array(text.utf8).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).compactMap { line in
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else { return nil }
            return (String(decoding: line[..<equals], as: UTF8.self), String(decoding: line[(equals + 1)...], as: UTF8.self))
        }
    }
}
