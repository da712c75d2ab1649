#if canImport(Glibc)
import Glibc
#endif
import Logging

extension Supervisor {
    /// Arms the readiness check that the config asks for.
    func beginReadiness(of worker: Worker, in generation: Generation) {
        let config = generation.config
        switch config.ready {
        case .notify, .accepting:
            // "accepting" (watching /proc) is implemented on its own branch; until it is
            // merged, only READY=1 marks such a worker ready.
            break
        case .delay:
            worker.readinessTimer = loop.schedule(after: config.readyDelay) { [unowned self] in
                worker.readinessTimer = nil
                markReady(worker, how: "alive for ready_delay \(config.readyDelay.shortDescription)")
            }
        case .exec:
            startProbe(for: worker, config: config)
        }
        // A starting generation is timed out by the reload transaction as a whole; the
        // workers of the serving generation each get their own deadline.
        if generation.state == .serving {
            worker.readyTimeoutTimer = loop.schedule(after: config.readyTimeout) { [unowned self] in
                worker.readyTimeoutTimer = nil
                guard worker.state == .starting else { return }
                logger.error("worker \(worker.pid) not ready after ready_timeout \(config.readyTimeout.shortDescription); killing it", metadata: fields(worker, event: "ready-timeout"))
                ProcessSignaller.send(.kill, to: worker.pid)
            }
        }
    }

    func markReady(_ worker: Worker, how: String) {
        guard worker.state == .starting else { return }
        worker.state = .ready
        cancelReadinessChecks(of: worker)
        logger.info("worker \(worker.pid) ready (\(how))", metadata: fields(worker, event: "worker-ready"))
        guard let generation = generations[worker.generation] else { return }
        switch generation.state {
        case .starting:
            dispatch(.workerReady(generation: generation.number, worker: worker.index))
        case .serving:
            if !generation.becameReady && generation.allReady {
                generation.becameReady = true
                logger.info("generation \(generation.number) ready: \(generation.slots.count) worker\(generation.slots.count == 1 ? "" : "s") serving", metadata: [
                    "event": "generation-ready", "generation": "\(generation.number)",
                ])
                if !announcedReady {
                    announcedReady = true
                    serviceManager.ready(status: statusSummary)
                }
            }
            serviceManager.status(statusSummary)
        case .draining, .abandoned:
            break
        }
    }

    func cancelReadinessChecks(of worker: Worker) {
        loop.cancel(worker.readinessTimer)
        loop.cancel(worker.readyTimeoutTimer)
        loop.cancel(worker.probeTimer)
        worker.readinessTimer = nil
        worker.readyTimeoutTimer = nil
        worker.probeTimer = nil
        if let probe = worker.probePID {
            // The probe's exit is still reaped; it is simply no longer interesting.
            ProcessSignaller.send(.kill, to: probe)
        }
    }

    // MARK: ready = "exec"

    func startProbe(for worker: Worker, config: WorkerConfig) {
        guard worker.state == .starting, let command = config.readyCommand, !command.isEmpty else { return }
        var probe = config
        probe.command = command
        guard let executable = probe.resolvedExecutable(processEnvironment: environment) else {
            logger.error("ready_command '\(command[0])' not found", metadata: fields(worker, event: "probe-failed"))
            return
        }
        var env = environment.filter { !WorkerEnvironment.protocolVariables.contains($0.key) }
        for variable in config.environment { env[variable.name] = variable.value }
        env["GRACED_GENERATION"] = String(worker.generation)
        env["GRACED_WORKER"] = String(worker.index)
        env["GRACED_WORKER_PID"] = String(worker.pid)
        let request = SpawnRequest(
            executable: executable, arguments: command,
            environment: env.keys.sorted().map { "\($0)=\(env[$0]!)" },
            setsListenPID: false, passedFDs: [], stdinFD: devNull, stdoutFD: devNull, stderrFD: devNull,
            directory: config.directory, credentials: nil, parentDeathSignal: .kill)
        do {
            let pid = try ProcessSpawner.spawn(request)
            worker.probePID = pid
            probes[pid] = worker
        } catch {
            logger.error("cannot run ready_command: \(error)", metadata: fields(worker, event: "probe-failed"))
        }
    }

    func probeFinished(_ worker: Worker, pid: pid_t, status: ExitStatus) {
        guard worker.probePID == pid else { return }
        worker.probePID = nil
        guard worker.state == .starting else { return }
        if status.isSuccess {
            markReady(worker, how: "ready_command exited 0")
            return
        }
        let config = generations[worker.generation]?.config ?? self.config.worker
        worker.probeTimer = loop.schedule(after: .milliseconds(250)) { [unowned self] in
            worker.probeTimer = nil
            startProbe(for: worker, config: config)
        }
    }

    // MARK: NOTIFY_SOCKET

    func handleNotifyMessages() {
        while let datagram = notifySocket.receive() {
            // Workers have no business storing fds with graced.
            datagram.fds.forEach(FileDescriptor.close)
            guard datagram.senderPID > 0,
                  let workerPID = ProcessTree.ancestor(of: datagram.senderPID, where: { workersByPID[$0] != nil }),
                  let worker = workersByPID[workerPID]
            else {
                logger.debug("ignoring notify message from pid \(datagram.senderPID), not a worker or its descendant", metadata: ["event": "notify-ignored"])
                continue
            }
            for (key, value) in NotifyMessage.parse(datagram.text) {
                switch key {
                case "READY" where value == "1":
                    let via = workerPID == datagram.senderPID ? "notified" : "notified by descendant \(datagram.senderPID)"
                    markReady(worker, how: via)
                case "STATUS":
                    worker.statusText = value
                case "STOPPING" where value == "1":
                    logger.info("worker \(worker.pid) is stopping", metadata: fields(worker, event: "worker-stopping"))
                default:
                    break
                }
            }
        }
    }
}
