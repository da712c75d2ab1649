import TOML

/// Compares a parsed document with toml-test's tagged JSON, the way toml-test's own
/// decoder does: floats numerically (every NaN equal), date-times as instants, local dates
/// and times by their fields (so `07:32:00.5` matches `07:32:00.500`).
enum TaggedComparison {
    /// nil when equal, else where and how they differ.
    static func difference(_ value: TOMLValue, _ expected: JSON, path: String = "") -> String? {
        switch (value, expected) {
        case (.table(let table), .object(let members)) where !isTagged(members):
            let keys = Set(table.keys)
            if keys != Set(members.keys) {
                return "\(path): keys \(table.keys.sorted()) != expected \(members.keys.sorted())"
            }
            for entry in table.entries {
                if let difference = difference(entry.node.value, members[entry.key]!, path: path + "." + entry.key) {
                    return difference
                }
            }
            return nil
        case (.array(let elements), .array(let expectedElements)):
            guard elements.count == expectedElements.count else {
                return "\(path): \(elements.count) elements != expected \(expectedElements.count)"
            }
            for (offset, (element, expectedElement)) in zip(elements, expectedElements).enumerated() {
                if let difference = difference(element.value, expectedElement, path: "\(path)[\(offset)]") {
                    return difference
                }
            }
            return nil
        case (_, .object(let members)) where isTagged(members):
            guard case .string(let type) = members["type"]!, case .string(let text) = members["value"]! else {
                return "\(path): malformed tag"
            }
            return scalarDifference(value, type: type, text: text) .map { "\(path): \($0)" }
        default:
            return "\(path): \(value) does not match \(expected)"
        }
    }

    static func isTagged(_ members: [String: JSON]) -> Bool {
        guard members.count == 2, case .string = members["type"], case .string = members["value"] else { return false }
        return true
    }

    /// Reads an RFC 3339 value with the parser under test (toml-test's expectations are
    /// valid TOML values), failing on anything but the expected kind.
    private static func expectedValue(_ text: String) -> TOMLValue? {
        guard let table = try? TOMLDocument.parse("v = \(text)") else { return nil }
        return table["v"]?.value
    }

    private static func scalarDifference(_ value: TOMLValue, type: String, text: String) -> String? {
        let mismatch = "\(value) != expected \(type) \(text)"
        switch (type, value) {
        case ("string", .string(let string)):
            return string == text ? nil : mismatch
        case ("integer", .integer(let integer)):
            return Int64(text) == integer ? nil : mismatch
        case ("float", .float(let float)):
            guard let expected = Double(text) else { return "unreadable expected float \(text)" }
            if expected.isNaN && float.isNaN { return nil }
            return expected == float ? nil : mismatch
        case ("bool", .boolean(let flag)):
            return (text == "true") == flag && (text == "true" || text == "false") ? nil : mismatch
        case ("datetime", .offsetDateTime(let dateTime)):
            guard case .offsetDateTime(let expected) = expectedValue(text) else { return "unreadable \(text)" }
            let same = expected.secondsSinceEpoch == dateTime.secondsSinceEpoch
                && expected.time.nanosecond == dateTime.time.nanosecond
            return same ? nil : mismatch
        case ("datetime-local", .localDateTime(let dateTime)):
            guard case .localDateTime(let expected) = expectedValue(text) else { return "unreadable \(text)" }
            return expected.date == dateTime.date && expected.time == dateTime.time ? nil : mismatch
        case ("date-local", .localDate(let date)):
            guard case .localDate(let expected) = expectedValue(text) else { return "unreadable \(text)" }
            return expected == date ? nil : mismatch
        case ("time-local", .localTime(let time)):
            guard case .localTime(let expected) = expectedValue(text) else { return "unreadable \(text)" }
            return expected == time ? nil : mismatch
        default:
            return mismatch
        }
    }
}
