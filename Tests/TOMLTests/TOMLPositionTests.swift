import TOML
import XCTest

/// Positions of keys, values and headers, and the wording of errors.
final class TOMLPositionTests: XCTestCase {
    private func error(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> TOMLError? {
        do {
            _ = try TOMLDocument.parse(text)
            XCTFail("accepted: \(text)", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func testKeyAndValuePositions() throws {
        let root = try TOMLDocument.parse("""
            # comment
            [graced]
            control_socket = "/run/x.sock"

              [[listener]]
            name = "http"
            [[listener]]
            "é" = 1
            "éé" = [1,
              "two"]
            """)
        let graced = try XCTUnwrap(root["graced"])
        XCTAssertEqual(graced.position, TOMLPosition(line: 2, column: 1))
        XCTAssertEqual(graced.value.table?.headerPosition, TOMLPosition(line: 2, column: 1))
        let table = try XCTUnwrap(graced.value.table)
        XCTAssertEqual(table.position(of: "control_socket"), TOMLPosition(line: 3, column: 1))
        XCTAssertEqual(table["control_socket"]?.position, TOMLPosition(line: 3, column: 18))

        let listeners = try XCTUnwrap(root["listener"]?.value.array)
        XCTAssertEqual(listeners.count, 2)
        XCTAssertEqual(listeners[0].position, TOMLPosition(line: 5, column: 3))
        XCTAssertEqual(listeners[1].position, TOMLPosition(line: 7, column: 1))
        let second = try XCTUnwrap(listeners[1].value.table)
        XCTAssertEqual(second.origin, .arrayElement)
        // Columns count Unicode scalars, not bytes.
        XCTAssertEqual(second["é"]?.position, TOMLPosition(line: 8, column: 7))
        XCTAssertEqual(second["éé"]?.position, TOMLPosition(line: 9, column: 8))
        let elements = try XCTUnwrap(second["éé"]?.value.array)
        XCTAssertEqual(elements[1].position, TOMLPosition(line: 10, column: 3))
        XCTAssertEqual(second.keys, ["é", "éé"])
    }

    func testImplicitAndDottedTables() throws {
        let root = try TOMLDocument.parse("a.b.c = 1\n[x.y]\n")
        let a = try XCTUnwrap(root["a"]?.value.table)
        XCTAssertEqual(a.origin, .dottedKey)
        XCTAssertNil(a.headerPosition)
        let x = try XCTUnwrap(root["x"])
        XCTAssertEqual(x.value.table?.origin, .implicit)
        XCTAssertEqual(x.position, TOMLPosition(line: 2, column: 2))
        XCTAssertEqual(x.value.table?["y"]?.value.table?.headerPosition, TOMLPosition(line: 2, column: 1))
    }

    func testCRLFAndBOM() throws {
        let root = try TOMLDocument.parse([0xEF, 0xBB, 0xBF] + Array("a = 1\r\nb = \"\"\"x\r\ny\"\"\"\r\n  c = 2".utf8))
        XCTAssertEqual(root["a"]?.position, TOMLPosition(line: 1, column: 5))
        XCTAssertEqual(root["b"]?.value.string, "x\ny")
        XCTAssertEqual(root.position(of: "c"), TOMLPosition(line: 4, column: 3))
    }

    func testErrorMessages() {
        XCTAssertEqual(error("\n\nname \"x\"")?.description, "line 3, column 6: expected '=' after key 'name', found '\"'")
        XCTAssertEqual(error("a = 1\na = 2")?.description, "line 2, column 1: duplicate key 'a' (first defined at line 1, column 1)")
        XCTAssertEqual(error("[t]\n[t]")?.description, "line 2, column 1: table [t] is defined twice (first at line 1)")
        XCTAssertEqual(error("a = {b = 1}\na.c = 2")?.description, "line 2, column 1: 'a' is an inline table (line 1), which cannot be extended")
        XCTAssertEqual(error("x = [1, 2\ny = 3")?.description, "line 2, column 1: expected ',' or ']' in the array that starts at line 1, column 5, found 'y'")
        XCTAssertEqual(error("x = 1 2")?.description, "line 1, column 7: expected the end of the line after the value of 'x', found '2'")
        XCTAssertEqual(error("x = \"a\\qb\"")?.message.hasPrefix("invalid escape sequence"), true)
        XCTAssertEqual(error("x = \"\\uD800\"")?.message, "invalid escape: U+D800 is not a Unicode scalar value")
        XCTAssertEqual(error("x = 9223372036854775808")?.message, "integer '9223372036854775808' is out of range (a 64-bit signed integer)")
        XCTAssertEqual(error("x = 2023-02-29")?.message, "invalid date '2023-02-29': the day must be from 01 to 28 in that month")
        XCTAssertEqual(error("x = 012")?.message, "invalid number '012': leading zeros are not allowed")
        XCTAssertEqual(error("x = {a = 1,}")?.position, TOMLPosition(line: 1, column: 12))
        XCTAssertEqual(error("x = ")?.message, "expected a value after 'x =', found the end of the file")
        XCTAssertEqual(error("# ok\n\u{7F}")?.position.line, 2)
        XCTAssertEqual(error("a = 1 # \u{01}")?.message, "control character U+0001 in a comment")
        let invalidUTF8 = try? TOMLDocument.parse(Array("a = 1\nb = \"".utf8) + [0xC0, 0x80, 0x22])
        XCTAssertNil(invalidUTF8)
        do {
            _ = try TOMLDocument.parse(Array("a = 1\nb = \"".utf8) + [0xC0, 0x80, 0x22])
        } catch {
            XCTAssertEqual(error.description, "line 2, column 6: invalid UTF-8 (byte 0xC0); the file must be UTF-8")
        }
    }

    func testValues() throws {
        let root = try TOMLDocument.parse("""
            i = -9_223_372_036_854_775_808
            h = 0xdead_BEEF
            f = 6.02e+23
            d = 1979-05-27 07:32:00.999999999-07:00
            t = 00:00:60
            l = 2000-02-29T23:59:59
            """)
        XCTAssertEqual(root["i"]?.value, .integer(.min))
        XCTAssertEqual(root["h"]?.value, .integer(0xDEAD_BEEF))
        XCTAssertEqual(root["f"]?.value, .float(6.02e23))
        guard case .offsetDateTime(let date) = root["d"]?.value else { return XCTFail("not a date-time") }
        XCTAssertEqual(date.offsetMinutes, -420)
        XCTAssertEqual(date.time.nanosecond, 999_999_999)
        XCTAssertEqual(date.text, "1979-05-27 07:32:00.999999999-07:00")
        XCTAssertEqual(date.description, "1979-05-27T07:32:00.999999999-07:00")
        XCTAssertEqual(root["t"]?.value, .localTime(TOMLLocalTime(hour: 0, minute: 0, second: 60)))
        XCTAssertEqual(root["l"]?.value.typeDescription, "a local date-time")
    }

    func testLimits() {
        let deepArray = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        XCTAssertEqual(error("a = " + deepArray)?.message, "arrays and tables are nested too deeply (more than 128 levels)")
        let deepInline = String(repeating: "{a=", count: 200) + "1" + String(repeating: "}", count: 200)
        XCTAssertNotNil(error("a = " + deepInline))
        let deepKey = (0..<1000).map { _ in "k" }.joined(separator: ".")
        XCTAssertNotNil(error(deepKey + " = 1"))
        XCTAssertNotNil(error("[" + deepKey + "]"))
        XCTAssertNoThrow(try TOMLDocument.parse("a = " + String(repeating: "[", count: 128) + String(repeating: "]", count: 128)))
        XCTAssertEqual(error(String(repeating: "#", count: 2 << 20))?.message, "the document is larger than 1048576 bytes")
        XCTAssertNoThrow(try TOMLDocument.parse("a = 1", limits: TOMLLimits(maximumDepth: 1, maximumSize: 10)))
    }
}
