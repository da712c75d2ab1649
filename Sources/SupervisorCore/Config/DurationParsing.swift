/// Why a duration string was refused. The description names the input and says what
/// is accepted, so it can be shown to the user as is.
public struct DurationParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text that was refused.
    public var input: String
    /// What is wrong with it, without the input (e.g. `no unit after "30"`).
    public var reason: String

    public init(input: String, reason: String) {
        self.input = input
        self.reason = reason
    }

    public var description: String {
        "invalid duration \"\(input)\": \(reason); write a number and a unit (h, m, s, ms, us or ns), "
            + "e.g. \"250ms\", \"1.5s\" or \"1m30s\""
    }
}

/// Parses a duration as written in the configuration and on the command line: `"250ms"`,
/// `"30s"`, `"2m"`, `"1h"`, compounds such as `"1m30s"`, and fractions such as `"1.5s"`.
///
/// Units are `h`, `m`, `s`, `ms`, `us` (or `µs`) and `ns`, as in Go's `time.ParseDuration`,
/// which is what users of einhorn and Go servers already write. A bare `"0"` is the only
/// number accepted without a unit, because it means the same in every unit. Negative
/// durations are refused: every duration in graced is a wait. The result has nanosecond
/// resolution (finer fractions are truncated) and is at most ``maximumDuration``, a year:
/// a longer wait is a typo (`"30000h"`), and so no timer arithmetic can overflow.
public func parseDuration(_ text: String) throws(DurationParseError) -> Duration {
    func fail(_ reason: String) -> DurationParseError {
        DurationParseError(input: text, reason: reason)
    }

    let bytes = Array(text.utf8)
    guard !bytes.isEmpty else { throw fail("it is empty") }
    if bytes.first == UInt8(ascii: "-") { throw fail("durations cannot be negative") }
    if bytes == [UInt8(ascii: "0")] { return .zero }

    var total: UInt64 = 0
    var index = 0
    while index < bytes.count {
        // The number: digits, optionally a fraction.
        let numberStart = index
        var whole: UInt64 = 0
        var wholeOverflow = false
        var digits = 0
        while index < bytes.count, let digit = decimalDigit(bytes[index]) {
            let (times10, o1) = whole.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(digit))
            wholeOverflow = wholeOverflow || o1 || o2
            whole = sum
            digits += 1
            index += 1
        }
        // The fraction as fraction / scale; digits beyond 10^-18 cannot matter at
        // nanosecond resolution and are skipped.
        var fraction: UInt64 = 0
        var scale: UInt64 = 1
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            while index < bytes.count, let digit = decimalDigit(bytes[index]) {
                if scale < 1_000_000_000_000_000_000 {
                    fraction = fraction * 10 + UInt64(digit)
                    scale *= 10
                }
                digits += 1
                index += 1
            }
        }
        let number = String(decoding: bytes[numberStart..<index], as: UTF8.self)
        guard digits > 0 else {
            if numberStart == index {
                let rest = String(decoding: bytes[index...], as: UTF8.self)
                throw fail("expected a number at \"\(rest)\"")
            }
            throw fail("\"\(number)\" is not a number")
        }

        // The unit: everything up to the next number.
        let unitStart = index
        while index < bytes.count, decimalDigit(bytes[index]) == nil, bytes[index] != UInt8(ascii: ".") {
            index += 1
        }
        let unit = String(decoding: bytes[unitStart..<index], as: UTF8.self)
        guard !unit.isEmpty else { throw fail("no unit after \"\(number)\"") }
        guard let unitNanoseconds = nanosecondsPerUnit(unit) else {
            throw fail("unknown unit \"\(unit)\"")
        }

        let tooLong = fail("it is too long: more than a year (8760h)")
        guard !wholeOverflow else { throw tooLong }
        let (wholeNanoseconds, overflow) = whole.multipliedReportingOverflow(by: unitNanoseconds)
        guard !overflow else { throw tooLong }
        // fraction < scale, so the quotient is below unitNanoseconds and cannot overflow.
        let product = fraction.multipliedFullWidth(by: unitNanoseconds)
        let fractionNanoseconds = scale.dividingFullWidth(product).quotient
        let (partial, o1) = wholeNanoseconds.addingReportingOverflow(fractionNanoseconds)
        let (sum, o2) = total.addingReportingOverflow(partial)
        guard !o1, !o2, sum <= maximumDurationNanoseconds else { throw tooLong }
        total = sum
    }
    return .nanoseconds(Int64(total))
}

