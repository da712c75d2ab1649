/// What the state machines ask the runtime to do. Each effect is carried out in one
/// place (`Supervisor.perform`); those marked "answer" report back with an event.
public enum SupervisorEffect: Equatable, Sendable {
    /// Read and validate the configuration file again and reconcile the listeners with
    /// it. Answer: ``SupervisorEvent/configRead(_:)`` or ``SupervisorEvent/prepareFailed(reason:)``.
    case readConfig
    /// The new generation gets the listeners as they are now (fds 3, 4, ...).
    case assignListeners(generation: Int)
    /// A reload succeeded: its configuration becomes current, its listener set final.
    case commitConfig(GracedConfig)
    /// A reload failed: the listener set before it is restored.
    case restoreListeners
    /// The generation has no process left: listeners only it used may close.
    case releaseListeners(generation: Int)
    /// Answer: ``SupervisorEvent/spawned(generation:slot:pid:)`` or ``SupervisorEvent/spawnFailed(generation:slot:error:)``.
    case spawn(generation: Int, slot: Int)
    /// Arm the readiness check of the worker's generation's mode.
    /// Answer, once ready: ``SupervisorEvent/workerReady(pid:how:)``.
    case watchReadiness(pid: Int32)
    case stopReadinessChecks(pid: Int32)
    case signal(pid: Int32, Signal)
    /// To every process of the worker's process group.
    case signalGroup(leader: Int32, Signal)
    /// `drain_timeout` is over for a worker's leftover processes: SIGKILL the group if
    /// anything of it still runs, and say so.
    case killLeftovers(leader: Int32)
    /// Answer: ``SupervisorEvent/leftoversPolled(asked:gone:)``.
    case pollLeftovers([Int32])
    /// Watch the generation's processes until none waits on a listener any more.
    /// Answer: ``SupervisorEvent/stoppedAccepting(generation:after:)``.
    case watchStopAccepting(generation: Int)
    case unwatchStopAccepting(generation: Int)
    /// Look whether the serving generation waits on each of its listeners.
    /// Answer: ``SupervisorEvent/servingAccepting(generation:missing:)``.
    case checkServingAccepts
    case startTimer(SupervisorTimer, Duration)
    case cancelTimer(SupervisorTimer)
    case progress([ReloadRequestID], String)
    case reply([ReloadRequestID], ReloadOutcome)
    case log(LogNote)
    case serviceManager(ServiceManagerMessage)
    /// A second stop request: SIGKILL every worker and readiness probe at once.
    case killAll
    /// Every worker is gone: close the listeners and the control socket, exit with `code`.
    case finishStop(code: Int32)

    /// What graced tells systemd (`Type=notify`).
    public enum ServiceManagerMessage: Equatable, Sendable {
        case ready(status: String)
        case reloading
        case stopping
        case status(String)
    }
}
