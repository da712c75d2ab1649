/// The validated configuration of one supervisor, as read from `graced.conf`.
///
/// Produced only by ``ConfigLoader``; every value here has already been checked, so
/// the rest of graced never re-validates it.
public struct GracedConfig: Equatable, Sendable {
    /// The file the configuration was read from.
    public var path: String
    public var daemon: DaemonSettings
    /// In file order: the first listener becomes fd 3 in every worker.
    public var listeners: [ListenerConfig]
    public var worker: WorkerConfig

    public init(path: String, daemon: DaemonSettings, listeners: [ListenerConfig], worker: WorkerConfig) {
        self.path = path
        self.daemon = daemon
        self.listeners = listeners
        self.worker = worker
    }
}

/// The `[graced]` table.
public struct DaemonSettings: Equatable, Sendable {
    /// `control_socket`; nil means the default ($RUNTIME_DIRECTORY/graced.sock, else /run/graced.sock).
    public var controlSocket: String?
    /// `control_group`: members may use the control socket (mode 0660).
    public var controlGroup: String?
    /// `fd_store`: nil means "automatic" (on when `$FDSTORE` is set).
    public var fdStore: Bool?
    /// `log_format`.
    public var logFormat: LogFormat

    public init(controlSocket: String? = nil, controlGroup: String? = nil, fdStore: Bool? = nil, logFormat: LogFormat = .auto) {
        self.controlSocket = controlSocket
        self.controlGroup = controlGroup
        self.fdStore = fdStore
        self.logFormat = logFormat
    }
}

public enum LogFormat: String, Equatable, Sendable, CaseIterable {
    /// journald when `JOURNAL_STREAM` matches stderr, text otherwise.
    case auto
    case text
    case journal
}

/// One `[[listener]]` entry.
public struct ListenerConfig: Equatable, Sendable {
    /// Goes into `LISTEN_FDNAMES`; unique; `[A-Za-z0-9_.-]+`.
    public var name: String
    public var address: ListenerAddress
    /// `backlog`; default 4096 (the kernel caps it at net.core.somaxconn).
    public var backlog: Int32
    /// The line of the `[[listener]]` header, for messages about this listener.
    public var line: Int

    public init(name: String, address: ListenerAddress, backlog: Int32 = 4096, line: Int = 0) {
        self.name = name
        self.address = address
        self.backlog = backlog
        self.line = line
    }
}

/// Where a listener listens.
public enum ListenerAddress: Hashable, Sendable, CustomStringConvertible {
    /// A numeric IPv4 address (`0.0.0.0:8080`; `localhost` is read as 127.0.0.1).
    case ipv4(host: String, port: UInt16)
    /// A numeric IPv6 address, written in brackets (`[::]:8080`).
    case ipv6(host: String, port: UInt16)
    /// `unix:/run/app.sock`: a Unix stream socket at an absolute path.
    case unix(path: String)

    /// The address as the configuration spells it.
    public var description: String {
        switch self {
        case .ipv4(let host, let port): return "\(host):\(port)"
        case .ipv6(let host, let port): return "[\(host)]:\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }
}

/// How graced decides that a new worker can serve.
public enum ReadinessMode: String, Equatable, Sendable, CaseIterable {
    /// graced sees each worker (or a process of its process group) waiting for connections
    /// on its listeners (`ready_listeners`, default all), from /proc.
    case accepting
    /// The worker (or a descendant) sends `READY=1` to `NOTIFY_SOCKET`.
    case notify
    /// Alive for `ready_delay` counts as ready.
    case delay
    /// `ready_command` exits 0 (retried until `ready_timeout`).
    case exec
}

public enum RestartPolicy: String, Equatable, Sendable, CaseIterable {
    case always
    case onFailure = "on-failure"
    case no
}

/// The `[worker]` table.
public struct WorkerConfig: Equatable, Sendable {
    /// argv, no shell. `{fd:NAME}` is expanded at spawn time.
    public var command: [String]
    public var directory: String?
    public var user: String?
    public var group: String?
    /// Sorted by key, so that two configs with the same table compare equal.
    public var environment: [EnvironmentVariable]
    public var processes: Int
    public var ready: ReadinessMode
    /// `ready_listeners`: for `ready = "accepting"`, the listeners each worker must be seen
    /// waiting on; each names a `[[listener]]`, none twice. nil (the default) means all of them.
    public var readyListeners: [String]?
    public var readyDelay: Duration
    public var readyCommand: [String]?
    public var readyTimeout: Duration
    /// `ready_settle`: extra time after readiness before the old generation is stopped
    /// (for backends such as gunicorn whose master says READY=1 before its workers boot).
    public var readySettle: Duration
    /// `stop_accept_timeout`: how long a reload waits, after stopping the old generation,
    /// until none of its processes waits on the listeners any more (default 5s).
    public var stopAcceptTimeout: Duration
    /// `start_limit`: failed starts in a row of the first generation before `graced run`
    /// exits 1 (default 5, at least 1).
    public var startLimit: Int
    public var stopSignal: Signal
    public var drainTimeout: Duration
    public var maxDraining: Int
    public var restart: RestartPolicy
    public var expectedShutdownMessages: [String]

    public static let defaultExpectedShutdownMessages = [
        "use of closed network connection",   // Go net.Listener.Accept after Close
        "http: Server closed",                // Go http.ErrServerClosed
        "Bad file descriptor",                // C, Python (EBADF on accept after close)
        "Stopping server",                    // not an error: common shutdown banners
        "Shutting down",                      // gunicorn, uvicorn
        "Handling signal: term",              // gunicorn master
        "Worker exiting",                     // gunicorn worker
        "Waiting for application shutdown",   // uvicorn
        "Graceful stop",                      // puma
    ]

    public init(
        command: [String],
        directory: String? = nil,
        user: String? = nil,
        group: String? = nil,
        environment: [EnvironmentVariable] = [],
        processes: Int = 1,
        ready: ReadinessMode = .accepting,
        readyListeners: [String]? = nil,
        readyDelay: Duration = .seconds(1),
        readyCommand: [String]? = nil,
        readyTimeout: Duration = .seconds(30),
        readySettle: Duration = .zero,
        stopAcceptTimeout: Duration = .seconds(5),
        startLimit: Int = 5,
        stopSignal: Signal = .term,
        drainTimeout: Duration = .seconds(30),
        maxDraining: Int = 2,
        restart: RestartPolicy = .onFailure,
        expectedShutdownMessages: [String] = WorkerConfig.defaultExpectedShutdownMessages
    ) {
        self.command = command
        self.directory = directory
        self.user = user
        self.group = group
        self.environment = environment
        self.processes = processes
        self.ready = ready
        self.readyListeners = readyListeners
        self.readyDelay = readyDelay
        self.readyCommand = readyCommand
        self.readyTimeout = readyTimeout
        self.readySettle = readySettle
        self.stopAcceptTimeout = stopAcceptTimeout
        self.startLimit = startLimit
        self.stopSignal = stopSignal
        self.drainTimeout = drainTimeout
        self.maxDraining = maxDraining
        self.restart = restart
        self.expectedShutdownMessages = expectedShutdownMessages
    }
}

public struct EnvironmentVariable: Hashable, Sendable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}
