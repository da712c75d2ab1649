// The Foundation-free JSON of the control protocol (Control/JSON.swift, JSONCoding.swift):
// RFC 8259 acceptance and refusal, escapes and surrogate pairs, limits, the wire format
// of requests, replies and the status, and ControlProtocol's request refusals.

import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SupervisorCore

@Suite struct JSONValueTests {
    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONValue.parse(#" {"a": [1, -2.5e3, 0, true, false, null, "x"], "b": {}, "c": []} "#)
        #expect(value == .object([
            "a": .array([.number("1"), .number("-2.5e3"), .number("0"), .bool(true), .bool(false), .null, .string("x")]),
            "b": .object([:]), "c": .array([]),
        ]))
        #expect(try JSONValue.parse("\"\"") == .string(""))
        #expect(try JSONValue.parse("\t\r\n 42 \n") == .number("42"))
    }

    @Test func decodesEveryEscape() throws {
        let value = try JSONValue.parse(#""\" \\ \/ \b \f \n \r \t \u0041 \u00e9 \u20ac \ud83d\ude00 \u0000""#)
        #expect(value == .string("\" \\ / \u{8} \u{c} \n \r \t A é € 😀 \u{0}"))
        // Raw UTF-8 passes through.
        #expect(try JSONValue.parse(Array("\"é😀\"".utf8)) == .string("é😀"))
    }

    @Test(arguments: [
        ("", "unexpected end"),
        ("not json", "invalid literal"),
        ("json", "expected a value"),
        ("{\"command\": \"status\",", "expected a string key"),
        ("{\"a\" 1}", "expected ':'"),
        ("{\"a\":1,}", "expected a string key"),
        ("[1,]", "expected a value"),
        ("[1 2]", "expected ',' or ']'"),
        ("{'a':1}", "expected a string key"),
        ("{\"a\":1}x", "after the JSON value"),
        ("{\"a\":1}{}", "after the JSON value"),
        ("01", "leading zero"),
        ("-", "expected a digit"),
        ("1.", "after '.'"),
        ("1e", "exponent"),
        ("+1", "expected a value"),
        (".5", "expected a value"),
        ("NaN", "expected a value"),
        ("Infinity", "expected a value"),
        ("tru", "invalid literal"),
        ("nul", "invalid literal"),
        ("\"abc", "unterminated string"),
        ("\"a\nb\"", "control character"),
        ("\"\\x\"", "invalid escape"),
        ("\"\\u12zz\"", "hex digit"),
        ("\"\\u12", "unexpected end"),
        ("\"\\ud800\"", "lone surrogate"),
        ("\"\\udc00\"", "lone surrogate"),
        ("\"\\ud800\\u0041\"", "lone surrogate"),
        ("{\"a\":1,\"a\":2}", "duplicate key \"a\""),
        ("{\"a\":1,\"\\u0061\":2}", "duplicate key \"a\""),
    ])
    func refusesMalformedJSON(text: String, expected: String) {
        #expect {
            _ = try JSONValue.parse(text)
        } throws: { error in
            "\(error)".contains(expected)
        }
    }

    @Test(arguments: [
        [0x22, 0xff, 0x22] as [UInt8],          // not UTF-8 at all
        [0x22, 0xc3, 0x22],                     // truncated sequence
        [0x22, 0xc0, 0xaf, 0x22],               // overlong '/'
        [0x22, 0xed, 0xa0, 0x80, 0x22],         // a surrogate encoded in UTF-8 (CESU)
        [0x22, 0xf4, 0x90, 0x80, 0x80, 0x22],   // above U+10FFFF
    ])
    func refusesInvalidUTF8(bytes: [UInt8]) {
        #expect {
            _ = try JSONValue.parse(bytes)
        } throws: { error in
            "\(error)".contains("invalid UTF-8")
        }
    }

    @Test func limitsNestingDepth() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { _ = try JSONValue.parse(ok) }
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect { _ = try JSONValue.parse(deep) } throws: { "\($0)".contains("nested deeper than 64") }
        // Far deeper than any stack would take by recursion: refused, not a crash.
        let abyss = String(repeating: "{\"a\":[", count: 100_000)
        #expect { _ = try JSONValue.parse(abyss) } throws: { "\($0)".contains("nested deeper") }
        #expect { _ = try JSONValue.parse("[[[1]]]", maxDepth: 2) } throws: { "\($0)".contains("nested deeper than 2") }
    }

    @Test func limitsSize() {
        #expect { _ = try JSONValue.parse(Array("[1,2,3]".utf8), maxBytes: 6) } throws: { "\($0)".contains("larger than 6 bytes") }
        #expect(throws: Never.self) { _ = try JSONValue.parse(Array("[1,2,3]".utf8), maxBytes: 7) }
    }

    @Test func keepsHugeNumbersAsLiteralsAndRefusesThemAsValues() throws {
        let huge = "1" + String(repeating: "0", count: 400)
        let value = try JSONValue.parse("{\"n\":\(huge),\"e\":1e999,\"i\":18446744073709551616}")
        #expect(value.objectValue?["n"] == .number(huge))
        struct Numbers: Decodable { var n: Double }
        struct Integers: Decodable { var i: UInt64 }
        struct Exponent: Decodable { var e: Double }
        #expect(throws: DecodingError.self) { _ = try JSONCoding.decode(Numbers.self, from: value) }
        #expect(throws: DecodingError.self) { _ = try JSONCoding.decode(Integers.self, from: value) }
        #expect(throws: DecodingError.self) { _ = try JSONCoding.decode(Exponent.self, from: value) }
        struct Fits: Decodable { var a: UInt64; var b: Int; var c: Double; var d: Int32 }
        let fits = try JSONCoding.decode(Fits.self, from: Array(#"{"a":18446744073709551615,"b":-9223372036854775808,"c":1.5e300,"d":1e3}"#.utf8))
        #expect(fits.a == .max && fits.b == .min && fits.c == 1.5e300 && fits.d == 1000)
        struct Small: Decodable { var d: Int32 }
        #expect(throws: DecodingError.self) { _ = try JSONCoding.decode(Small.self, from: Array(#"{"d":2147483648}"#.utf8)) }
        #expect(throws: DecodingError.self) { _ = try JSONCoding.decode(Small.self, from: Array(#"{"d":1.5}"#.utf8)) }
    }

    @Test func writesCompactSortedUnescapedSlashes() throws {
        let value = JSONValue.object([
            "zeta": .string("/run/graced/graced.sock"), "alpha": .array([.bool(true), .null]),
            "b_c": .string("tab\tquote\"back\\slash\u{1}é😀\u{7f}"), "b": .double(1.5), "n": .double(3),
        ])
        let text = String(decoding: value.serialized(), as: UTF8.self)
        #expect(text == #"{"alpha":[true,null],"b":1.5,"b_c":"tab\tquote\"back\\slash\u0001é😀"#
                + "\u{7f}" + #"","n":3,"zeta":"/run/graced/graced.sock"}"#)
        #expect(try JSONValue.parse(value.serialized()) == value)
    }

    @Test func prettyPrintsAndReadsBack() throws {
        let value = JSONValue.object(["a": .array([.number("1"), .object(["b": .string("c")])]), "e": .array([]), "o": .object([:])])
        let text = value.prettyPrinted()
        #expect(text == "{\n  \"a\" : [\n    1,\n    {\n      \"b\" : \"c\"\n    }\n  ],\n  \"e\" : [],\n  \"o\" : {}\n}")
        #expect(try JSONValue.parse(text) == value)
    }

    @Test func everyStringRoundTrips() throws {
        var scalars: [Unicode.Scalar] = (0...0x7F).compactMap(Unicode.Scalar.init)
        scalars += [0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x10FFFF].compactMap(Unicode.Scalar.init)
        let string = String(String.UnicodeScalarView(scalars))
        let value = JSONValue.string(string)
        #expect(try JSONValue.parse(value.serialized()) == value)
        #expect(!value.serialized().contains(0x0A), "a newline inside a line of the protocol")
    }

    @Test func doublesWriteShortAndReadBack() throws {
        for number in [0.0, -0.0, 1, -1, 0.1, 1.0 / 3, 1e-7, 123456.789, 1e15, 1e16, 1.7976931348623157e308, Double.leastNonzeroMagnitude] {
            guard case .number(let literal) = JSONValue.double(number) else {
                Issue.record("\(number) is not a number")
                continue
            }
            #expect(try JSONValue.parse(literal) == .number(literal), "\(literal)")
            #expect(Double(literal) == number, "\(number) written as \(literal)")
        }
        #expect(JSONValue.double(.infinity) == .null)
        #expect(JSONValue.double(.nan) == .null)
    }
}

@Suite struct ControlWireFormatTests {
    static let status = SupervisorStatus(
        pid: 4242, version: "1.2.3", config: "/etc/graced/graced.conf", uptimeSeconds: 12.5, state: "running",
        listeners: [.init(name: "http", address: "0.0.0.0:8080", fd: 3, origin: "bound", inode: 123456789012),
                    .init(name: "unix", address: "unix:/run/app.sock", fd: 4, origin: "systemd", inode: nil)],
        generations: [.init(number: 2, state: "serving", workers: [
            .init(pid: 100, index: 0, state: "ready", uptimeSeconds: 3.25, drainingSeconds: nil, restarts: 0,
                  statusText: "serving \"all\"\n", connections: nil)]),
                      .init(number: 1, state: "draining", workers: [
            .init(pid: 99, index: 0, state: "draining", uptimeSeconds: 60, drainingSeconds: 1.5, restarts: 2,
                  statusText: nil, connections: 7)])],
        lastReload: .init(ok: true, detail: "generation 2 serving", durationSeconds: 0.75, secondsAgo: 1.5))

    @Test func requestsAreByteForByteTheOldFormat() {
        #expect(ControlProtocol.encodeRequest(ControlRequest(command: .status)) == Array("{\"command\":\"status\"}\n".utf8))
        #expect(ControlProtocol.encodeRequest(ControlRequest(command: .reload, waitDrained: true))
                == Array("{\"command\":\"reload\",\"wait_drained\":true}\n".utf8))
    }

    @Test func repliesAreSortedCompactLines() {
        let line = String(decoding: ControlProtocol.encode(ControlReply.refusal("permission denied: a/b")), as: UTF8.self)
        #expect(line == "{\"event\":\"result\",\"message\":\"permission denied: a/b\",\"ok\":false,\"refused\":true}\n")
        let progress = String(decoding: ControlProtocol.encode(ControlReply.progress("generation 2 spawned")), as: UTF8.self)
        #expect(progress == "{\"event\":\"progress\",\"message\":\"generation 2 spawned\"}\n")
    }

    @Test func statusEncodesWithTheDocumentedKeys() throws {
        let line = ControlProtocol.encode(ControlReply(event: .result, ok: true, status: Self.status))
        #expect(line.last == 0x0A)
        #expect(line.dropLast().contains(0x0A) == false)
        let text = String(decoding: line, as: UTF8.self)
        for key in ["\"uptime_seconds\":12.5", "\"last_reload\":{", "\"duration_seconds\":0.75", "\"seconds_ago\":1.5",
                    "\"draining_seconds\":1.5", "\"status_text\":\"serving \\\"all\\\"\\n\"", "\"inode\":123456789012",
                    "\"config\":\"/etc/graced/graced.conf\"", "\"address\":\"unix:/run/app.sock\"", "\"connections\":7",
                    "\"uptime_seconds\":60}"] {
            #expect(text.contains(key), "\(key) not in \(text)")
        }
        #expect(!text.contains("null"), "nil fields are left out: \(text)")
    }

    @Test func repliesRoundTrip() throws {
        let replies = [
            ControlReply(event: .result, ok: true, status: Self.status),
            ControlReply(event: .result, ok: true, message: "generation 3 serving", generation: 3, retired: 2),
            ControlReply.failure("worker 12 exited 1:\n  Traceback …"),
            ControlReply.refusal("too many control connections (16); try again"),
            ControlReply.progress("waiting for generation 2 to drain"),
        ]
        for reply in replies {
            let line = ControlProtocol.encode(reply)
            #expect(try ControlProtocol.decodeReply(Array(line.dropLast())) == reply)
        }
        let pretty = try JSONCoding.encode(Self.status).prettyPrinted()
        #expect(try JSONCoding.decode(SupervisorStatus.self, from: try JSONValue.parse(pretty)) == Self.status)
    }

    @Test func repliesFromANewerGracedStillDecode() throws {
        let line = #"{"event":"result","ok":true,"message":"m","future":{"x":[1,2]},"generation":4}"#
        #expect(try ControlProtocol.decodeReply(Array(line.utf8)) == ControlReply(event: .result, ok: true, message: "m", generation: 4))
    }

    @Test(arguments: [
        #"{"event":"result","ok":"yes"}"#,
        #"{"event":"bang"}"#,
        #"{"ok":true}"#,
        #"{"event":"result","generation":1.5}"#,
        #"{"event":"result","status":{"pid":1}}"#,
        "[]",
        "{\"event\":\"result\"} trailing",
    ])
    func refusesBadReplies(line: String) {
        #expect(throws: (any Error).self) { _ = try ControlProtocol.decodeReply(Array(line.utf8)) }
    }
}

