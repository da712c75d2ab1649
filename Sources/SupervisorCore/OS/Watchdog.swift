#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// `WatchdogSec=`: when enabled, the interval at which to send `WATCHDOG=1` (half the
/// timeout, as sd_watchdog_enabled(3) recommends).
enum Watchdog {
    static func pingInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(1, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec / 2))
    }
}
