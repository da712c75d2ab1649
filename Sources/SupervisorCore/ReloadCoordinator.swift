/// Identifies one party waiting for a reload's verdict (a control client, SIGHUP, ...).
public struct ReloadRequestID: Hashable, Sendable, CustomStringConvertible {
    public let value: Int
    public init(_ value: Int) { self.value = value }
    public var description: String { "#\(value)" }
}

/// The verdict of one reload.
public enum ReloadOutcome: Equatable, Sendable {
    /// The new generation serves; the previous one (if any) was told to stop.
    case succeeded(generation: Int, retired: Int?)
    /// Nothing changed that users can see: the previous generation still serves.
    case failed(reason: String)
}

/// The zero-downtime reload transaction as a state machine that does no I/O: events go
/// in, actions come out, and the supervisor carries the actions out. This is what makes
/// "requests never overlap" and "a failed reload changes nothing" checkable in unit tests.
///
/// One reload at a time. Requests that arrive while one runs are queued and served
/// together by the next one: they all asked for "the config as it is now", which a
/// single later reload delivers.
public struct ReloadCoordinator: Sendable {
    public enum Timer: Hashable, Sendable {
        case readyTimeout(generation: Int)
        case settle(generation: Int)
    }

    public enum Event: Equatable, Sendable {
        case requested(ReloadRequestID)
        /// The supervisor read the config, bound new listeners and spawned the generation.
        case spawned(generation: Int, workers: Int, readyTimeout: Duration, settle: Duration)
        /// Reading the config, binding or spawning failed; nothing was started.
        case prepareFailed(reason: String)
        case workerReady(generation: Int, worker: Int)
        /// A worker of a starting generation exited or could not be started.
        case workerFailed(generation: Int, worker: Int, reason: String)
        case timerFired(Timer)
    }

    public enum Action: Equatable, Sendable {
        /// Read and validate the config, reconcile listeners and spawn the next generation;
        /// answer with `.spawned` or `.prepareFailed`.
        case prepare
        case startTimer(Timer, Duration)
        case cancelTimer(Timer)
        /// Make `generation` the serving one and send its predecessor the stop signal.
        case promote(generation: Int)
        /// Stop and discard a generation that never became serving.
        case abandon(generation: Int)
        case progress([ReloadRequestID], String)
        case reply([ReloadRequestID], ReloadOutcome)
    }

    enum Phase: Equatable, Sendable {
        case idle
        case preparing(requests: [ReloadRequestID])
        case awaitingReady(generation: Int, pending: Set<Int>, settle: Duration, requests: [ReloadRequestID])
        case settling(generation: Int, requests: [ReloadRequestID])
    }

    private(set) var phase: Phase = .idle
    private(set) var queued: [ReloadRequestID] = []
    /// The generation that serves now, for the `retired:` field of the outcome.
    public private(set) var serving: Int?

    public init(serving: Int? = nil) {
        self.serving = serving
    }

    public var isIdle: Bool { phase == .idle && queued.isEmpty }

    /// The requests of a reload that is being prepared.
    public var preparingRequests: [ReloadRequestID] {
        if case .preparing(let requests) = phase { return requests }
        return []
    }

    /// The generation being started, if a reload is past its preparation.
    public var startingGeneration: Int? {
        switch phase {
        case .awaitingReady(let generation, _, _, _), .settling(let generation, _): return generation
        case .idle, .preparing: return nil
        }
    }

    /// Tells the machine which generation serves when it was set up outside a reload
    /// (the first generation at start-up).
    public mutating func setServing(_ generation: Int?) {
        serving = generation
    }

    public mutating func handle(_ event: Event) -> [Action] {
        switch (phase, event) {
        case (.idle, .requested(let id)):
            phase = .preparing(requests: [id])
            return [.prepare]

        case (_, .requested(let id)):
            queued.append(id)
            return [.progress([id], "waiting for the reload in progress to finish")]

        case (.preparing(let requests), .prepareFailed(let reason)):
            return finish(requests, .failed(reason: reason), cleanup: [])

        case (.preparing(let requests), .spawned(let generation, let workers, let timeout, let settle)):
            phase = .awaitingReady(generation: generation, pending: Set(0..<workers), settle: settle, requests: requests)
            return [
                .progress(requests, "generation \(generation) spawned (\(workers) worker\(workers == 1 ? "" : "s"))"),
                .startTimer(.readyTimeout(generation: generation), timeout),
            ]

        case (.awaitingReady(let generation, var pending, let settle, let requests), .workerReady(let readyGeneration, let worker))
            where readyGeneration == generation:
            guard pending.remove(worker) != nil else { return [] }
            if !pending.isEmpty {
                phase = .awaitingReady(generation: generation, pending: pending, settle: settle, requests: requests)
                return []
            }
            var actions: [Action] = [
                .cancelTimer(.readyTimeout(generation: generation)),
                .progress(requests, "generation \(generation) ready"),
            ]
            if settle > .zero {
                phase = .settling(generation: generation, requests: requests)
                actions.append(.startTimer(.settle(generation: generation), settle))
                return actions
            }
            return actions + commit(generation, requests)

        case (.settling(let generation, let requests), .timerFired(.settle(let timerGeneration))) where timerGeneration == generation:
            return commit(generation, requests)

        case (.awaitingReady(let generation, _, _, let requests), .workerFailed(let failedGeneration, _, let reason))
            where failedGeneration == generation:
            return finish(requests, .failed(reason: reason), cleanup: [
                .cancelTimer(.readyTimeout(generation: generation)), .abandon(generation: generation),
            ])

        case (.settling(let generation, let requests), .workerFailed(let failedGeneration, _, let reason))
            where failedGeneration == generation:
            return finish(requests, .failed(reason: reason), cleanup: [
                .cancelTimer(.settle(generation: generation)), .abandon(generation: generation),
            ])

        case (.awaitingReady(let generation, let pending, _, let requests), .timerFired(.readyTimeout(let timerGeneration)))
            where timerGeneration == generation:
            let names = pending.sorted().map { "#\($0)" }.joined(separator: ", ")
            return finish(requests, .failed(reason: "generation \(generation): worker \(names) not ready within ready_timeout"), cleanup: [
                .abandon(generation: generation),
            ])

        default:
            // Late events for a generation that is no longer starting (a timer that fired
            // as it was cancelled, a worker of an abandoned generation) change nothing.
            return []
        }
    }

    private mutating func commit(_ generation: Int, _ requests: [ReloadRequestID]) -> [Action] {
        let previous = serving
        serving = generation
        return finish(requests, .succeeded(generation: generation, retired: previous), cleanup: [.promote(generation: generation)])
    }

    /// Replies, then starts the next reload if requests queued up meanwhile.
    private mutating func finish(_ requests: [ReloadRequestID], _ outcome: ReloadOutcome, cleanup: [Action]) -> [Action] {
        var actions = cleanup
        actions.append(.reply(requests, outcome))
        if queued.isEmpty {
            phase = .idle
        } else {
            phase = .preparing(requests: queued)
            queued = []
            actions.append(.prepare)
        }
        return actions
    }
}
