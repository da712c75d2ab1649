/// The TOML 1.0 parser behind ``TOMLDocument``: one pass over UTF-8 bytes, by hand.
struct TOMLParser {
    private let bytes: [UInt8]
    private let limits: TOMLLimits
    private var index = 0
    private var line = 1
    /// Where the current line starts.
    private var lineStart = 0
    /// The last column computed and where: positions are mostly asked for in order, so a
    /// long line is counted once, not once per value.
    private var cachedIndex = 0
    private var cachedColumn = 1

    /// One part of a (possibly dotted) key.
    private struct KeyPart {
        var name: String
        var position: TOMLPosition
    }

    init(bytes: [UInt8], limits: TOMLLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    // MARK: The document

    mutating func parseDocument() throws(TOMLError) -> TOMLTable {
        if let invalid = Self.firstInvalidUTF8(bytes) {
            while index < invalid {
                if bytes[index] == Byte.lineFeed {
                    line += 1
                    lineStart = index + 1
                }
                index += 1
            }
            throw error("invalid UTF-8 (byte 0x\(hex(UInt32(bytes[invalid]), digits: 2))); the file must be UTF-8")
        }
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            index = 3
            lineStart = 3
            cachedIndex = 3
        }
        let root = TOMLTableBuilder(origin: .root, position: .start, depth: 0)
        var current = root
        while true {
            skipWhitespace()
            guard index < bytes.count else { break }
            switch bytes[index] {
            case Byte.hash:
                try skipComment()
            case Byte.lineFeed, Byte.carriageReturn:
                try newline()
            case Byte.openBracket:
                current = try parseHeader(root: root)
                try endOfLine(afterValueOf: nil)
            default:
                let keys = try parseKeyValue(into: current)
                try endOfLine(afterValueOf: keys)
            }
        }
        return root.build()
    }

    // MARK: Positions and errors

    private mutating func position(at target: Int) -> TOMLPosition {
        if cachedIndex < lineStart || cachedIndex > target {
            cachedIndex = lineStart
            cachedColumn = 1
        }
        var column = cachedColumn
        var scan = cachedIndex
        while scan < target {
            if bytes[scan] & 0xC0 != 0x80 { column += 1 }
            scan += 1
        }
        cachedIndex = target
        cachedColumn = column
        return TOMLPosition(line: line, column: column)
    }

    private mutating func here() -> TOMLPosition {
        position(at: index)
    }

    private mutating func error(_ message: String) -> TOMLError {
        TOMLError(position: here(), message: message)
    }

    /// What is at the current index, for "expected X, found Y".
    private func found() -> String {
        guard index < bytes.count else { return "the end of the file" }
        let byte = bytes[index]
        switch byte {
        case Byte.lineFeed, Byte.carriageReturn: return "the end of the line"
        case 0x20..<0x7F: return "'\(Character(Unicode.Scalar(byte)))'"
        case 0..<0x20, 0x7F: return "control character U+\(hex(UInt32(byte), digits: 4))"
        default:
            var iterator = bytes[index...].makeIterator()
            var decoder = UTF8()
            if case .scalarValue(let scalar) = decoder.decode(&iterator) {
                return "'\(scalar)' (U+\(hex(scalar.value, digits: 4)))"
            }
            return "byte 0x\(hex(UInt32(byte), digits: 2))"
        }
    }

