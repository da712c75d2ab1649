// Starting and stopping child processes for the tests with posix_spawn: chosen fds at
// chosen numbers, output into files, a process group of their own, a clean signal
// state, and no fd of the test runner leaking into them.

import Foundation

/// A glibc function that Swift does not import (it needs _GNU_SOURCE), looked up at run time.
private func glibcFunction<F>(_ name: String, as type: F.Type) -> F? {
    guard let symbol = dlsym(dlopen(nil, RTLD_NOW), name) else { return nil }
    return unsafeBitCast(symbol, to: type)
}

/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34+).
private let addCloseFrom = glibcFunction(
    "posix_spawn_file_actions_addclosefrom_np",
    as: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32).self)

/// posix_spawn_file_actions_addchdir_np (glibc 2.29+).
private let addChdir = glibcFunction(
    "posix_spawn_file_actions_addchdir_np",
    as: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32).self)

/// A child process of the test runner. Exit statuses follow the shell convention:
/// the exit code, or 128 + N when signal N killed it.
final class ChildProcess: @unchecked Sendable {
    /// The child's pid (also its process group id: it leads a group of its own).
    let pid: Int
    /// The reaped exit status; once set, `pid` may belong to someone else.
    private let reaped = Locked<Int32?>(nil)

    /// Starts `executable` (a path, or a name looked up on the test runner's PATH).
    /// - Parameters:
    ///   - arguments: argv[1...].
    ///   - environment: the complete environment of the child.
    ///   - stdinPath: opened read-only as fd 0.
    ///   - stdoutPath, stderrPath: appended to (created if missing); nil means /dev/null.
    ///     The same path for both makes one interleaved file.
    ///   - fds: fds of the test runner to place at given numbers in the child
    ///     (target fd -> source fd); every other fd above 2 is closed.
    ///   - directory: working directory of the child; nil inherits the runner's.
    init(executable: String, arguments: [String], environment: [String: String],
         stdinPath: String = "/dev/null", stdoutPath: String?, stderrPath: String?,
         fds: [Int32: Int32] = [:], directory: String? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        // The fd placement first: sources may sit at numbers that 0-2 will take.
        // Sources are first copied above every target so that no dup2 overwrites
        // a source that a later dup2 still needs.
        let highest = max(Int32(2), fds.keys.max() ?? 2, fds.values.max() ?? 2)
        var temporaries: [(target: Int32, temporary: Int32)] = []
        for (index, (target, source)) in fds.sorted(by: { $0.key < $1.key }).enumerated() {
            let temporary = highest + 1 + Int32(index)
            posix_spawn_file_actions_adddup2(&actions, source, temporary)
            temporaries.append((target, temporary))
        }
        for (target, temporary) in temporaries {
            posix_spawn_file_actions_adddup2(&actions, temporary, target)
        }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath, O_RDONLY, 0)
        let outputFlags = O_WRONLY | O_CREAT | O_APPEND
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath ?? "/dev/null", outputFlags, 0o644)
        if let stderrPath, stderrPath == stdoutPath {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, stderrPath ?? "/dev/null", outputFlags, 0o644)
        }
        // Close everything above 2 that is not a target: the gaps, then the rest.
        let keep = Set(fds.keys)
        let highestTarget = fds.keys.max() ?? 2
        for fd in Int32(3)..<max(3, highestTarget) where !keep.contains(fd) {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
        if let addCloseFrom {
            _ = addCloseFrom(&actions, highestTarget + 1)
        }
        if let directory {
            guard let addChdir else { throw TestSupportError("posix_spawn_file_actions_addchdir_np is missing") }
            _ = addChdir(&actions, directory)
        }

        // A process group of its own (so the whole group can be signalled), an empty
        // signal mask and default dispositions (the runner ignores SIGPIPE, for one).
        var defaults = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child: pid_t = 0
        let result = posix_spawnp(&child, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw TestSupportError("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        pid = Int(child)
    }

    /// The exit status if the process has exited (reaps it), nil while it runs.
    func exitStatus() -> Int32? {
        reaped.withLock { status in
            if let status { return status }
            var raw: Int32 = 0
            let result = waitpid(pid_t(pid), &raw, WNOHANG)
            guard result == pid_t(pid) else { return nil }
            status = ChildProcess.decode(raw)
            return status
        }
    }

    /// True until the process has exited.
    var isRunning: Bool { exitStatus() == nil }

    /// Waits until the process exits and returns its status; throws on timeout
    /// (the process keeps running).
    func waitForExit(timeout: Duration) throws -> Int32 {
        var status: Int32?
        poll(timeout: timeout, interval: .milliseconds(10)) {
            status = exitStatus()
            return status != nil
        }
        guard let status else {
            throw TestSupportError("pid \(pid) still running after \(timeout)")
        }
        return status
    }

    /// Sends a signal to the process (nothing once it has been reaped).
    func signal(_ signal: Int32) {
        reaped.withLock { status in
            if status == nil { _ = kill(pid_t(pid), signal) }
        }
    }

    /// SIGKILLs the process, its process group and every descendant, then reaps it.
    func killAll() {
        reaped.withLock { status in
            guard status == nil else { return }
            killProcessTree(root: pid)
            var raw: Int32 = 0
            while waitpid(pid_t(pid), &raw, 0) < 0 && errno == EINTR {}
            status = ChildProcess.decode(raw)
        }
    }

    deinit { killAll() }

    /// Shell convention: exit code, or 128 + signal number.
    private static func decode(_ raw: Int32) -> Int32 {
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }
}

/// SIGKILLs `root`, every descendant of it and its process group, without letting any
/// of them fork or reparent meanwhile: each one found is stopped first (SIGSTOP), the
/// search repeats until it finds nothing new, then all of them get SIGKILL. The caller
/// reaps `root` if it is its child.
func killProcessTree(root: Int) {
    var found: [Int] = [root]
    _ = kill(pid_t(root), SIGSTOP)
    while true {
        let more = found.flatMap { children(of: $0) }.filter { !found.contains($0) }
        if more.isEmpty { break }
        for pid in more { _ = kill(pid_t(pid), SIGSTOP) }
        found += more
    }
    for pid in found.reversed() { _ = kill(pid_t(pid), SIGKILL) }
    _ = kill(-pid_t(root), SIGKILL)
}

/// The test runner's environment minus what would confuse a child: socket activation,
/// sd_notify, watchdog, the fd store, journald detection and graced's own config, so
/// nothing of the runner's own service manager leaks into the processes under test.
func cleanEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
    var environment = ProcessInfo.processInfo.environment
    for key in environment.keys where key.hasPrefix("LISTEN_") || key.hasPrefix("WATCHDOG_") {
        environment[key] = nil
    }
    for key in ["NOTIFY_SOCKET", "FDSTORE", "JOURNAL_STREAM", "INVOCATION_ID", "GRACED_CONFIG",
                "GRACED_GENERATION", "GRACED_WORKER", "EINHORN_FDS", "RUNTIME_DIRECTORY"] {
        environment[key] = nil
    }
    environment.merge(extra) { _, new in new }
    return environment
}

