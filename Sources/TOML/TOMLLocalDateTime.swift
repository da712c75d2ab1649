/// A date and time without an offset: `1979-05-27T07:32:00`.
public struct TOMLLocalDateTime: Hashable, Sendable, CustomStringConvertible {
    public var date: TOMLLocalDate
    public var time: TOMLLocalTime
    /// The value as written in the document (`T`, `t` or a space between date and time).
    public var text: String

    public init(date: TOMLLocalDate, time: TOMLLocalTime, text: String) {
        self.date = date
        self.time = time
        self.text = text
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction]`, whatever the separator written.
    public var description: String { "\(date)T\(time)" }
}
