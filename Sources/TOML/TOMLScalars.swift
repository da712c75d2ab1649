/// Integers, floats, dates and times, read from one token (the bytes of an unquoted value).
enum TOMLScalars {
    // MARK: Numbers

    static func number(_ token: [UInt8], text makeText: @autoclosure () -> String) throws(TOMLScalarError) -> TOMLValue {
        var text: String { makeText() }
        var cursor = 0
        var negative = false
        let signed = token.first == Byte.plus || token.first == Byte.minus
        if signed {
            negative = token[0] == Byte.minus
            cursor = 1
        }
        let body = token[cursor...]
        if body.elementsEqual("inf".utf8) { return .float(negative ? -.infinity : .infinity) }
        if body.elementsEqual("nan".utf8) { return .float(negative ? -.nan : .nan) }
        guard cursor < token.count else { throw TOMLScalarError("invalid number '\(text)'") }

        if token[cursor] == UInt8(ascii: "0"), cursor + 1 < token.count {
            let radix: UInt64?
            switch token[cursor + 1] {
            case UInt8(ascii: "x"): radix = 16
            case UInt8(ascii: "o"): radix = 8
            case UInt8(ascii: "b"): radix = 2
            default: radix = nil
            }
            if let radix {
                guard !signed else {
                    throw TOMLScalarError("invalid integer '\(text)': a hexadecimal, octal or binary integer cannot have a sign")
                }
                cursor += 2
                let digits = try digitRun(token, &cursor, text: text) { digit(of: $0, radix: radix) != nil }
                guard !digits.isEmpty, cursor == token.count else {
                    throw TOMLScalarError("invalid integer '\(text)'")
                }
                var value: UInt64 = 0
                for byte in digits {
                    let (shifted, overflow1) = value.multipliedReportingOverflow(by: radix)
                    let (sum, overflow2) = shifted.addingReportingOverflow(UInt64(digit(of: byte, radix: radix)!))
                    guard !overflow1, !overflow2, sum <= UInt64(Int64.max) else { throw outOfRange(text) }
                    value = sum
                }
                return .integer(Int64(value))
            }
        }

        let integerDigits = try digitRun(token, &cursor, text: text, Byte.isDigit)
        guard !integerDigits.isEmpty else { throw TOMLScalarError("invalid number '\(text)'") }
        if integerDigits.count > 1, integerDigits[0] == UInt8(ascii: "0") {
            throw TOMLScalarError("invalid number '\(text)': leading zeros are not allowed")
        }
        var isFloat = false
        // The float without underscores, for Double(_:); only filled in for a float.
        var floatBytes: [UInt8] = []
        if cursor < token.count, token[cursor] == Byte.dot {
            isFloat = true
            cursor += 1
            let fraction = try digitRun(token, &cursor, text: text, Byte.isDigit)
            guard !fraction.isEmpty else {
                throw TOMLScalarError("invalid float '\(text)': a digit must follow the decimal point")
            }
            floatBytes = (negative ? [Byte.minus] : []) + integerDigits + [Byte.dot] + fraction
        }
        if cursor < token.count, token[cursor] == UInt8(ascii: "e") || token[cursor] == UInt8(ascii: "E") {
            if !isFloat { floatBytes = (negative ? [Byte.minus] : []) + integerDigits }
            isFloat = true
            cursor += 1
            floatBytes.append(UInt8(ascii: "e"))
            if cursor < token.count, token[cursor] == Byte.plus || token[cursor] == Byte.minus {
                floatBytes.append(token[cursor])
                cursor += 1
            }
            let exponent = try digitRun(token, &cursor, text: text, Byte.isDigit)
            guard !exponent.isEmpty else { throw TOMLScalarError("invalid float '\(text)': the exponent has no digits") }
            floatBytes += exponent
        }
        guard cursor == token.count else {
            throw TOMLScalarError("invalid \(isFloat ? "float" : "number") '\(text)'")
        }
        if isFloat {
            guard let value = Double(String(decoding: floatBytes, as: UTF8.self)) else {
                throw TOMLScalarError("invalid float '\(text)'")
            }
            return .float(value)
        }
        // Accumulated negatively, so that Int64.min is accepted.
        var value: Int64 = 0
        for byte in integerDigits {
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.subtractingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw outOfRange(text) }
            value = sum
        }
        if !negative {
            guard value != .min else { throw outOfRange(text) }
            value = -value
        }
        return .integer(value)
    }

    private static func outOfRange(_ text: String) -> TOMLScalarError {
        TOMLScalarError("integer '\(text)' is out of range (a 64-bit signed integer)")
    }

    private static func digit(of byte: UInt8, radix: UInt64) -> UInt8? {
        guard let value = Byte.hexValue(byte), UInt64(value) < radix else { return nil }
        return value
    }

    /// Digits accepted by `isDigit`, each `_` between two of them; returns the digits
    /// without underscores and leaves `cursor` after the run.
    private static func digitRun(
        _ token: [UInt8], _ cursor: inout Int, text makeText: @autoclosure () -> String, _ isDigit: (UInt8) -> Bool
    ) throws(TOMLScalarError) -> [UInt8] {
        var text: String { makeText() }
        var digits: [UInt8] = []
        while cursor < token.count {
            let byte = token[cursor]
            if isDigit(byte) {
                digits.append(byte)
            } else if byte == Byte.underscore {
                guard !digits.isEmpty, cursor > 0, token[cursor - 1] != Byte.underscore,
                    cursor + 1 < token.count, isDigit(token[cursor + 1])
                else {
                    throw TOMLScalarError("invalid number '\(text)': each '_' must be between two digits")
                }
            } else {
                break
            }
            cursor += 1
        }
        return digits
    }

    // MARK: Dates and times

    /// `cursor` advances past exactly `count` digits.
    private static func fixedDigits(_ token: [UInt8], _ cursor: inout Int, _ count: Int) -> Int? {
        guard cursor + count <= token.count else { return nil }
        var value = 0
        for offset in 0..<count {
            let byte = token[cursor + offset]
            guard Byte.isDigit(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        cursor += count
        return value
    }

    private static func expect(_ token: [UInt8], _ cursor: inout Int, _ byte: UInt8) -> Bool {
        guard cursor < token.count, token[cursor] == byte else { return false }
        cursor += 1
        return true
    }

    /// A date, a local date-time or an offset date-time.
    static func dateTime(_ token: [UInt8], text: String) throws(TOMLScalarError) -> TOMLValue {
        var cursor = 0
        guard let year = fixedDigits(token, &cursor, 4), expect(token, &cursor, Byte.minus),
            let month = fixedDigits(token, &cursor, 2), expect(token, &cursor, Byte.minus),
            let day = fixedDigits(token, &cursor, 2)
        else {
            throw TOMLScalarError("invalid date '\(text)': expected YYYY-MM-DD")
        }
        guard (1...12).contains(month) else {
            throw TOMLScalarError("invalid date '\(text)': the month must be from 01 to 12")
        }
        let days = TOMLLocalDate.daysIn(month: month, year: year)
        guard (1...days).contains(day) else {
            throw TOMLScalarError("invalid date '\(text)': the day must be from 01 to \(days) in that month")
        }
        let date = TOMLLocalDate(year: year, month: month, day: day)
        if cursor == token.count { return .localDate(date) }

        let separator = token[cursor]
        guard separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t") || separator == Byte.space else {
            throw TOMLScalarError("invalid date-time '\(text)': expected 'T' or a space between date and time")
        }
        cursor += 1
        let time = try self.time(token, &cursor, text: text)
        if cursor == token.count { return .localDateTime(TOMLLocalDateTime(date: date, time: time, text: text)) }

        var offset = 0
        switch token[cursor] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            cursor += 1
        case Byte.plus, Byte.minus:
            let sign = token[cursor] == Byte.minus ? -1 : 1
            cursor += 1
            guard let hours = fixedDigits(token, &cursor, 2), expect(token, &cursor, Byte.colon),
                let minutes = fixedDigits(token, &cursor, 2)
            else {
                throw TOMLScalarError("invalid date-time '\(text)': expected the offset as Z, +HH:MM or -HH:MM")
            }
            guard hours <= 23, minutes <= 59 else {
                throw TOMLScalarError("invalid date-time '\(text)': the offset must be at most 23:59")
            }
            offset = sign * (hours * 60 + minutes)
        default:
            break
        }
        guard cursor == token.count else {
            throw TOMLScalarError("invalid date-time '\(text)': unexpected text after the time")
        }
        return .offsetDateTime(TOMLOffsetDateTime(date: date, time: time, offsetMinutes: offset, text: text))
    }

    /// `HH:MM:SS[.fraction]`, leaving `cursor` after it.
    static func time(_ token: [UInt8], _ cursor: inout Int, text: String) throws(TOMLScalarError) -> TOMLLocalTime {
        guard let hour = fixedDigits(token, &cursor, 2), expect(token, &cursor, Byte.colon),
            let minute = fixedDigits(token, &cursor, 2), expect(token, &cursor, Byte.colon),
            let second = fixedDigits(token, &cursor, 2)
        else {
            throw TOMLScalarError("invalid time in '\(text)': expected HH:MM:SS (seconds are required)")
        }
        guard hour <= 23 else { throw TOMLScalarError("invalid time in '\(text)': the hour must be from 00 to 23") }
        guard minute <= 59 else { throw TOMLScalarError("invalid time in '\(text)': the minute must be from 00 to 59") }
        guard second <= 60 else { throw TOMLScalarError("invalid time in '\(text)': the second must be from 00 to 60") }
        var nanosecond = 0
        if cursor < token.count, token[cursor] == Byte.dot {
            cursor += 1
            var digits = 0
            while cursor < token.count, Byte.isDigit(token[cursor]) {
                if digits < 9 { nanosecond = nanosecond * 10 + Int(token[cursor] - UInt8(ascii: "0")) }
                digits += 1
                cursor += 1
            }
            guard digits > 0 else {
                throw TOMLScalarError("invalid time in '\(text)': a digit must follow the decimal point")
            }
            for _ in min(digits, 9)..<9 { nanosecond *= 10 }
        }
        return TOMLLocalTime(hour: hour, minute: minute, second: second, nanosecond: nanosecond)
    }
}
