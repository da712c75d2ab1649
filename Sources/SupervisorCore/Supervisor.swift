#if canImport(Glibc)
import Glibc
#endif
import Logging

/// The supervisor: the single owner of all state (listeners, generations, workers,
/// the reload transaction), driven by one ``EventLoop`` on one thread.
///
/// The split across files follows the events: spawning (`Supervisor+Spawning`), readiness
/// and notify messages (`Supervisor+Readiness`), process exits (`Supervisor+Exits`),
/// reload (`Supervisor+Reload`) and stop (`Supervisor+Stop`).
public final class Supervisor {
    public enum StopPhase: Equatable {
        case running
        /// Workers were told to stop and get `drain_timeout`.
        case draining
        /// A second stop signal: workers were killed.
        case killing
    }

    let loop: EventLoop
    let logger: Logger
    let signals: SignalChannel
    let notifySocket: NotifySocket
    let devNull: Int32
    let serviceManager: ServiceManagerNotifier
    /// graced's own environment, the base of every worker's.
    let environment: [String: String]
    public internal(set) var config: GracedConfig
    public let listeners: ListenerSet

    /// Every generation that still has processes or is serving, by number.
    public internal(set) var generations: [Int: Generation] = [:]
    public internal(set) var serving: Generation?
    var nextGenerationNumber = 1
    /// Workers not yet reaped, by pid.
    var workersByPID: [pid_t: Worker] = [:]
    /// Running `ready_command` probes, by pid, with the worker they probe.
    var probes: [pid_t: Worker] = [:]
    var outputStreams: [Int32: OutputStream] = [:]

    var coordinator = ReloadCoordinator()
    var reloadTimers: [ReloadCoordinator.Timer: EventLoop.TimerID] = [:]
    var nextRequestID = 1
    /// Who is waiting for which reload: progress lines and the verdict go there.
    var reloadObservers: [ReloadRequestID: ReloadObserver] = [:]
    /// The config a running reload is installing, and the listeners to restore if it fails.
    var pendingReload: (config: GracedConfig, previousListeners: [Listener])?
    public internal(set) var lastReload: ReloadRecord?
    /// A reload is held until fewer than `max_draining` generations drain.
    var waitingForDrainSlot = false
    var drainSlotTimer: EventLoop.TimerID?
    var reloadStartedAt: MonotonicInstant?
    /// Whoever wants to hear that a retired generation is gone (`reload --wait-drained`).
    var drainObservers: [Int: [() -> Void]] = [:]

    var controlServer: ControlServer?
    var fdStore: FileDescriptorStore
    public internal(set) var stopPhase: StopPhase = .running
    var stopObservers: [() -> Void] = []
    var announcedReady = false
    var exitCode: Int32 = 0
    public let startedAt = MonotonicInstant.now()

    public init(config: GracedConfig, logger: Logger, environment: [String: String]) throws {
        self.config = config
        self.logger = logger
        self.environment = environment
        // Block before anything else: a SIGCHLD or SIGTERM from now on waits in the
        // signalfd instead of killing graced or being lost.
        SignalChannel.ignoreBrokenPipes()
        signals = try SignalChannel(signals: [SIGCHLD, SIGTERM, SIGINT, SIGHUP])
        loop = try EventLoop()
        notifySocket = try NotifySocket()
        devNull = try FileDescriptor.openDevNull()
        serviceManager = ServiceManagerNotifier(environment: environment)
        listeners = ListenerSet(logger: logger)
        fdStore = FileDescriptorStore(environment: environment, configured: config.daemon.fdStore)
    }

    /// Binds the listeners, starts the first generation and runs until stopped.
    /// Returns the process exit status.
    public func run() -> Int32 {
        adoptInheritedSockets()
        do {
            try listeners.reconcile(with: config.listeners)
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
            try loop.register(fd: notifySocket.fd) { [unowned self] _ in handleNotifyMessages() }
        } catch {
            logger.error("cannot watch signals or the notify socket: \(error)")
            return 1
        }
        _ = openControlSocket()
        startFirstGeneration()
        loop.run()
        return exitCode
    }

    // MARK: - systemd

    /// Sockets from systemd (socket units, or the fd store after a restart of graced)
    /// are used instead of binding, matched to listeners by name.
    func adoptInheritedSockets() {
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

    func startWatchdog() {
        guard let interval = Watchdog.pingInterval() else { return }
        logger.info("watchdog enabled: pinging every \(interval.shortDescription)", metadata: ["event": "watchdog"])
        func ping() {
            serviceManager.send("WATCHDOG=1")
            loop.schedule(after: interval) { ping() }
        }
        ping()
    }

    // MARK: - Signals

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

    // MARK: - Helpers shared by the extensions

    /// Generations in number order, oldest first.
    var orderedGenerations: [Generation] {
        generations.values.sorted { $0.number < $1.number }
    }

    func fields(_ worker: Worker, event: String? = nil) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["pid": "\(worker.pid)", "generation": "\(worker.generation)", "worker": "\(worker.index)"]
        if let event { metadata["event"] = "\(event)" }
        return metadata
    }

    /// One line for `STATUS=`, e.g. "generation 3 serving, 4/4 workers ready".
    var statusSummary: String {
        guard let serving else { return "starting" }
        let ready = serving.slots.filter { $0?.state == .ready }.count
        var text = "generation \(serving.number): \(ready)/\(serving.slots.count) workers ready"
        let draining = generations.values.filter(\.isDraining).count
        if draining > 0 { text += ", \(draining) draining" }
        if let lastReload { text += ", last reload \(lastReload.succeeded ? "ok" : "failed")" }
        return text
    }
}

/// Receives a reload's progress and verdict.
public struct ReloadObserver {
    public var progress: (String) -> Void
    public var finished: (ReloadOutcome) -> Void

    public init(progress: @escaping (String) -> Void, finished: @escaping (ReloadOutcome) -> Void) {
        self.progress = progress
        self.finished = finished
    }
}

/// The last reload, for `graced status`.
public struct ReloadRecord: Sendable {
    public var succeeded: Bool
    public var detail: String
    public var duration: Duration
    public var generation: Int?
    public var finishedAt: MonotonicInstant = .now()
}
