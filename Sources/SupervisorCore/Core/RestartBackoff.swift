/// Exponential backoff between restarts of a crashing worker: 0.5 s, 1 s, 2 s, ... up to
/// 30 s. A worker that stayed up for `resetAfter` starts again from the shortest delay,
/// so an occasional crash is restarted at once while a crash loop costs almost nothing.
public struct RestartBackoff: Equatable, Sendable {
    public var initial: Duration = .milliseconds(500)
    public var maximum: Duration = .seconds(30)
    public var resetAfter: Duration = .seconds(10)
    public private(set) var consecutiveFailures = 0

    public init() {}

    /// Records an exit after `uptime` and returns how long to wait before the restart.
    public mutating func nextDelay(afterUptime uptime: Duration) -> Duration {
        if uptime >= resetAfter { consecutiveFailures = 0 }
        consecutiveFailures += 1
        var delay = initial
        for _ in 1..<consecutiveFailures {
            delay *= 2
            if delay >= maximum { return maximum }
        }
        return min(delay, maximum)
    }
}
