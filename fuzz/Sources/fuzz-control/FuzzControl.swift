// libFuzzer target: ControlProtocol.decodeRequest on arbitrary request lines, and the
// JSON reader and writer under it (Control/JSON.swift).
//
// Invariants: never crashes (deep nesting, odd numbers, invalid UTF-8, surrogates); an
// accepted request came from at most maxRequestBytes bytes and round-trips:
// encodeRequest(request) ends in one newline, and the line before it decodes to the same
// request; the refusal reason is never empty. Any input JSONValue.parse accepts is
// written back as one line that parses to the same value, and writing that again gives
// the same bytes; decodeReply never crashes on it.

import CFuzzDriver
import SupervisorCore

private func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        fatalError("fuzz-control invariant violated: \(message())")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let line = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let request = try ControlProtocol.decodeRequest(line)
        check(line.count <= ControlProtocol.maxRequestBytes, "accepted \(line.count) bytes")
        let encoded = ControlProtocol.encodeRequest(request)
        check(encoded.last == UInt8(ascii: "\n"), "encodeRequest does not end in a newline")
        let body = Array(encoded.dropLast())
        check(!body.contains(UInt8(ascii: "\n")), "encodeRequest has a newline inside the line")
        do {
            let again = try ControlProtocol.decodeRequest(body)
            check(again == request, "round trip changed \(request) into \(again)")
        } catch {
            check(false, "encodeRequest(\(request)) does not decode: \(error)")
        }
    } catch {
        check(!error.description.isEmpty, "empty refusal")
    }
    if let value = try? JSONValue.parse(line) {
        let written = value.serialized()
        check(!written.contains(UInt8(ascii: "\n")), "serialized JSON has a newline")
        do {
            let again = try JSONValue.parse(written)
            check(again == value, "JSON round trip changed \(value) into \(again)")
            check(again.serialized() == written, "serializing is not stable")
        } catch {
            check(false, "serialized JSON does not parse: \(error)")
        }
        _ = try? ControlProtocol.decodeReply(line)
    }
    return 0
}

/// The entry point SwiftPM links as main (see Package.swift): libFuzzer's driver.
@_cdecl("fuzz_control_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}
