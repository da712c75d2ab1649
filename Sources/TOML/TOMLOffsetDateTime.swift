/// A date and time at an offset from UTC: `1979-05-27T07:32:00Z`, `1979-05-27 00:32:00-07:00`.
public struct TOMLOffsetDateTime: Hashable, Sendable, CustomStringConvertible {
    public var date: TOMLLocalDate
    public var time: TOMLLocalTime
    /// East of UTC, in minutes: `-07:00` is -420, `Z` is 0. Between -1439 and 1439.
    public var offsetMinutes: Int
    /// The value as written in the document.
    public var text: String

    public init(date: TOMLLocalDate, time: TOMLLocalTime, offsetMinutes: Int, text: String) {
        self.date = date
        self.time = time
        self.offsetMinutes = offsetMinutes
        self.text = text
    }

    /// Seconds since 1970-01-01T00:00:00Z (a leap second counts as the next second's
    /// start), for comparing instants written at different offsets.
    public var secondsSinceEpoch: Int64 {
        // Days from civil (Howard Hinnant's algorithm).
        let y = date.month <= 2 ? date.year - 1 : date.year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let monthIndex = date.month > 2 ? date.month - 3 : date.month + 9
        let dayOfYear = (153 * monthIndex + 2) / 5 + date.day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = Int64(era) * 146_097 + Int64(dayOfEra) - 719_468
        let seconds = Int64(time.hour * 3600 + time.minute * 60 + time.second - offsetMinutes * 60)
        return days * 86_400 + seconds
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction]` and `Z` or `±HH:MM`.
    public var description: String {
        var text = "\(date)T\(time)"
        if offsetMinutes == 0 {
            text += "Z"
        } else {
            let magnitude = abs(offsetMinutes)
            text += (offsetMinutes < 0 ? "-" : "+") + pad(magnitude / 60, 2) + ":" + pad(magnitude % 60, 2)
        }
        return text
    }
}
