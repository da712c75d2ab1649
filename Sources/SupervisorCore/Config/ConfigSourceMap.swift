/// One step from a TOML document's root to a value: a key of a table, or an index into an
/// array (an array of tables such as `[[listener]]`, or an ordinary array).
enum ConfigKeyComponent: Hashable, Sendable {
    case key(String)
    case index(Int)
}

typealias ConfigKeyPath = [ConfigKeyComponent]

/// Where each table and key of a configuration file is written.
///
/// TOMLKit keeps no source positions, yet every problem must name its line. This scanner
/// reads the raw text itself and records the line of every table header, key, array
/// element and inline-table key. It understands exactly enough TOML to stay in step with
/// the real parser on any valid prefix of a document: comments, all four string forms (so
/// that a `[` or `=` inside a string is not taken for syntax), multi-line arrays, inline
/// tables, dotted and quoted keys, and `[[array]]` headers (the nth occurrence is index
/// n-1). On invalid text it may record nonsense, but it always ends.
struct ConfigSourceMap: Sendable {
    private var lines: [ConfigKeyPath: Int] = [:]

    /// Syntax that would crash TOMLKit, so it must not be handed to it.
    struct UnsafeSyntax: Equatable, Sendable {
        /// Where the statement containing it starts: the text before is a whole document.
        var statementOffset: Int
        var line: Int
        var column: Int
        /// Worded like toml++'s own errors.
        var message: String
    }

    /// The first place where the toml++ inside TOMLKit 0.6.0 asserts (aborting the process,
    /// or undefined behaviour under NDEBUG) instead of throwing, as found by fuzzing: a
    /// header key starting with neither a key character nor a quote (`[=x]`, `[\nx]`); a `}`
    /// or a Unicode line separator where an array expects a value (`[1, }`); and malformed
    /// unquoted values (`1979-05-27 7`, `1979-05-27T-07:32:00`), so every unquoted value
    /// is checked against the TOML grammar. A reload parses inside the supervisor, so a
    /// typo must never reach one of these.
    private(set) var unsafeSyntax: UnsafeSyntax?

    init(scanning text: String) {
        var scanner = Scanner(bytes: Array(text.utf8))
        scanner.scanDocument()
        self.lines = scanner.lines
        self.unsafeSyntax = scanner.unsafeSyntax
    }

    /// The line of `path`, else of its nearest ancestor that has one (a missing key is
    /// reported at its table's header); nil only when not even the top table is written.
    func line(for path: ConfigKeyPath) -> Int? {
        var path = path
        while !path.isEmpty {
            if let line = lines[path] { return line }
            path.removeLast()
        }
        return nil
    }

    /// The line recorded for exactly `path`, without falling back to an ancestor.
    func exactLine(for path: ConfigKeyPath) -> Int? {
        lines[path]
    }
}

extension ConfigSourceMap {
    fileprivate struct Scanner {
        let bytes: [UInt8]
        var index = 0
        var line = 1
        var lines: [ConfigKeyPath: Int] = [:]
        /// How many elements each array of tables has so far, by its resolved path.
        var arrayOfTablesCounts: [ConfigKeyPath: Int] = [:]
        var unsafeSyntax: UnsafeSyntax?
        /// Where the current line starts, for columns.
        private var lineStart = 0
        /// Where the current top-level statement (header or key-value pair) starts.
        private var statementStart = 0

        init(bytes: [UInt8]) {
            self.bytes = bytes
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }  // a UTF-8 byte order mark
        }

        private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        private func peek(_ offset: Int) -> UInt8? {
            index + offset < bytes.count ? bytes[index + offset] : nil
        }

        private mutating func advance() {
            if bytes[index] == UInt8(ascii: "\n") {
                line += 1
                lineStart = index + 1
            }
            index += 1
        }

        private func startsWith(_ text: StaticString) -> Bool {
            let count = text.utf8CodeUnitCount
            guard index + count <= bytes.count else { return false }
            return text.withUTF8Buffer { Array($0) == Array(bytes[index..<index + count]) }
        }

        /// Records a path's line; an explicit definition (a header or a key) overrides a
        /// line inferred for an implicitly created parent.
        private mutating func record(_ path: ConfigKeyPath, line: Int, explicit: Bool) {
            if explicit || lines[path] == nil { lines[path] = line }
        }

        private mutating func recordParents(of path: ConfigKeyPath, line: Int) {
            guard path.count > 1 else { return }
            guard path.count <= Self.maximumPathLength else {
                stop("Error while parsing key: nested more than \(Self.maximumPathLength) levels deep")
                return
            }
            for end in 1..<path.count {
                record(Array(path[..<end]), line: line, explicit: false)
            }
        }

