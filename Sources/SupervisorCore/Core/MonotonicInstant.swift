/// A point on the monotonic clock, which never jumps with the wall clock.
///
/// Pure: the state machines are handed instants and never read the clock themselves
/// (``MonotonicInstant/now()`` lives in the OS layer), so tests choose the time.
public struct MonotonicInstant: Comparable, Hashable, Sendable {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    public static func < (a: MonotonicInstant, b: MonotonicInstant) -> Bool { a.nanoseconds < b.nanoseconds }

    public static func + (a: MonotonicInstant, d: Duration) -> MonotonicInstant {
        MonotonicInstant(nanoseconds: a.nanoseconds &+ d.nanoseconds)
    }

    /// The time from `earlier` to this instant.
    public func since(_ earlier: MonotonicInstant) -> Duration {
        .nanoseconds(nanoseconds - earlier.nanoseconds)
    }

    /// Microseconds, as systemd's `MONOTONIC_USEC=` wants them.
    public var microseconds: UInt64 { UInt64(max(0, nanoseconds / 1000)) }
}

extension Duration {
    /// Whole nanoseconds, saturating.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return scaled &+ attoseconds / 1_000_000_000
    }

    public var milliseconds: Int64 { nanoseconds / 1_000_000 }

    public var seconds: Double { Double(nanoseconds) / 1e9 }
}
