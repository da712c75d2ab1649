/// What the supervisor knows about one worker process: a value in ``GenerationTable``.
public struct WorkerRecord: Equatable, Sendable {
    public enum State: Equatable, Sendable {
        /// Spawned, not yet ready.
        case starting
        case ready
        /// Told to stop (stop signal sent at `since`); its exit is expected.
        case draining(since: MonotonicInstant)

        public var name: String {
            switch self {
            case .starting: return "starting"
            case .ready: return "ready"
            case .draining: return "draining"
            }
        }
    }

    public let pid: Int32
    public let generation: Int
    /// `GRACED_WORKER`: the slot in its generation, 0..<processes.
    public let slot: Int
    public let startedAt: MonotonicInstant
    public var state: State = .starting
    /// The last `STATUS=` the worker sent.
    public var statusText: String?
    /// What graced saw while waiting for readiness (e.g. "accepting, but sent no READY=1").
    public var readinessHint: String?

    public init(pid: Int32, generation: Int, slot: Int, startedAt: MonotonicInstant) {
        self.pid = pid
        self.generation = generation
        self.slot = slot
        self.startedAt = startedAt
    }

    public var isDraining: Bool {
        if case .draining = state { return true }
        return false
    }
}
