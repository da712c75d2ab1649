#if canImport(Glibc)
import Glibc
#endif

/// Builds what `graced status` shows from the supervisor's state.
enum StatusReport {
    static func make(state: SupervisorState, listeners: [Listener], startedAt: MonotonicInstant, now: MonotonicInstant,
                     lastLine: (Int32) -> String? = { _ in nil }, notifyDropped: Int = 0) -> SupervisorStatus {
        let listenerInfo = listeners.map {
            SupervisorStatus.ListenerInfo(name: $0.name, address: $0.address.description, fd: $0.fd, origin: $0.origin.rawValue, inode: $0.inode)
        }
        let table = state.table
        // One read of the TCP tables for all draining workers.
        let drainingPIDs = table.workers.values.filter(\.isDraining).map(\.pid)
        let connectionCounts = ConnectionCounter.established(pids: drainingPIDs)
        let generationInfo = table.ordered.map { generation in
            let workers = generation.live.compactMap { table.workers[$0] }.sorted { ($0.slot, $0.pid) < ($1.slot, $1.pid) }.map { worker in
                var draining: Double?
                var connections: Int?
                if case .draining(let since) = worker.state {
                    draining = now.since(since).seconds
                    connections = connectionCounts[worker.pid]
                }
                return SupervisorStatus.WorkerInfo(
                    pid: worker.pid, index: worker.slot, state: worker.state.name,
                    uptimeSeconds: now.since(worker.startedAt).seconds, drainingSeconds: draining,
                    restarts: generation.restarts[worker.slot], statusText: worker.statusText, connections: connections,
                    lastLine: lastLine(worker.pid))
            }
            return SupervisorStatus.GenerationInfo(number: generation.number, state: generation.state.name, workers: workers)
        }
        let reload = state.transaction.lastReload.map {
            SupervisorStatus.ReloadInfo(ok: $0.succeeded, detail: $0.detail, durationSeconds: $0.duration.seconds,
                                        secondsAgo: now.since($0.finishedAt).seconds,
                                        phases: $0.phases.map { .init(name: $0.name, seconds: $0.duration.seconds) })
        }
        let summary: String
        switch state.stop.phase {
        case .running: summary = state.transaction.isIdle ? "running" : "reloading"
        case .draining, .killing, .finished: summary = "stopping"
        }
        return SupervisorStatus(
            pid: getpid(), version: GracedVersion.string, config: absolutePath(state.config.path),
            uptimeSeconds: now.since(startedAt).seconds, state: summary,
            listeners: listenerInfo, generations: generationInfo, lastReload: reload,
            notAccepting: state.listenersNotAccepted.isEmpty ? nil : state.listenersNotAccepted,
            notifyDropped: notifyDropped, logLinesDropped: LogOutput.droppedRecords)
    }

    /// The config path as the CLI compares it: resolved, so that a client in another
    /// directory (or of another user) sees the same file.
    private static func absolutePath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
