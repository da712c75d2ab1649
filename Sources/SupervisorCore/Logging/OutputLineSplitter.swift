/// Splits a worker's output stream into lines.
///
/// A line longer than `maxLineLength` is cut and marked, and the rest of it skipped, so a
/// worker that prints a huge blob without a newline cannot make graced buffer without bound.
public struct OutputLineSplitter {
    public static let truncationMarker = " …[line truncated]"
    public let maxLineLength: Int
    private var pending: [UInt8] = []
    /// Set while the rest of an over-long line is being skipped.
    private var discarding = false

    public init(maxLineLength: Int = 16 * 1024) {
        self.maxLineLength = maxLineLength
    }

    /// Feeds bytes; returns the lines they complete (or cut).
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [String] {
        var lines: [String] = []
        var start = 0
        while true {
            let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n"))
            let end = newline ?? bytes.count
            if discarding {
                if newline != nil { discarding = false }
            } else {
                let room = maxLineLength - pending.count
                let take = min(room, end - start)
                pending.append(contentsOf: bytes[start..<(start + take)])
                if end - start > room {
                    lines.append(takeLine() + OutputLineSplitter.truncationMarker)
                    discarding = newline == nil
                } else if newline != nil {
                    lines.append(takeLine())
                }
            }
            guard let newline else { break }
            start = newline + 1
        }
        return lines
    }

    public mutating func feed(_ bytes: [UInt8]) -> [String] {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// At end of stream: the unterminated last line, if any.
    public mutating func finish() -> String? {
        defer { discarding = false }
        guard !pending.isEmpty else { return nil }
        return takeLine()
    }

    private mutating func takeLine() -> String {
        if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
        defer { pending.removeAll(keepingCapacity: true) }
        return String(decoding: pending, as: UTF8.self)
    }
}