        // MARK: Document structure

        mutating func scanDocument() {
            var table: ConfigKeyPath = []
            while true {
                skipWhitespaceCommentsAndNewlines()
                guard let byte = current else { return }
                let startLine = line
                let startIndex = index
                statementStart = index
                if byte == UInt8(ascii: "[") {
                    checkHeaderStart()
                    if peek(1) == UInt8(ascii: "[") {
                        index += 2
                        let keys = readDottedKey()
                        guard let last = keys.last else { skipRestOfLine(); continue }
                        let arrayPath = resolve(Array(keys.dropLast())) + [.key(last)]
                        let position = arrayOfTablesCounts[arrayPath, default: 0]
                        arrayOfTablesCounts[arrayPath] = position + 1
                        table = arrayPath + [.index(position)]
                        recordParents(of: arrayPath, line: startLine)
                        record(arrayPath, line: startLine, explicit: false)
                        record(table, line: startLine, explicit: true)
                    } else {
                        index += 1
                        let keys = readDottedKey()
                        table = resolve(keys)
                        recordParents(of: table, line: startLine)
                        record(table, line: startLine, explicit: true)
                    }
                    skipRestOfLine()
                } else {
                    let keys = readDottedKey()
                    skipSpaces()
                    guard !keys.isEmpty, current == UInt8(ascii: "=") else {
                        if index == startIndex { skipRestOfLine() }
                        continue
                    }
                    index += 1
                    let path = table + keys.map { .key($0) }
                    recordParents(of: path, line: startLine)
                    record(path, line: startLine, explicit: true)
                    scanValue(path)
                    skipRestOfLine()
                }
            }
        }

