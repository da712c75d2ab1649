/// All workers started from one configuration at one time: the unit that a reload
/// replaces. Generation numbers start at 1 and only grow.
public struct GenerationRecord: Equatable, Sendable {
    public enum State: Equatable, Sendable {
        /// Spawned by a reload, not yet serving: its failure changes nothing.
        case starting
        /// The serving generation (at most one).
        case serving
        /// Told to stop; `since` is when the stop signal went out.
        case draining(since: MonotonicInstant)
        /// A starting generation that failed and is being stopped.
        case abandoned

        public var name: String {
            switch self {
            case .starting: return "starting"
            case .serving: return "serving"
            case .draining: return "draining"
            case .abandoned: return "abandoned"
            }
        }
    }

    public let number: Int
    public let config: WorkerConfig
    public var state: State
    /// The pid of each slot's current process (nil while a restart is pending or after it ended).
    public var slots: [Int32?]
    /// Per slot: restarts so far.
    public var restarts: [Int]
    var backoff: [RestartBackoff]
    /// Per slot: a restart timer is armed.
    var restartPending: [Bool]
    /// Every process of this generation not yet reaped.
    public var live: Set<Int32> = []
    /// Exit reports of drained workers, for the retirement log line.
    var exitReports: [String] = []
    /// Set once all workers of a serving generation were ready at least once.
    var becameReady = false
    /// SIGKILL went out to its remaining workers (drain timeout or max_draining).
    var killed = false
    /// Failed starts in a row of a serving generation that never became ready.
    var failedStarts = 0

    init(number: Int, config: WorkerConfig, state: State) {
        self.number = number
        self.config = config
        self.state = state
        self.slots = Array(repeating: nil, count: config.processes)
        self.restarts = Array(repeating: 0, count: config.processes)
        self.backoff = Array(repeating: RestartBackoff(), count: config.processes)
        self.restartPending = Array(repeating: false, count: config.processes)
    }

    public var isDraining: Bool {
        if case .draining = state { return true }
        return false
    }

    /// Draining and still holding processes that were not killed yet: what `max_draining` counts.
    var occupiesDrainSlot: Bool { isDraining && !live.isEmpty && !killed }
}
