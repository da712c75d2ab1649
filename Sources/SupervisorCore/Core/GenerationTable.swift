/// Every generation and worker graced has, as values: the worker slot lifecycle
/// (starting, ready, draining, exited), the restart policy with backoff, the drain
/// timeout, `max_draining` and the processes a worker leaves behind. No I/O: each
/// method records what happened and appends the effects that follow to an ``Output``.
public struct GenerationTable: Sendable {
    /// What a call decided: effects for the runtime, and events for the reload transaction.
    public struct Output: Sendable {
        public var effects: [SupervisorEffect] = []
        /// Readiness and failures of a starting generation, and generations that ended.
        public var reloadEvents: [ReloadTransaction.Event] = []
        /// Set when the serving generation became ready for the first time.
        public var firstReady: Int?
        /// Set when the serving generation gave up after `start_limit` failed starts.
        public var startLimitHit: Int?

        public init() {}

        mutating func log(_ level: LogNote.Level, _ message: String, _ fields: [String: String]) {
            effects.append(.log(LogNote(level, message, fields)))
        }
    }

    /// What the table needs to know of the world when it handles a call.
    public struct Context: Sendable {
        public var now: MonotonicInstant
        /// False once graced is stopping: nothing is restarted any more.
        public var running: Bool
        public var maxDraining: Int

        public init(now: MonotonicInstant, running: Bool = true, maxDraining: Int = 2) {
            self.now = now
            self.running = running
            self.maxDraining = maxDraining
        }
    }

    public private(set) var generations: [Int: GenerationRecord] = [:]
    /// Workers not yet reaped, by pid.
    public private(set) var workers: [Int32: WorkerRecord] = [:]
    /// Leaders of process groups that outlived their worker and are not known to be gone.
    public private(set) var leftovers: Set<Int32> = []
    /// Groups that outlived their worker a moment ago: looked at again after ``leftoverGrace``.
    public private(set) var possibleLeftovers: Set<Int32> = []
    /// The configuration of each possible leftover's worker (stop signal, drain timeout).
    private var leftoverConfigs: [Int32: WorkerConfig] = [:]
    /// hypercorn's multiprocessing resource tracker, for one, outlives its parent by a few ms.
    static let leftoverGrace: Duration = .seconds(1)
    public private(set) var nextNumber = 1

    public init() {}

    /// Generations in number order, oldest first.
    public var ordered: [GenerationRecord] {
        generations.values.sorted { $0.number < $1.number }
    }

    /// Draining generations with processes left that were not killed.
    public var drainSlotsInUse: Int {
        generations.values.filter(\.occupiesDrainSlot).count
    }

    // MARK: - Starting

    /// Creates generation ``nextNumber`` and spawns its workers.
    public mutating func create(config: WorkerConfig, state: GenerationRecord.State, into out: inout Output) -> Int {
        let number = nextNumber
        nextNumber += 1
        generations[number] = GenerationRecord(number: number, config: config, state: state)
        out.effects.append(.assignListeners(generation: number))
        for slot in 0..<config.processes {
            out.effects.append(.spawn(generation: number, slot: slot))
        }
        return number
    }

    public mutating func spawned(generation number: Int, slot: Int, pid: Int32, _ context: Context, into out: inout Output) {
        guard var generation = generations[number] else { return }
        generation.slots[slot] = pid
        generation.live.insert(pid)
        workers[pid] = WorkerRecord(pid: pid, generation: number, slot: slot, startedAt: context.now)
        generations[number] = generation
        out.effects.append(.watchReadiness(pid: pid))
        // A starting generation is timed out by the reload transaction as a whole; the
        // workers of the serving generation each get their own deadline.
        if generation.state == .serving {
            out.effects.append(.startTimer(.workerReadyTimeout(pid: pid), generation.config.readyTimeout))
        }
    }

    public mutating func spawnFailed(generation number: Int, slot: Int, error: String, _ context: Context, into out: inout Output) {
        guard let generation = generations[number] else { return }
        switch generation.state {
        case .starting:
            out.reloadEvents.append(.workerFailed(generation: number, slot: slot, reason: "generation \(number): cannot start worker #\(slot): \(error)"))
        case .serving:
            let verb = generation.restarts[slot] == 0 ? "start" : "restart"
            out.log(.error, "cannot \(verb) worker #\(slot) of generation \(number): \(error)", ["event": "spawn-failed", "generation": "\(number)"])
            countFailedStart(number, into: &out)
            scheduleRestart(number, slot: slot, uptime: .zero, context, into: &out)
        case .draining, .abandoned:
            break
        }
    }

    // MARK: - Readiness

