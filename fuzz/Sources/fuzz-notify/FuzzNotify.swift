// libFuzzer target: what a worker controls byte for byte.
//
// 1. NotifyMessage.parse on a datagram's text (as NotifySocket.receive decodes it).
// 2. OutputLineSplitter fed the same bytes in random chunks (the chunking and the
//    maximum line length come from the input): the lines do not depend on the chunking,
//    match a simple reference model, and none is longer than the maximum plus the
//    truncation marker (counted in Unicode scalars: one per input byte at most).
// 3. LogEscaping of every line, as TextLogHandler writes it: no C0 control character or
//    DEL left, and a message that contains '=' or '"' is quoted.
//
// Hard invariants (always checked) cannot be violated without a real bug. With
// GRACED_FUZZ_STRICT=1 (or a list, see strictChecks) the target also checks stricter properties that the current code
// is known not to meet (see fuzz/README.md, "Findings"), to find minimal reproducers:
// parse agrees with sd_notify's byte-level reading (lines split at every 0x0A, the key
// ends at the first '='), the splitter's lines stay within the limit in UTF-8 bytes, and
// escaped text holds no C1 control character or Unicode line separator, and
// quoting/escaping also catches '=', '"' and ' ' that combine with the next character.

#if canImport(Glibc)
import Glibc
#endif
import CFuzzDriver
import SupervisorCore

/// GRACED_FUZZ_STRICT: "1" or "all" for every strict check, or some of
/// "notify,bytes,escape,quote" (comma-separated) to look for one finding at a time.
private let strictChecks: Set<String> = {
    guard let value = getenv("GRACED_FUZZ_STRICT").map({ String(cString: $0) }), !value.isEmpty, value != "0" else { return [] }
    if value == "1" || value == "all" { return ["notify", "bytes", "escape", "quote"] }
    return Set(value.split(separator: ",").map(String.init))
}()

private func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        fatalError("fuzz-notify invariant violated: \(message())")
    }
}

// MARK: sd_notify reference

/// How systemd reads a notify message: split at each '\n', drop empty lines, key up to
/// the first '=' (a line without one is ignored).
private func referenceNotify(_ bytes: [UInt8]) -> [(key: [UInt8], value: [UInt8])] {
    bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).compactMap { line in
        guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else { return nil }
        return (Array(line[..<equals]), Array(line[(equals + 1)...]))
    }
}

private func checkNotify(_ text: String) {
    let pairs = NotifyMessage.parse(text)
    let equalsCount = text.utf8.reduce(0) { $1 == UInt8(ascii: "=") ? $0 + 1 : $0 }
    check(pairs.count <= equalsCount, "\(pairs.count) pairs from \(equalsCount) '='")
    // On bytes, as the parser splits: Character-level `contains` treats "\r\n" as one
    // Character, so "x\r" would not be found in "x\r\n".
    let message = Array(text.utf8)
    for pair in pairs {
        let needle = Array((pair.key + "=" + pair.value).utf8)
        let found = needle.isEmpty || (0...max(0, message.count - needle.count)).contains { start in
            start + needle.count <= message.count && message[start..<(start + needle.count)].elementsEqual(needle)
        }
        check(found, "pair \(pair) is not in the message")
    }
    if strictChecks.contains("notify") {
        let reference = referenceNotify(Array(text.utf8))
        let same = reference.count == pairs.count
            && zip(reference, pairs).allSatisfy { $0.key == Array($1.key.utf8) && $0.value == Array($1.value.utf8) }
        check(same, "parse \(pairs.map { "\($0.key.debugDescription)=\($0.value.debugDescription)" }) differs from sd_notify's reading \(reference.map { "\(String(decoding: $0.key, as: UTF8.self).debugDescription)=\(String(decoding: $0.value, as: UTF8.self).debugDescription)" })")
    }
}

// MARK: Output lines

/// The lines a splitter should produce for the whole stream, from its documented rules.
private func referenceLines(_ bytes: [UInt8], max: Int) -> [String] {
    func line(_ slice: ArraySlice<UInt8>) -> String {
        var content = Array(slice.prefix(max))
        if content.last == UInt8(ascii: "\r") { content.removeLast() }
        return String(decoding: content, as: UTF8.self) + (slice.count > max ? OutputLineSplitter.truncationMarker : "")
    }
    var lines: [String] = []
    var rest = bytes[...]
    while let newline = rest.firstIndex(of: UInt8(ascii: "\n")) {
        lines.append(line(rest[..<newline]))
        rest = rest[(newline + 1)...]
    }
    if !rest.isEmpty { lines.append(line(rest)) }
    return lines
}

