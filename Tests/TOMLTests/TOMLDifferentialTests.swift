#if canImport(Glibc)
import Glibc
#endif
import TOML
import XCTest

/// Random small documents, parsed here and by Python's `tomllib`: both must accept the
/// same documents and agree on every value. A fixed seed keeps failures reproducible.
///
/// Integers beyond 64 bits are not generated: tomllib accepts them (Python integers are
/// unbounded) while TOML 1.0 requires an error; toml-test covers that rule.
final class TOMLDifferentialTests: XCTestCase {
    static let script = """
        import tomllib, json, sys, datetime, math
        def tag(v):
            if isinstance(v, dict): return {k: tag(x) for k, x in v.items()}
            if isinstance(v, list): return [tag(x) for x in v]
            if isinstance(v, bool): return {"type": "bool", "value": "true" if v else "false"}
            if isinstance(v, int): return {"type": "integer", "value": str(v)}
            if isinstance(v, float):
                text = "nan" if math.isnan(v) else "inf" if v == math.inf else "-inf" if v == -math.inf else repr(v)
                return {"type": "float", "value": text}
            if isinstance(v, str): return {"type": "string", "value": v}
            if isinstance(v, datetime.datetime):
                return {"type": "datetime" if v.tzinfo else "datetime-local", "value": v.isoformat()}
            if isinstance(v, datetime.date): return {"type": "date-local", "value": v.isoformat()}
            if isinstance(v, datetime.time): return {"type": "time-local", "value": v.isoformat()}
            raise TypeError(type(v))
        out = []
        for p in sys.argv[1:]:
            try:
                with open(p, "rb") as f: out.append({"ok": tag(tomllib.load(f))})
            except tomllib.TOMLDecodeError as e: out.append({"error": str(e)})
            except ValueError as e: out.append({"error": "value: " + str(e)})
        print(json.dumps(out))
        """

    func testAgreesWithPythonTomllib() throws {
        guard let probe = TestFiles.run("python3 -c 'import tomllib' 2>/dev/null"), probe.status == 0 else {
            print("python3 with tomllib not available: differential test skipped")
            throw XCTSkip("python3 with tomllib not available")
        }
        var template = Array("/tmp/toml-differential-XXXXXX".utf8CString)
        guard let directoryPointer = mkdtemp(&template) else { throw XCTSkip("mkdtemp failed") }
        let directory = String(cString: directoryPointer)
        defer { _ = TestFiles.run("rm -rf '\(directory)'") }
        XCTAssertTrue(TestFiles.write(directory + "/tag.py", Array(Self.script.utf8)))

        var generator = DocumentGenerator(seed: 0x5EED_70AA)
        var documents: [[UInt8]] = []
        for number in 0..<600 {
            var document = generator.document()
            // A third of them damaged a little, to compare what is rejected too.
            if number % 3 == 2 { document = generator.mutate(document) }
            documents.append(document)
        }
        var paths: [String] = []
        for (number, document) in documents.enumerated() {
            let path = "\(directory)/\(number).toml"
            XCTAssertTrue(TestFiles.write(path, document))
            paths.append(path)
        }
        guard let result = TestFiles.run("python3 '\(directory)/tag.py' " + paths.joined(separator: " ")), result.status == 0 else {
            XCTFail("python3 failed")
            return
        }
        guard case .array(let verdicts) = try JSON.parse(result.output), verdicts.count == documents.count else {
            XCTFail("unexpected python output")
            return
        }
        var accepted = 0
        var failures: [String] = []
        for (number, (document, verdict)) in zip(documents, verdicts).enumerated() {
            guard case .object(let members) = verdict else { continue }
            let text = String(decoding: document, as: UTF8.self)
            let ours = Result { () throws(TOMLError) in try TOMLDocument.parse(document) }
            switch (ours, members["ok"], members["error"]) {
            case (.success(let table), .some(let expected), _):
                accepted += 1
                if let difference = TaggedComparison.difference(.table(table), expected) {
                    failures.append("#\(number) differs: \(difference)\n\(text)")
                }
            case (.failure, nil, .some):
                break
            case (.success, nil, let error):
                failures.append("#\(number) accepted here, rejected by tomllib (\(String(describing: error))):\n\(text)")
            case (.failure(let error), .some, _):
                failures.append("#\(number) rejected here (\(error)), accepted by tomllib:\n\(text)")
            default:
                failures.append("#\(number): unexpected verdict")
            }
        }
        print("differential: \(documents.count) documents, \(accepted) accepted by both, \(failures.count) disagreements")
        XCTAssertGreaterThan(accepted, documents.count / 4)
        XCTAssertEqual(failures.count, 0, failures.prefix(5).joined(separator: "\n---\n"))
    }
}

