#if canImport(Glibc)
import Glibc
#endif
import Logging

extension Supervisor {
    /// Generation 1 serves from the start; its workers restart with backoff until they
    /// come up, so a bad deploy at boot leaves graced up and retrying.
    func startFirstGeneration() {
        let generation = makeGeneration(config: config.worker, state: .serving)
        serving = generation
        coordinator.setServing(generation.number)
        for index in 0..<generation.slots.count {
            if let error = spawnWorker(in: generation, index: index) {
                logger.error("cannot start worker #\(index) of generation \(generation.number): \(error)", metadata: [
                    "event": "spawn-failed", "generation": "\(generation.number)",
                ])
                scheduleRestart(generation, index: index, uptime: .zero)
            }
        }
    }

    func makeGeneration(config workerConfig: WorkerConfig, state: Generation.State) -> Generation {
        let generation = Generation(number: nextGenerationNumber, config: workerConfig, listeners: listeners.current, state: state)
        nextGenerationNumber += 1
        generations[generation.number] = generation
        listeners.markInUse(generation.listeners, by: generation.number)
        return generation
    }

    /// Starts the process of one slot. Returns the error instead of throwing: every
    /// caller handles a failure differently (retry, fail the reload).
    @discardableResult
    func spawnWorker(in generation: Generation, index: Int) -> String? {
        let workerConfig = generation.config
        let names = generation.listeners.map(\.name)
        // Exactly what `graced check` found: the same lookup, done again at each spawn so
        // a deploy that replaced the binary runs the new one.
        guard let executable = workerConfig.resolvedExecutable(processEnvironment: environment) else {
            return "command '\(workerConfig.command[0])' not found or not executable"
        }
        let credentials: WorkerCredentials?
        do {
            credentials = try UserDatabase.credentials(user: workerConfig.user, group: workerConfig.group)
        } catch {
            return "\(error)"
        }
        if let credentials, geteuid() != 0, credentials.uid != geteuid() || credentials.gid != getegid() {
            return "cannot run the worker as user \(workerConfig.user ?? "-") / group \(workerConfig.group ?? "-"): graced is not running as root"
        }
        let stdout: (read: Int32, write: Int32)
        let stderr: (read: Int32, write: Int32)
        do {
            stdout = try FileDescriptor.outputPipe()
            do {
                stderr = try FileDescriptor.outputPipe()
            } catch {
                FileDescriptor.close(stdout.read)
                FileDescriptor.close(stdout.write)
                throw error
            }
        } catch {
            return "cannot create output pipes: \(error)"
        }
        let request = SpawnRequest(
            executable: executable,
            arguments: WorkerEnvironment.expandArguments(workerConfig.command, listenerNames: names),
            environment: WorkerEnvironment.compose(
                inherited: environment, configured: workerConfig.environment, listenerNames: names,
                notifySocket: notifySocket.address, generation: generation.number, workerIndex: index,
                credentials: credentials),
            setsListenPID: true,
            passedFDs: generation.listeners.map(\.fd),
            stdinFD: devNull,
            stdoutFD: stdout.write,
            stderrFD: stderr.write,
            directory: workerConfig.directory,
            credentials: credentials == nil || geteuid() != 0 ? nil : credentials,
            // Workers drain and exit if graced dies (see README, "If graced is killed").
            parentDeathSignal: workerConfig.stopSignal)
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(request)
        } catch {
            for fd in [stdout.read, stdout.write, stderr.read, stderr.write] { FileDescriptor.close(fd) }
            return "\(error)"
        }
        FileDescriptor.close(stdout.write)
        FileDescriptor.close(stderr.write)

        let worker = Worker(pid: pid, generation: generation.number, index: index)
        generation.slots[index] = worker
        generation.liveWorkers[pid] = worker
        workersByPID[pid] = worker
        watchOutput(of: worker, stdout: stdout.read, stderr: stderr.read)
        logger.info("worker \(pid) started", metadata: fields(worker, event: "worker-started").merging([
            "command": "\(request.arguments.joined(separator: " "))",
        ]) { a, _ in a })
        beginReadiness(of: worker, in: generation)
        return nil
    }

    func watchOutput(of worker: Worker, stdout: Int32, stderr: Int32) {
        for (fd, name) in [(stdout, "stdout"), (stderr, "stderr")] {
            let stream = OutputStream(fd: fd, worker: worker, name: name)
            do {
                try loop.register(fd: fd) { [unowned self] _ in pumpOutput(stream) }
                outputStreams[fd] = stream
            } catch {
                logger.warning("cannot watch \(name) of worker \(worker.pid): \(error)")
                FileDescriptor.close(fd)
            }
        }
    }

    func pumpOutput(_ stream: OutputStream) {
        let (lines, ended) = stream.readAvailable()
        for line in lines { logWorkerLine(line, from: stream) }
        if ended {
            loop.unregister(fd: stream.fd)
            outputStreams.removeValue(forKey: stream.fd)
            FileDescriptor.close(stream.fd)
        }
    }

    /// Reads whatever a worker left in its pipes, so that its last lines are known when
    /// its exit is reported.
    func flushOutput(of worker: Worker) {
        for stream in outputStreams.values where stream.worker === worker {
            pumpOutput(stream)
        }
    }

    func logWorkerLine(_ line: String, from stream: OutputStream) {
        let worker = stream.worker
        worker.recentOutput.append(line)
        var metadata = fields(worker)
        metadata["stream"] = "\(stream.name)"
        let stopping = worker.isDraining || generations[worker.generation]?.isDraining == true
        if stopping, let config = generations[worker.generation]?.config,
           config.expectedShutdownMessages.contains(where: { !$0.isEmpty && line.contains($0) }) {
            // The normal sound of a listener being closed under a draining server.
            metadata["event"] = "closed-listener"
            logger.info("\(line)", metadata: metadata)
            return
        }
        metadata["event"] = "worker-output"
        logger.info("\(line)", metadata: metadata)
    }

    /// Restarts slot `index` after the backoff delay, if policy and state allow.
    func scheduleRestart(_ generation: Generation, index: Int, uptime: Duration) {
        guard stopPhase == .running, generation.state == .serving, generation.restartTimers[index] == nil else { return }
        let delay = generation.backoff[index].nextDelay(afterUptime: uptime)
        logger.info("restarting worker #\(index) of generation \(generation.number) in \(delay.shortDescription)", metadata: [
            "event": "restart-scheduled", "generation": "\(generation.number)", "worker": "\(index)",
            "restarts": "\(generation.restarts[index])",
        ])
        generation.restartTimers[index] = loop.schedule(after: delay) { [unowned self] in
            generation.restartTimers[index] = nil
            guard stopPhase == .running, generation.state == .serving, generation.slots[index] == nil else { return }
            generation.restarts[index] += 1
            if let error = spawnWorker(in: generation, index: index) {
                logger.error("cannot restart worker #\(index) of generation \(generation.number): \(error)", metadata: [
                    "event": "spawn-failed", "generation": "\(generation.number)",
                ])
                scheduleRestart(generation, index: index, uptime: .zero)
            }
        }
    }
}
