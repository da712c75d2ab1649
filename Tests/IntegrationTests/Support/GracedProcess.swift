// The supervisor under test as a child process of the test runner: started with
// `graced run --config PATH`, its output in a file, waited on by log lines, and
// killed with everything it started when the test ends.

import Foundation

/// A running `graced run --config PATH`. Its stdout and stderr go, interleaved, to one
/// log file (by default `graced.log` next to the config) that is written continuously
/// and can be inspected at any time. deinit (or `terminate()`) SIGKILLs graced and
/// every process below it, so no test leaks processes.
final class GracedProcess: @unchecked Sendable {
    let configPath: String
    let logPath: String
    private let process: ChildProcess

    /// graced's pid.
    var pid: Int { process.pid }

    /// Starts graced.
    /// - Parameters:
    ///   - config: the configuration file.
    ///   - environment: added to the test runner's environment (minus LISTEN_*,
    ///     NOTIFY_SOCKET, JOURNAL_STREAM, ...: see `cleanEnvironment`).
    ///   - arguments: more arguments after `run --config PATH`.
    ///   - logPath: where its output goes; default `graced.log` in the config's directory.
    ///   - executable: what to run instead of the built graced (to test this helper).
    init(config: String, environment: [String: String] = [:], arguments: [String] = [],
         logPath: String? = nil, executable: String? = nil) throws {
        configPath = config
        self.logPath = logPath ?? ((config as NSString).deletingLastPathComponent + "/graced.log")
        process = try ChildProcess(executable: try executable ?? Binaries.graced,
                                   arguments: ["run", "--config", config] + arguments,
                                   environment: cleanEnvironment(environment),
                                   stdoutPath: self.logPath, stderrPath: self.logPath)
    }

    deinit { terminate() }

    // MARK: Log

    /// Everything graced wrote so far.
    func log() -> String {
        String(decoding: readWholeFile(logPath) ?? [], as: UTF8.self)
    }

    /// The current size of the log in bytes: pass it as `since:` to look only at what
    /// comes after this point (e.g. after a reload request).
    func logOffset() -> Int {
        readWholeFile(logPath)?.count ?? 0
    }

    /// The log lines after byte `since`. Only complete lines, unless graced has exited
    /// (a line being written must not match half-way).
    func logLines(since: Int = 0) -> [String] {
        let bytes = readWholeFile(logPath) ?? []
        guard since < bytes.count else { return [] }
        var tail = bytes[since...]
        if process.isRunning, let lastNewline = tail.lastIndex(of: UInt8(ascii: "\n")) {
            tail = tail[...lastNewline]
        } else if process.isRunning {
            return []
        }
        return String(decoding: tail, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// Waits for a log line containing `text` and returns it. Throws on timeout or when
    /// graced exits first, with the whole log in the message.
    @discardableResult
    func waitForLog(containing text: String, since: Int = 0, timeout: Duration = .seconds(20)) throws -> String {
        try waitForLog(matching: { $0.contains(text) }, count: 1, since: since, timeout: timeout,
                       what: "a line containing \(text.debugDescription)")[0]
    }

    /// Waits until `count` log lines satisfy `predicate` and returns the first `count` of
    /// them. Throws on timeout or when graced exits first, with the whole log.
    @discardableResult
    func waitForLog(matching predicate: (String) -> Bool, count: Int = 1, since: Int = 0,
                    timeout: Duration = .seconds(20), what: String = "matching lines") throws -> [String] {
        let deadline = Deadline(after: timeout)
        while true {
            let exited = !process.isRunning
            let matches = logLines(since: since).filter(predicate)
            if matches.count >= count { return Array(matches.prefix(count)) }
            if exited {
                throw TestSupportError("graced (pid \(pid)) exited with status \(process.exitStatus() ?? -1) "
                                       + "before logging \(count) × \(what) (found \(matches.count)); log:\n\(log())")
            }
            if deadline.hasPassed {
                throw TestSupportError("timed out after \(timeout) waiting for \(count) × \(what) "
                                       + "(found \(matches.count)) in the log of graced (pid \(pid)); log:\n\(log())")
            }
            sleepThread(.milliseconds(25))
        }
    }

    // MARK: Process

    /// Sends a signal to graced (SIGHUP reload, SIGTERM stop, ...).
    func signal(_ signal: Int32) {
        process.signal(signal)
    }

    /// True until graced has exited.
    var isRunning: Bool { process.isRunning }

    /// Waits for graced to exit and returns its status (128 + N for signal N). Throws on
    /// timeout with the log; graced keeps running then.
    func waitForExit(timeout: Duration = .seconds(20)) throws -> Int32 {
        do {
            return try process.waitForExit(timeout: timeout)
        } catch {
            throw TestSupportError("graced (pid \(pid)) still running after \(timeout); log:\n\(log())")
        }
    }

    /// graced's direct children (its workers), sorted.
    func childPIDs() -> [Int] {
        process.isRunning ? children(of: pid) : []
    }

    /// Every process below graced.
    func descendantPIDs() -> [Int] {
        process.isRunning ? descendants(of: pid) : []
    }

    /// SIGKILLs graced, its process group and all its descendants, and reaps graced.
    /// Idempotent; also done by deinit.
    func terminate() {
        process.killAll()
    }
}

/// Runs a short graced command (`check`, `status`, `reload`, `stop`, `--help`) to
/// completion. The status is graced's exit status; 124 if it was killed after
/// `timeout`, 127 if it could not start (the reason in stderr).
func runGraced(_ arguments: [String], environment: [String: String] = [:],
               timeout: Duration = .seconds(30)) -> (status: Int32, stdout: String, stderr: String) {
    let executable: String
    do {
        executable = try Binaries.graced
    } catch {
        return (127, "", "\(error)")
    }
    let result = runCommand(executable, arguments, environment: cleanEnvironment(environment), timeout: timeout)
    return (result.status, result.stdout, result.stderr)
}