        /// Mirrors toml++'s parse_table_header up to its first key: `[`, spaces, an
        /// adjacent second `[`, spaces, then a key must start (or the header end).
        private mutating func checkHeaderStart() {
            func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
            var probe = index + 1
            if probe < bytes.count, bytes[probe] == UInt8(ascii: "[") { probe += 1 }
            while probe < bytes.count, isBlank(bytes[probe]) { probe += 1 }
            guard probe < bytes.count else { return }
            let byte = bytes[probe]
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"),
                UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "]"):
                return
            case UInt8(ascii: "["):
                // `[ [`: toml++ reports this one itself.
                if isBlank(bytes[probe - 1]), bytes[index + 1] != UInt8(ascii: "[") { return }
            default:
                break
            }
            recordUnsafe(at: probe, "Error while parsing table header: expected bare key starting character or string delimiter, saw '\(character(at: probe))'")
        }

        /// Called where an array expects a value (or its end).
        private mutating func checkArrayElementStart() {
            let rest = bytes[index...]
            if rest.first == UInt8(ascii: "}") || rest.starts(with: [0xC2, 0x85]) || rest.starts(with: [0xE2, 0x80, 0xA8])
                || rest.starts(with: [0xE2, 0x80, 0xA9])
            {
                recordUnsafe(at: index, "Error while parsing array: expected value or closing ']', saw '\(character(at: index))'")
            }
        }

        /// Longer key paths are refused: keeping them would take quadratic time.
        static let maximumPathLength = 1024

        /// Records an unsafe spot here and ends the scan.
        private mutating func stop(_ message: String) {
            recordUnsafe(at: min(index, bytes.count), message)
            index = bytes.count
        }

        private mutating func recordUnsafe(at position: Int, _ message: String) {
            guard unsafeSyntax == nil else { return }
            // Columns count characters, as toml++'s do.
            let column = bytes[lineStart..<position].reduce(1) { $1 & 0xC0 == 0x80 ? $0 : $0 + 1 }
            unsafeSyntax = UnsafeSyntax(statementOffset: statementStart, line: line, column: column, message: message)
        }

        /// The character at `position`, with control characters escaped.
        private func character(at position: Int) -> String {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\n"): return "\\n"
            case UInt8(ascii: "\r"): return "\\r"
            case UInt8(ascii: "\t"): return "\\t"
            case 0..<0x20, 0x7F: return "\\u{\(String(byte, radix: 16))}"
            default:
                var end = position + 1
                while end < bytes.count, bytes[end] & 0xC0 == 0x80 { end += 1 }
                let text = String(decoding: bytes[position..<end], as: UTF8.self)
                return text.unicodeScalars.allSatisfy { $0.properties.isWhitespace }
                    ? text.unicodeScalars.map { "\\u{\(String($0.value, radix: 16))}" }.joined() : text
            }
        }

        /// A header's keys as a path: a key naming an array of tables continues in that
        /// array's last element, as TOML defines for `[fruit.variety]` after `[[fruit]]`.
        private func resolve(_ keys: [String]) -> ConfigKeyPath {
            var path: ConfigKeyPath = []
            for key in keys {
                path.append(.key(key))
                if let count = arrayOfTablesCounts[path], count > 0 {
                    path.append(.index(count - 1))
                }
            }
            return path
        }

        // MARK: Values

        /// - Parameter depth: as toml++ counts it: 1 for a key's value, +1 per array or
        ///   inline table around it.
        private mutating func scanValue(_ path: ConfigKeyPath, depth: Int = 1) {
            skipSpaces()
            guard let byte = current else { return }
            guard depth <= 256 else {
                // toml++ refuses this too, but this scanner recurses and must stop first.
                stop("Error while parsing value: exceeded maximum nested value depth of 256 (TOML_MAX_NESTED_VALUES)")
                return
            }
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                skipString()
            case UInt8(ascii: "["):
                index += 1
                var element = 0
                while true {
                    skipWhitespaceCommentsAndNewlines()
                    guard let next = current else { return }
                    if next == UInt8(ascii: "]") {
                        index += 1
                        return
                    }
                    if next == UInt8(ascii: ",") {
                        index += 1
                        continue
                    }
                    checkArrayElementStart()
                    let elementPath = path + [.index(element)]
                    record(elementPath, line: line, explicit: true)
                    let before = index
                    scanValue(elementPath, depth: depth + 1)
                    element += 1
                    if index == before { advance() }
                }
            case UInt8(ascii: "{"):
                index += 1
                while true {
                    skipWhitespaceCommentsAndNewlines()
                    guard let next = current else { return }
                    if next == UInt8(ascii: "}") {
                        index += 1
                        return
                    }
                    if next == UInt8(ascii: ",") {
                        index += 1
                        continue
                    }
                    let keyLine = line
                    let before = index
                    let keys = readDottedKey()
                    skipSpaces()
                    if !keys.isEmpty, current == UInt8(ascii: "=") {
                        index += 1
                        let keyPath = path + keys.map { .key($0) }
                        recordParents(of: keyPath, line: keyLine)
                        record(keyPath, line: keyLine, explicit: true)
                        scanValue(keyPath, depth: depth + 1)
                    }
                    if index == before { advance() }
                }
            default:
                // Numbers, booleans and dates (which may contain a space) end at a
                // separator, a comment or the end of the line.
                let start = index
                while let next = current,
                    next != UInt8(ascii: ","), next != UInt8(ascii: "]"), next != UInt8(ascii: "}"),
                    next != UInt8(ascii: "#"), next != UInt8(ascii: "\n"), next != UInt8(ascii: "\r")
                {
                    index += 1
                }
                var end = index
                while end > start, bytes[end - 1] == UInt8(ascii: " ") || bytes[end - 1] == UInt8(ascii: "\t") { end -= 1 }
                // toml++ asserts on several malformed scalars (`1979-05-27 7`,
                // `1979-05-27T-07:32:00`) instead of reporting them, so only well-formed
                // ones may reach it.
                if !TOMLScalarSyntax.isValid(bytes[start..<end]) {
                    let shown = String(decoding: bytes[start..<end].prefix(40), as: UTF8.self)
                    recordUnsafe(
                        at: start,
                        "Error while parsing value: invalid value '\(shown)'; expected a quoted string, a number, true, false, a date, an array or an inline table"
                    )
                }
            }
        }

        /// Skips a string of any of the four forms, counting the newlines in it.
        private mutating func skipString() {
            if startsWith("\"\"\"") {
                skipMultilineString(quote: UInt8(ascii: "\""), escapes: true)
            } else if startsWith("'''") {
                skipMultilineString(quote: UInt8(ascii: "'"), escapes: false)
            } else if current == UInt8(ascii: "\"") {
                _ = readBasicString()
            } else {
                _ = readLiteralString()
            }
        }

        private mutating func skipMultilineString(quote: UInt8, escapes: Bool) {
            index += 3
            while let byte = current {
                if escapes, byte == UInt8(ascii: "\\") {
                    advance()
                    if current != nil { advance() }
                    continue
                }
                if byte == quote, peek(1) == quote, peek(2) == quote {
                    index += 3
                    // Up to two more quotes belong to the content: `""""` ends with one.
                    var extra = 0
                    while extra < 2, current == quote {
                        index += 1
                        extra += 1
                    }
                    return
                }
                advance()
            }
        }

        // MARK: Keys

        /// `a.b."c d".'e'`, with optional spaces around the dots. Empty when no key starts here.
        private mutating func readDottedKey() -> [String] {
            var keys: [String] = []
            while true {
                skipSpaces()
                guard let byte = current else { break }
                if byte == UInt8(ascii: "\"") {
                    keys.append(readBasicString())
                } else if byte == UInt8(ascii: "'") {
                    keys.append(readLiteralString())
                } else {
                    let start = index
                    while let next = current, isBareKeyByte(next) { index += 1 }
                    guard index > start else { break }
                    keys.append(String(decoding: bytes[start..<index], as: UTF8.self))
                }
                skipSpaces()
                guard current == UInt8(ascii: ".") else { break }
                index += 1
                if keys.count >= Self.maximumPathLength {
                    stop("Error while parsing key: more than \(Self.maximumPathLength) dotted parts")
                    return []
                }
            }
            return keys
        }

        private func isBareKeyByte(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                return true
            default:
                // Non-ASCII bytes: newer TOML allows Unicode bare keys; keep them whole.
                return byte >= 0x80
            }
        }

        /// A single-line basic string, decoded (keys must compare equal to TOMLKit's).
        private mutating func readBasicString() -> String {
            index += 1
            var decoded: [UInt8] = []
            while let byte = current, byte != UInt8(ascii: "\n") {
                index += 1
                if byte == UInt8(ascii: "\"") { break }
                guard byte == UInt8(ascii: "\\"), let escape = current else {
                    decoded.append(byte)
                    continue
                }
                index += 1
                switch escape {
                case UInt8(ascii: "n"): decoded.append(UInt8(ascii: "\n"))
                case UInt8(ascii: "t"): decoded.append(UInt8(ascii: "\t"))
                case UInt8(ascii: "r"): decoded.append(UInt8(ascii: "\r"))
                case UInt8(ascii: "b"): decoded.append(0x08)
                case UInt8(ascii: "f"): decoded.append(0x0C)
                case UInt8(ascii: "e"): decoded.append(0x1B)
                case UInt8(ascii: "u"), UInt8(ascii: "U"), UInt8(ascii: "x"):
                    let width = escape == UInt8(ascii: "u") ? 4 : escape == UInt8(ascii: "U") ? 8 : 2
                    var value: UInt32 = 0
                    var taken = 0
                    while taken < width, let digit = current.flatMap(hexDigit) {
                        value = value << 4 | UInt32(digit)
                        index += 1
                        taken += 1
                    }
                    if let scalar = Unicode.Scalar(value) {
                        decoded.append(contentsOf: Array(String(Character(scalar)).utf8))
                    }
                default: decoded.append(escape)
                }
            }
            return String(decoding: decoded, as: UTF8.self)
        }

        private mutating func readLiteralString() -> String {
            index += 1
            let start = index
            while let byte = current, byte != UInt8(ascii: "'"), byte != UInt8(ascii: "\n") { index += 1 }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            if current == UInt8(ascii: "'") { index += 1 }
            return text
        }

        private func hexDigit(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
            default: return nil
            }
        }

        // MARK: Whitespace

        private mutating func skipSpaces() {
            while let byte = current, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { index += 1 }
        }

        private mutating func skipWhitespaceCommentsAndNewlines() {
            while let byte = current {
                switch byte {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                    advance()
                case UInt8(ascii: "#"):
                    while let next = current, next != UInt8(ascii: "\n") { index += 1 }
                default:
                    return
                }
            }
        }

        /// Skips to the start of the next line (past a comment or a header's closing brackets).
        private mutating func skipRestOfLine() {
            while let byte = current {
                advance()
                if byte == UInt8(ascii: "\n") { return }
            }
        }
    }
}