    public mutating func workerReady(pid: Int32, how: String, into out: inout Output) {
        guard var worker = workers[pid], worker.state == .starting, var generation = generations[worker.generation] else { return }
        worker.state = .ready
        workers[pid] = worker
        out.effects.append(.stopReadinessChecks(pid: pid))
        out.effects.append(.cancelTimer(.workerReadyTimeout(pid: pid)))
        out.log(.info, "worker \(pid) ready (\(how))", fields(worker, event: "worker-ready"))
        switch generation.state {
        case .starting:
            out.reloadEvents.append(.workerReady(generation: generation.number, slot: worker.slot))
        case .serving:
            if !generation.becameReady && allReady(generation) {
                generation.becameReady = true
                generation.failedStarts = 0
                generations[generation.number] = generation
                let count = generation.slots.count
                out.log(.info, "generation \(generation.number) ready: \(count) worker\(count == 1 ? "" : "s") serving", [
                    "event": "generation-ready", "generation": "\(generation.number)",
                ])
                out.firstReady = generation.number
            }
        case .draining, .abandoned:
            break
        }
    }

    public mutating func workerStatus(pid: Int32, text: String) {
        workers[pid]?.statusText = text
    }

    /// A worker of the serving generation did not become ready in time.
    mutating func readyTimedOut(pid: Int32, into out: inout Output) {
        guard let worker = workers[pid], worker.state == .starting, let generation = generations[worker.generation] else { return }
        let hint = worker.readinessHint.map { " (\($0))" } ?? ""
        out.log(.error, "worker \(pid) not ready after ready_timeout \(generation.config.readyTimeout.shortDescription)\(hint); killing it", fields(worker, event: "ready-timeout"))
        out.effects.append(.signal(pid: pid, .kill))
    }

    public func allReady(_ generation: GenerationRecord) -> Bool {
        generation.slots.allSatisfy { pid in pid.flatMap { workers[$0] }?.state == .ready }
    }

    // MARK: - Exits

    public mutating func workerExited(pid: Int32, status: ExitStatus, lastOutput: [String], errorLine: String? = nil, leftovers hasLeftovers: Bool,
                                      _ context: Context, into out: inout Output) {
        guard let worker = workers.removeValue(forKey: pid) else { return }
        guard var generation = generations[worker.generation] else { return }
        if hasLeftovers {
            possibleLeftovers.insert(pid)
            leftoverConfigs[pid] = generation.config
            out.effects.append(.startTimer(.leftoverGrace(leader: pid), Self.leftoverGrace))
        }
        out.effects.append(.stopReadinessChecks(pid: pid))
        out.effects.append(.cancelTimer(.workerReadyTimeout(pid: pid)))
        generation.live.remove(pid)
        if generation.slots[worker.slot] == pid { generation.slots[worker.slot] = nil }
        let uptime = context.now.since(worker.startedAt)
        let stopSignal = generation.config.stopSignal
        var fields = fields(worker, event: "worker-exited")

        switch generation.state {
        case .draining, .abandoned:
            generation.exitReports.append("pid \(pid) \(Self.describeEnd(status, stopSignal: stopSignal, toldToStop: true)) after \(timeSinceStopSignal(worker, generation, context).shortDescription)")
            generations[generation.number] = generation
            out.log(.info, "worker \(pid) \(Self.describeEnd(status, stopSignal: stopSignal, toldToStop: true))", fields)
        case .starting:
            generations[generation.number] = generation
            let settling = worker.state == .ready
            var reason = "worker #\(worker.slot) of generation \(generation.number) (pid \(pid)) \(status) \(settling ? "during ready_settle" : "before it was ready")"
            if let errorLine { reason += ": \(errorLine)" }
            fields["event"] = "worker-failed"
            if let last = Self.lastOutputField(lastOutput) { fields["last_output"] = last }
            out.log(.error, reason, fields)
            out.reloadEvents.append(.workerFailed(generation: generation.number, slot: worker.slot, reason: reason + Self.lastOutputSuffix(lastOutput)))
        case .serving:
            generations[generation.number] = generation
            if worker.isDraining {
                out.log(.info, "worker \(pid) \(Self.describeEnd(status, stopSignal: stopSignal, toldToStop: true))", fields)
            } else {
                fields["event"] = "worker-died"
                if let last = Self.lastOutputField(lastOutput) { fields["last_output"] = last }
                if let errorLine { fields["error_line"] = errorLine }
                out.log(.error, "worker \(pid) \(status) unexpectedly after \(uptime.shortDescription)", fields)
                if worker.state == .starting { countFailedStart(generation.number, into: &out) }
                let restart: Bool
                switch generation.config.restart {
                case .always: restart = true
                case .onFailure: restart = !status.isSuccess
                case .no: restart = false
                }
                if restart && out.startLimitHit == nil {
                    scheduleRestart(generation.number, slot: worker.slot, uptime: uptime, context, into: &out)
                }
            }
        }
        if let current = generations[generation.number], current.state != .serving, current.live.isEmpty {
            finished(current.number, into: &out)
        }
    }

