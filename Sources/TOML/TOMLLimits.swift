/// Bounds that keep hostile input from exhausting the stack or memory.
///
/// The parser never recurses without counting: every nested array, inline table, table
/// header part and dotted-key part adds one level, and a document deeper than
/// ``maximumDepth`` is rejected with an error (not a crash). A document larger than
/// ``maximumSize`` bytes is rejected before parsing starts.
public struct TOMLLimits: Equatable, Sendable {
    /// Most tables and arrays nested inside one another, counting the root table as 0.
    public var maximumDepth: Int
    /// Largest accepted document, in bytes.
    public var maximumSize: Int

    public init(maximumDepth: Int = 128, maximumSize: Int = 1 << 20) {
        self.maximumDepth = maximumDepth
        self.maximumSize = maximumSize
    }

    /// 128 levels, 1 MiB.
    public static let `default` = TOMLLimits()
}
