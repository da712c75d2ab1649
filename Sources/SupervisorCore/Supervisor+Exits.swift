#if canImport(Glibc)
import Glibc
#endif
import Logging

extension Supervisor {
    func handleChildExits() {
        for (pid, status) in ChildReaper.reapAll() {
            if let worker = probes.removeValue(forKey: pid) {
                probeFinished(worker, pid: pid, status: status)
            } else if let worker = workersByPID.removeValue(forKey: pid) {
                workerExited(worker, status: status)
            }
            // Anything else was a probe we stopped caring about: reaped, nothing to do.
        }
        if stopPhase != .running && workersByPID.isEmpty {
            finishStop()
        }
    }

    func workerExited(_ worker: Worker, status: ExitStatus) {
        flushOutput(of: worker)
        reapLeftovers(of: worker)
        let wasDraining = worker.isDraining
        let uptime = MonotonicInstant.now().since(worker.startedAt)
        worker.state = .exited(status)
        cancelReadinessChecks(of: worker)
        guard let generation = generations[worker.generation] else { return }
        generation.liveWorkers.removeValue(forKey: worker.pid)
        if generation.slots[worker.index] === worker { generation.slots[worker.index] = nil }

        switch generation.state {
        case .draining, .abandoned:
            let report = "pid \(worker.pid) \(status) after \(timeSinceStopSignal(of: worker).shortDescription)"
            generation.exitReports.append(report)
            logger.info("worker \(worker.pid) \(status)", metadata: fields(worker, event: "worker-exited"))
        case .starting:
            let reason = "worker #\(worker.index) of generation \(generation.number) (pid \(worker.pid)) \(status) before it was ready"
            logger.error("\(reason)", metadata: fields(worker, event: "worker-failed").merging(lastOutputField(worker)) { a, _ in a })
            dispatch(.workerFailed(generation: generation.number, worker: worker.index, reason: reason + lastOutputSuffix(worker)))
        case .serving:
            if wasDraining {
                logger.info("worker \(worker.pid) \(status)", metadata: fields(worker, event: "worker-exited"))
            } else {
                logger.error("worker \(worker.pid) \(status) unexpectedly after \(uptime.shortDescription)", metadata:
                    fields(worker, event: "worker-died").merging(lastOutputField(worker)) { a, _ in a })
                let restart: Bool
                switch generation.config.restart {
                case .always: restart = true
                case .onFailure: restart = !status.isSuccess
                case .no: restart = false
                }
                if restart {
                    scheduleRestart(generation, index: worker.index, uptime: uptime)
                }
            }
            serviceManager.status(statusSummary)
        }
        // The reload machine may have finished the generation already (abandon).
        if generation.state != .serving && generation.liveWorkers.isEmpty && generations[generation.number] != nil {
            generationFinished(generation)
        }
    }

    /// A worker's process group outliving the worker means descendants that still hold
    /// the listening sockets (and would keep serving, unsupervised): they get the stop
    /// signal now and SIGKILL after `drain_timeout`.
    func reapLeftovers(of worker: Worker) {
        guard ProcessSignaller.groupExists(leader: worker.pid) else { return }
        let config = generations[worker.generation]?.config ?? self.config.worker
        logger.warning("worker \(worker.pid) exited but processes of its group are still running; sending them \(config.stopSignal)", metadata: fields(worker, event: "leftover-processes"))
        ProcessSignaller.sendToGroup(config.stopSignal, leader: worker.pid)
        ProcessSignaller.sendToGroup(Signal(number: SIGCONT), leader: worker.pid)
        loop.schedule(after: config.drainTimeout) { [logger] in
            guard ProcessSignaller.groupExists(leader: worker.pid) else { return }
            logger.warning("processes of worker \(worker.pid)'s group still running after drain_timeout; sending SIGKILL", metadata: ["event": "leftover-processes", "pid": "\(worker.pid)"])
            ProcessSignaller.sendToGroup(.kill, leader: worker.pid)
        }
    }

