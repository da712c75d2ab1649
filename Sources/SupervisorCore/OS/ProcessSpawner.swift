#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// Everything needed to start one process the way systemd starts a socket-activated
/// service.
struct SpawnRequest {
    /// Absolute path (see ``WorkerConfig/resolvedExecutable(processEnvironment:)``).
    var executable: String
    /// argv, argv[0] included.
    var arguments: [String]
    /// The complete environment, except `LISTEN_PID`.
    var environment: [String]
    /// Adds `LISTEN_PID=<the child's own pid>`, written by the child after fork.
    var setsListenPID: Bool
    /// Become fds 3, 4, ... in the child.
    var passedFDs: [Int32]
    var stdinFD: Int32
    var stdoutFD: Int32
    var stderrFD: Int32
    var directory: String?
    var credentials: WorkerCredentials?
    var parentDeathSignal: Signal?
    /// RLIMIT_NOFILE for the child: by default the limit graced started with, once
    /// ``ResourceLimits/raiseFileLimit()`` raised graced's own (nil: inherit graced's).
    var fileLimit: rlimit? = ResourceLimits.workerFileLimit
}

/// A spawn that failed before or at exec, with the step that failed.
public struct SpawnError: Error, Equatable, Sendable, CustomStringConvertible {
    public var executable: String
    public var step: String
    public var errno: Int32

    public var description: String {
        let reason = SystemError.describe(errno)
        switch step {
        case "exec": return "cannot execute \(executable): \(reason)"
        default: return "cannot start \(executable): \(step) failed: \(reason)"
        }
    }
}

enum ProcessSpawner {
    /// Forks and execs; returns the child's pid once exec succeeded.
    static func spawn(_ request: SpawnRequest) throws(SpawnError) -> pid_t {
        // All C strings are built before fork: the child must not allocate.
        var arena = CStringArena()
        defer { arena.free() }
        let argv = arena.array(request.arguments)
        var environment = request.environment
        let pidSlotPrefix = "LISTEN_PID="
        if request.setsListenPID {
            environment.append(pidSlotPrefix + String(repeating: "0", count: 24))
        }
        let envp = arena.array(environment)
        var digits: UnsafeMutablePointer<CChar>? = nil
        if request.setsListenPID, let slot = envp[environment.count - 1] {
            digits = slot + pidSlotPrefix.utf8.count
        }
        let path = arena.string(request.executable)
        let directory = request.directory.map { arena.string($0) }
        let groups = request.credentials?.groups ?? []

        var errorNumber: Int32 = 0
        var failedStep: Int32 = 0
        let pid: pid_t = request.passedFDs.withUnsafeBufferPointer { fds in
            groups.withUnsafeBufferPointer { groupList in
                var c = graced_spawn_request()
                c.path = UnsafePointer(path)
                c.argv = UnsafePointer(argv)
                c.envp = UnsafePointer(envp)
                c.listen_pid_digits = digits
                c.fds = fds.baseAddress
                c.nfds = Int32(fds.count)
                c.stdin_fd = request.stdinFD
                c.stdout_fd = request.stdoutFD
                c.stderr_fd = request.stderrFD
                c.directory = directory.map { UnsafePointer($0) }
                if let credentials = request.credentials {
                    c.change_ids = 1
                    c.uid = credentials.uid
                    c.gid = credentials.gid
                    c.groups = groupList.baseAddress
                    c.ngroups = Int32(groupList.count)
                }
                c.parent_death_signal = request.parentDeathSignal?.number ?? 0
                c.parent_pid = getpid()
                if let limit = request.fileLimit {
                    c.set_nofile = 1
                    c.nofile = limit
                }
                return graced_spawn(&c, &errorNumber, &failedStep)
            }
        }
        guard pid > 0 else {
            throw SpawnError(executable: request.executable, step: stepName(failedStep), errno: errorNumber)
        }
        return pid
    }

    private static func stepName(_ step: Int32) -> String {
        switch graced_spawn_step(rawValue: UInt32(step)) {
        case GRACED_SPAWN_FORK: return "fork"
        case GRACED_SPAWN_PIPE: return "pipe"
        case GRACED_SPAWN_SIGNALS: return "resetting signals"
        case GRACED_SPAWN_SETSID: return "setsid"
        case GRACED_SPAWN_STDIO: return "redirecting stdio"
        case GRACED_SPAWN_FDS: return "passing listeners"
        case GRACED_SPAWN_CHDIR: return "chdir to the directory"
        case GRACED_SPAWN_SETGROUPS: return "setgroups"
        case GRACED_SPAWN_SETGID: return "setgid"
        case GRACED_SPAWN_SETUID: return "setuid"
        case GRACED_SPAWN_PDEATHSIG: return "prctl(PR_SET_PDEATHSIG)"
        case GRACED_SPAWN_RLIMIT: return "setrlimit(RLIMIT_NOFILE)"
        default: return "exec"
        }
    }
}

/// C strings that live until ``free()``, for argv/envp arrays.
private struct CStringArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    mutating func string(_ s: String) -> UnsafeMutablePointer<CChar> {
        let copy = strdup(s)!
        allocations.append(UnsafeMutableRawPointer(copy))
        return copy
    }

    /// A NULL-terminated array of C strings.
    mutating func array(_ strings: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        let array = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
        for (i, s) in strings.enumerated() { array[i] = string(s) }
        array[strings.count] = nil
        allocations.append(UnsafeMutableRawPointer(array))
        return array
    }

    mutating func free() {
        for pointer in allocations { Glibc.free(pointer) }
        allocations.removeAll()
    }
}