/// The longest duration ``parseDuration(_:)`` accepts: 365 days (8760h).
public let maximumDuration = Duration.seconds(365 * 24 * 3600)

private let maximumDurationNanoseconds: UInt64 = 365 * 24 * 3600 * 1_000_000_000

private func decimalDigit(_ byte: UInt8) -> UInt8? {
    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? byte - UInt8(ascii: "0") : nil
}

private func nanosecondsPerUnit(_ unit: String) -> UInt64? {
    switch unit {
    case "ns": return 1
    case "us", "µs", "μs": return 1_000  // micro sign and Greek mu look the same
    case "ms": return 1_000_000
    case "s": return 1_000_000_000
    case "m": return 60_000_000_000
    case "h": return 3_600_000_000_000
    default: return nil
    }
}

/// A short rendering for log lines and progress output: `"250ms"`, `"1.3s"`, `"2m"`,
/// `"1h30m"`.
///
/// Below a minute it keeps one decimal in the largest unit that is at least 1 (rounded
/// half up, trailing `.0` dropped); from a minute up it rounds to whole seconds and lists
/// the non-zero units. The output of any duration ``parseDuration(_:)`` accepts parses
/// back with it.
public func formatShort(_ duration: Duration) -> String {
    if duration < .zero { return "-" + formatShort(.zero - duration) }
    let (seconds, attoseconds) = duration.components
    if seconds >= 60 {
        // Rounding up past Int64.max nanoseconds would print what the parser refuses.
        let roundsUp = attoseconds >= 500_000_000_000_000_000 && seconds < Int64.max / 1_000_000_000
        return hoursMinutesSeconds(roundsUp ? seconds + 1 : seconds)
    }
    let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    if nanoseconds == 0 { return "0s" }
    if nanoseconds < 1_000 { return "\(nanoseconds)ns" }
    // A value that rounds up to 1000 of a unit is shown in the next unit instead.
    if nanoseconds < 1_000_000, let text = tenths(nanoseconds, step: 100, limit: 10_000, unit: "us") {
        return text
    }
    if nanoseconds < 1_000_000_000, let text = tenths(nanoseconds, step: 100_000, limit: 10_000, unit: "ms") {
        return text
    }
    if let text = tenths(nanoseconds, step: 100_000_000, limit: 600, unit: "s") { return text }
    return hoursMinutesSeconds((nanoseconds + 500_000_000) / 1_000_000_000)
}

/// `value` in tenths of `step * 10`, or nil when that reaches `limit` tenths.
private func tenths(_ value: Int64, step: Int64, limit: Int64, unit: String) -> String? {
    let count = (value + step / 2) / step
    guard count < limit else { return nil }
    return count % 10 == 0 ? "\(count / 10)\(unit)" : "\(count / 10).\(count % 10)\(unit)"
}

private func hoursMinutesSeconds(_ totalSeconds: Int64) -> String {
    let hours = totalSeconds / 3600
    let minutes = totalSeconds % 3600 / 60
    let seconds = totalSeconds % 60
    var text = ""
    if hours > 0 { text += "\(hours)h" }
    if minutes > 0 { text += "\(minutes)m" }
    if seconds > 0 || text.isEmpty { text += "\(seconds)s" }
    return text
}

extension Duration {
    /// ``formatShort(_:)`` of this duration.
    public var shortDescription: String { formatShort(self) }
}