/// Random TOML documents, mostly valid, from a seeded SplitMix64.
struct DocumentGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    mutating func pick<T>(_ choices: [T]) -> T { choices[below(choices.count)] }

    mutating func key() -> String {
        switch below(6) {
        case 0: return "\"\(stringBody())\""
        case 1: return "'lit \(below(9))'"
        default: return pick(["a", "b", "c", "key", "x-y", "_1", "2", "é".isEmpty ? "a" : "k\(below(4))"])
        }
    }

    mutating func stringBody() -> String {
        var text = ""
        for _ in 0..<below(6) {
            text += pick(["a", " ", "\\n", "\\t", "\\\"", "\\\\", "\\u00e9", "\\U0001F600", "é", "日本", "#", "=", "'"])
        }
        return text
    }

    mutating func scalar() -> String {
        switch below(16) {
        case 0: return "\"\(stringBody())\""
        case 1: return "'lit\(pick(["", " x", "\\n", "\"q\""]))'"
        case 2: return "\"\"\"\n\(stringBody())\\\n   more\(pick(["", "\"", "\"\""]))\"\"\""
        case 3: return "'''\nline one\n\(pick(["", "'", "''"]))'''"
        case 4: return String(Int64(bitPattern: next()) >> UInt64(below(64)))
        case 5: return pick(["0x", "0o", "0b"]) + pick(["1F", "17", "10_01", "0", "dead_beef", "7fffffffffffffff"])
        case 6: return pick(["1_000", "-0", "+42", "007", "1__2", "9223372036854775807", "-9223372036854775808"])
        case 7: return pick(["3.14", "-0.0", "1e10", "6.626e-34", "1E+5", "inf", "-inf", "+nan", "1.", ".5", "1_0.2_5", "1e0_1", "5e+22"])
        case 8: return pick(["true", "false"])
        case 9:
            let year = pick(["1979", "2000", "1900", "2024", "0001"])
            let month = pick(["01", "02", "12", "13"])
            let day = pick(["01", "28", "29", "30", "31"])
            return "\(year)-\(month)-\(day)"
        case 10:
            return pick(["07:32:00", "00:00:00.5", "23:59:59.999999", "24:00:00", "07:32"])
        case 11:
            return "1979-05-27" + pick(["T", " ", "t"]) + pick(["07:32:00", "00:32:00.123"]) + pick(["", "Z", "-07:00", "+05:30", "z"])
        case 12:
            return "[" + (0..<below(4)).map { _ in scalarNoContainer() }.joined(separator: pick([", ", ",\n  ", " ,"])) + pick(["", ",", "\n"]) + "]"
        case 13:
            return "{ " + (0..<below(3)).map { n in "k\(n)\(pick(["", ".sub"])) = \(scalarNoContainer())" }.joined(separator: ", ") + " }"
        default:
            return String(below(1000))
        }
    }

    mutating func scalarNoContainer() -> String {
        var value = scalar()
        while value.hasPrefix("[") || value.hasPrefix("{") { value = scalar() }
        return below(5) == 0 ? "[\(value)]" : value
    }

    mutating func document() -> [UInt8] {
        var lines: [String] = []
        if below(2) == 0 { lines.append("# \(stringBody())") }
        for _ in 0..<below(6) { lines.append("\(key()) = \(scalar())") }
        for _ in 0..<below(4) {
            let name = (0..<(1 + below(3))).map { _ in pick(["t", "u", "v", "\"q r\""]) }.joined(separator: ".")
            lines.append(below(3) == 0 ? "[[\(name)]]" : "[\(name)]")
            for _ in 0..<below(4) {
                lines.append("\(key())\(pick(["", ".d", ".e.f"])) = \(scalar())\(pick(["", " # c"]))")
            }
        }
        return Array(lines.joined(separator: pick(["\n", "\r\n"])).utf8) + (below(2) == 0 ? [0x0A] : [])
    }

    /// Deletes, duplicates or inserts a few bytes.
    mutating func mutate(_ document: [UInt8]) -> [UInt8] {
        var bytes = document
        for _ in 0..<(1 + below(2)) {
            let position = bytes.isEmpty ? 0 : below(bytes.count + 1)
            switch below(3) {
            case 0 where !bytes.isEmpty && position < bytes.count: bytes.remove(at: position)
            case 1: bytes.insert(pick(Array("=[]{}\"',.#\n \t\\0x_:-".utf8)), at: position)
            default: bytes.insert(contentsOf: Array(pick(["[a]\n", "a = 1\n", "\"\"\"", "\r", "\u{7F}"]).utf8), at: position)
            }
        }
        return bytes
    }
}