private func runSplitter(_ bytes: [UInt8], max: Int, chunks: [Int]) -> [String] {
    var splitter = OutputLineSplitter(maxLineLength: max)
    var lines: [String] = []
    var start = 0
    var next = 0
    while start < bytes.count {
        let size = chunks.isEmpty ? bytes.count : Swift.max(1, chunks[next % chunks.count])
        next += 1
        let end = Swift.min(bytes.count, start + size)
        lines += splitter.feed(Array(bytes[start..<end]))
        start = end
    }
    if let last = splitter.finish() { lines.append(last) }
    return lines
}

private func checkLines(_ payload: [UInt8], control: [UInt8]) {
    let max = 1 + Int(control.first ?? 0) % 64
    let chunks = control.dropFirst().map { Int($0) % 17 }
    let whole = runSplitter(payload, max: max, chunks: [])
    let chunked = runSplitter(payload, max: max, chunks: chunks)
    check(whole == chunked, "lines depend on the chunking: \(whole) vs \(chunked)")
    let expected = referenceLines(payload, max: max)
    check(whole == expected, "lines \(whole.map(\.debugDescription)) differ from the reference \(expected.map(\.debugDescription))")
    let marker = OutputLineSplitter.truncationMarker
    for line in whole {
        check(line.unicodeScalars.count <= max + marker.unicodeScalars.count, "line of \(line.unicodeScalars.count) scalars, max \(max)")
        if strictChecks.contains("bytes") {
            check(line.utf8.count <= max + marker.utf8.count, "line of \(line.utf8.count) UTF-8 bytes, max \(max): \(line.debugDescription)")
        }
        checkEscaping(line)
    }
}

// MARK: Escaping

private func checkEscaping(_ text: String) {
    let escaped = LogEscaping.escape(text)
    for scalar in escaped.unicodeScalars {
        check(scalar.value >= 0x20 && scalar.value != 0x7F, "escape left U+\(String(scalar.value, radix: 16)) in \(escaped.debugDescription)")
        if strictChecks.contains("escape") {
            let lineBreak = (0x80...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
            check(!lineBreak, "escape left U+\(String(scalar.value, radix: 16)) in \(escaped.debugDescription)")
        }
    }
    let message = LogEscaping.quoteMessageIfNeeded(escaped)
    let value = LogEscaping.quoteIfNeeded(escaped)
    // What the code promises as it is written: a '=' or '"' Character (a space too, for a
    // value) gets the text quoted. (Whether the quotes then hold is a byte-level question,
    // checked in strict mode: a combining mark merges with a quote into one Character.)
    func isQuoted(_ text: String) -> Bool {
        text.utf8.count >= 2 && text.utf8.first == UInt8(ascii: "\"") && text.utf8.last == UInt8(ascii: "\"")
    }
    if escaped.contains(where: { $0 == "=" || $0 == "\"" }) {
        check(isQuoted(message), "message with '=' unquoted: \(message.debugDescription)")
    }
    if escaped.contains(where: { $0 == " " || $0 == "=" || $0 == "\"" }) {
        check(isQuoted(value), "value unquoted: \(value.debugDescription)")
    }
    if strictChecks.contains("quote") {
        // Byte-level: what a logfmt reader sees.
        for (name, quoted) in [("message", message), ("value", value)] {
            let bytes = Array(quoted.utf8)
            let needsQuotes = escaped.utf8.contains(UInt8(ascii: "=")) || escaped.utf8.contains(UInt8(ascii: "\""))
                || (name == "value" && escaped.utf8.contains(UInt8(ascii: " ")))
            if needsQuotes {
                check(bytes.first == UInt8(ascii: "\"") && bytes.last == UInt8(ascii: "\""), "\(name) with '=', '\"' or ' ' bytes left unquoted: \(quoted.debugDescription)")
                // Inside the quotes every '"' byte is escaped.
                var escapedNext = false
                for byte in bytes.dropFirst().dropLast() {
                    if escapedNext { escapedNext = false; continue }
                    if byte == UInt8(ascii: "\\") { escapedNext = true; continue }
                    check(byte != UInt8(ascii: "\""), "\(name) has an unescaped '\"' inside its quotes: \(quoted.debugDescription)")
                }
            }
        }
    }
}

// MARK: Entry point

/// Input layout: [control length n (1 byte)] [n control bytes: max line length, chunk
/// sizes] [payload]. The whole input is also a notify datagram (it is arbitrary bytes
/// either way).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // NotifySocket.receive decodes at most 4096 bytes this way.
    checkNotify(String(decoding: bytes.prefix(4096), as: UTF8.self))

    let controlLength = Int(bytes.first ?? 0) % 16
    let control = Array(bytes.dropFirst().prefix(controlLength))
    let payload = Array(bytes.dropFirst(1 + controlLength))
    checkLines(payload, control: control)
    return 0
}

/// The entry point SwiftPM links as main (see Package.swift): libFuzzer's driver.
@_cdecl("fuzz_notify_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}
