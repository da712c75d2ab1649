#if canImport(Glibc)
import Glibc
#endif

/// Starts worker processes and readiness probes: resolves the executable and the user,
/// creates the output pipes and composes the spawn request. The fork/exec itself is
/// ``ProcessSpawner``'s.
final class WorkerLauncher {
    /// A worker that was started, with the read ends of its output pipes.
    struct Started {
        var pid: Int32
        var stdout: Int32
        var stderr: Int32
        var arguments: [String]
        /// The user and group it runs as.
        var uid: UInt32
        var gid: UInt32
    }

    /// Why a worker or probe could not be started, for the log and the reload verdict.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// graced's own environment, the base of every worker's.
    let environment: [String: String]
    let devNull: Int32
    let notifySocketAddress: String

    init(environment: [String: String], devNull: Int32, notifySocketAddress: String) {
        self.environment = environment
        self.devNull = devNull
        self.notifySocketAddress = notifySocketAddress
    }

    func spawn(config: WorkerConfig, listeners: [Listener], generation: Int, slot: Int) -> Result<Started, Failure> {
        let names = listeners.map(\.name)
        // Exactly what `graced check` found: the same lookup, done again at each spawn so
        // a deploy that replaced the binary runs the new one.
        guard let executable = config.resolvedExecutable(processEnvironment: environment) else {
            return .failure(Failure(description: "command '\(config.command[0])' not found or not executable"))
        }
        let credentials: WorkerCredentials?
        switch self.credentials(for: config) {
        case .success(let found): credentials = found
        case .failure(let failure): return .failure(failure)
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
            return .failure(Failure(description: "cannot create output pipes: \(error)"))
        }
        let request = SpawnRequest(
            executable: executable,
            arguments: WorkerEnvironment.expandArguments(config.command, listenerNames: names),
            environment: WorkerEnvironment.compose(
                inherited: environment, configured: config.environment, listenerNames: names,
                notifySocket: notifySocketAddress, generation: generation, workerIndex: slot,
                credentials: credentials),
            setsListenPID: true,
            passedFDs: listeners.map(\.fd),
            stdinFD: devNull,
            stdoutFD: stdout.write,
            stderrFD: stderr.write,
            directory: config.directory,
            credentials: geteuid() == 0 ? credentials : nil,
            // Workers drain and exit if graced dies (see README, "If graced is killed").
            parentDeathSignal: config.stopSignal)
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(request)
        } catch {
            for fd in [stdout.read, stdout.write, stderr.read, stderr.write] { FileDescriptor.close(fd) }
            return .failure(Failure(description: "\(error)"))
        }
        FileDescriptor.close(stdout.write)
        FileDescriptor.close(stderr.write)
        return .success(Started(pid: pid, stdout: stdout.read, stderr: stderr.read, arguments: request.arguments,
                                uid: request.credentials?.uid ?? geteuid(), gid: request.credentials?.gid ?? getegid()))
    }

    /// Starts `ready_command` for a worker, as the worker's user and group: the probe is
    /// the worker's code, and must not get graced's privileges.
    func spawnProbe(config: WorkerConfig, worker: WorkerRecord) -> Result<Int32, Failure> {
        guard let command = config.readyCommand, !command.isEmpty else {
            return .failure(Failure(description: "no ready_command"))
        }
        var probe = config
        probe.command = command
        guard let executable = probe.resolvedExecutable(processEnvironment: environment) else {
            return .failure(Failure(description: "ready_command '\(command[0])' not found"))
        }
        let credentials: WorkerCredentials?
        switch self.credentials(for: config) {
        case .success(let found): credentials = found
        case .failure(let failure): return .failure(failure)
        }
        let request = SpawnRequest(
            executable: executable, arguments: command,
            environment: WorkerEnvironment.composeForProbe(
                inherited: environment, configured: config.environment, generation: worker.generation,
                workerIndex: worker.slot, workerPID: worker.pid, credentials: credentials),
            setsListenPID: false, passedFDs: [], stdinFD: devNull, stdoutFD: devNull, stderrFD: devNull,
            directory: config.directory, credentials: geteuid() == 0 ? credentials : nil, parentDeathSignal: .kill)
        do {
            return .success(try ProcessSpawner.spawn(request))
        } catch {
            return .failure(Failure(description: "cannot run ready_command: \(error)"))
        }
    }

    private func credentials(for config: WorkerConfig) -> Result<WorkerCredentials?, Failure> {
        let credentials: WorkerCredentials?
        do {
            credentials = try UserDatabase.credentials(user: config.user, group: config.group)
        } catch {
            return .failure(Failure(description: "\(error)"))
        }
        if let credentials, geteuid() != 0, credentials.uid != geteuid() || credentials.gid != getegid() {
            return .failure(Failure(description: "cannot run the worker as user \(config.user ?? "-") / group \(config.group ?? "-"): graced is not running as root"))
        }
        return .success(credentials)
    }
}
