import Logging

/// The level a worker gave one of its output lines, recognised from the marker at the
/// start of the line, as the usual servers and logging libraries write it:
///
/// | writer | example | level |
/// |---|---|---|
/// | syslog prefix (systemd's `SyslogLevelPrefix=`) | `<3>disk full` | 0–2 critical, 3 error, 4 warning, 5 notice, 6 info, 7 debug; the prefix is removed |
/// | Python `logging`, uvicorn | `ERROR:root:boom`, `ERROR:    Error loading ASGI app.` | the level name |
/// | gunicorn, hypercorn | `[2026-11-30 12:00:00 +0000] [1234] [ERROR] …` | the level name |
/// | Flask, Ruby `Logger`, zap, Python `%(asctime)s %(levelname)s` | `[2026-…] ERROR in app: …`, `E, [2026-… #1] ERROR -- : …`, `2026-…Z\terror\t…` | the level word after a timestamp |
/// | Go Beego | `2026/11/30 12:00:00.000 [E] [server.go:12] …` | `[M]`/`[A]`/`[C]` critical, `[E]` error, `[W]` warning, `[N]` notice, `[I]` info, `[D]` debug |
/// | Go glog/klog | `E1130 12:00:00.000000 1234 main.go:10] …` | `F` critical, `E`, `W`, `I` |
/// | Twisted | `2026-…+0000 [twisted.internet.defer#critical] …` | the level after `#` |
/// | logfmt (logrus, Go slog, log15) | `time=… level=error msg=…` (`lvl=`, `severity=`) | the value |
/// | JSON (pino, bunyan, winston, structlog, zap) | `{"level":"error",…}`, `{"level":50,…}` | the value; pino/bunyan numbers 10–60 |
/// | logrus on a terminal, zerolog's console writer | `ERRO[0000] …`, `12:00PM ERR …` | the abbreviation |
/// | Node.js | `(node:1234) DeprecationWarning: …` | warning |
///
/// A marker counts only at the start of the line, after at most a timestamp, a
/// `[pid]` and similar prefix tokens: `request failed: level=error` in the middle of
/// a message is not a level.
public enum WorkerLineLevel {
    /// The level (nil: no marker, log at info) and the text to log (the line, without
    /// a syslog `<N>` prefix).
    public static func classify(_ line: String) -> (level: Logger.Level?, message: String) {
        let bytes = Array(line.utf8.prefix(4096))
        if let (level, length) = syslogPrefix(bytes) {
            let rest = line.unicodeScalars.dropFirst(length)
            return (level, String(String.UnicodeScalarView(rest)))
        }
        return (level(of: bytes), line)
    }

    /// Just the level of a line (nil: none given).
    public static func level(of line: String) -> Logger.Level? {
        classify(line).level
    }

    // MARK: - Level names

    /// Level words, in lower case.
    static let names: [String: Logger.Level] = [
        "emerg": .critical, "emergency": .critical, "alert": .critical, "crit": .critical,
        "critical": .critical, "fatal": .critical, "panic": .critical, "dpanic": .critical,
        "err": .error, "error": .error, "severe": .error,
        "warn": .warning, "warning": .warning,
        "notice": .notice,
        "info": .info, "information": .info, "informational": .info,
        "debug": .debug, "trace": .trace,
    ]

    /// Upper-case abbreviations: zerolog's console writer and logrus on a terminal.
    static let abbreviations: [String: Logger.Level] = [
        "TRC": .trace, "DBG": .debug, "INF": .info, "WRN": .warning, "ERR": .error,
        "FTL": .critical, "PNC": .critical,
        "TRAC": .trace, "DEBU": .debug, "INFO": .info, "WARN": .warning, "ERRO": .error,
        "FATA": .critical, "PANI": .critical,
    ]

    /// Beego's one-letter levels.
    static let letters: [UInt8: Logger.Level] = [
        UInt8(ascii: "M"): .critical, UInt8(ascii: "A"): .critical, UInt8(ascii: "C"): .critical,
        UInt8(ascii: "E"): .error, UInt8(ascii: "W"): .warning, UInt8(ascii: "N"): .notice,
        UInt8(ascii: "I"): .info, UInt8(ascii: "D"): .debug,
    ]

