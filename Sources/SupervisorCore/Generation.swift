/// All workers started from one configuration at one time: the unit that a reload
/// replaces. Generation numbers start at 1 and only grow.
public final class Generation {
    public enum State: Equatable, Sendable {
        /// Spawned by a reload, not yet serving: its failure changes nothing.
        case starting
        /// The serving generation (at most one).
        case serving
        /// Told to stop; `since` is when the stop signal went out.
        case draining(since: MonotonicInstant)
        /// A starting generation that failed and is being stopped.
        case abandoned
    }

    public let number: Int
    public let config: WorkerConfig
    /// The listeners its workers got, in fd order.
    let listeners: [Listener]
    public var state: State
    /// The current process of each slot (nil while a restart is pending or after it ended).
    public var slots: [Worker?]
    /// Per slot: restarts so far and the backoff for the next one.
    public var restarts: [Int]
    var backoff: [RestartBackoff]
    var restartTimers: [EventLoop.TimerID?]
    var drainTimer: EventLoop.TimerID?
    /// Every worker ever started in this generation that has not been reaped yet.
    var liveWorkers: [Int32: Worker] = [:]
    /// Exit reports of drained workers, for the retirement log line.
    var exitReports: [String] = []
    /// Set once all workers of a serving generation were ready at least once.
    var becameReady = false
    /// SIGKILL went out to its remaining workers (drain timeout or max_draining).
    var killed = false

    init(number: Int, config: WorkerConfig, listeners: [Listener], state: State) {
        self.number = number
        self.config = config
        self.listeners = listeners
        self.state = state
        self.slots = Array(repeating: nil, count: config.processes)
        self.restarts = Array(repeating: 0, count: config.processes)
        self.backoff = Array(repeating: RestartBackoff(), count: config.processes)
        self.restartTimers = Array(repeating: nil, count: config.processes)
    }

    public var isDraining: Bool {
        if case .draining = state { return true }
        return false
    }

    public var allReady: Bool {
        slots.allSatisfy { $0?.state == .ready }
    }
}
