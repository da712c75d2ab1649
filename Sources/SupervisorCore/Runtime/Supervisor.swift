#if canImport(Glibc)
import Glibc
#endif
import Logging

/// The supervisor: wiring and the one effect interpreter.
///
/// It owns the OS resources (event loop, signalfd, notify socket, listeners, output
/// pipes, control socket) and nothing of the supervision logic: every fact the OS
/// reports becomes a ``SupervisorEvent`` for ``SupervisorState``, and every
/// ``SupervisorEffect`` that comes back is carried out in ``perform(_:)``, in order.
/// Effects that have an answer (spawn, read the config, poll leftovers) feed it back as
/// the next event; events are queued, so the state machine is never re-entered.
public final class Supervisor {
    let loop: EventLoop
    let logger: Logger
    let signals: SignalChannel
    let notifySocket: NotifySocket
    private lazy var notify = NotifyReceiver(
        socket: notifySocket, loop: loop,
        acceptsUID: { [unowned self] uid in workerUIDs.values.contains(uid) },
        deliver: { [unowned self] datagram in deliverNotify(datagram) })
    private lazy var idleTrim = IdleTrim(loop: loop, isIdle: { [unowned self] in
        let table = state.table
        return state.stop.isRunning && state.transaction.isIdle
            && !table.generations.values.contains(where: { $0.state != .serving })
            && !table.workers.values.contains(where: { $0.state == .starting })
    })
    private lazy var listenerGuard = DrainingListenerGuard(
        loop: loop, logger: logger, listeners: listeners,
        shouldWatch: { [unowned self] in
            state.stop.isRunning && state.table.generations.values.contains(where: \.isDraining)
        },
        suspects: { [unowned self] in
            state.table.ordered.filter(\.isDraining).map { generation in
                "generation \(generation.number) (pid \(generation.live.sorted().map(String.init).joined(separator: ", ")))"
            }.joined(separator: "; ")
        })
    let serviceManager: ServiceManagerNotifier
    /// graced's own environment, the base of every worker's.
    let environment: [String: String]
    public let listeners: ListenerSet
    let launcher: WorkerLauncher
    let output: OutputPump
    let readiness: ReadinessWatcher
    let accepts: AcceptWatcher
    var fdStore: FileDescriptorStore
    var controlServer: ControlServer?

    /// The one owner of supervision state.
    public private(set) var state: SupervisorState
    private var pendingEvents: [SupervisorEvent] = []
    private var dispatching = false
    private var timers: [SupervisorTimer: EventLoop.TimerID] = [:]
    private var nextRequestID = 1
    /// Who is waiting for which reload: progress lines and the verdict go there.
    private var reloadObservers: [ReloadRequestID: ReloadObserver] = [:]
    /// `graced stop` clients, told just before graced exits.
    private var stopObservers: [() -> Void] = []
    private var exitCode: Int32 = 0
    /// The uids that run workers: notify datagrams from anyone else are dropped unread.
    private var workerUIDs: [Int32: UInt32] = [:]
    /// Notify datagrams dropped: from a uid that runs no worker, or from no worker's tree.
    public var notifyDropped: Int { notify.dropped }
    public let startedAt = MonotonicInstant.now()

    public var config: GracedConfig { state.config }

    public init(config: GracedConfig, logger: Logger, environment: [String: String]) throws {
        self.logger = logger
        self.environment = environment
        self.state = SupervisorState(config: config)
        // Block before anything else: a SIGCHLD or SIGTERM from now on waits in the
        // signalfd instead of killing graced or being lost.
        SignalChannel.ignoreBrokenPipes()
        signals = try SignalChannel(signals: [SIGCHLD, SIGTERM, SIGINT, SIGHUP])
        loop = try EventLoop()
        notifySocket = try NotifySocket(base: Supervisor.runtimeDirectory(environment))
        serviceManager = ServiceManagerNotifier(environment: environment)
        listeners = ListenerSet(logger: logger)
        fdStore = FileDescriptorStore(environment: environment, configured: config.daemon.fdStore)
        launcher = WorkerLauncher(environment: environment, devNull: try FileDescriptor.openDevNull(), notifySocketAddress: notifySocket.address)
        output = OutputPump(loop: loop, logger: logger)
        accepts = AcceptWatcher(loop: loop)
        readiness = ReadinessWatcher(loop: loop, logger: logger, launcher: launcher, accepts: accepts)
        output.isDraining = { [unowned self] pid in
            guard let worker = state.table.workers[pid] else { return true }
            return worker.isDraining || state.table.generations[worker.generation]?.isDraining == true
        }
        readiness.onReady = { [unowned self] pid, how in send(.workerReady(pid: pid, how: how)) }
        accepts.onStopped = { [unowned self] generation, after in send(.stoppedAccepting(generation: generation, after: after)) }
    }