/// The TOML 1.0 grammar of unquoted values: booleans, integers, floats and the four
/// date-time forms (RFC 3339 with the ranges toml++ itself checks, except days per month).
enum TOMLScalarSyntax {
    static func isValid(_ token: ArraySlice<UInt8>) -> Bool {
        let text = Array(token)
        if text == Array("true".utf8) || text == Array("false".utf8) { return true }
        return isInteger(text) || isFloat(text) || isDateTime(text)
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }

    /// `digit *( digit / "_" digit )` over `accepts`; leading zeros are the caller's concern.
    private static func isDigitRun(_ text: ArraySlice<UInt8>, _ accepts: (UInt8) -> Bool) -> Bool {
        guard let first = text.first, accepts(first), let last = text.last, accepts(last) else { return false }
        var previousUnderscore = false
        for byte in text {
            if byte == UInt8(ascii: "_") {
                if previousUnderscore { return false }
                previousUnderscore = true
            } else if accepts(byte) {
                previousUnderscore = false
            } else {
                return false
            }
        }
        return true
    }

    private static func isDecimalInteger(_ text: ArraySlice<UInt8>) -> Bool {
        var digits = text
        if let sign = digits.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { digits = digits.dropFirst() }
        guard isDigitRun(digits, isDigit) else { return false }
        return digits.count == 1 || digits.first != UInt8(ascii: "0")
    }

