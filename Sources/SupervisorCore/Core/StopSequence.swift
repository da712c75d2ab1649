/// graced's own stop (SIGTERM, SIGINT, `graced stop`): the first request drains every
/// worker, a second one kills them, and graced exits only once every worker and every
/// process group a worker left behind is gone.
public struct StopSequence: Sendable {
    public enum Phase: Equatable, Sendable {
        case running
        /// Workers were told to stop and get `drain_timeout`.
        case draining
        /// A second stop request: workers were killed.
        case killing
        /// Everything is gone; the runtime was told to exit.
        case finished
    }

    /// What a stop request asks for.
    public enum Step: Equatable, Sendable {
        case drain
        case kill
        case nothing
    }

    public private(set) var phase: Phase = .running
    /// The exit status of `graced run`: 0 for a requested stop, 1 after `start_limit`.
    public private(set) var exitCode: Int32 = 0
    /// A leftover poll timer is armed.
    private var polling = false
    static let leftoverPollInterval: Duration = .milliseconds(100)

    public init() {}

    public var isRunning: Bool { phase == .running }

    public mutating func request(exitCode code: Int32 = 0) -> Step {
        switch phase {
        case .running:
            phase = .draining
            exitCode = code
            return .drain
        case .draining:
            phase = .killing
            return .kill
        case .killing, .finished:
            return .nothing
        }
    }

    /// The leftover poll timer fired.
    mutating func pollFired() {
        polling = false
    }

    /// While stopping: finishes once no worker and no leftover group is left, else keeps
    /// looking at the leftovers. Safe to call after every event; finishes exactly once.
    mutating func finishIfDone(workers: Int, leftovers: Set<Int32>) -> [SupervisorEffect] {
        guard phase == .draining || phase == .killing, workers == 0 else { return [] }
        if !leftovers.isEmpty {
            guard !polling else { return [] }
            polling = true
            return [.pollLeftovers(leftovers.sorted()), .startTimer(.leftoverPoll, Self.leftoverPollInterval)]
        }
        phase = .finished
        return [.cancelTimer(.leftoverPoll), .finishStop(code: exitCode)]
    }
}