    /// A level word as a program would print it: `ERROR`, `error` or `Error` (not `eRRor`),
    /// or an upper-case abbreviation.
    static func levelWord(_ word: ArraySlice<UInt8>) -> Logger.Level? {
        guard !word.isEmpty, word.count <= 13 else { return nil }
        let text = String(decoding: word, as: UTF8.self)
        if let level = abbreviations[text] { return level }
        let lower = text.lowercased()
        guard let level = names[lower] else { return nil }
        let capitalized = lower.prefix(1).uppercased() + lower.dropFirst()
        return text == lower || text == text.uppercased() || text == capitalized ? level : nil
    }

    /// A level value in logfmt or JSON: any case.
    static func levelValue(_ value: String) -> Logger.Level? {
        if let level = abbreviations[value.uppercased()] { return level }
        return names[value.lowercased()]
    }

    /// pino and bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
    static func numericLevel(_ value: Int) -> Logger.Level? {
        switch value {
        case 60...: return .critical
        case 50..<60: return .error
        case 40..<50: return .warning
        case 30..<40: return .info
        case 20..<30: return .debug
        case 10..<20: return .trace
        default: return nil
        }
    }

    // MARK: - Syslog prefix

    /// `<N>` with N 0–7 (also written `<03>`, `<003>`), as journald's stream reader
    /// accepts it without a facility. Returns the level and the prefix length.
    static func syslogPrefix(_ b: [UInt8]) -> (Logger.Level, Int)? {
        guard b.first == UInt8(ascii: "<") else { return nil }
        var i = 1
        var value = 0
        while i < b.count, i <= 3, isDigit(b[i]) {
            value = value * 10 + Int(b[i] - 48)
            i += 1
        }
        guard i > 1, i < b.count, b[i] == UInt8(ascii: ">"), value <= 7 else { return nil }
        let level: Logger.Level
        switch value {
        case 0, 1, 2: level = .critical
        case 3: level = .error
        case 4: level = .warning
        case 5: level = .notice
        case 6: level = .info
        default: level = .debug
        }
        return (level, i + 1)
    }

    // MARK: - The scanner

