#if canImport(Glibc)
import Glibc
#endif
import Logging

extension Supervisor: ControlHandler {
    /// Opens the control socket; graced runs without one only if it cannot be opened
    /// and says so loudly (a supervisor that cannot be reloaded is still better up).
    func openControlSocket() -> Bool {
        let path = ControlSocketLocation.resolve(configured: config.daemon.controlSocket, environment: environment)
        do {
            let server = try ControlServer(path: path, group: config.daemon.controlGroup, loop: loop, logger: logger)
            server.handler = self
            controlServer = server
            logger.info("control socket at \(path)", metadata: ["event": "control-open"])
            return true
        } catch {
            logger.critical("\(error)", metadata: ["event": "control-failed"])
            return false
        }
    }

    func handle(_ request: ControlRequest, from connection: ControlConnection) {
        switch request.command {
        case .status:
            connection.finish(ControlReply(event: .result, ok: true, status: statusSnapshot()))
        case .stop:
            connection.send(.progress("stopping: draining \(workersByPID.count) worker\(workersByPID.count == 1 ? "" : "s")"))
            // The connection stays open until graced exits: the client reads to end of
            // file, so `graced stop` returns only once graced is gone.
            connection.keepOpenUntilExit = true
            requestStop(reason: "graced stop from pid \(connection.peerPID)") { [weak connection] in
                connection?.send(ControlReply(event: .result, ok: true, message: "graced stopped"))
                connection?.flush()
            }
        case .reload:
            logger.info("reload requested by pid \(connection.peerPID)", metadata: ["event": "reload-requested"])
            let waitDrained = request.waitDrained ?? false
            requestReload(observer: ReloadObserver(
                progress: { [weak connection] message in connection?.send(.progress(message)) },
                finished: { [weak self, weak connection] outcome in
                    guard let self, let connection else { return }
                    switch outcome {
                    case .failed(let reason):
                        connection.finish(ControlReply(event: .result, ok: false, message: reason))
                    case .succeeded(let generation, let retired):
                        let message = "generation \(generation) serving" + (retired.map { "; generation \($0) told to stop" } ?? "")
                        let reply = ControlReply(event: .result, ok: true, message: message, generation: generation, retired: retired)
                        guard waitDrained, let retired, generations[retired] != nil else {
                            connection.finish(reply)
                            return
                        }
                        connection.send(.progress(message))
                        connection.send(.progress("waiting for generation \(retired) to drain"))
                        drainObservers[retired, default: []].append { [weak connection] in
                            connection?.finish(ControlReply(event: .result, ok: true, message: "generation \(generation) serving; generation \(retired) drained", generation: generation, retired: retired))
                        }
                    }
                }))
        }
    }

    /// The state as `graced status` shows it.
    public func statusSnapshot() -> SupervisorStatus {
        let now = MonotonicInstant.now()
        let listenerInfo = listeners.current.map {
            SupervisorStatus.ListenerInfo(name: $0.name, address: $0.address.description, fd: $0.fd, origin: $0.origin.rawValue, inode: $0.inode)
        }
        let generationInfo = orderedGenerations.map { generation in
            let workers = generation.liveWorkers.values.sorted { $0.index < $1.index }.map { worker in
                var draining: Double?
                var connections: Int?
                if case .draining(let since) = worker.state {
                    draining = now.since(since).seconds
                    connections = ConnectionCounter.established(pid: worker.pid)
                }
                return SupervisorStatus.WorkerInfo(
                    pid: worker.pid, index: worker.index, state: worker.state.name,
                    uptimeSeconds: now.since(worker.startedAt).seconds, drainingSeconds: draining,
                    restarts: generation.restarts[worker.index], statusText: worker.statusText, connections: connections)
            }
            let state: String
            switch generation.state {
            case .starting: state = "starting"
            case .serving: state = "serving"
            case .draining: state = "draining"
            case .abandoned: state = "abandoned"
            }
            return SupervisorStatus.GenerationInfo(number: generation.number, state: state, workers: workers)
        }
        let reload = lastReload.map {
            SupervisorStatus.ReloadInfo(ok: $0.succeeded, detail: $0.detail, durationSeconds: $0.duration.seconds,
                                        secondsAgo: now.since($0.finishedAt).seconds)
        }
        let state: String
        switch stopPhase {
        case .running: state = coordinator.isIdle ? "running" : "reloading"
        case .draining, .killing: state = "stopping"
        }
        return SupervisorStatus(
            pid: getpid(), version: GracedVersion.string, config: config.path,
            uptimeSeconds: now.since(startedAt).seconds, state: state,
            listeners: listenerInfo, generations: generationInfo, lastReload: reload)
    }
}
