/// All of graced's supervision state and the rules that change it, with no I/O: the one
/// owner of the configuration in force, the generations (``GenerationTable``), the reload
/// transaction (``ReloadTransaction``) and the stop sequence (``StopSequence``).
///
/// The runtime turns what the OS reports into ``SupervisorEvent``s, calls ``handle(_:at:)``
/// and carries out the ``SupervisorEffect``s it returns, in order. Everything in between —
/// which exit fails a reload, when a generation is promoted, what gets restarted — is
/// decided here and unit-tested without a process.
public struct SupervisorState: Sendable {
    public private(set) var config: GracedConfig
    public private(set) var table = GenerationTable()
    public private(set) var transaction = ReloadTransaction()
    public private(set) var stop = StopSequence()
    /// `READY=1` went to systemd (only once the first generation was ready).
    public private(set) var announcedReady = false

    /// The listeners on which no process of the serving generation waits, as last seen.
    public private(set) var listenersNotAccepted: [String] = []
    /// After promotion or a serving worker's exit, graced looks again after this long.
    static let servingCheckDelay: Duration = .seconds(2)

    public init(config: GracedConfig) {
        self.config = config
        self.transaction = ReloadTransaction(stopAcceptTimeout: config.worker.stopAcceptTimeout)
    }

    public mutating func handle(_ event: SupervisorEvent, at now: MonotonicInstant) -> [SupervisorEffect] {
        var out = GenerationTable.Output()
        switch event {
        case .started:
            let number = table.create(config: config.worker, state: .serving, into: &out)
            transaction.setServing(number)

        case .reloadRequested(let id, let waitDrained):
            guard stop.isRunning else {
                out.effects.append(.reply([id], .failed(reason: "graced is stopping")))
                break
            }
            reload(.requested(.init(id: id, waitDrained: waitDrained)), now, &out)

        case .configRead(let newConfig):
            reload(.configRead(newConfig, generation: table.nextNumber), now, &out)

        case .prepareFailed(let reason):
            reload(.prepareFailed(reason: reason), now, &out)

        case .spawned(let generation, let slot, let pid):
            table.spawned(generation: generation, slot: slot, pid: pid, tableContext(now), into: &out)

        case .spawnFailed(let generation, let slot, let error):
            table.spawnFailed(generation: generation, slot: slot, error: error, tableContext(now), into: &out)

        case .workerReady(let pid, let how):
            table.workerReady(pid: pid, how: how, into: &out)
            if table.workers[pid].map({ table.generations[$0.generation]?.state == .serving }) == true {
                out.effects.append(.serviceManager(.status(statusSummary)))
            }

        case .workerStatus(let pid, let text):
            table.workerStatus(pid: pid, text: text)

        case .workerExited(let pid, let status, let lastOutput, let errorLine, let leftovers):
            let servingBefore = table.workers[pid].map { table.generations[$0.generation]?.state == .serving } ?? false
            table.workerExited(pid: pid, status: status, lastOutput: lastOutput, errorLine: errorLine, leftovers: leftovers, tableContext(now), into: &out)
            if servingBefore {
                out.effects.append(.serviceManager(.status(statusSummary)))
                if stop.isRunning { out.effects.append(.startTimer(.servingCheck, Self.servingCheckDelay)) }
            }

        case .leftoversPolled(let asked, let gone):
            table.leftoversPolled(asked: asked, gone: gone, into: &out)

        case .stoppedAccepting(let generation, let after):
            reload(.stoppedAccepting(generation: generation, after: after), now, &out)

        case .readinessHint(let pid, let text):
            table.setReadinessHint(pid: pid, text: text)

        case .servingAccepting(let generation, let missing):
            guard generation == transaction.serving, missing != listenersNotAccepted else { break }
            listenersNotAccepted = missing
            if missing.isEmpty {
                out.log(.info, "generation \(generation) accepts on every listener again", ["event": "accepting", "generation": "\(generation)"])
            } else {
                out.log(.error, "no worker accepting on \(missing.joined(separator: ", ")) (generation \(generation))", [
                    "event": "not-accepting", "generation": "\(generation)", "listener": missing.joined(separator: ","),
                ])
            }
            out.effects.append(.serviceManager(.status(statusSummary)))

        case .timerFired(let timer):
            switch timer {
            case .drainSlot, .settle, .stopAccept:
                reload(.timerFired(timer), now, &out)
            case .readyTimeout(let generation):
                reload(.readyTimedOut(generation: generation, detail: readinessHints(of: generation)), now, &out)
            case .servingCheck:
                if stop.isRunning && transaction.serving != nil { out.effects.append(.checkServingAccepts) }
            case .leftoverGrace(let leader):
                table.leftoverGraceOver(leader: leader, into: &out)
            case .workerReadyTimeout(let pid):
                table.readyTimedOut(pid: pid, into: &out)
            case .restart(let generation, let slot):
                table.restartDue(generation, slot: slot, tableContext(now), into: &out)
            case .drainTimeout(let generation):
                table.drainTimedOut(generation, into: &out)
            case .leftoverKill(let leader):
                table.leftoverTimedOut(leader: leader, into: &out)
            case .leftoverPoll:
                stop.pollFired()
            }

        case .stopRequested(let reason):
            requestStop(reason: reason, exitCode: 0, now, &out)
        }
        settle(now, &out)
        return out.effects
    }