    static func level(of b: [UInt8]) -> Logger.Level? {
        if let level = glogPrefix(b) { return level }
        if let level = nodeWarning(b) { return level }
        var i = skipBlanks(b, 0)
        var hadPrefix = false
        // Prefix tokens: timestamps, [pid], [timestamp], Ruby's "E, ".
        for _ in 0..<6 {
            if let end = timestamp(b, i) {
                i = skipBlanks(b, end)
                hadPrefix = true
                continue
            }
            if i < b.count, b[i] == UInt8(ascii: "[") {
                switch bracket(b, i, afterPrefix: hadPrefix) {
                case .level(let level): return level
                case .prefix(let end):
                    i = skipBlanks(b, end)
                    // "[…]:" as in "[2026-11-30 12:00:00,123: ERROR/MainProcess]" is handled
                    // inside; a colon after a prefix bracket is just punctuation.
                    if i < b.count, b[i] == UInt8(ascii: ":") { i = skipBlanks(b, i + 1) }
                    hadPrefix = true
                    continue
                case .none: return nil
                }
            }
            // Ruby Logger: "E, [2026-11-30T12:00:00.123456 #1234] ERROR -- : boom"
            if i + 3 < b.count, isUpper(b[i]), b[i + 1] == UInt8(ascii: ","), b[i + 2] == UInt8(ascii: " "),
               b[i + 3] == UInt8(ascii: "[") {
                i += 3
                continue
            }
            break
        }
        guard i < b.count else { return nil }
        if b[i] == UInt8(ascii: "{") { return jsonLevel(b, i) }
        if let level = logfmtLevel(b, i) { return level }
        // A level word, then ':' (Python, uvicorn, Go's "panic:"), '[' (logrus on a
        // terminal), or, after a timestamp, a blank (Flask, zap, zerolog, Ruby).
        var end = i
        while end < b.count, isLetter(b[end]) { end += 1 }
        guard end > i, let level = levelWord(b[i..<end]) else { return nil }
        guard end < b.count else { return hadPrefix ? level : nil }
        switch b[end] {
        case UInt8(ascii: ":"):
            return level
        case UInt8(ascii: "["):
            return end - i == 4 && abbreviations[String(decoding: b[i..<end], as: UTF8.self)] != nil ? level : nil
        case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "|"):
            return hadPrefix ? level : nil
        default:
            return nil
        }
    }

    enum BracketResult {
        case level(Logger.Level)
        case prefix(end: Int)
    }

    /// A `[…]` token: a pid, a timestamp, a level (`[ERROR]`, `[E]` after a timestamp),
    /// a timestamp followed by a level (`[2026-… ERROR module]`, Celery's
    /// `[2026-…: ERROR/MainProcess]`), or Twisted's `[namespace#level]`.
    static func bracket(_ b: [UInt8], _ start: Int, afterPrefix: Bool) -> BracketResult? {
        var close = start + 1
        while close < b.count, b[close] != UInt8(ascii: "]"), close - start < 200 { close += 1 }
        guard close < b.count, b[close] == UInt8(ascii: "]") else { return nil }
        let content = b[(start + 1)..<close]
        guard !content.isEmpty else { return nil }
        if content.allSatisfy(isDigit) { return .prefix(end: close + 1) }
        if content.count == 1, let level = letters[content.first!] {
            return afterPrefix ? .level(level) : nil
        }
        if content.allSatisfy(isLetter) {
            return levelWord(content).map { .level($0) }
        }
        if let stamp = timestamp(b, start + 1), stamp <= close {
            var i = stamp
            // Ruby Logger's " #1234"
            if i + 1 < close, b[i] == UInt8(ascii: " "), b[i + 1] == UInt8(ascii: "#") {
                i += 2
                while i < close, isDigit(b[i]) { i += 1 }
            }
            if i == close { return .prefix(end: close + 1) }
            if b[i] == UInt8(ascii: ":") { i += 1 }
            i = skipBlanks(b, i)
            var end = i
            while end < close, isLetter(b[end]) { end += 1 }
            if end > i, end == close || b[end] == UInt8(ascii: " ") || b[end] == UInt8(ascii: "/"),
               let level = levelWord(b[i..<end]) {
                return .level(level)
            }
            return nil
        }
        // Twisted: [namespace#level]
        if let hash = content.lastIndex(of: UInt8(ascii: "#")), hash > start + 1,
           !content.contains(UInt8(ascii: " ")) {
            let word = b[(hash + 1)..<close]
            if word.allSatisfy(isLetter), let level = levelWord(word) { return .level(level) }
        }
        return nil
    }

    /// glog/klog: `E1130 12:00:00.000000    1234 main.go:10] msg`.
    static func glogPrefix(_ b: [UInt8]) -> Logger.Level? {
        guard b.count > 14, b[5] == UInt8(ascii: " "), b[1...4].allSatisfy(isDigit),
              let end = time(b, 6), end < b.count, b[end] == UInt8(ascii: " ") else { return nil }
        switch b[0] {
        case UInt8(ascii: "F"): return .critical
        case UInt8(ascii: "E"): return .error
        case UInt8(ascii: "W"): return .warning
        case UInt8(ascii: "I"): return .info
        default: return nil
        }
    }

    /// Node.js process warnings: `(node:1234) [DEP0005] DeprecationWarning: …`,
    /// `(node:1234) Warning: …`.
    static func nodeWarning(_ b: [UInt8]) -> Logger.Level? {
        let prefix = Array("(node:".utf8)
        guard b.count > prefix.count, Array(b[0..<prefix.count]) == prefix else { return nil }
        var i = prefix.count
        while i < b.count, isDigit(b[i]) { i += 1 }
        guard i > prefix.count, i < b.count, b[i] == UInt8(ascii: ")") else { return nil }
        i = skipBlanks(b, i + 1)
        if i < b.count, b[i] == UInt8(ascii: "["), let close = b[i...].firstIndex(of: UInt8(ascii: "]")) {
            i = skipBlanks(b, close + 1)
        }
        var end = i
        while end < b.count, isLetter(b[end]) { end += 1 }
        guard end < b.count, b[end] == UInt8(ascii: ":") else { return nil }
        let word = String(decoding: b[i..<end], as: UTF8.self)
        if word.hasSuffix("Warning") { return .warning }
        if word.hasSuffix("Error") { return .error }
        return nil
    }

    // MARK: - logfmt and JSON

    static let levelKeys: Set<String> = ["level", "lvl", "severity", "loglevel", "log.level", "levelname"]

    /// `key=value key="quoted value" …` from `start`; the value of the first level key.
    static func logfmtLevel(_ b: [UInt8], _ start: Int) -> Logger.Level? {
        var i = start
        for _ in 0..<12 {
            var keyEnd = i
            guard keyEnd < b.count, isLetter(b[keyEnd]) || b[keyEnd] == UInt8(ascii: "_") else { return nil }
            while keyEnd < b.count, isKeyByte(b[keyEnd]) { keyEnd += 1 }
            guard keyEnd < b.count, b[keyEnd] == UInt8(ascii: "=") else { return nil }
            let key = String(decoding: b[i..<keyEnd], as: UTF8.self).lowercased()
            var valueStart = keyEnd + 1
            var valueEnd: Int
            if valueStart < b.count, b[valueStart] == UInt8(ascii: "\"") {
                valueStart += 1
                valueEnd = valueStart
                while valueEnd < b.count, b[valueEnd] != UInt8(ascii: "\"") {
                    valueEnd += b[valueEnd] == UInt8(ascii: "\\") ? 2 : 1
                }
                guard valueEnd < b.count else { return nil }
                if levelKeys.contains(key) { return levelValue(String(decoding: b[valueStart..<valueEnd], as: UTF8.self)) }
                i = valueEnd + 1
            } else {
                valueEnd = valueStart
                while valueEnd < b.count, b[valueEnd] != UInt8(ascii: " "), b[valueEnd] != UInt8(ascii: "\t") { valueEnd += 1 }
                if levelKeys.contains(key) { return levelValue(String(decoding: b[valueStart..<valueEnd], as: UTF8.self)) }
                i = valueEnd
            }
            guard i < b.count, b[i] == UInt8(ascii: " ") || b[i] == UInt8(ascii: "\t") else { return nil }
            i = skipBlanks(b, i)
        }
        return nil
    }

    /// The top-level level member of a JSON object starting at `start`.
    static func jsonLevel(_ b: [UInt8], _ start: Int) -> Logger.Level? {
        var i = start + 1
        for _ in 0..<64 {
            i = skipWhitespace(b, i)
            guard let (key, keyEnd) = jsonString(b, i) else { return nil }
            i = skipWhitespace(b, keyEnd)
            guard i < b.count, b[i] == UInt8(ascii: ":") else { return nil }
            i = skipWhitespace(b, i + 1)
            guard i < b.count else { return nil }
            if levelKeys.contains(key.lowercased()) {
                if let (value, _) = jsonString(b, i) { return levelValue(value) }
                var end = i
                while end < b.count, isDigit(b[end]) { end += 1 }
                guard end > i, let number = Int(String(decoding: b[i..<end], as: UTF8.self)) else { return nil }
                return numericLevel(number)
            }
            guard let valueEnd = skipJSONValue(b, i) else { return nil }
            i = skipWhitespace(b, valueEnd)
            guard i < b.count, b[i] == UInt8(ascii: ",") else { return nil }
            i += 1
        }
        return nil
    }

    /// A JSON string at `i` (escapes kept as written, enough for keys and level names).
    static func jsonString(_ b: [UInt8], _ i: Int) -> (String, Int)? {
        guard i < b.count, b[i] == UInt8(ascii: "\"") else { return nil }
        var end = i + 1
        while end < b.count, b[end] != UInt8(ascii: "\"") {
            end += b[end] == UInt8(ascii: "\\") ? 2 : 1
        }
        guard end < b.count else { return nil }
        return (String(decoding: b[(i + 1)..<end], as: UTF8.self), end + 1)
    }

    /// The index after the JSON value at `i` (strings, nested containers, scalars).
    static func skipJSONValue(_ b: [UInt8], _ start: Int) -> Int? {
        var i = start
        var depth = 0
        while i < b.count {
            switch b[i] {
            case UInt8(ascii: "\""):
                guard let (_, end) = jsonString(b, i) else { return nil }
                i = end
                if depth == 0 { return i }
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if depth == 0 { return i }
                depth -= 1
                if depth == 0 { return i + 1 }
            case UInt8(ascii: ","):
                if depth == 0 { return i }
            default:
                break
            }
            i += 1
        }
        return nil
    }

    // MARK: - Timestamps

    /// The end of a timestamp at `i`: `2026-11-30`, `2026/11/30`, optionally with a time
    /// (`T12:00:00`, ` 12:00:00.123`, `,123`), a zone (`Z`, `+0000`, ` +00:00`); or a time
    /// alone (`12:00:00.123`, zerolog's `3:04PM`).
    static func timestamp(_ b: [UInt8], _ i: Int) -> Int? {
        if let dateEnd = date(b, i) {
            var end = dateEnd
            if end + 1 < b.count, b[end] == UInt8(ascii: "T") || b[end] == UInt8(ascii: " "),
               let timeEnd = time(b, end + 1) {
                end = timeEnd
                if let zoneEnd = zone(b, end) {
                    end = zoneEnd
                } else if end < b.count, b[end] == UInt8(ascii: " "), let zoneEnd = zone(b, end + 1),
                          b[end + 1] != UInt8(ascii: "Z") {
                    end = zoneEnd
                }
            }
            return end
        }
        if let timeEnd = time(b, i) {
            return zone(b, timeEnd) ?? timeEnd
        }
        return nil
    }

    static func date(_ b: [UInt8], _ i: Int) -> Int? {
        guard i + 10 <= b.count, b[i..<(i + 4)].allSatisfy(isDigit) else { return nil }
        let separator = b[i + 4]
        guard separator == UInt8(ascii: "-") || separator == UInt8(ascii: "/"), b[i + 7] == separator,
              isDigit(b[i + 5]), isDigit(b[i + 6]), isDigit(b[i + 8]), isDigit(b[i + 9]) else { return nil }
        return i + 10
    }

    /// `H:MM`, `HH:MM:SS`, with an optional fraction (`.123`, `,123`) and `AM`/`PM`.
    static func time(_ b: [UInt8], _ i: Int) -> Int? {
        var j = i
        guard j < b.count, isDigit(b[j]) else { return nil }
        j += 1
        if j < b.count, isDigit(b[j]) { j += 1 }
        guard j + 3 <= b.count, b[j] == UInt8(ascii: ":"),
              isDigit(b[j + 1]), isDigit(b[j + 2]) else { return nil }
        j += 3
        var hasSeconds = false
        if j + 2 < b.count, b[j] == UInt8(ascii: ":"), isDigit(b[j + 1]), isDigit(b[j + 2]) {
            j += 3
            hasSeconds = true
            if j + 1 < b.count, b[j] == UInt8(ascii: ".") || b[j] == UInt8(ascii: ","), isDigit(b[j + 1]) {
                j += 1
                while j < b.count, isDigit(b[j]) { j += 1 }
            }
        }
        if j + 1 < b.count, b[j] == UInt8(ascii: "A") || b[j] == UInt8(ascii: "P"), b[j + 1] == UInt8(ascii: "M") {
            return j + 2
        }
        return hasSeconds ? j : nil
    }

    static func zone(_ b: [UInt8], _ i: Int) -> Int? {
        guard i < b.count else { return nil }
        if b[i] == UInt8(ascii: "Z") { return i + 1 }
        guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-"), i + 5 <= b.count,
              isDigit(b[i + 1]), isDigit(b[i + 2]) else { return nil }
        if b[i + 3] == UInt8(ascii: ":"), i + 6 <= b.count, isDigit(b[i + 4]), isDigit(b[i + 5]) { return i + 6 }
        if isDigit(b[i + 3]), isDigit(b[i + 4]) { return i + 5 }
        return nil
    }

    // MARK: - Bytes

    static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    static func isUpper(_ c: UInt8) -> Bool { c >= 65 && c <= 90 }
    static func isLetter(_ c: UInt8) -> Bool { isUpper(c) || (c >= 97 && c <= 122) }
    static func isKeyByte(_ c: UInt8) -> Bool {
        isLetter(c) || isDigit(c) || c == UInt8(ascii: "_") || c == UInt8(ascii: ".") || c == UInt8(ascii: "-")
    }

    static func skipBlanks(_ b: [UInt8], _ i: Int) -> Int {
        var j = i
        while j < b.count, b[j] == UInt8(ascii: " ") || b[j] == UInt8(ascii: "\t") { j += 1 }
        return j
    }

    static func skipWhitespace(_ b: [UInt8], _ i: Int) -> Int {
        var j = i
        while j < b.count, b[j] == UInt8(ascii: " ") || b[j] == UInt8(ascii: "\t") || b[j] == UInt8(ascii: "\n")
            || b[j] == UInt8(ascii: "\r") { j += 1 }
        return j
    }
}
