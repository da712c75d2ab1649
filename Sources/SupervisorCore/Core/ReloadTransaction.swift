/// The zero-downtime reload transaction as a state machine that does no I/O: events go
/// in, actions come out, and ``SupervisorState`` turns the actions into effects. This is
/// what makes "requests never overlap" and "a failed reload changes nothing" checkable
/// in unit tests.
///
/// It owns every piece of reload state: the requests and their coalescing, the wait for
/// a drain slot, the configuration to commit (and with it whether the listeners must be
/// restored), which generation serves, the last reload's record, and the clients waiting
/// for the old generation to drain (`--wait-drained`).
///
/// One reload at a time. Requests that arrive while one runs are queued and served
/// together by the next one: they all asked for "the config as it is now", which a
/// single later reload delivers.
public struct ReloadTransaction: Sendable {
    public struct Request: Equatable, Sendable {
        public var id: ReloadRequestID
        public var waitDrained: Bool

        public init(id: ReloadRequestID, waitDrained: Bool = false) {
            self.id = id
            self.waitDrained = waitDrained
        }
    }

    /// What the transaction needs to know of the world when it handles an event.
    public struct Context: Sendable {
        public var now: MonotonicInstant
        /// Generations draining with processes left, not killed (what `max_draining` counts).
        public var drainSlotsInUse: Int
        public var maxDraining: Int

        public init(now: MonotonicInstant, drainSlotsInUse: Int = 0, maxDraining: Int = 2) {
            self.now = now
            self.drainSlotsInUse = drainSlotsInUse
            self.maxDraining = maxDraining
        }
    }

    public enum Event: Equatable, Sendable {
        case requested(Request)
        /// The configuration was read and its listeners opened; `generation` is the
        /// number the new generation will get.
        case configRead(GracedConfig, generation: Int)
        /// Reading the configuration or opening listeners failed; nothing changed.
        case prepareFailed(reason: String)
        case workerReady(generation: Int, slot: Int)
        /// A worker of the starting generation exited or could not be started.
        case workerFailed(generation: Int, slot: Int, reason: String)
        case timerFired(SupervisorTimer)
        /// `ready_timeout` of the starting generation, with what graced saw of the workers
        /// that are not ready.
        case readyTimedOut(generation: Int, detail: String)
        /// No process of the retired generation waits on a listener any more.
        case stoppedAccepting(generation: Int, after: Duration)
        /// A generation has no process left.
        case generationGone(Int)
        /// graced is stopping: every open request fails.
        case stopping
        /// The previous reload's actions were carried out: start the queued requests, if
        /// any, with a context that shows their effect (a generation promoted and retired).
        case startQueued
    }

    public enum Action: Equatable, Sendable {
        case notifyReloading
        /// Answer with `.configRead` or `.prepareFailed`.
        case readConfig
        /// Create generation `generation` from `config` and spawn its workers.
        case startGeneration(generation: Int, config: WorkerConfig)
        case startTimer(SupervisorTimer, Duration)
        case cancelTimer(SupervisorTimer)
        /// The configuration becomes current; the new listener set is final.
        case commitConfig(GracedConfig)
        /// Make `generation` the serving one and tell `retiring` (if any) to stop.
        case promote(generation: Int, retiring: Int?)
        /// Stop and discard a generation that never became serving, and put the
        /// listener set back as it was.
        case abandon(generation: Int)
        /// Watch `generation` until it no longer accepts (answer: `.stoppedAccepting`).
        case watchStopAccepting(generation: Int)
        case unwatchStopAccepting(generation: Int)
        /// `stop_accept_timeout` passed with `generation` still accepting.
        case warnStillAccepting(generation: Int, timeout: Duration)
        case progress([ReloadRequestID], String)
        /// The verdict of the reload that just ended (once per reload, for the log and systemd).
        case verdict(ReloadOutcome)
        case reply([ReloadRequestID], ReloadOutcome)
    }

    public enum Phase: Equatable, Sendable {
        case idle
        /// `max_draining` generations drain: wait (at most ``drainSlotWait``) for one to exit.
        case waitingForDrainSlot(requests: [Request])
        case preparing(requests: [Request])
        case awaitingReady(generation: Int, pending: Set<Int>, settle: Duration, requests: [Request])
        case settling(generation: Int, requests: [Request])
        /// The new generation serves; the verdict waits until `retired` stopped accepting.
        case stoppingAccept(generation: Int, retired: Int, requests: [Request])
    }

