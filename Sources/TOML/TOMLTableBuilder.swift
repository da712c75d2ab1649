/// A table while its document is being parsed: reference semantics, so that a header can
/// reopen a table defined earlier, plus what the redefinition rules need to know.
final class TOMLTableBuilder {
    /// An array of tables (`[[name]]`) while its document is being parsed.
    final class ArrayOfTables {
        var elements: [TOMLTableBuilder]
        /// The `[[` of the first element.
        let position: TOMLPosition

        init(first: TOMLTableBuilder, position: TOMLPosition) {
            self.elements = [first]
            self.position = position
        }
    }

    enum Item {
        /// A finished value: a scalar, a static array or an inline table (all immutable).
        case value(TOMLNode)
        case table(TOMLTableBuilder)
        case arrayOfTables(ArrayOfTables)
    }

    struct Entry {
        var keyPosition: TOMLPosition
        var item: Item
    }

    private var keys: [String] = []
    private var entries: [Entry] = []
    private var indices: [String: Int] = [:]
    var origin: TOMLTable.Origin
    var headerPosition: TOMLPosition?
    /// See ``TOMLNode/position``.
    let position: TOMLPosition
    /// 0 for the root.
    let depth: Int
    /// Set once a dotted key has added to this table: a later header may no longer define it.
    var extendedByDottedKeys = false

    init(origin: TOMLTable.Origin, position: TOMLPosition, depth: Int, headerPosition: TOMLPosition? = nil) {
        self.origin = origin
        self.position = position
        self.depth = depth
        self.headerPosition = headerPosition
    }

    subscript(key: String) -> Entry? {
        guard let index = indices[key] else { return nil }
        return entries[index]
    }

    /// Adds a new key (the caller has checked that it is new).
    func add(_ key: String, at keyPosition: TOMLPosition, _ item: Item) {
        indices[key] = entries.count
        keys.append(key)
        entries.append(Entry(keyPosition: keyPosition, item: item))
    }

    /// The immutable table. Recursion is bounded by the depth limit the parser enforced.
    func build() -> TOMLTable {
        var built: [TOMLTable.Entry] = []
        built.reserveCapacity(entries.count)
        for (key, entry) in zip(keys, entries) {
            let node: TOMLNode
            switch entry.item {
            case .value(let value):
                node = value
            case .table(let child):
                node = TOMLNode(.table(child.build()), at: child.position)
            case .arrayOfTables(let array):
                let elements = array.elements.map { TOMLNode(.table($0.build()), at: $0.position) }
                node = TOMLNode(.array(elements), at: array.position)
            }
            built.append(TOMLTable.Entry(key: key, keyPosition: entry.keyPosition, node: node))
        }
        return TOMLTable(entries: built, indices: indices, origin: origin, headerPosition: headerPosition)
    }
}