    /// The first generation gives up after `start_limit` failed starts in a row.
    private mutating func countFailedStart(_ number: Int, into out: inout Output) {
        guard var generation = generations[number], !generation.becameReady else { return }
        generation.failedStarts += 1
        generations[number] = generation
        if generation.failedStarts >= generation.config.startLimit {
            out.startLimitHit = number
        }
    }

    /// Processes of a worker's group that outlived it still hold the listening sockets
    /// (and would keep serving, unsupervised): they get the stop signal now and SIGKILL
    /// after `drain_timeout`.
    private mutating func leftBehind(_ leader: Int32, config: WorkerConfig, into out: inout Output) {
        leftovers.insert(leader)
        out.log(.warning, "worker \(leader) exited but processes of its group are still running; sending them \(config.stopSignal)",
                ["pid": "\(leader)", "event": "leftover-processes"])
        out.effects.append(.signalGroup(leader: leader, config.stopSignal))
        out.effects.append(.signalGroup(leader: leader, .cont))
        out.effects.append(.startTimer(.leftoverKill(leader: leader), config.drainTimeout))
    }

    /// The grace after a worker's exit is over: if its group still runs, those are leftovers.
    mutating func leftoverGraceOver(leader: Int32, into out: inout Output) {
        guard possibleLeftovers.contains(leader) else { return }
        out.effects.append(.pollLeftovers([leader]))
    }

    mutating func leftoverTimedOut(leader: Int32, into out: inout Output) {
        guard leftovers.remove(leader) != nil else { return }
        out.effects.append(.killLeftovers(leader: leader))
    }

    /// Answer to a poll of `asked`: `gone` are the groups that no longer exist.
    public mutating func leftoversPolled(asked: [Int32], gone: [Int32], into out: inout Output) {
        for leader in gone where leftovers.remove(leader) != nil {
            out.effects.append(.cancelTimer(.leftoverKill(leader: leader)))
        }
        for leader in asked where possibleLeftovers.remove(leader) != nil {
            let config = leftoverConfigs.removeValue(forKey: leader)
            if !gone.contains(leader), let config { leftBehind(leader, config: config, into: &out) }
        }
    }

    /// Every group graced still waits for when it stops.
    var unfinishedGroups: Set<Int32> { leftovers.union(possibleLeftovers) }

    mutating func setReadinessHint(pid: Int32, text: String) {
        workers[pid]?.readinessHint = text
    }

    // MARK: - Restarts

    /// Restarts `slot` after the backoff delay, if policy and state allow.
    mutating func scheduleRestart(_ number: Int, slot: Int, uptime: Duration, _ context: Context, into out: inout Output) {
        guard context.running, var generation = generations[number], generation.state == .serving,
              !generation.restartPending[slot] else { return }
        let delay = generation.backoff[slot].nextDelay(afterUptime: uptime)
        generation.restartPending[slot] = true
        generations[number] = generation
        out.log(.info, "restarting worker #\(slot) of generation \(number) in \(delay.shortDescription)", [
            "event": "restart-scheduled", "generation": "\(number)", "worker": "\(slot)", "restarts": "\(generation.restarts[slot])",
        ])
        out.effects.append(.startTimer(.restart(generation: number, slot: slot), delay))
    }

    mutating func restartDue(_ number: Int, slot: Int, _ context: Context, into out: inout Output) {
        guard var generation = generations[number] else { return }
        generation.restartPending[slot] = false
        guard context.running, generation.state == .serving, generation.slots[slot] == nil else {
            generations[number] = generation
            return
        }
        generation.restarts[slot] += 1
        generations[number] = generation
        out.effects.append(.spawn(generation: number, slot: slot))
    }

    // MARK: - Retiring

    public mutating func promote(_ number: Int, into out: inout Output) {
        guard var generation = generations[number] else { return }
        generation.state = .serving
        generation.becameReady = true
        generations[number] = generation
        out.log(.info, "generation \(number) serving", ["event": "generation-serving", "generation": "\(number)"])
    }