    /// A retired or abandoned generation has no process left: log its retirement as the
    /// normal event it is, and let go of its listeners.
    func generationFinished(_ generation: Generation) {
        guard generations[generation.number] === generation else { return }
        loop.cancel(generation.drainTimer)
        generation.drainTimer = nil
        generations.removeValue(forKey: generation.number)
        listeners.release(generation: generation.number)
        let reports = generation.exitReports.isEmpty ? "no process left" : generation.exitReports.joined(separator: ", ")
        switch generation.state {
        case .abandoned:
            logger.info("generation \(generation.number) stopped: \(reports)", metadata: [
                "event": "generation-abandoned", "generation": "\(generation.number)",
            ])
        default:
            logger.info("generation \(generation.number) drained: listeners closed, \(reports)", metadata: [
                "event": "generation-drained", "generation": "\(generation.number)",
            ])
        }
        for observer in drainObservers.removeValue(forKey: generation.number) ?? [] { observer() }
        drainSlotFreed()
        serviceManager.status(statusSummary)
    }

    /// Since its generation was told to stop, else since the worker started.
    private func timeSinceStopSignal(of worker: Worker) -> Duration {
        if case .draining(let since) = generations[worker.generation]?.state ?? .serving {
            return MonotonicInstant.now().since(since)
        }
        return MonotonicInstant.now().since(worker.startedAt)
    }

    func lastOutputField(_ worker: Worker) -> Logger.Metadata {
        let lines = worker.recentOutput.lines.suffix(5)
        guard !lines.isEmpty else { return [:] }
        return ["last_output": "\(lines.joined(separator: " | "))"]
    }

    func lastOutputSuffix(_ worker: Worker) -> String {
        let lines = worker.recentOutput.lines.suffix(10)
        guard !lines.isEmpty else { return "" }
        return "; last output:\n" + lines.map { "  " + $0 }.joined(separator: "\n")
    }

    // MARK: - Retiring generations

    /// Sends the stop signal to every process of `generation` and gives them
    /// `drain_timeout` before SIGKILL.
    func retire(_ generation: Generation, abandoned: Bool = false) {
        let now = MonotonicInstant.now()
        generation.state = abandoned ? .abandoned : .draining(since: now)
        for (index, timer) in generation.restartTimers.enumerated() {
            loop.cancel(timer)
            generation.restartTimers[index] = nil
        }
        let signal = generation.config.stopSignal
        for worker in generation.liveWorkers.values.sorted(by: { $0.index < $1.index }) {
            cancelReadinessChecks(of: worker)
            worker.state = .draining(since: now)
            ProcessSignaller.send(signal, to: worker.pid)
            // As systemd does: a stopped (SIGSTOP) worker could not act on the signal.
            ProcessSignaller.send(Signal(number: SIGCONT), to: worker.pid)
        }
        if generation.liveWorkers.isEmpty {
            generationFinished(generation)
            return
        }
        logger.info("generation \(generation.number) told to stop (\(signal)), drain_timeout \(generation.config.drainTimeout.shortDescription)", metadata: [
            "event": abandoned ? "generation-abandon" : "generation-retire", "generation": "\(generation.number)",
            "pids": "\(generation.liveWorkers.keys.sorted().map(String.init).joined(separator: ","))",
        ])
        generation.drainTimer = loop.schedule(after: generation.config.drainTimeout) { [unowned self] in
            generation.drainTimer = nil
            killRemaining(of: generation, reason: "still running after drain_timeout \(generation.config.drainTimeout.shortDescription)")
        }
        enforceMaxDraining()
    }

    func killRemaining(of generation: Generation, reason: String) {
        generation.killed = true
        for worker in generation.liveWorkers.values.sorted(by: { $0.index < $1.index }) {
            logger.warning("generation \(generation.number): worker \(worker.pid) \(reason); sending SIGKILL", metadata: fields(worker, event: "drain-timeout"))
            ProcessSignaller.send(.kill, to: worker.pid)
            // Its process group too: descendants must not keep the listeners open.
            ProcessSignaller.sendToGroup(.kill, leader: worker.pid)
        }
    }

    /// At most `max_draining` generations drain at once: beyond that the oldest is killed.
    func enforceMaxDraining() {
        let limit = config.worker.maxDraining
        var draining = orderedGenerations.filter { $0.isDraining && !$0.liveWorkers.isEmpty && !$0.killed }
        while draining.count > limit {
            let oldest = draining.removeFirst()
            killRemaining(of: oldest, reason: "still draining while \(draining.count) newer generation\(draining.count == 1 ? "" : "s") drain (max_draining \(limit))")
        }
    }
}
