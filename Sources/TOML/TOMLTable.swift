/// A table: keys in the order they were first written, each with its position and value.
///
/// Every table of a document is a `TOMLTable`, whatever its syntax: the root, a `[header]`,
/// an element of a `[[array]]`, one created implicitly by a longer header or by a dotted
/// key, an inline table. ``origin`` says which, and ``headerPosition`` where its header is.
public struct TOMLTable: Equatable, Sendable {
    /// How a table came into being.
    public enum Origin: Equatable, Sendable {
        /// The document itself.
        case root
        /// A `[name]` header.
        case header
        /// A `[[name]]` header: one element of an array of tables.
        case arrayElement
        /// Named only as part of a longer header (`a` in `[a.b]`) and never defined itself.
        case implicit
        /// Created by a dotted key (`a` in `a.b = 1`).
        case dottedKey
        /// `{ ... }`.
        case inline
    }

    /// One key of the table.
    public struct Entry: Equatable, Sendable {
        /// The key, unquoted and unescaped (one part of a dotted key).
        public var key: String
        /// Where the key is first written (for a table created by a header: in the header).
        public var keyPosition: TOMLPosition
        /// The value and where it begins.
        public var node: TOMLNode

        public init(key: String, keyPosition: TOMLPosition, node: TOMLNode) {
            self.key = key
            self.keyPosition = keyPosition
            self.node = node
        }
    }

    /// The entries, in the order their keys were first written.
    public private(set) var entries: [Entry]
    private var indices: [String: Int]
    /// How the table was created.
    public var origin: Origin
    /// The `[` of the table's `[header]` or `[[header]]`; nil when it has none.
    public var headerPosition: TOMLPosition?

    /// An empty table.
    public init(origin: Origin = .root, headerPosition: TOMLPosition? = nil) {
        self.entries = []
        self.indices = [:]
        self.origin = origin
        self.headerPosition = headerPosition
    }

    /// A table from entries whose keys are unique, with `indices` mapping each key to its
    /// entry (the parser builds both as it goes, so nothing is hashed twice).
    init(entries: [Entry], indices: [String: Int], origin: Origin, headerPosition: TOMLPosition?) {
        self.entries = entries
        self.indices = indices
        self.origin = origin
        self.headerPosition = headerPosition
    }

    /// The keys, in the order they were first written.
    public var keys: [String] { entries.map(\.key) }

    /// How many keys the table has.
    public var count: Int { entries.count }

    /// Whether the table has no keys.
    public var isEmpty: Bool { entries.isEmpty }

    /// The value at `key` with its position, or nil.
    public subscript(key: String) -> TOMLNode? {
        guard let index = indices[key] else { return nil }
        return entries[index].node
    }

    /// The entry for `key`, or nil.
    public func entry(_ key: String) -> Entry? {
        guard let index = indices[key] else { return nil }
        return entries[index]
    }

    /// Where `key` is written, or nil when the table has no such key.
    public func position(of key: String) -> TOMLPosition? {
        entry(key)?.keyPosition
    }

    /// Adds `key`, or replaces its value (keeping its place and key position).
    public mutating func set(_ key: String, _ node: TOMLNode, keyPosition: TOMLPosition) {
        if let index = indices[key] {
            entries[index].node = node
        } else {
            indices[key] = entries.count
            entries.append(Entry(key: key, keyPosition: keyPosition, node: node))
        }
    }

    public static func == (lhs: TOMLTable, rhs: TOMLTable) -> Bool {
        lhs.entries == rhs.entries && lhs.origin == rhs.origin && lhs.headerPosition == rhs.headerPosition
    }
}