    private static func isInteger(_ text: [UInt8]) -> Bool {
        if text.count > 2, text[0] == UInt8(ascii: "0") {
            let digits = text[2...]
            switch text[1] {
            case UInt8(ascii: "x"):
                return isDigitRun(digits) { isDigit($0) || (0x41...0x46).contains($0) || (0x61...0x66).contains($0) }
            case UInt8(ascii: "o"): return isDigitRun(digits) { (0x30...0x37).contains($0) }
            case UInt8(ascii: "b"): return isDigitRun(digits) { $0 == 0x30 || $0 == 0x31 }
            default: break
            }
        }
        return isDecimalInteger(text[...])
    }

    private static func isFloat(_ text: [UInt8]) -> Bool {
        var unsigned = text[...]
        if let sign = unsigned.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { unsigned = unsigned.dropFirst() }
        if unsigned.elementsEqual("inf".utf8) || unsigned.elementsEqual("nan".utf8) { return true }

        var mantissa = text[...]
        var exponent: ArraySlice<UInt8>?
        if let e = text.firstIndex(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            mantissa = text[..<e]
            var digits = text[(e + 1)...]
            if let sign = digits.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { digits = digits.dropFirst() }
            exponent = digits
        }
        var integerPart = mantissa
        var fraction: ArraySlice<UInt8>?
        if let dot = mantissa.firstIndex(of: UInt8(ascii: ".")) {
            integerPart = mantissa[..<dot]
            fraction = mantissa[(dot + 1)...]
        }
        guard fraction != nil || exponent != nil, isDecimalInteger(integerPart) else { return false }
        if let fraction, !isDigitRun(fraction, isDigit) { return false }
        if let exponent, !isDigitRun(exponent, isDigit) { return false }
        return true
    }

    private static func isDateTime(_ text: [UInt8]) -> Bool {
        if isTime(text[...]) { return true }
        guard text.count >= 10, isDate(text[..<10]) else { return false }
        if text.count == 10 { return true }
        guard [UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")].contains(text[10]) else { return false }
        var rest = text[11...]
        if let last = rest.last, last == UInt8(ascii: "Z") || last == UInt8(ascii: "z") {
            rest = rest.dropLast()
        } else if rest.count > 6 {
            let offset = rest.suffix(6)
            let sign = offset[offset.startIndex]
            if sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                guard isClock(offset.dropFirst(), seconds: false) else { return false }
                rest = rest.dropLast(6)
            }
        }
        return isTime(rest)
    }

    /// `YYYY-MM-DD`
    private static func isDate(_ text: ArraySlice<UInt8>) -> Bool {
        let t = Array(text)
        guard t.count == 10, t[4] == UInt8(ascii: "-"), t[7] == UInt8(ascii: "-"),
            let month = number(t[5..<7]), let day = number(t[8..<10]), number(t[0..<4]) != nil
        else { return false }
        return (1...12).contains(month) && (1...31).contains(day)
    }

    /// `HH:MM:SS` with an optional fraction.
    private static func isTime(_ text: ArraySlice<UInt8>) -> Bool {
        var clock = text
        if let dot = text.firstIndex(of: UInt8(ascii: ".")) {
            let fraction = text[(dot + 1)...]
            guard !fraction.isEmpty, fraction.allSatisfy(isDigit) else { return false }
            clock = text[..<dot]
        }
        return isClock(clock, seconds: true)
    }

    /// `HH:MM:SS`, or `HH:MM` without seconds.
    private static func isClock(_ text: ArraySlice<UInt8>, seconds: Bool) -> Bool {
        let t = Array(text)
        guard t.count == (seconds ? 8 : 5), t[2] == UInt8(ascii: ":"),
            let hour = number(t[0..<2]), let minute = number(t[3..<5]), hour < 24, minute < 60
        else { return false }
        guard seconds else { return true }
        guard t[5] == UInt8(ascii: ":"), let second = number(t[6..<8]) else { return false }
        return second <= 60
    }

    private static func number(_ digits: ArraySlice<UInt8>) -> Int? {
        guard !digits.isEmpty, digits.allSatisfy(isDigit) else { return nil }
        return digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }
}