    /// Sends the stop signal to every process of `generation` and gives them
    /// `drain_timeout` before SIGKILL.
    public mutating func retire(_ number: Int, abandoned: Bool, _ context: Context, into out: inout Output) {
        guard var generation = generations[number] else { return }
        generation.state = abandoned ? .abandoned : .draining(since: context.now)
        for slot in generation.restartPending.indices where generation.restartPending[slot] {
            generation.restartPending[slot] = false
            out.effects.append(.cancelTimer(.restart(generation: number, slot: slot)))
        }
        generations[number] = generation
        let signal = generation.config.stopSignal
        let pids = generation.live.sorted { (workers[$0]?.slot ?? 0, $0) < (workers[$1]?.slot ?? 0, $1) }
        for pid in pids {
            workers[pid]?.state = .draining(since: context.now)
            out.effects.append(.stopReadinessChecks(pid: pid))
            out.effects.append(.cancelTimer(.workerReadyTimeout(pid: pid)))
            out.effects.append(.signal(pid: pid, signal))
            // As systemd does: a stopped (SIGSTOP) worker could not act on the signal.
            out.effects.append(.signal(pid: pid, .cont))
        }
        if pids.isEmpty {
            finished(number, into: &out)
            return
        }
        out.log(.info, "generation \(number) told to stop (\(signal)), drain_timeout \(generation.config.drainTimeout.shortDescription)", [
            "event": abandoned ? "generation-abandon" : "generation-retire", "generation": "\(number)",
            "pids": pids.map(String.init).joined(separator: ","),
        ])
        out.effects.append(.startTimer(.drainTimeout(generation: number), generation.config.drainTimeout))
        enforceMaxDraining(context, into: &out)
    }

    mutating func killRemaining(of number: Int, reason: String, into out: inout Output) {
        guard var generation = generations[number] else { return }
        generation.killed = true
        generations[number] = generation
        let pids = generation.live.sorted { (workers[$0]?.slot ?? 0, $0) < (workers[$1]?.slot ?? 0, $1) }
        for pid in pids {
            guard let worker = workers[pid] else { continue }
            out.log(.warning, "generation \(number): worker \(pid) \(reason); sending SIGKILL", fields(worker, event: "drain-timeout"))
            out.effects.append(.signal(pid: pid, .kill))
            // Its process group too: descendants must not keep the listeners open.
            out.effects.append(.signalGroup(leader: pid, .kill))
        }
    }

    mutating func drainTimedOut(_ number: Int, into out: inout Output) {
        guard let generation = generations[number] else { return }
        killRemaining(of: number, reason: "still running after drain_timeout \(generation.config.drainTimeout.shortDescription)", into: &out)
    }

    /// At most `max_draining` generations drain at once: beyond that the oldest is killed.
    mutating func enforceMaxDraining(_ context: Context, into out: inout Output) {
        var draining = ordered.filter(\.occupiesDrainSlot)
        while draining.count > context.maxDraining {
            let oldest = draining.removeFirst()
            killRemaining(of: oldest.number, reason: "still draining while \(draining.count) newer generation\(draining.count == 1 ? "" : "s") drain (max_draining \(context.maxDraining))", into: &out)
        }
    }

    /// A retired or abandoned generation has no process left: log its retirement as the
    /// normal event it is, and let go of its listeners.
    mutating func finished(_ number: Int, into out: inout Output) {
        guard let generation = generations.removeValue(forKey: number) else { return }
        out.effects.append(.cancelTimer(.drainTimeout(generation: number)))
        out.effects.append(.releaseListeners(generation: number))
        let reports = generation.exitReports.isEmpty ? "no process left" : generation.exitReports.joined(separator: ", ")
        if generation.state == .abandoned {
            out.log(.info, "generation \(number) stopped: \(reports)", ["event": "generation-abandoned", "generation": "\(number)"])
        } else {
            out.log(.info, "generation \(number) drained: listeners closed, \(reports)", ["event": "generation-drained", "generation": "\(number)"])
        }
        out.reloadEvents.append(.generationGone(number))
    }

    // MARK: - Helpers

    /// Since its generation was told to stop, else since the worker started.
    private func timeSinceStopSignal(_ worker: WorkerRecord, _ generation: GenerationRecord, _ context: Context) -> Duration {
        if case .draining(let since) = generation.state { return context.now.since(since) }
        if case .draining(let since) = worker.state { return context.now.since(since) }
        return context.now.since(worker.startedAt)
    }

    func fields(_ worker: WorkerRecord, event: String) -> [String: String] {
        ["pid": "\(worker.pid)", "generation": "\(worker.generation)", "worker": "\(worker.slot)", "event": event]
    }

    /// How a worker ended, worded as the normal event it is when graced had told it to
    /// stop and it ended by exiting 0 or by that very signal.
    static func describeEnd(_ status: ExitStatus, stopSignal: Signal, toldToStop: Bool) -> String {
        if toldToStop, case .signaled = status, status.isNormalEnd(stopSignal: stopSignal) {
            return "ended by its stop signal \(stopSignal)"
        }
        return "\(status)"
    }

    static func lastOutputField(_ lines: [String]) -> String? {
        let last = lines.suffix(5)
        return last.isEmpty ? nil : last.joined(separator: " | ")
    }

    static func lastOutputSuffix(_ lines: [String]) -> String {
        let last = lines.suffix(10)
        guard !last.isEmpty else { return "" }
        return "; last output:\n" + last.map { "  " + $0 }.joined(separator: "\n")
    }
}