    // MARK: - Routing between the machines

    /// Feeds the reload transaction and everything that follows from it, until nothing
    /// is left to route.
    private mutating func settle(_ now: MonotonicInstant, _ out: inout GenerationTable.Output) {
        while true {
            if let number = out.firstReady {
                out.firstReady = nil
                if !announcedReady && transaction.serving == number {
                    announcedReady = true
                    out.effects.append(.serviceManager(.ready(status: statusSummary)))
                }
                out.effects.append(.startTimer(.servingCheck, Self.servingCheckDelay))
            }
            if let number = out.startLimitHit {
                out.startLimitHit = nil
                let limit = table.generations[number]?.config.startLimit ?? config.worker.startLimit
                out.log(.error, "generation \(number) failed to start \(limit) times in a row (start_limit \(limit)); giving up", [
                    "event": "start-limit", "generation": "\(number)",
                ])
                requestStop(reason: "start_limit reached", exitCode: 1, now, &out)
            }
            if !out.reloadEvents.isEmpty {
                let events = out.reloadEvents
                out.reloadEvents = []
                for event in events { reload(event, now, &out) }
                continue
            }
            if out.firstReady == nil && out.startLimitHit == nil { break }
        }
        out.effects += stop.finishIfDone(workers: table.workers.count, leftovers: table.unfinishedGroups)
    }

    private mutating func reload(_ event: ReloadTransaction.Event, _ now: MonotonicInstant, _ out: inout GenerationTable.Output) {
        let context = ReloadTransaction.Context(now: now, drainSlotsInUse: table.drainSlotsInUse, maxDraining: config.worker.maxDraining)
        for action in transaction.handle(event, context) {
            switch action {
            case .notifyReloading:
                out.effects.append(.serviceManager(.reloading))
            case .readConfig:
                out.effects.append(.readConfig)
            case .startGeneration(let generation, let workerConfig):
                let number = table.create(config: workerConfig, state: .starting, into: &out)
                assert(number == generation, "the transaction predicted generation \(generation), the table made \(number)")
                out.log(.info, "reload: starting generation \(number)", ["event": "reload-started", "generation": "\(number)"])
            case .startTimer(let timer, let delay):
                out.effects.append(.startTimer(timer, delay))
            case .cancelTimer(let timer):
                out.effects.append(.cancelTimer(timer))
            case .commitConfig(let newConfig):
                config = newConfig
                out.effects.append(.commitConfig(newConfig))
            case .promote(let generation, let retiring):
                table.promote(generation, into: &out)
                listenersNotAccepted = []
                out.effects.append(.startTimer(.servingCheck, Self.servingCheckDelay))
                if let retiring {
                    // Still-starting restarts of the old generation must not outlive it.
                    table.retire(retiring, abandoned: false, tableContext(now), into: &out)
                }
            case .abandon(let generation):
                out.effects.append(.restoreListeners)
                table.retire(generation, abandoned: true, tableContext(now), into: &out)
            case .watchStopAccepting(let generation):
                out.effects.append(.watchStopAccepting(generation: generation))
            case .unwatchStopAccepting(let generation):
                out.effects.append(.unwatchStopAccepting(generation: generation))
            case .warnStillAccepting(let generation, let timeout):
                let pids = table.generations[generation].map { $0.live.sorted().map(String.init).joined(separator: ",") } ?? ""
                out.log(.warning, "generation \(generation) still accepting after stop_accept_timeout \(timeout.shortDescription) (pids \(pids)); new connections may still reach it", [
                    "event": "still-accepting", "generation": "\(generation)", "pids": pids,
                ])
            case .progress(let ids, let message):
                out.effects.append(.progress(ids, message))
            case .verdict(let outcome):
                logVerdict(outcome, &out)
                if outcome.succeeded { announcedReady = true }
                out.effects.append(.serviceManager(announcedReady ? .ready(status: statusSummary) : .status(statusSummary)))
            case .reply(let ids, let outcome):
                out.effects.append(.reply(ids, outcome))
            }
        }
        if transaction.phase == .idle && !transaction.queued.isEmpty && stop.isRunning {
            reload(.startQueued, now, &out)
        }
    }

