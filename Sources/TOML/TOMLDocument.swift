/// Parses TOML 1.0 documents.
///
/// ```swift
/// let root = try TOMLDocument.parse(text)
/// if let node = root["name"], let name = node.value.string { ... }
/// ```
///
/// The whole of TOML 1.0 is accepted and everything else is rejected with a ``TOMLError``
/// naming the line and column: invalid UTF-8, control characters, malformed numbers and
/// dates, and every redefinition (a key or table defined twice, an inline table or a
/// static array extended later). Parsing never traps and never recurses without a bound
/// (see ``TOMLLimits``).
public enum TOMLDocument {
    /// Parses a document given as UTF-8 bytes (a leading byte-order mark is skipped).
    public static func parse(_ bytes: [UInt8], limits: TOMLLimits = .default) throws(TOMLError) -> TOMLTable {
        guard bytes.count <= limits.maximumSize else {
            throw TOMLError(position: .start, message: "the document is larger than \(limits.maximumSize) bytes")
        }
        var parser = TOMLParser(bytes: bytes, limits: limits)
        return try parser.parseDocument()
    }

    /// Parses a document given as a string.
    public static func parse(_ text: String, limits: TOMLLimits = .default) throws(TOMLError) -> TOMLTable {
        try parse(Array(text.utf8), limits: limits)
    }
}