    /// Binds the listeners, starts the first generation and runs until stopped.
    /// Returns the process exit status.
    public func run() -> Int32 {
        // The control socket first: a second graced on the same config is named as such,
        // not reported as a port that happens to be in use. Without its control socket
        // graced could be neither reloaded nor stopped by `graced stop`: a start error.
        guard openControlSocket() else { return 1 }
        adoptInheritedSockets()
        do {
            try listeners.reconcile(with: config.listeners)
            listeners.commit()
        } catch {
            logger.error("\(error)", metadata: ["event": "listener-failed"])
            return 1
        }
        for (name, fd) in listeners.takeUnclaimed() {
            logger.warning("socket '\(name)' (fd \(fd)) passed by systemd matches no [[listener]]; closing it", metadata: ["event": "listener-unclaimed"])
            FileDescriptor.close(fd)
        }
        fdStore.sync(listeners.current)
        startWatchdog()
        do {
            try loop.register(fd: signals.fd) { [unowned self] _ in handleSignals() }
            try notify.register()
            // Log lines that could not be written at once go out when the log fd has room.
            LogOutput.attachAll(to: loop)
        } catch {
            logger.error("cannot watch signals or the notify socket: \(error)")
            return 1
        }
        send(.started)
        loop.run()
        return exitCode
    }

    // MARK: - Events in

    /// Queues an event for the state machine and carries out what it decides.
    func send(_ event: SupervisorEvent) {
        pendingEvents.append(event)
        guard !dispatching else { return }
        dispatching = true
        defer { dispatching = false }
        while !pendingEvents.isEmpty {
            let next = pendingEvents.removeFirst()
            for effect in state.handle(next, at: .now()) { perform(effect) }
        }
        listenerGuard.watch()
        idleTrim.activity()
    }

    /// Asks for a reload; `observer` hears progress and the verdict. Returns the request's id.
    @discardableResult
    public func requestReload(waitDrained: Bool = false, observer: ReloadObserver) -> ReloadRequestID {
        let id = ReloadRequestID(nextRequestID)
        nextRequestID += 1
        reloadObservers[id] = observer
        send(.reloadRequested(id, waitDrained: waitDrained))
        return id
    }

    /// SIGTERM/SIGINT or `graced stop`: drain every generation, then close the listeners
    /// and exit 0. A second request while draining kills the workers at once.
    public func requestStop(reason: String, observer: (() -> Void)? = nil) {
        if let observer { stopObservers.append(observer) }
        send(.stopRequested(reason: reason))
    }

    func handleSignals() {
        for signal in signals.drain() {
            switch signal {
            case SIGCHLD:
                handleChildExits()
            case SIGTERM, SIGINT:
                requestStop(reason: "received \(Signal(number: signal))")
            case SIGHUP:
                logger.info("received SIGHUP: reloading", metadata: ["event": "reload-requested"])
                requestReload(observer: ReloadObserver(progress: { _ in }, finished: { _ in }))
            default:
                break
            }
        }
    }

    func handleChildExits() {
        for (pid, status) in ChildReaper.reapAll() {
            if readiness.probeExited(pid: pid, status: status) { continue }
            guard state.table.workers[pid] != nil else { continue }
            workerUIDs.removeValue(forKey: pid)
            // Its last lines first, so that a failure report can quote them.
            output.flush(pid: pid)
            send(.workerExited(pid: pid, status: status, lastOutput: output.recentLines(of: pid),
                               errorLine: output.errorLine(of: pid), leftovers: ProcessSignaller.groupExists(leader: pid)))
            output.forget(pid: pid)
        }
    }