    private mutating func requestStop(reason: String, exitCode: Int32, _ now: MonotonicInstant, _ out: inout GenerationTable.Output) {
        let workers = table.workers.count
        switch stop.request(exitCode: exitCode) {
        case .drain:
            out.effects.append(.serviceManager(.stopping))
            out.log(.info, "stopping (\(reason)): draining \(workers) worker\(workers == 1 ? "" : "s")", ["event": "stopping"])
            reload(.stopping, now, &out)
            for generation in table.ordered where generation.state == .serving || generation.state == .starting {
                table.retire(generation.number, abandoned: generation.state == .starting, tableContext(now), into: &out)
            }
        case .kill:
            out.log(.warning, "stopping now (\(reason) again): killing \(workers) worker\(workers == 1 ? "" : "s")", ["event": "stop-now"])
            out.effects.append(.killAll)
            for leader in table.leftovers.sorted() { out.effects.append(.signalGroup(leader: leader, .kill)) }
        case .nothing:
            break
        }
    }

    private func logVerdict(_ outcome: ReloadOutcome, _ out: inout GenerationTable.Output) {
        switch outcome {
        case .succeeded(let generation, let retired, _):
            out.log(.info, "reload succeeded: generation \(generation) serving\(retired.map { ", generation \($0) draining" } ?? "")", [
                "event": "reload-succeeded", "generation": "\(generation)",
            ])
        case .failed(let reason):
            out.log(.error, "reload failed, the previous generation keeps serving: \(reason)", ["event": "reload-failed"])
        }
    }

    /// What graced saw of the starting generation's workers that are not ready, for the
    /// `ready_timeout` message.
    private func readinessHints(of generation: Int) -> String {
        guard let record = table.generations[generation] else { return "" }
        let hints = record.slots.compactMap { pid -> String? in
            guard let pid, let worker = table.workers[pid], worker.state == .starting, let hint = worker.readinessHint else { return nil }
            return "worker #\(worker.slot) (pid \(pid)) \(hint)"
        }
        return hints.isEmpty ? "" : ": " + hints.joined(separator: "; ")
    }

    private func tableContext(_ now: MonotonicInstant) -> GenerationTable.Context {
        GenerationTable.Context(now: now, running: stop.isRunning, maxDraining: config.worker.maxDraining)
    }

    // MARK: - Reading

    /// The serving generation, if any.
    public var serving: GenerationRecord? {
        transaction.serving.flatMap { table.generations[$0] }
    }

    /// One line for `STATUS=`, e.g. "generation 3: 4/4 workers ready, 1 draining".
    public var statusSummary: String {
        guard let serving else { return stop.isRunning ? "starting" : "stopping" }
        let ready = serving.slots.filter { pid in pid.flatMap { table.workers[$0] }?.state == .ready }.count
        var text = "generation \(serving.number): \(ready)/\(serving.slots.count) workers ready"
        let draining = table.generations.values.filter(\.isDraining).count
        if draining > 0 { text += ", \(draining) draining" }
        if let last = transaction.lastReload { text += ", last reload \(last.succeeded ? "ok" : "failed")" }
        if !listenersNotAccepted.isEmpty { text += ", no worker accepting on \(listenersNotAccepted.joined(separator: ", "))" }
        return text
    }
}