@Suite struct ControlRequestDecodingTests {
    @Test func acceptsEveryValidSpelling() throws {
        #expect(try ControlProtocol.decodeRequest(Array(#" { "wait_drained" : false , "command" : "reload" } "#.utf8))
                == ControlRequest(command: .reload, waitDrained: false))
        #expect(try ControlProtocol.decodeRequest(Array(#"{"comm\u0061nd":"st\u0061tus"}"#.utf8)) == ControlRequest(command: .status))
        #expect(try ControlProtocol.decodeRequest(Array("{\"command\":\"stop\"}\r".utf8)) == ControlRequest(command: .stop))
    }

    // Every malformed kind of ControlSocketTests.badRequests… and fuzz/corpus/fuzz-control.
    @Test(arguments: [
        ([0x00, 0xff, 0xfe, 0x80, 0x1b, 0x5b, 0x41, 0x7f] + Array("garbage\r".utf8), "malformed JSON"),
        (Array("{\"command\": \"status\",".utf8), "malformed JSON"),
        (Array(#"{"command":"explode"}"#.utf8), "unknown command 'explode'"),
        (Array(#"{"command":"restart"}"#.utf8), "unknown command 'restart'"),
        (Array(#"{"command":"\u001b[2J"}"#.utf8), "unknown command '\\u{1B}[2J'"),
        (Array(#"{"command":"\ud800"}"#.utf8), "lone surrogate"),
        (Array(#"{"command":"stop","command":"reload"}"#.utf8), "duplicate key \"command\""),
        (Array(#"["command","reload"]"#.utf8), "must be a JSON object, not an array"),
        (Array("\"status\"".utf8), "must be a JSON object, not a string"),
        (Array(#"{"command":"stop","n":-1.5e308}"#.utf8), "unknown field 'n'"),
        (Array(#"{"command":"status","x":1}"#.utf8), "unknown field 'x'"),
        (Array(#"{"command":7}"#.utf8), "\"command\" must be a string"),
        (Array(#"{"command":"reload","wait_drained":null}"#.utf8), "wait_drained"),
        (Array(#"{"command":"reload","wait_drained":1}"#.utf8), "wait_drained"),
        (Array(#"{"command":"reload","wait_drained":"true"}"#.utf8), "wait_drained"),
        (Array(#"{"command":"status"} {"command":"stop"}"#.utf8), "after the JSON value"),
        (Array((String(repeating: "[", count: 200)).utf8), "nested deeper"),
        (Array(#"{"command":"status","pad":{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{"k":{"l":{"m":{"n":{"o":{"p":{}}}}}}}}}}}}}}}}}"#.utf8),
         "nested deeper than 16"),
        ([0x7B, 0x22, 0x63, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D], "invalid UTF-8"),
        ([UInt8](), "malformed JSON"),
    ] as [([UInt8], String)])
    func refusesBadRequests(line: [UInt8], expected: String) {
        #expect {
            _ = try ControlProtocol.decodeRequest(line)
        } throws: { error in
            "\(error)".contains(expected)
        }
    }

    @Test func sizeLimitIs64KiB() throws {
        let padding = ControlProtocol.maxRequestBytes - #"{"command":"status"}"#.utf8.count
        let fits = Array(#"{"command":"status"}"#.utf8) + [UInt8](repeating: 0x20, count: padding)
        #expect(try ControlProtocol.decodeRequest(fits) == ControlRequest(command: .status))
        #expect { _ = try ControlProtocol.decodeRequest(fits + [0x20]) } throws: { "\($0)".contains("larger than 65536 bytes") }
    }

    @Test func everyRequestRoundTrips() throws {
        for command in ControlCommand.allCases {
            for waitDrained in [nil, true, false] as [Bool?] {
                let request = ControlRequest(command: command, waitDrained: waitDrained)
                let line = ControlProtocol.encodeRequest(request)
                #expect(line.last == 0x0A)
                #expect(try ControlProtocol.decodeRequest(Array(line.dropLast())) == request)
            }
        }
    }
}

@Suite struct CanonicalPathTests {
    @Test func resolvesRelativeDotDotAndSymlinks() throws {
        #expect(ControlClient.canonicalPath("/tmp/../etc/./hostname") == "/etc/hostname")
        #expect(ControlClient.canonicalPath("/nonexistent-graced/a/../b/./c.conf") == "/nonexistent-graced/b/c.conf")
        #expect(ControlClient.canonicalPath("hostname", relativeTo: "/etc") == "/etc/hostname")
        #expect(ControlClient.canonicalPath("x.conf", relativeTo: "/nonexistent-graced/d") == "/nonexistent-graced/d/x.conf")
        // /proc/self/cwd: another process's directory is reached the same way.
        let here = ControlClient.canonicalPath(".")
        #expect(ControlClient.canonicalPath("a.conf", relativeTo: "/proc/self/cwd") == ControlClient.canonicalPath(here + "/a.conf"))
        #expect(ControlClient.canonicalPath("a.conf", ofProcess: getpid()) == ControlClient.canonicalPath(here + "/a.conf"))
        #expect(ControlClient.canonicalPath("/etc/../etc/hostname", ofProcess: getpid()) == "/etc/hostname")
        // A process that is gone (or not ours to see): relative to our own directory.
        #expect(ControlClient.canonicalPath("a.conf", ofProcess: Int32.max) == ControlClient.canonicalPath(here + "/a.conf"))
        // A symbolic link to a file resolves to the file.
        let directory = "/tmp/graced-canon-\(UInt32.random(in: 0...UInt32.max))"
        #expect(mkdir(directory, 0o700) == 0)
        defer { unlink(directory + "/link.conf"); unlink(directory + "/real.conf"); rmdir(directory) }
        let fd = open(directory + "/real.conf", O_CREAT | O_WRONLY, 0o600)
        close(fd)
        #expect(symlink(directory + "/real.conf", directory + "/link.conf") == 0)
        #expect(ControlClient.canonicalPath(directory + "/link.conf") == ControlClient.canonicalPath(directory + "/real.conf"))
    }
}