    /// A datagram from a worker's uid: what it says for the worker it came from (the
    /// sender or its ancestor). False if no worker's tree sent it.
    private func deliverNotify(_ datagram: NotifyDatagram) -> Bool {
        guard datagram.senderPID > 0,
              let workerPID = ProcessTree.ancestor(of: datagram.senderPID, where: { state.table.workers[$0] != nil })
        else {
            logger.debug("ignoring notify message from pid \(datagram.senderPID), not a worker or its descendant", metadata: ["event": "notify-ignored"])
            return false
        }
        for (key, value) in NotifyMessage.parse(datagram.text) {
            switch key {
            case "READY" where value == "1":
                // In "accepting" and "exec" modes readiness is what graced sees or the
                // probe says: gunicorn's master, for one, says READY=1 before its workers boot.
                guard let worker = state.table.workers[workerPID],
                      let mode = state.table.generations[worker.generation]?.config.ready,
                      mode == .notify || mode == .delay else { break }
                let how = workerPID == datagram.senderPID ? "notified" : "notified by descendant \(datagram.senderPID)"
                send(.workerReady(pid: workerPID, how: how))
            case "STATUS":
                send(.workerStatus(pid: workerPID, text: value))
            case "STOPPING" where value == "1":
                logger.info("worker \(workerPID) is stopping", metadata: ["event": "worker-stopping", "pid": "\(workerPID)"])
            default:
                break
            }
        }
        return true
    }

    // MARK: - Effects out

    private func perform(_ effect: SupervisorEffect) {
        switch effect {
        case .readConfig:
            readConfig()
        case .assignListeners(let generation):
            listeners.assign(to: generation)
        case .commitConfig:
            listeners.commit()
            fdStore.sync(listeners.current)
        case .restoreListeners:
            listeners.restore()
        case .releaseListeners(let generation):
            listeners.release(generation: generation)
        case .spawn(let number, let slot):
            spawn(generation: number, slot: slot)
        case .watchReadiness(let pid):
            guard let worker = state.table.workers[pid], let generation = state.table.generations[worker.generation] else { return }
            readiness.watch(worker, config: generation.config, listeners: listeners.assigned(to: worker.generation))
        case .stopReadinessChecks(let pid):
            readiness.stop(pid: pid)
        case .signal(let pid, let signal):
            ProcessSignaller.send(signal, to: pid)
        case .signalGroup(let leader, let signal):
            ProcessSignaller.sendToGroup(signal, leader: leader)
        case .killLeftovers(let leader):
            guard ProcessSignaller.groupExists(leader: leader) else { return }
            logger.warning("processes of worker \(leader)'s group still running after drain_timeout; sending SIGKILL", metadata: ["event": "leftover-processes", "pid": "\(leader)"])
            ProcessSignaller.sendToGroup(.kill, leader: leader)
        case .pollLeftovers(let leaders):
            send(.leftoversPolled(asked: leaders, gone: leaders.filter { !ProcessSignaller.groupExists(leader: $0) }))
        case .watchStopAccepting(let number):
            let inodes = Set(listeners.assigned(to: number).compactMap(\.inode))
            accepts.watchStop(generation: number, pids: { [unowned self] in
                state.table.generations[number].map { Array($0.live) } ?? []
            }, inodes: inodes)
        case .unwatchStopAccepting(let number):
            accepts.unwatchStop(generation: number)
        case .checkServingAccepts:
            guard let serving = state.serving else { return }
            let wanted = listeners.assigned(to: serving.number).filter { serving.config.readyListeners?.contains($0.name) ?? true }
            let accepting = accepts.acceptingInodes(ofGroups: Array(serving.live), among: Set(wanted.compactMap(\.inode)))
            let missing = wanted.filter { listener in listener.inode.map { !accepting.contains($0) } ?? false }.map(\.name)
            send(.servingAccepting(generation: serving.number, missing: missing))
        case .startTimer(let timer, let delay):
            loop.cancel(timers[timer])
            timers[timer] = loop.schedule(after: delay) { [unowned self] in
                timers.removeValue(forKey: timer)
                explainReadiness(before: timer)
                send(.timerFired(timer))
            }
        case .cancelTimer(let timer):
            loop.cancel(timers.removeValue(forKey: timer))
        case .progress(let ids, let message):
            for id in ids { reloadObservers[id]?.progress(message) }
        case .reply(let ids, let outcome):
            for id in ids { reloadObservers.removeValue(forKey: id)?.finished(outcome) }
        case .log(let note):
            log(note)
        case .serviceManager(let message):
            switch message {
            case .ready(let status): serviceManager.ready(status: status)
            case .reloading: serviceManager.reloading()
            case .stopping: serviceManager.stopping()
            case .status(let text): serviceManager.status(text)
            }
        case .killAll:
            for pid in state.table.workers.keys { ProcessSignaller.send(.kill, to: pid) }
            readiness.killProbes()
        case .finishStop(let code):
            finishStop(code: code)
        }
    }

