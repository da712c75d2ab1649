#if canImport(Glibc)
import Glibc
#endif
import Logging

extension Supervisor {
    /// Asks for a reload; `observer` hears progress and the verdict. Returns the request's id.
    @discardableResult
    public func requestReload(observer: ReloadObserver) -> ReloadRequestID {
        let id = ReloadRequestID(nextRequestID)
        nextRequestID += 1
        guard stopPhase == .running else {
            observer.finished(.failed(reason: "graced is stopping"))
            return id
        }
        reloadObservers[id] = observer
        dispatch(.requested(id))
        return id
    }

    /// Feeds the reload state machine and carries out what it decides.
    func dispatch(_ event: ReloadCoordinator.Event) {
        for action in coordinator.handle(event) {
            perform(action)
        }
    }

    private func perform(_ action: ReloadCoordinator.Action) {
        switch action {
        case .prepare:
            prepareReload()
        case .startTimer(let timer, let delay):
            reloadTimers[timer] = loop.schedule(after: delay) { [unowned self] in
                reloadTimers.removeValue(forKey: timer)
                dispatch(.timerFired(timer))
            }
        case .cancelTimer(let timer):
            loop.cancel(reloadTimers.removeValue(forKey: timer))
        case .promote(let number):
            promote(number)
        case .abandon(let number):
            abandon(number)
        case .progress(let ids, let message):
            for id in ids { reloadObservers[id]?.progress(message) }
        case .reply(let ids, let outcome):
            recordOutcome(outcome)
            Supervisor.logOutcome(outcome, logger: logger)
            for id in ids { reloadObservers.removeValue(forKey: id)?.finished(outcome) }
        }
    }

    /// Step 1-3 of a reload: read the config, reconcile listeners, spawn the generation.
    private func prepareReload() {
        reloadStartedAt = .now()
        serviceManager.reloading()
        // With max_draining generations already draining, promoting another kills the
        // oldest (§4.6) and fails its in-flight requests. Reloads in quick succession
        // usually need only a moment for a drain to end: wait up to `drainSlotWait` for
        // a free slot first, then go on and let max_draining take its course.
        let draining = generations.values.filter { $0.isDraining && !$0.liveWorkers.isEmpty }.count
        if draining >= config.worker.maxDraining && !waitingForDrainSlot {
            waitingForDrainSlot = true
            for id in coordinator.preparingRequests {
                reloadObservers[id]?.progress("waiting up to \(Supervisor.drainSlotWait.shortDescription) for a draining generation to exit (max_draining \(config.worker.maxDraining))")
            }
            drainSlotTimer = loop.schedule(after: Supervisor.drainSlotWait) { [unowned self] in
                drainSlotTimer = nil
                guard waitingForDrainSlot, stopPhase == .running else { return }
                waitingForDrainSlot = false
                continuePreparingReload()
            }
            return
        }
        continuePreparingReload()
    }

    static let drainSlotWait: Duration = .seconds(1)

    /// A generation finished draining: a reload waiting for a slot goes on now.
    func drainSlotFreed() {
        guard waitingForDrainSlot, stopPhase == .running else { return }
        waitingForDrainSlot = false
        loop.cancel(drainSlotTimer)
        drainSlotTimer = nil
        continuePreparingReload()
    }

    private func continuePreparingReload() {
        let newConfig: GracedConfig
        do {
            newConfig = try ConfigLoader.load(path: config.path, environment: environment)
        } catch {
            dispatch(.prepareFailed(reason: "invalid configuration, nothing changed: \(error)"))
            return
        }
        let previousListeners = listeners.current
        do {
            try listeners.reconcile(with: newConfig.listeners)
        } catch {
            dispatch(.prepareFailed(reason: "\(error); nothing changed"))
            return
        }
        pendingReload = (newConfig, previousListeners)
        let generation = makeGeneration(config: newConfig.worker, state: .starting)
        logger.info("reload: starting generation \(generation.number)", metadata: [
            "event": "reload-started", "generation": "\(generation.number)",
        ])
        for index in 0..<generation.slots.count {
            if let error = spawnWorker(in: generation, index: index) {
                restoreListeners()
                retire(generation, abandoned: true)
                dispatch(.prepareFailed(reason: "generation \(generation.number): cannot start worker #\(index): \(error)"))
                return
            }
        }
        dispatch(.spawned(generation: generation.number, workers: generation.slots.count,
                          readyTimeout: newConfig.worker.readyTimeout, settle: newConfig.worker.readySettle))
        // Readiness may already be known (e.g. ready = "delay" of zero).
    }

    private func restoreListeners() {
        guard let pending = pendingReload else { return }
        listeners.restore(pending.previousListeners)
        pendingReload = nil
    }

    private func promote(_ number: Int) {
        guard let generation = generations[number] else { return }
        let previous = serving
        if let pending = pendingReload {
            config = pending.config
            pendingReload = nil
        }
        fdStore.sync(listeners.current)
        generation.state = .serving
        generation.becameReady = true
        serving = generation
        logger.info("generation \(number) serving", metadata: ["event": "generation-serving", "generation": "\(number)"])
        if let previous {
            // Still-starting restarts of the old generation must not outlive it.
            retire(previous)
        }
    }

    private func abandon(_ number: Int) {
        restoreListeners()
        guard let generation = generations[number] else { return }
        retire(generation, abandoned: true)
    }

    private func recordOutcome(_ outcome: ReloadOutcome) {
        let duration = reloadStartedAt.map { MonotonicInstant.now().since($0) } ?? .zero
        switch outcome {
        case .succeeded(let generation, _):
            lastReload = ReloadRecord(succeeded: true, detail: "generation \(generation) serving", duration: duration, generation: generation)
        case .failed(let reason):
            lastReload = ReloadRecord(succeeded: false, detail: reason, duration: duration, generation: nil)
        }
        serviceManager.ready(status: statusSummary)
    }

    static func logOutcome(_ outcome: ReloadOutcome, logger: Logger) {
        switch outcome {
        case .succeeded(let generation, let retired):
            logger.info("reload succeeded: generation \(generation) serving\(retired.map { ", generation \($0) draining" } ?? "")", metadata: [
                "event": "reload-succeeded", "generation": "\(generation)",
            ])
        case .failed(let reason):
            logger.error("reload failed, the previous generation keeps serving: \(reason)", metadata: ["event": "reload-failed"])
        }
    }
}