    /// How long a reload waits for a drain slot before `max_draining` kills the oldest.
    public static let drainSlotWait: Duration = .seconds(1)

    public private(set) var phase: Phase = .idle
    public private(set) var queued: [Request] = []
    /// The one record of which generation serves.
    public private(set) var serving: Int?
    /// The configuration the running reload installs once it succeeds.
    public private(set) var pendingConfig: GracedConfig?
    public private(set) var lastReload: ReloadRecord?
    /// Clients of successful reloads waiting for the retired generation to exit.
    public private(set) var drainWaiters: [Int: [(ids: [ReloadRequestID], outcome: ReloadOutcome)]] = [:]
    private var startedAt: MonotonicInstant?
    private var phaseStartedAt: MonotonicInstant?
    private var phases: [ReloadRecord.Phase] = []
    /// The `stop_accept_timeout` of the configuration in force.
    private var stopAcceptTimeout: Duration = .seconds(5)

    public init(serving: Int? = nil, stopAcceptTimeout: Duration = .seconds(5)) {
        self.serving = serving
        self.stopAcceptTimeout = stopAcceptTimeout
    }

    public var isIdle: Bool { phase == .idle && queued.isEmpty }

    /// The generation being started, if a reload is past its preparation.
    public var startingGeneration: Int? {
        switch phase {
        case .awaitingReady(let generation, _, _, _), .settling(let generation, _): return generation
        case .idle, .waitingForDrainSlot, .preparing, .stoppingAccept: return nil
        }
    }

    /// True while `generation` has been ready and waits out `ready_settle`.
    public func isSettling(_ generation: Int) -> Bool {
        if case .settling(generation, _) = phase { return true }
        return false
    }

    /// Records which generation serves when it was set up outside a reload (the first
    /// generation at start-up).
    public mutating func setServing(_ generation: Int?) {
        serving = generation
    }

