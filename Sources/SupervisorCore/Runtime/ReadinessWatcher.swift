#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Finds out when a worker is ready, by the mechanism its `ready` mode names, and
/// reports it through ``onReady``. `notify` needs nothing here (the notify socket
/// reports `READY=1`); `delay` is a timer; `exec` runs `ready_command` until it exits 0;
/// `accepting` asks the ``AcceptWatcher``.
final class ReadinessWatcher {
    /// What is armed for one worker.
    private struct Watch {
        var worker: WorkerRecord
        var config: WorkerConfig
        /// The listeners it must be seen waiting on, by name and socket inode.
        var listeners: [(name: String, inode: UInt64)]
        var timer: EventLoop.TimerID?
        var probePID: Int32?
    }

    private let loop: EventLoop
    private let logger: Logger
    private let launcher: WorkerLauncher
    let accepts: AcceptWatcher
    private var watches: [Int32: Watch] = [:]
    /// Running probes, by probe pid, with the worker they probe.
    private var probes: [Int32: Int32] = [:]
    var onReady: (Int32, String) -> Void = { _, _ in }
    static let probeRetryInterval: Duration = .milliseconds(250)

    init(loop: EventLoop, logger: Logger, launcher: WorkerLauncher, accepts: AcceptWatcher) {
        self.loop = loop
        self.logger = logger
        self.launcher = launcher
        self.accepts = accepts
        accepts.onReady = { [unowned self] pid in
            let names = watches[pid]?.listeners.map(\.name).joined(separator: ", ") ?? ""
            onReady(pid, "accepting on \(names)")
        }
    }

    /// Arms the check of `config.ready` for a worker that got `listeners`.
    func watch(_ worker: WorkerRecord, config: WorkerConfig, listeners: [Listener]) {
        let wanted = listeners.filter { config.readyListeners?.contains($0.name) ?? true }
        watches[worker.pid] = Watch(worker: worker, config: config, listeners: wanted.compactMap { listener in listener.inode.map { (listener.name, $0) } })
        switch config.ready {
        case .accepting:
            accepts.watchReady(pid: worker.pid, inodes: Set(wanted.compactMap(\.inode)))
        case .notify:
            break
        case .delay:
            watches[worker.pid]?.timer = loop.schedule(after: config.readyDelay) { [unowned self] in
                watches[worker.pid]?.timer = nil
                onReady(worker.pid, "alive for ready_delay \(config.readyDelay.shortDescription)")
            }
        case .exec:
            startProbe(for: worker.pid)
        }
    }

    /// The worker is ready, exited or told to stop: nothing more to check.
    func stop(pid: Int32) {
        accepts.unwatchReady(pid: pid)
        guard let watch = watches.removeValue(forKey: pid) else { return }
        loop.cancel(watch.timer)
        if let probe = watch.probePID {
            // The probe's exit is still reaped; it is simply no longer interesting.
            ProcessSignaller.send(.kill, to: probe)
        }
    }

    /// Returns true if `pid` was a probe (then its exit is handled here).
    func probeExited(pid: Int32, status: ExitStatus) -> Bool {
        guard let workerPID = probes.removeValue(forKey: pid) else { return false }
        guard watches[workerPID]?.probePID == pid else { return true }
        watches[workerPID]?.probePID = nil
        if status.isSuccess {
            onReady(workerPID, "ready_command exited 0")
            return true
        }
        watches[workerPID]?.timer = loop.schedule(after: Self.probeRetryInterval) { [unowned self] in
            watches[workerPID]?.timer = nil
            startProbe(for: workerPID)
        }
        return true
    }

    /// What graced sees of a worker that is not ready yet, for the `ready_timeout`
    /// message: the mode's mechanism may be the wrong one for this server.
    func hint(for pid: Int32) -> String? {
        guard let watch = watches[pid], !watch.listeners.isEmpty else { return nil }
        let inodes = Set(watch.listeners.map(\.inode))
        let accepting = accepts.acceptingInodes(ofGroups: [pid], among: inodes)
        switch watch.config.ready {
        case .notify where accepting == inodes:
            return "waits for connections on its listeners but sent no READY=1: if the server does not support sd_notify, ready = \"accepting\" needs no cooperation"
        case .accepting:
            let missing = watch.listeners.filter { !accepting.contains($0.inode) }.map(\.name)
            guard !missing.isEmpty else { return nil }
            return "not seen waiting for connections on \(missing.joined(separator: ", ")) (a server that closed the inherited socket, listens elsewhere, or accepts through io_uring cannot be seen: use ready = \"notify\", \"delay\" or \"exec\" for io_uring)"
        default:
            return nil
        }
    }

    func killProbes() {
        for pid in probes.keys { ProcessSignaller.send(.kill, to: pid) }
    }

    private func startProbe(for workerPID: Int32) {
        guard let watch = watches[workerPID] else { return }
        switch launcher.spawnProbe(config: watch.config, worker: watch.worker) {
        case .success(let pid):
            watches[workerPID]?.probePID = pid
            probes[pid] = workerPID
        case .failure(let failure):
            logger.error("\(failure)", metadata: ["event": "probe-failed", "pid": "\(workerPID)", "generation": "\(watch.worker.generation)"])
        }
    }
}
