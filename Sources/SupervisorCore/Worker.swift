#if canImport(Glibc)
import Glibc
#endif

/// One worker process of a generation.
public final class Worker {
    public enum State: Equatable, Sendable {
        /// Spawned, not yet ready.
        case starting
        case ready
        /// Told to stop (stop signal sent at `since`); its exit is expected.
        case draining(since: MonotonicInstant)
        case exited(ExitStatus)

        public var name: String {
            switch self {
            case .starting: return "starting"
            case .ready: return "ready"
            case .draining: return "draining"
            case .exited: return "exited"
            }
        }
    }

    public let pid: pid_t
    public let generation: Int
    /// `GRACED_WORKER`: the slot in its generation, 0..<processes.
    public let index: Int
    public let startedAt: MonotonicInstant
    public var state: State = .starting
    /// The last `STATUS=` the worker sent.
    public var statusText: String?
    /// Recent output lines, for the error report when the worker fails.
    public var recentOutput = RecentLines(capacity: 20)
    /// Readiness machinery for this worker (delay timer, ready_command probe, timeout).
    var readinessTimer: EventLoop.TimerID?
    var readyTimeoutTimer: EventLoop.TimerID?
    var probePID: pid_t?
    var probeTimer: EventLoop.TimerID?

    init(pid: pid_t, generation: Int, index: Int) {
        self.pid = pid
        self.generation = generation
        self.index = index
        self.startedAt = .now()
    }

    public var isAlive: Bool {
        if case .exited = state { return false }
        return true
    }

    public var isDraining: Bool {
        if case .draining = state { return true }
        return false
    }
}

/// A bounded list of the most recent lines.
public struct RecentLines: Sendable {
    public let capacity: Int
    public private(set) var lines: [String] = []

    public init(capacity: Int) {
        self.capacity = capacity
    }

    public mutating func append(_ line: String) {
        if lines.count == capacity { lines.removeFirst() }
        lines.append(line)
    }
}