    /// Before a readiness deadline is acted on: what graced saw of the workers concerned.
    private func explainReadiness(before timer: SupervisorTimer) {
        let pids: [Int32]
        switch timer {
        case .readyTimeout(let number): pids = state.table.generations[number].map { Array($0.live) } ?? []
        case .workerReadyTimeout(let pid): pids = [pid]
        default: return
        }
        for pid in pids.sorted() where state.table.workers[pid]?.state == .starting {
            if let hint = readiness.hint(for: pid) { send(.readinessHint(pid: pid, text: hint)) }
        }
    }

    /// Steps 1-2 of a reload: read the config and reconcile the listeners with it.
    private func readConfig() {
        let newConfig: GracedConfig
        do {
            newConfig = try ConfigLoader.load(path: config.path, environment: environment)
        } catch {
            send(.prepareFailed(reason: "invalid configuration, nothing changed: \(error)"))
            return
        }
        do {
            try listeners.reconcile(with: newConfig.listeners)
        } catch {
            send(.prepareFailed(reason: "\(error); nothing changed"))
            return
        }
        send(.configRead(newConfig))
    }

    private func spawn(generation number: Int, slot: Int) {
        guard let generation = state.table.generations[number] else { return }
        switch launcher.spawn(config: generation.config, listeners: listeners.assigned(to: number), generation: number, slot: slot) {
        case .success(let started):
            workerUIDs[started.pid] = started.uid
            notifySocket.allow(group: started.gid == getegid() ? nil : started.gid)
            output.watch(pid: started.pid, generation: number, slot: slot, stdout: started.stdout, stderr: started.stderr,
                         expectedShutdownMessages: generation.config.expectedShutdownMessages)
            logger.info("worker \(started.pid) started", metadata: [
                "event": "worker-started", "pid": "\(started.pid)", "generation": "\(number)", "worker": "\(slot)",
                "command": "\(started.arguments.joined(separator: " "))",
            ])
            send(.spawned(generation: number, slot: slot, pid: started.pid))
        case .failure(let error):
            send(.spawnFailed(generation: number, slot: slot, error: error.description))
        }
    }

    private func finishStop(code: Int32) {
        // Tell `graced stop` clients before the control socket closes.
        for observer in stopObservers { observer() }
        stopObservers.removeAll()
        readiness.killProbes()
        listeners.closeAll()
        notifySocket.remove()
        controlServer?.close()
        controlServer = nil
        output.closeAll()
        for timer in timers.values { loop.cancel(timer) }
        timers.removeAll()
        logger.info("graced stopped", metadata: ["event": "stopped"])
        exitCode = code
        loop.stop()
    }

    private func log(_ note: LogNote) {
        var metadata: Logger.Metadata = [:]
        for (key, value) in note.fields { metadata[key] = "\(value)" }
        let level: Logger.Level
        switch note.level {
        case .debug: level = .debug
        case .info: level = .info
        case .notice: level = .notice
        case .warning: level = .warning
        case .error: level = .error
        case .critical: level = .critical
        }
        logger.log(level: level, "\(note.message)", metadata: metadata)
    }

