#if canImport(Glibc)
import Glibc
#endif

extension MonotonicInstant {
    /// Now, on CLOCK_MONOTONIC.
    public static func now() -> MonotonicInstant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return MonotonicInstant(nanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }
}
