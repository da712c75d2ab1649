import Testing

@testable import SupervisorCore

@Suite struct DurationParsingTests {
    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)),
        ("30s", .seconds(30)),
        ("2m", .seconds(120)),
        ("1h", .seconds(3600)),
        ("1m30s", .seconds(90)),
        ("1h2m3s", .seconds(3723)),
        ("1.5s", .milliseconds(1500)),
        ("0.25s", .milliseconds(250)),
        (".5s", .milliseconds(500)),
        ("1.5h", .seconds(5400)),
        ("1s500ms", .milliseconds(1500)),
        ("100us", .microseconds(100)),
        ("100µs", .microseconds(100)),
        ("7ns", .nanoseconds(7)),
        ("0s", .zero),
        ("0", .zero),
        ("0.0000000001s", .zero),  // below nanosecond resolution
        ("8760h", .seconds(31_536_000)),  // a year, the limit
        ("31536000000000000ns", .seconds(31_536_000)),
    ])
    func parsesValidDurations(text: String, expected: Duration) throws {
        #expect(try parseDuration(text) == expected)
    }

    @Test(arguments: [
        ("", "it is empty"),
        ("-1s", "durations cannot be negative"),
        ("30", "no unit after \"30\""),
        ("1m30", "no unit after \"30\""),
        ("3x", "unknown unit \"x\""),
        ("30S", "unknown unit \"S\""),
        ("30 s", "unknown unit \" s\""),
        ("1d", "unknown unit \"d\""),
        ("s", "expected a number at \"s\""),
        (" 30s", "expected a number at \" 30s\""),
        ("+1s", "expected a number at \"+1s\""),
        (".s", "\".\" is not a number"),
        ("1.2.3s", "no unit after \"1.2\""),
        ("9223372036854775808ns", "too long"),
        ("3000000h", "too long"),
        ("99999999999999999999999s", "too long"),
        ("2562047h47m16.854775808s", "too long"),
        ("8760h0.000000001s", "too long: more than a year (8760h)"),
        ("8761h", "too long"),
        ("366h8400h", "too long"),
    ])
    func rejectsInvalidDurations(text: String, reason: String) {
        let error = #expect(throws: DurationParseError.self) { try parseDuration(text) }
        #expect(error?.input == text)
        #expect(error?.reason.contains(reason) == true, "\(String(describing: error))")
    }

    @Test func errorSaysWhatIsAccepted() {
        let error = DurationParseError(input: "30", reason: "no unit after \"30\"")
        #expect(
            error.description
                == "invalid duration \"30\": no unit after \"30\"; write a number and a unit (h, m, s, ms, us or ns), e.g. \"250ms\", \"1.5s\" or \"1m30s\""
        )
    }

    @Test(arguments: [
        (Duration.zero, "0s"),
        (.nanoseconds(7), "7ns"),
        (.nanoseconds(1500), "1.5us"),
        (.nanoseconds(999_960), "1ms"),  // rounds up into the next unit
        (.milliseconds(250), "250ms"),
        (.microseconds(1_500), "1.5ms"),
        (.microseconds(999_950), "1s"),
        (.milliseconds(1_300), "1.3s"),
        (.milliseconds(1_349), "1.3s"),
        (.milliseconds(1_350), "1.4s"),
        (.seconds(30), "30s"),
        (.milliseconds(59_940), "59.9s"),
        (.milliseconds(59_960), "1m"),
        (.seconds(120), "2m"),
        (.seconds(90), "1m30s"),
        (.milliseconds(90_600), "1m31s"),
        (.seconds(3600), "1h"),
        (.seconds(5400), "1h30m"),
        (.seconds(3605), "1h5s"),
        (.milliseconds(-1_500), "-1.5s"),
    ])
    func formatsShort(duration: Duration, expected: String) {
        #expect(formatShort(duration) == expected)
        #expect(duration.shortDescription == expected)
    }

    @Test func theLongestDurationIsNotRoundedPastTheParsersLimit() throws {
        let text = formatShort(maximumDuration - .nanoseconds(1))
        #expect(text == "8760h")
        #expect(try parseDuration(text) == maximumDuration)
    }

    @Test(arguments: ["250ms", "1.3s", "2m", "1h30m", "1h5s", "7ns", "1.5us", "59.9s"])
    func formattedDurationsParseBack(text: String) throws {
        #expect(formatShort(try parseDuration(text)) == text)
    }
}
