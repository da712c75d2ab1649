/// One TOML value.
///
/// The four date and time forms of TOML keep their fields (validated: real calendar days,
/// hours 0–23, minutes 0–59, seconds 0–60) and the text as written.
public enum TOMLValue: Equatable, Sendable {
    /// Any of the four string forms, escapes resolved; a multi-line string's CRLF line
    /// endings are read as LF.
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    /// `1979-05-27T07:32:00Z`, `1979-05-27 07:32:00-07:00`.
    case offsetDateTime(TOMLOffsetDateTime)
    /// `1979-05-27T07:32:00`: no offset.
    case localDateTime(TOMLLocalDateTime)
    /// `1979-05-27`.
    case localDate(TOMLLocalDate)
    /// `07:32:00.5`.
    case localTime(TOMLLocalTime)
    /// A static array (`[1, "a"]`, mixed types allowed) or an array of tables (`[[name]]`,
    /// every element a `.table`).
    case array([TOMLNode])
    /// A table of any origin: the root, a `[header]`, an implicit table, an inline table.
    case table(TOMLTable)

    /// How messages name the type: "a string", "an integer", "a table", ...
    public var typeDescription: String {
        switch self {
        case .string: return "a string"
        case .integer: return "an integer"
        case .float: return "a floating-point number"
        case .boolean: return "a boolean"
        case .offsetDateTime: return "a date-time"
        case .localDateTime: return "a local date-time"
        case .localDate: return "a date"
        case .localTime: return "a time"
        case .array: return "an array"
        case .table: return "a table"
        }
    }

    /// The string, or nil for another type.
    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The integer, or nil for another type (a float is not converted).
    public var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The float, or nil for another type (an integer is not converted).
    public var float: Double? {
        if case .float(let value) = self { return value }
        return nil
    }

    /// The boolean, or nil for another type.
    public var boolean: Bool? {
        if case .boolean(let value) = self { return value }
        return nil
    }

    /// The elements, or nil for another type.
    public var array: [TOMLNode]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The table, or nil for another type.
    public var table: TOMLTable? {
        if case .table(let value) = self { return value }
        return nil
    }
}