    public mutating func handle(_ event: Event, _ context: Context) -> [Action] {
        switch (phase, event) {
        case (_, .stopping):
            return stop()

        case (.idle, .requested(let request)):
            return begin([request], context)

        case (.idle, .startQueued):
            guard !queued.isEmpty else { return [] }
            let next = queued
            queued = []
            return begin(next, context)

        case (_, .requested(let request)):
            queued.append(request)
            return [.progress([request.id], "waiting for the reload in progress to finish")]

        case (.waitingForDrainSlot(let requests), .timerFired(.drainSlot)):
            return prepare(requests, context)

        case (.waitingForDrainSlot(let requests), .generationGone(let number)):
            var actions = resolveDrainWaiters(number)
            if context.drainSlotsInUse < context.maxDraining {
                actions.append(.cancelTimer(.drainSlot))
                actions += prepare(requests, context)
            }
            return actions

        case (.stoppingAccept(let generation, let retired, let requests), .stoppedAccepting(let stopped, let after))
            where stopped == retired:
            enterPhase("stop accepting", context)
            return finish(requests, .succeeded(generation: generation, retired: retired), cleanup: [
                .cancelTimer(.stopAccept(generation: retired)),
                .progress(requests.map(\.id), "generation \(retired) stopped accepting (\(after.shortDescription))"),
            ], context)

        case (.stoppingAccept(let generation, let retired, let requests), .generationGone(let gone)) where gone == retired:
            enterPhase("stop accepting", context)
            var actions = finish(requests, .succeeded(generation: generation, retired: retired), cleanup: [
                .cancelTimer(.stopAccept(generation: retired)), .unwatchStopAccepting(generation: retired),
                .progress(requests.map(\.id), "generation \(retired) exited"),
            ], context)
            actions += resolveDrainWaiters(gone)
            return actions

        case (.stoppingAccept(let generation, let retired, let requests), .timerFired(.stopAccept(let timerGeneration)))
            where timerGeneration == retired:
            enterPhase("stop accepting", context)
            let timeout = stopAcceptTimeout
            return finish(requests, .succeeded(generation: generation, retired: retired), cleanup: [
                .unwatchStopAccepting(generation: retired),
                .warnStillAccepting(generation: retired, timeout: timeout),
                .progress(requests.map(\.id), "warning: generation \(retired) still accepting after stop_accept_timeout \(timeout.shortDescription)"),
            ], context)

        case (_, .generationGone(let number)):
            return resolveDrainWaiters(number)

        case (.preparing(let requests), .prepareFailed(let reason)):
            return finish(requests, .failed(reason: reason), cleanup: [], context)

        case (.preparing(let requests), .configRead(let config, let generation)):
            enterPhase("prepare", context)
            pendingConfig = config
            let workers = config.worker.processes
            phase = .awaitingReady(generation: generation, pending: Set(0..<workers), settle: config.worker.readySettle, requests: requests)
            return [
                .startGeneration(generation: generation, config: config.worker),
                .progress(requests.map(\.id), "generation \(generation) spawned (\(workers) worker\(workers == 1 ? "" : "s"))"),
                .startTimer(.readyTimeout(generation: generation), config.worker.readyTimeout),
            ]

        case (.awaitingReady(let generation, var pending, let settle, let requests), .workerReady(let readyGeneration, let slot))
            where readyGeneration == generation:
            guard pending.remove(slot) != nil else { return [] }
            if !pending.isEmpty {
                phase = .awaitingReady(generation: generation, pending: pending, settle: settle, requests: requests)
                return []
            }
            enterPhase("ready", context)
            var actions: [Action] = [
                .cancelTimer(.readyTimeout(generation: generation)),
                .progress(requests.map(\.id), "generation \(generation) ready"),
            ]
            if settle > .zero {
                phase = .settling(generation: generation, requests: requests)
                actions.append(.progress(requests.map(\.id), "generation \(generation) settling for ready_settle \(settle.shortDescription)"))
                actions.append(.startTimer(.settle(generation: generation), settle))
                return actions
            }
            return actions + commit(generation, requests, context)

        case (.settling(let generation, let requests), .timerFired(.settle(let timerGeneration))) where timerGeneration == generation:
            enterPhase("settle", context)
            return commit(generation, requests, context)

        case (.awaitingReady(let generation, _, _, let requests), .workerFailed(let failedGeneration, _, let reason))
            where failedGeneration == generation:
            return finish(requests, .failed(reason: reason), cleanup: [
                .cancelTimer(.readyTimeout(generation: generation)), .abandon(generation: generation),
            ], context)

        case (.settling(let generation, let requests), .workerFailed(let failedGeneration, _, let reason))
            where failedGeneration == generation:
            return finish(requests, .failed(reason: reason), cleanup: [
                .cancelTimer(.settle(generation: generation)), .abandon(generation: generation),
            ], context)

        case (.awaitingReady(let generation, let pending, _, let requests), .readyTimedOut(let timedOut, let detail))
            where timedOut == generation:
            let names = pending.sorted().map { "#\($0)" }.joined(separator: ", ")
            return finish(requests, .failed(reason: "generation \(generation): worker \(names) not ready within ready_timeout\(detail)"), cleanup: [
                .abandon(generation: generation),
            ], context)

        default:
            // Late events for a generation that is no longer starting (a timer that fired
            // as it was cancelled, a worker of an abandoned generation) change nothing.
            return []
        }
    }

    // MARK: - Steps

    private mutating func begin(_ requests: [Request], _ context: Context) -> [Action] {
        startedAt = context.now
        phaseStartedAt = context.now
        phases = []
        var actions: [Action] = [.notifyReloading]
        // With max_draining generations already draining, promoting another kills the
        // oldest (§4.6) and fails its in-flight requests. Reloads in quick succession
        // usually need only a moment for a drain to end: wait for a free slot first,
        // then go on and let max_draining take its course.
        if context.drainSlotsInUse >= context.maxDraining {
            phase = .waitingForDrainSlot(requests: requests)
            actions.append(.progress(requests.map(\.id), "waiting up to \(Self.drainSlotWait.shortDescription) for a draining generation to exit (max_draining \(context.maxDraining))"))
            actions.append(.startTimer(.drainSlot, Self.drainSlotWait))
            return actions
        }
        return actions + prepare(requests, context)
    }

    private mutating func prepare(_ requests: [Request], _ context: Context) -> [Action] {
        if case .waitingForDrainSlot = phase { enterPhase("drain slot", context) }
        phase = .preparing(requests: requests)
        return [.readConfig]
    }

