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

    private(set) var order: [String] = []
    private(set) var entries: [String: Entry] = [:]
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
        entries[key]
    }

    /// Adds a new key (the caller has checked that it is new).
    func add(_ key: String, at keyPosition: TOMLPosition, _ item: Item) {
        order.append(key)
        entries[key] = Entry(keyPosition: keyPosition, item: item)
    }

    /// The immutable table. Recursion is bounded by the depth limit the parser enforced.
    func build() -> TOMLTable {
        var table = TOMLTable(origin: origin, headerPosition: headerPosition)
        for key in order {
            let entry = entries[key]!
            switch entry.item {
            case .value(let node):
                table.set(key, node, keyPosition: entry.keyPosition)
            case .table(let child):
                table.set(key, TOMLNode(.table(child.build()), at: child.position), keyPosition: entry.keyPosition)
            case .arrayOfTables(let array):
                let elements = array.elements.map { TOMLNode(.table($0.build()), at: $0.position) }
                table.set(key, TOMLNode(.array(elements), at: array.position), keyPosition: entry.keyPosition)
            }
        }
        return table
    }
}
