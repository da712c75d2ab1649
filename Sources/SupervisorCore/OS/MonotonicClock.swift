#if canImport(Glibc)
import Glibc
#endif

/// A point on CLOCK_MONOTONIC, which never jumps with the wall clock.
public struct MonotonicInstant: Comparable, Hashable, Sendable {
    public var nanoseconds: Int64

    public static func now() -> MonotonicInstant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return MonotonicInstant(nanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
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
