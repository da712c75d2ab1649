/// A time of day without a date or offset: `07:32:00`, `00:32:00.999999`.
public struct TOMLLocalTime: Hashable, Sendable, CustomStringConvertible {
    /// 0–23.
    public var hour: Int
    /// 0–59.
    public var minute: Int
    /// 0–60 (60 only for a leap second, as RFC 3339 allows).
    public var second: Int
    /// The fraction of the second, 0–999 999 999; digits beyond nanoseconds are dropped.
    public var nanosecond: Int

    public init(hour: Int, minute: Int, second: Int, nanosecond: Int = 0) {
        self.hour = hour
        self.minute = minute
        self.second = second
        self.nanosecond = nanosecond
    }

    /// `HH:MM:SS`, plus `.fffffffff` (trailing zeros removed) when there is a fraction.
    public var description: String {
        var text = pad(hour, 2) + ":" + pad(minute, 2) + ":" + pad(second, 2)
        if nanosecond > 0 {
            var fraction = pad(nanosecond, 9)
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        return text
    }
}