    /// Where graced keeps its notify socket: systemd's `RuntimeDirectory=`, else /run, else /tmp.
    static func runtimeDirectory(_ environment: [String: String]) -> String {
        if let first = environment["RUNTIME_DIRECTORY"]?.split(separator: ":").first { return String(first) }
        return access("/run", W_OK) == 0 ? "/run" : "/tmp"
    }

    // MARK: - systemd

    /// Sockets from systemd (socket units, or the fd store after a restart of graced)
    /// are used instead of binding, matched to listeners by name.
    private func adoptInheritedSockets() {
        let origin: ListenerOrigin = fdStore.isEnabled ? .fdStore : .systemd
        for (name, fd) in InheritedSockets.take() {
            if let existing = listeners.inherited[name] {
                // A socket unit and the fd store may both pass the same socket.
                if SocketInfo.inode(existing.fd) != SocketInfo.inode(fd) {
                    logger.warning("systemd passed two different sockets named '\(name)'; using the first (fd \(existing.fd))", metadata: ["event": "listener-duplicate"])
                }
                FileDescriptor.close(fd)
                continue
            }
            listeners.inherited[name] = (fd, origin)
        }
    }

    private func startWatchdog() {
        guard let interval = Watchdog.pingInterval() else { return }
        logger.info("watchdog enabled: pinging every \(interval.shortDescription)", metadata: ["event": "watchdog"])
        func ping() {
            serviceManager.send("WATCHDOG=1")
            loop.schedule(after: interval) { ping() }
        }
        ping()
    }

    // MARK: - Control socket

    /// Opens the control socket (creating a missing last directory component).
    private func openControlSocket() -> Bool {
        let path = ControlSocketLocation.resolve(configured: config.daemon.controlSocket, environment: environment)
        do {
            let server = try ControlServer(path: path, group: config.daemon.controlGroup, loop: loop, logger: logger)
            server.handler = self
            controlServer = server
            logger.info("control socket at \(path)", metadata: ["event": "control-open"])
            return true
        } catch where error.inUse {
            logger.critical("graced is already running: \(Self.describeRunningSupervisor(at: path)); not starting a second one", metadata: ["event": "already-running"])
            return false
        } catch {
            logger.critical("cannot open the control socket: \(error)", metadata: ["event": "control-failed"])
            return false
        }
    }

    /// "pid 4242, config /etc/graced/graced.conf, control socket /run/graced/graced.sock".
    static func describeRunningSupervisor(at path: String) -> String {
        guard let client = try? ControlClient(path: path) else { return "control socket \(path)" }
        var text = "pid \(client.peerPID.map(String.init) ?? "?")"
        if (try? client.send(ControlRequest(command: .status))) != nil,
           let reply = try? client.nextReply(timeout: .seconds(2)), let status = reply.status {
            text += ", config \(status.config)"
        }
        return text + ", control socket \(path)"
    }
}

extension Supervisor: ControlHandler {
    func handle(_ request: ControlRequest, from connection: ControlConnection) {
        switch request.command {
        case .status:
            connection.finish(ControlReply(event: .result, ok: true, status: statusSnapshot()))
        case .stop:
            let count = state.table.workers.count
            connection.send(.progress("stopping: draining \(count) worker\(count == 1 ? "" : "s")"))
            // The connection stays open until graced exits: the client reads to end of
            // file, so `graced stop` returns only once graced is gone.
            connection.keepOpenUntilExit = true
            requestStop(reason: "graced stop from pid \(connection.peerPID)") { [weak connection] in
                connection?.send(ControlReply(event: .result, ok: true, message: "graced stopped"))
                connection?.flush()
            }
        case .reload:
            logger.info("reload requested by pid \(connection.peerPID)", metadata: ["event": "reload-requested"])
            requestReload(waitDrained: request.waitDrained ?? false, observer: ReloadObserver(
                progress: { [weak connection] message in connection?.send(.progress(message)) },
                finished: { [weak connection] outcome in connection?.finish(ControlReply(outcome)) }))
        }
    }

    /// The state as `graced status` shows it.
    public func statusSnapshot() -> SupervisorStatus {
        StatusReport.make(state: state, listeners: listeners.current, startedAt: startedAt, now: .now(),
                          lastLine: { [output] pid in output.recentLines(of: pid).last }, notifyDropped: notifyDropped)
    }
}
