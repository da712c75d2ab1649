/// Escaping for the text log format. Everything works on Unicode scalars, not
/// Characters: a `"` followed by a combining mark is one Character but still a raw quote
/// to any log reader.
public enum LogEscaping {
    /// C0 and C1 controls, DEL and the Unicode line/paragraph separators become `\n`,
    /// `\t`, `\xNN` or `\u{NNNN}`; backslashes are doubled.
    public static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
                } else if needsEscape(scalar) {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return v < 0x20 || v == 0x7f || (0x80...0x9f).contains(v) || v == 0x2028 || v == 0x2029 || scalar == "\\"
    }

    /// A message that contains `=` or `"` is quoted, so that text a worker printed
    /// (`level=error event=worker-died`) can never read as fields of graced's line.
    public static func quoteMessageIfNeeded(_ message: String) -> String {
        guard message.unicodeScalars.contains(where: { $0 == "=" || $0 == "\"" }) else { return message }
        return quoted(message)
    }

    /// Values with spaces, quotes or '=' are quoted so fields stay separable.
    public static func quoteIfNeeded(_ value: String) -> String {
        guard value.isEmpty || value.unicodeScalars.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) else { return value }
        return quoted(value)
    }

    /// `"text"` with every `"` scalar escaped.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            if scalar == "\"" { out += "\\" }
            out.unicodeScalars.append(scalar)
        }
        return out + "\""
    }
}
