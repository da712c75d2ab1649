/// A fact the runtime observed, fed to ``SupervisorState``: the only way state changes.
public enum SupervisorEvent: Equatable, Sendable {
    /// graced is up, listeners bound: start the first generation.
    case started
    case reloadRequested(ReloadRequestID, waitDrained: Bool)
    /// Answer to ``SupervisorEffect/readConfig``: the new configuration is valid and its
    /// listeners are open (the previous set can still be restored).
    case configRead(GracedConfig)
    /// Answer to ``SupervisorEffect/readConfig``: nothing was changed.
    case prepareFailed(reason: String)
    /// Answers to ``SupervisorEffect/spawn(generation:slot:)``.
    case spawned(generation: Int, slot: Int, pid: Int32)
    case spawnFailed(generation: Int, slot: Int, error: String)
    /// The worker (or a descendant) is ready, as its readiness mode defines it.
    case workerReady(pid: Int32, how: String)
    /// `STATUS=` from a worker.
    case workerStatus(pid: Int32, text: String)
    /// A worker was reaped. `lastOutput` are its last lines, `errorLine` the line that
    /// best says why it failed (the first exception or error line it printed), and
    /// `leftovers` whether processes of its process group still run.
    case workerExited(pid: Int32, status: ExitStatus, lastOutput: [String], errorLine: String? = nil, leftovers: Bool)
    /// Answer to ``SupervisorEffect/pollLeftovers(_:)``: of the groups `asked` about, `gone` no longer exist.
    case leftoversPolled(asked: [Int32], gone: [Int32])
    /// Answer to ``SupervisorEffect/watchStopAccepting(generation:)``: no process of the
    /// generation waits on a listener any more.
    case stoppedAccepting(generation: Int, after: Duration)
    /// What graced saw of a worker that is not ready yet, for the timeout's message.
    case readinessHint(pid: Int32, text: String)
    /// Answer to ``SupervisorEffect/checkServingAccepts``: the listeners on which no
    /// process of the serving generation waits (empty: all is well).
    case servingAccepting(generation: Int, missing: [String])
    case timerFired(SupervisorTimer)
    /// SIGTERM, SIGINT or `graced stop`; a second one kills.
    case stopRequested(reason: String)
}