    private mutating func commit(_ generation: Int, _ requests: [Request], _ context: Context) -> [Action] {
        let previous = serving
        serving = generation
        var actions: [Action] = []
        if let config = pendingConfig {
            actions.append(.commitConfig(config))
            stopAcceptTimeout = config.worker.stopAcceptTimeout
        }
        pendingConfig = nil
        actions.append(.promote(generation: generation, retiring: previous))
        guard let previous else {
            return finish(requests, .succeeded(generation: generation, retired: nil), cleanup: actions, context)
        }
        // From the verdict on, every new connection must reach the new generation: wait
        // until the old one no longer waits on the listeners (the kernel then queues
        // every connection for the new one).
        phase = .stoppingAccept(generation: generation, retired: previous, requests: requests)
        return actions + [
            .progress(requests.map(\.id), "generation \(generation) serving; generation \(previous) told to stop"),
            .watchStopAccepting(generation: previous),
            .startTimer(.stopAccept(generation: previous), stopAcceptTimeout),
        ]
    }

    /// Replies (or, for `--wait-drained`, starts waiting for the retired generation), then
    /// starts the next reload if requests queued up meanwhile.
    private mutating func finish(_ requests: [Request], _ outcome: ReloadOutcome, cleanup: [Action], _ context: Context) -> [Action] {
        var actions = cleanup
        if !outcome.succeeded { pendingConfig = nil }
        record(outcome, context)
        actions.append(.verdict(outcome))
        let ids = requests.map(\.id)
        if case .succeeded(let generation, let retired?, _) = outcome {
            let waiting = requests.filter(\.waitDrained).map(\.id)
            let now = requests.filter { !$0.waitDrained }.map(\.id)
            if !now.isEmpty { actions.append(.reply(now, outcome)) }
            if !waiting.isEmpty {
                actions.append(.progress(waiting, "waiting for generation \(retired) to drain"))
                drainWaiters[retired, default: []].append((waiting, .succeeded(generation: generation, retired: retired, drained: true)))
            }
        } else {
            actions.append(.reply(ids, outcome))
        }
        // Queued requests start with `.startQueued`, once these actions were carried out.
        phase = .idle
        return actions
    }

    private mutating func resolveDrainWaiters(_ generation: Int) -> [Action] {
        (drainWaiters.removeValue(forKey: generation) ?? []).map { .reply($0.ids, $0.outcome) }
    }

    private mutating func stop() -> [Action] {
        var actions: [Action] = []
        var open: [Request] = queued
        switch phase {
        case .idle:
            break
        case .waitingForDrainSlot(let requests):
            actions.append(.cancelTimer(.drainSlot))
            open = requests + open
        case .preparing(let requests):
            open = requests + open
        case .awaitingReady(let generation, _, _, let requests):
            actions.append(.cancelTimer(.readyTimeout(generation: generation)))
            open = requests + open
        case .settling(let generation, let requests):
            actions.append(.cancelTimer(.settle(generation: generation)))
            open = requests + open
        case .stoppingAccept(let generation, let retired, let requests):
            // That reload did succeed: its clients hear so.
            actions += [.cancelTimer(.stopAccept(generation: retired)), .unwatchStopAccepting(generation: retired)]
            actions.append(.reply(requests.map(\.id), .succeeded(generation: generation, retired: retired)))
        }
        if !open.isEmpty { actions.append(.reply(open.map(\.id), .failed(reason: "graced is stopping"))) }
        phase = .idle
        queued = []
        pendingConfig = nil
        serving = nil
        return actions
    }

    // MARK: - Record

    private mutating func enterPhase(_ name: String, _ context: Context) {
        if let since = phaseStartedAt { phases.append(.init(name: name, duration: context.now.since(since))) }
        phaseStartedAt = context.now
    }

    private mutating func record(_ outcome: ReloadOutcome, _ context: Context) {
        let duration = startedAt.map { context.now.since($0) } ?? .zero
        switch outcome {
        case .succeeded(let generation, _, _):
            lastReload = ReloadRecord(succeeded: true, detail: "generation \(generation) serving", duration: duration,
                                      generation: generation, finishedAt: context.now, phases: phases)
        case .failed(let reason):
            lastReload = ReloadRecord(succeeded: false, detail: reason, duration: duration,
                                      generation: nil, finishedAt: context.now, phases: phases)
        }
        startedAt = nil
        phaseStartedAt = nil
    }
}