/// The outcome of a short command.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a command to completion with stdin from /dev/null and returns its status and
/// output. Never throws: a command that cannot start gives status 127, one that
/// outlives `timeout` is killed and gives status 124 (as timeout(1)); both with the
/// reason appended to stderr.
func runCommand(_ executable: String, _ arguments: [String], environment: [String: String] = cleanEnvironment(),
                timeout: Duration = .seconds(30)) -> CommandResult {
    let directory: TemporaryDirectory
    do {
        directory = try TemporaryDirectory(prefix: "cmd")
    } catch {
        return CommandResult(status: 127, stdout: "", stderr: "\(error)")
    }
    let stdoutPath = directory.file("stdout")
    let stderrPath = directory.file("stderr")
    func output(_ path: String) -> String {
        String(decoding: readWholeFile(path) ?? [], as: UTF8.self)
    }
    let process: ChildProcess
    do {
        process = try ChildProcess(executable: executable, arguments: arguments, environment: environment,
                                   stdoutPath: stdoutPath, stderrPath: stderrPath)
    } catch {
        return CommandResult(status: 127, stdout: "", stderr: "\(error)")
    }
    do {
        let status = try process.waitForExit(timeout: timeout)
        return CommandResult(status: status, stdout: output(stdoutPath), stderr: output(stderrPath))
    } catch {
        process.killAll()
        let command = ([executable] + arguments).joined(separator: " ")
        return CommandResult(status: 124, stdout: output(stdoutPath),
                             stderr: output(stderrPath) + "\n[\(command): killed after \(timeout)]")
    }
}