    private func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return text.count >= digits ? text : String(repeating: "0", count: digits - text.count) + text
    }

    private func peek(_ offset: Int = 0) -> UInt8? {
        index + offset < bytes.count ? bytes[index + offset] : nil
    }

    private func startsWith(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        let pointer = text.utf8Start
        for offset in 0..<count where bytes[index + offset] != pointer[offset] { return false }
        return true
    }

    // MARK: Whitespace, comments, line ends

    private mutating func skipWhitespace() {
        while index < bytes.count, bytes[index] == Byte.space || bytes[index] == Byte.tab { index += 1 }
    }

    /// At LF or CR: consumes one line ending.
    private mutating func newline() throws(TOMLError) {
        if bytes[index] == Byte.carriageReturn {
            guard peek(1) == Byte.lineFeed else {
                throw error("carriage return (U+000D) not followed by a line feed")
            }
            index += 1
        }
        index += 1
        line += 1
        lineStart = index
    }

    /// At `#`: skips to the end of the line, rejecting control characters.
    private mutating func skipComment() throws(TOMLError) {
        index += 1
        while index < bytes.count {
            let byte = bytes[index]
            if byte == Byte.lineFeed || byte == Byte.carriageReturn { return }
            if Byte.isControl(byte) {
                throw error("control character U+\(hex(UInt32(byte), digits: 4)) in a comment")
            }
            index += 1
        }
    }

    /// After a statement (a key/value pair, or a header when `keys` is nil): only whitespace
    /// and a comment may follow on its line.
    private mutating func endOfLine(afterValueOf keys: [KeyPart]?) throws(TOMLError) {
        skipWhitespace()
        guard index < bytes.count else { return }
        if bytes[index] == Byte.hash { try skipComment() }
        guard index < bytes.count else { return }
        guard bytes[index] == Byte.lineFeed || bytes[index] == Byte.carriageReturn else {
            let what = keys.map { "the value of '\(Self.display($0))'" } ?? "the table header"
            throw error("expected the end of the line after \(what), found \(found())")
        }
        try newline()
    }

    /// Inside an array: whitespace, line ends and comments.
    private mutating func skipBlank() throws(TOMLError) {
        while index < bytes.count {
            switch bytes[index] {
            case Byte.space, Byte.tab: index += 1
            case Byte.lineFeed, Byte.carriageReturn: try newline()
            case Byte.hash: try skipComment()
            default: return
            }
        }
    }

    // MARK: Keys

    private mutating func parseKey() throws(TOMLError) -> [KeyPart] {
        var parts: [KeyPart] = []
        while true {
            skipWhitespace()
            let position = here()
            guard index < bytes.count else { throw error("expected a key, found the end of the file") }
            let byte = bytes[index]
            let name: String
            if byte == Byte.quote {
                name = try parseBasicString()
            } else if byte == Byte.apostrophe {
                name = try parseLiteralString()
            } else if Byte.isBareKey(byte) {
                let start = index
                while index < bytes.count, Byte.isBareKey(bytes[index]) { index += 1 }
                name = String(decoding: bytes[start..<index], as: UTF8.self)
            } else if parts.isEmpty {
                throw error("expected a key, found \(found())")
            } else {
                throw error("expected a key after '\(Self.display(parts))', found \(found())")
            }
            parts.append(KeyPart(name: name, position: position))
            skipWhitespace()
            guard peek() == Byte.dot else { return parts }
            index += 1
        }
    }

    /// A key as the user would write it: `a.b`, `"x y".c`.
    private static func display(_ parts: [KeyPart]) -> String {
        parts.map { part in
            let bare = !part.name.isEmpty && part.name.utf8.allSatisfy(Byte.isBareKey)
            return bare ? part.name : "\"" + part.name + "\""
        }.joined(separator: ".")
    }

    private static func display(_ parts: ArraySlice<KeyPart>) -> String {
        display(Array(parts))
    }

    /// A new child table, unless it would nest too deeply.
    private func child(of parent: TOMLTableBuilder, origin: TOMLTable.Origin, at position: TOMLPosition, header: TOMLPosition? = nil) throws(TOMLError) -> TOMLTableBuilder {
        guard parent.depth < limits.maximumDepth else {
            throw TOMLError(position: position, message: "tables are nested too deeply (more than \(limits.maximumDepth) levels)")
        }
        return TOMLTableBuilder(origin: origin, position: position, depth: parent.depth + 1, headerPosition: header)
    }

    /// Why `key` cannot be opened as a table: it already holds a value.
    private static func notATable(_ path: String, _ entry: TOMLTableBuilder.Entry, _ node: TOMLNode) -> String {
        let line = entry.keyPosition.line
        switch node.value {
        case .table: return "'\(path)' is an inline table (line \(line)), which cannot be extended"
        case .array: return "'\(path)' is a static array (line \(line)), which cannot be extended"
        default: return "'\(path)' already holds \(node.value.typeDescription) (line \(line)), not a table"
        }
    }

    // MARK: Table headers

    /// At `[`: a `[table]` or `[[array.of.tables]]` header; returns the table that the
    /// following key/value pairs go into.
    private mutating func parseHeader(root: TOMLTableBuilder) throws(TOMLError) -> TOMLTableBuilder {
        let start = here()
        index += 1
        let isArray = peek() == Byte.openBracket
        if isArray { index += 1 }
        let keys = try parseKey()
        let path = Self.display(keys)
        guard peek() == Byte.closeBracket else {
            throw error("expected '\(isArray ? "]]" : "]")' to close the header [\(isArray ? "[" : "")\(path), found \(found())")
        }
        index += 1
        if isArray {
            guard peek() == Byte.closeBracket else {
                throw error("expected ']]' to close the header [[\(path), found \(found())")
            }
            index += 1
        }

        var table = root
        for (offset, part) in keys.dropLast().enumerated() {
            if let entry = table[part.name] {
                switch entry.item {
                case .table(let existing): table = existing
                case .arrayOfTables(let array): table = array.elements[array.elements.count - 1]
                case .value(let node):
                    throw TOMLError(position: part.position, message: Self.notATable(Self.display(keys[...offset]), entry, node))
                }
            } else {
                let implicit = try child(of: table, origin: .implicit, at: part.position)
                table.add(part.name, at: part.position, .table(implicit))
                table = implicit
            }
        }

        let last = keys[keys.count - 1]
        if let entry = table[last.name] {
            switch entry.item {
            case .value(let node):
                throw TOMLError(position: last.position, message: Self.notATable(path, entry, node))
            case .arrayOfTables(let array):
                guard isArray else {
                    throw TOMLError(position: start, message: "[\(path)] is already an array of tables ([[\(path)]] at line \(array.position.line))")
                }
                let element = try child(of: table, origin: .arrayElement, at: start, header: start)
                array.elements.append(element)
                return element
            case .table(let existing):
                let first = existing.headerPosition ?? existing.position
                if isArray {
                    throw TOMLError(position: start, message: "[[\(path)]] cannot be an array of tables: '\(path)' is already a table (line \(first.line))")
                }
                switch existing.origin {
                case .implicit where !existing.extendedByDottedKeys:
                    existing.origin = .header
                    existing.headerPosition = start
                    return existing
                case .header:
                    throw TOMLError(position: start, message: "table [\(path)] is defined twice (first at line \(first.line))")
                default:
                    throw TOMLError(position: start, message: "table [\(path)] was already defined by dotted keys (line \(first.line))")
                }
            }
        }
        if isArray {
            let element = try child(of: table, origin: .arrayElement, at: start, header: start)
            table.add(last.name, at: last.position, .arrayOfTables(.init(first: element, position: start)))
            return element
        }
        let defined = try child(of: table, origin: .header, at: start, header: start)
        table.add(last.name, at: last.position, .table(defined))
        return defined
    }

    // MARK: Key/value pairs

    /// `key = value` into `table`; returns the key, for messages.
    private mutating func parseKeyValue(into table: TOMLTableBuilder) throws(TOMLError) -> [KeyPart] {
        let keys = try parseKey()
        var path: String { Self.display(keys) }
        guard peek() == Byte.equals else {
            throw error("expected '=' after key '\(path)', found \(found())")
        }
        index += 1
        skipWhitespace()

        var target = table
        for (offset, part) in keys.dropLast().enumerated() {
            if let entry = target[part.name] {
                let prefix = Self.display(keys[...offset])
                switch entry.item {
                case .table(let existing):
                    switch existing.origin {
                    case .dottedKey: break
                    case .implicit: existing.extendedByDottedKeys = true
                    default:
                        let line = (existing.headerPosition ?? existing.position).line
                        throw TOMLError(position: part.position, message: "cannot add '\(path)' with a dotted key: table [\(prefix)] is defined by a header (line \(line))")
                    }
                    target = existing
                case .arrayOfTables(let array):
                    throw TOMLError(position: part.position, message: "cannot add '\(path)' with a dotted key: '\(prefix)' is an array of tables (line \(array.position.line))")
                case .value(let node):
                    throw TOMLError(position: part.position, message: Self.notATable(prefix, entry, node))
                }
            } else {
                let created = try child(of: target, origin: .dottedKey, at: part.position)
                target.add(part.name, at: part.position, .table(created))
                target = created
            }
        }

        let last = keys[keys.count - 1]
        if let entry = target[last.name] {
            throw TOMLError(position: last.position, message: "duplicate key '\(path)' (first defined at line \(entry.keyPosition.line), column \(entry.keyPosition.column))")
        }
        let position = here()
        let value = try parseValue(depth: target.depth + 1, after: keys)
        target.add(last.name, at: last.position, .value(TOMLNode(value, at: position)))
        return keys
    }

    // MARK: Values

    /// A value; `keys` (nil in an array) names it in messages.
    private mutating func parseValue(depth: Int, after keys: [KeyPart]?) throws(TOMLError) -> TOMLValue {
        var key: String? { keys.map { Self.display($0) } }
        guard index < bytes.count else {
            throw error(key.map { "expected a value after '\($0) =', found the end of the file" } ?? "expected a value, found the end of the file")
        }
        switch bytes[index] {
        case Byte.quote:
            return .string(startsWith("\"\"\"") ? try parseMultiLineBasicString() : try parseBasicString())
        case Byte.apostrophe:
            return .string(startsWith("'''") ? try parseMultiLineLiteralString() : try parseLiteralString())
        case UInt8(ascii: "t") where startsWith("true"):
            index += 4
            return .boolean(true)
        case UInt8(ascii: "f") where startsWith("false"):
            index += 5
            return .boolean(false)
        case Byte.openBracket:
            try checkDepth(depth)
            return try parseArray(depth: depth)
        case Byte.openBrace:
            try checkDepth(depth)
            return try parseInlineTable(depth: depth)
        case UInt8(ascii: "0")...UInt8(ascii: "9"), Byte.plus, Byte.minus, UInt8(ascii: "i"), UInt8(ascii: "n"):
            return try parseNumberOrDate()
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"):
            throw unquotedWord()
        default:
            if let key { throw error("expected a value after '\(key) =', found \(found())") }
            throw error("expected a value, found \(found())")
        }
    }

    /// A bare word where a value belongs (`ready = notify`): most likely a string without
    /// its quotes.
    private mutating func unquotedWord() -> TOMLError {
        let position = here()
        var end = index
        while end < bytes.count, Byte.isBareKey(bytes[end]) || bytes[end] == Byte.dot { end += 1 }
        let word = String(decoding: bytes[index..<end], as: UTF8.self)
        return TOMLError(position: position, message: "invalid value '\(word)': a string must be quoted, e.g. \"\(word)\"")
    }

    private mutating func checkDepth(_ depth: Int) throws(TOMLError) {
        guard depth <= limits.maximumDepth else {
            throw error("arrays and tables are nested too deeply (more than \(limits.maximumDepth) levels)")
        }
    }

    /// At `[`.
    private mutating func parseArray(depth: Int) throws(TOMLError) -> TOMLValue {
        let start = here()
        index += 1
        var elements: [TOMLNode] = []
        while true {
            try skipBlank()
            if peek() == Byte.closeBracket {
                index += 1
                return .array(elements)
            }
            if index < bytes.count, !Byte.canStartValue(bytes[index]) {
                throw error("expected a value or ']' in the array that starts at line \(start.line), column \(start.column), found \(found())")
            }
            let position = here()
            let value = try parseValue(depth: depth + 1, after: nil)
            elements.append(TOMLNode(value, at: position))
            try skipBlank()
            switch peek() {
            case Byte.comma: index += 1
            case Byte.closeBracket:
                index += 1
                return .array(elements)
            default:
                throw error("expected ',' or ']' in the array that starts at line \(start.line), column \(start.column), found \(found())")
            }
        }
    }

    /// At `{`.
    private mutating func parseInlineTable(depth: Int) throws(TOMLError) -> TOMLValue {
        let start = here()
        index += 1
        let table = TOMLTableBuilder(origin: .inline, position: start, depth: depth)
        skipWhitespace()
        if peek() == Byte.closeBrace {
            index += 1
            return .table(table.build())
        }
        while true {
            skipWhitespace()
            if peek() == Byte.lineFeed || peek() == Byte.carriageReturn {
                throw error("an inline table must be written on one line (it starts at line \(start.line), column \(start.column))")
            }
            _ = try parseKeyValue(into: table)
            skipWhitespace()
            switch peek() {
            case Byte.comma:
                index += 1
                skipWhitespace()
                if peek() == Byte.closeBrace {
                    throw error("trailing comma in an inline table: remove the ',' before '}'")
                }
            case Byte.closeBrace:
                index += 1
                return .table(table.build())
            case Byte.lineFeed, Byte.carriageReturn:
                throw error("an inline table must be written on one line (it starts at line \(start.line), column \(start.column))")
            default:
                throw error("expected ',' or '}' in the inline table that starts at line \(start.line), column \(start.column), found \(found())")
            }
        }
    }

    // MARK: Strings

    /// At `"`: a single-line basic string.
    private mutating func parseBasicString() throws(TOMLError) -> String {
        index += 1
        var output: [UInt8] = []
        while true {
            guard index < bytes.count else { throw error("unterminated string: expected '\"', found the end of the file") }
            let byte = bytes[index]
            switch byte {
            case Byte.quote:
                index += 1
                return String(decoding: output, as: UTF8.self)
            case Byte.backslash:
                try parseEscape(into: &output)
            case Byte.lineFeed, Byte.carriageReturn:
                throw error("unterminated string: a \"...\" string must end on its line (use \"\"\"...\"\"\" for several lines)")
            default:
                if Byte.isControl(byte) {
                    throw error("control character U+\(hex(UInt32(byte), digits: 4)) in a string; write it as an escape such as \\u\(hex(UInt32(byte), digits: 4))")
                }
                output.append(byte)
                index += 1
            }
        }
    }

    /// At `\` in a basic string.
    private mutating func parseEscape(into output: inout [UInt8]) throws(TOMLError) {
        let start = here()
        index += 1
        guard index < bytes.count else { throw error("unterminated string: expected '\"', found the end of the file") }
        let byte = bytes[index]
        index += 1
        switch byte {
        case UInt8(ascii: "b"): output.append(0x08)
        case UInt8(ascii: "t"): output.append(0x09)
        case UInt8(ascii: "n"): output.append(0x0A)
        case UInt8(ascii: "f"): output.append(0x0C)
        case UInt8(ascii: "r"): output.append(0x0D)
        case Byte.quote: output.append(Byte.quote)
        case Byte.backslash: output.append(Byte.backslash)
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let count = byte == UInt8(ascii: "u") ? 4 : 8
            var value: UInt32 = 0
            for _ in 0..<count {
                guard index < bytes.count, let digit = Byte.hexValue(bytes[index]) else {
                    throw TOMLError(position: start, message: "invalid escape: \\\(Character(Unicode.Scalar(byte))) needs exactly \(count) hexadecimal digits")
                }
                value = value << 4 | UInt32(digit)
                index += 1
            }
            guard let scalar = Unicode.Scalar(value) else {
                throw TOMLError(position: start, message: "invalid escape: U+\(hex(value, digits: 4)) is not a Unicode scalar value")
            }
            UTF8.encode(scalar) { output.append($0) }
        default:
            index -= 1
            let what = found()
            throw TOMLError(position: start, message: "invalid escape sequence: '\\' followed by \(what); valid are \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX")
        }
    }

    /// At a run of `delimiter` inside a multi-line string: fewer than three belong to the
    /// string; three to five close it (up to two of them belonging to the string).
    /// Returns true when the string ended.
    private mutating func consumeDelimiterRun(_ delimiter: UInt8, into output: inout [UInt8], tooMany: String) throws(TOMLError) -> Bool {
        var count = 0
        while index + count < bytes.count, bytes[index + count] == delimiter { count += 1 }
        if count > 5 {
            index += 5
            throw error(tooMany)
        }
        output.append(contentsOf: repeatElement(delimiter, count: count >= 3 ? count - 3 : count))
        index += count
        return count >= 3
    }

    /// At `"""`.
    private mutating func parseMultiLineBasicString() throws(TOMLError) -> String {
        index += 3
        if peek() == Byte.lineFeed || peek() == Byte.carriageReturn { try newline() }
        var output: [UInt8] = []
        while true {
            guard index < bytes.count else { throw error("unterminated multi-line string: expected '\"\"\"', found the end of the file") }
            let byte = bytes[index]
            switch byte {
            case Byte.quote:
                if try consumeDelimiterRun(Byte.quote, into: &output,
                                           tooMany: "too many quotes: a multi-line string may end with at most two '\"' before its closing '\"\"\"'") {
                    return String(decoding: output, as: UTF8.self)
                }
            case Byte.backslash:
                var scan = index + 1
                while scan < bytes.count, bytes[scan] == Byte.space || bytes[scan] == Byte.tab { scan += 1 }
                if scan < bytes.count, bytes[scan] == Byte.lineFeed || bytes[scan] == Byte.carriageReturn {
                    // A line-ending backslash: drop it and all whitespace up to the next text.
                    index = scan
                    skipping: while index < bytes.count {
                        switch bytes[index] {
                        case Byte.space, Byte.tab: index += 1
                        case Byte.lineFeed, Byte.carriageReturn: try newline()
                        default: break skipping
                        }
                    }
                } else {
                    try parseEscape(into: &output)
                }
            case Byte.lineFeed, Byte.carriageReturn:
                try newline()
                output.append(Byte.lineFeed)
            default:
                if Byte.isControl(byte) {
                    throw error("control character U+\(hex(UInt32(byte), digits: 4)) in a string; write it as an escape such as \\u\(hex(UInt32(byte), digits: 4))")
                }
                output.append(byte)
                index += 1
            }
        }
    }

    /// At `'`: a single-line literal string.
    private mutating func parseLiteralString() throws(TOMLError) -> String {
        index += 1
        let start = index
        while true {
            guard index < bytes.count else { throw error("unterminated string: expected \"'\", found the end of the file") }
            let byte = bytes[index]
            if byte == Byte.apostrophe {
                index += 1
                return String(decoding: bytes[start..<index - 1], as: UTF8.self)
            }
            if byte == Byte.lineFeed || byte == Byte.carriageReturn {
                throw error("unterminated string: a '...' string must end on its line (use '''...''' for several lines)")
            }
            if Byte.isControl(byte) {
                throw error("control character U+\(hex(UInt32(byte), digits: 4)) in a literal string")
            }
            index += 1
        }
    }

    /// At `'''`.
    private mutating func parseMultiLineLiteralString() throws(TOMLError) -> String {
        index += 3
        if peek() == Byte.lineFeed || peek() == Byte.carriageReturn { try newline() }
        var output: [UInt8] = []
        while true {
            guard index < bytes.count else { throw error("unterminated multi-line string: expected \"'''\", found the end of the file") }
            let byte = bytes[index]
            switch byte {
            case Byte.apostrophe:
                if try consumeDelimiterRun(Byte.apostrophe, into: &output,
                                           tooMany: "too many quotes: a multi-line literal string may end with at most two \"'\" before its closing \"'''\"") {
                    return String(decoding: output, as: UTF8.self)
                }
            case Byte.lineFeed, Byte.carriageReturn:
                try newline()
                output.append(Byte.lineFeed)
            default:
                if Byte.isControl(byte) {
                    throw error("control character U+\(hex(UInt32(byte), digits: 4)) in a literal string")
                }
                output.append(byte)
                index += 1
            }
        }
    }

    // MARK: Numbers, dates and times

    /// At a digit, a sign, `i` or `n`: an integer, a float, or a date/time.
    private mutating func parseNumberOrDate() throws(TOMLError) -> TOMLValue {
        let position = here()
        let start = index
        while index < bytes.count, Byte.isTokenPart(bytes[index]) { index += 1 }
        // `1979-05-27 07:32:00`: a space may separate the date and the time.
        if index - start == 10, bytes[start + 4] == Byte.minus, bytes[start + 7] == Byte.minus,
            index + 3 < bytes.count, bytes[index] == Byte.space, Byte.isDigit(bytes[index + 1]),
            Byte.isDigit(bytes[index + 2]), bytes[index + 3] == Byte.colon
        {
            index += 1
            while index < bytes.count, Byte.isTokenPart(bytes[index]) { index += 1 }
        }
        let token = Array(bytes[start..<index])
        var text: String { String(decoding: token, as: UTF8.self) }
        do throws(TOMLScalarError) {
            if token.count >= 5, token[0...3].allSatisfy(Byte.isDigit), token[4] == Byte.minus {
                return try TOMLScalars.dateTime(token, text: text)
            }
            if token.count >= 3, Byte.isDigit(token[0]), Byte.isDigit(token[1]), token[2] == Byte.colon {
                var cursor = 0
                let time = try TOMLScalars.time(token, &cursor, text: text)
                guard cursor == token.count else { throw TOMLScalarError("invalid time '\(text)': expected HH:MM:SS[.fraction]") }
                return .localTime(time)
            }
            if let first = token.first, first >= UInt8(ascii: "a"), first <= UInt8(ascii: "z"),
                text != "inf", text != "nan"
            {
                index = start
                throw TOMLScalarError(unquotedWord().message)
            }
            return try TOMLScalars.number(token, text: text)
        } catch {
            throw TOMLError(position: position, message: error.message)
        }
    }

    // MARK: UTF-8

    /// The index of the first byte that is not part of well-formed UTF-8 (overlong forms,
    /// surrogates and values above U+10FFFF are ill-formed), or nil.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var index = 0
        let count = bytes.count
        while index < count {
            let lead = bytes[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            let length: Int
            var scalar: UInt32
            let minimum: UInt32
            switch lead {
            case 0xC0...0xDF: (length, scalar, minimum) = (2, UInt32(lead & 0x1F), 0x80)
            case 0xE0...0xEF: (length, scalar, minimum) = (3, UInt32(lead & 0x0F), 0x800)
            case 0xF0...0xF7: (length, scalar, minimum) = (4, UInt32(lead & 0x07), 0x10000)
            default: return index
            }
            guard index + length <= count else { return index }
            for offset in 1..<length {
                let continuation = bytes[index + offset]
                guard continuation & 0xC0 == 0x80 else { return index }
                scalar = scalar << 6 | UInt32(continuation & 0x3F)
            }
            if scalar < minimum || scalar > 0x10FFFF || (0xD800...0xDFFF).contains(scalar) { return index }
            index += length
        }
        return nil
    }
}
