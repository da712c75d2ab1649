import ArgumentParser
import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// How a command finds the running supervisor.
struct ControlTarget: ParsableArguments {
    /// Its `control_socket` is used (read leniently, so a broken file still leads there).
    @OptionGroup var options: ConfigOption

    @Option(name: .long, help: ArgumentHelp(
        "The control socket itself (overrides --config; skips the check that the supervisor runs that config).",
        valueName: "path"))
    var control: String?

    func socketPath() -> String {
        if let control { return control }
        return ControlSocketLocation.resolve(
            configured: ControlSocketLocation.fromConfigFile(options.path),
            environment: ConfigLoader.processEnvironment)
    }

    /// The configuration the user named (`--config` or `$GRACED_CONFIG`): the supervisor
    /// reached must run it. nil with `--control` or when only the built-in default applies.
    var expectedConfig: String? {
        guard control == nil else { return nil }
        return options.explicitPath
    }

    func connect() throws -> ControlClient {
        do {
            return try ControlClient(path: socketPath())
        } catch {
            printError("graced: \(error)")
            throw ExitCode(ExitStatusCode.noSupervisor)
        }
    }

    /// Refuses (exit 3) a supervisor that runs another configuration than the one named.
    func verify(_ status: SupervisorStatus, doing what: String) throws {
        guard let expected = expectedConfig else { return }
        let wanted = ControlClient.canonicalPath(expected)
        let running = ControlClient.canonicalPath(status.config, ofProcess: status.pid)
        guard wanted != running else { return }
        printError("""
            graced: the supervisor at \(socketPath()) (pid \(status.pid)) runs \(running), not \(wanted): \
            not \(what) it. Its control socket is named in both files, or $RUNTIME_DIRECTORY points both there; \
            use --config \(running) or --control \(socketPath()) to address it.
            """)
        throw ExitCode(ExitStatusCode.noSupervisor)
    }

    /// For reload and stop: checks with a `status` request first (when a config was
    /// named), then connects for the request itself, to the same supervisor.
    func connectVerified(doing what: String, deadline: MonotonicInstant?) throws -> ControlClient {
        guard expectedConfig != nil else { return try connect() }
        let probe = try connect()
        let status = try fetchStatus(probe, deadline: deadline ?? MonotonicInstant.now() + .seconds(10), then: { _ in })
        try verify(status, doing: what)
        let client = try connect()
        if let pid = client.peerPID, pid != status.pid {
            printError("graced: the supervisor at \(socketPath()) changed while connecting (pid \(status.pid), now \(pid)); try again")
            throw ExitCode(ExitStatusCode.noSupervisor)
        }
        return client
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace the workers with a new generation, without dropping a request.",
        discussion: """
            Blocks until the verdict is known and prints the progress: the new generation \
            spawned, ready, the old one told to stop (and, with --wait-drained, drained). \
            The supervisor re-reads its configuration first; if it is invalid, nothing changes. \
            With --config (or $GRACED_CONFIG), the supervisor reached must run that file.

            Exit status: 0 the new generation serves; 1 the reload failed and the previous \
            generation still serves (the reason is printed); 2 bad usage; 3 no supervisor \
            answered, or it runs another configuration; 4 no verdict within --timeout (the \
            reload goes on; `graced status` tells the outcome).
            """
    )

    @OptionGroup var target: ControlTarget

    @Option(name: .long, help: ArgumentHelp(
        "Give up waiting after this long (e.g. 90s) and exit 4; the reload itself goes on.", valueName: "duration"))
    var timeout: String?

    @Flag(name: .long, help: "Also wait until the previous generation has exited.")
    var waitDrained = false

    func validate() throws {
        if let timeout {
            do { _ = try parseDuration(timeout) } catch { throw ValidationError("--timeout: \(error)") }
        }
    }

    func run() throws {
        let limit = try timeout.map { try parseDuration($0) }
        let deadline = limit.map { MonotonicInstant.now() + $0 }
        let client = try target.connectVerified(doing: "reloading", deadline: deadline)
        let request = ControlRequest(command: .reload, waitDrained: waitDrained ? true : nil)
        try converse(client, request, deadline: deadline, onTimeout: {
            let pid = client.peerPID.map { " (pid \($0))" } ?? ""
            printError("""
                graced: no verdict within \(limit.map { $0.shortDescription } ?? "the timeout"); the reload goes on in graced\(pid). \
                `graced status \(target.addressArguments)` tells the outcome.
                """)
            throw ExitCode(ExitStatusCode.timedOut)
        }) { reply in
            if reply.ok == true {
                print("reload succeeded: \(reply.message ?? "")")
            } else {
                printError("reload failed: \(reply.message ?? "unknown reason")")
            }
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show listeners, generations and workers of the running supervisor.",
        discussion: """
            With --config (or $GRACED_CONFIG), the supervisor reached must run that file.

            Exit status: 0; 2 bad usage; 3 no supervisor answered, or it runs another configuration.
            """
    )

    @OptionGroup var target: ControlTarget

    @Flag(name: .long, help: "Print the status as JSON.")
    var json = false

    func run() throws {
        let client = try target.connect()
        let status = try fetchStatus(client, deadline: MonotonicInstant.now() + .seconds(10)) { status in
            try target.verify(status, doing: "showing")
        }
        if json {
            let value = (try? JSONCoding.encode(status)) ?? .object([:])
            print(value.prettyPrinted())
        } else {
            print(StatusTable.render(status), terminator: "")
        }
    }
}

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop the supervisor gracefully (like SIGTERM) and wait until it has exited.",
        discussion: """
            With --config (or $GRACED_CONFIG), the supervisor reached must run that file.

            Exit status: 0; 2 bad usage; 3 no supervisor answered, or it runs another configuration.
            """
    )

    @OptionGroup var target: ControlTarget

    func run() throws {
        let client = try target.connectVerified(doing: "stopping", deadline: nil)
        try converse(client, ControlRequest(command: .stop), deadline: nil, onTimeout: {}) { reply in
            print(reply.message ?? "graced stopped")
        }
    }
}

extension ControlTarget {
    /// How the user addressed the supervisor, to repeat in advice.
    var addressArguments: String {
        if let control { return "--control \(control)" }
        if let config = options.config { return "--config \(config)" }
        return ""
    }
}

/// Sends a `status` request and returns the status, after `check` accepted it. No answer
/// within the deadline is "no supervisor answered" (exit 3).
func fetchStatus(_ client: ControlClient, deadline: MonotonicInstant, then check: (SupervisorStatus) throws -> Void) throws -> SupervisorStatus {
    var result: SupervisorStatus?
    try converse(client, ControlRequest(command: .status), deadline: deadline, onTimeout: {
        printError("graced: the supervisor\(client.peerPID.map { " (pid \($0))" } ?? "") did not answer a status request in time")
        throw ExitCode(ExitStatusCode.noSupervisor)
    }) { reply in
        guard let status = reply.status else {
            printError("graced: \(reply.message ?? "no status in the reply")")
            throw ExitCode(ExitStatusCode.failed)
        }
        try check(status)
        result = status
    }
    guard let result else { throw ExitCode(ExitStatusCode.failed) }
    return result
}

/// Sends one request, prints progress lines, hands the result to `onResult` and exits
/// 0 or 1 by its `ok`. Past `deadline` (nil: none), `onTimeout` decides.
func converse(_ client: ControlClient, _ request: ControlRequest, deadline: MonotonicInstant?,
              onTimeout: () throws -> Void, onResult: (ControlReply) throws -> Void) throws {
    do {
        do {
            try client.send(request)
        } catch {
            // graced may have refused the connection already: its reply says why.
            guard let reply = try? client.nextReply(timeout: .seconds(2)), reply.refused == true else { throw error }
            printError("graced refused the request: \(reply.message ?? "")")
            throw ExitCode(ExitStatusCode.noSupervisor)
        }
        while let reply = try client.nextReply(deadline: deadline) {
            switch reply.event {
            case .progress:
                print(reply.message ?? "")
            case .result:
                if reply.refused == true {
                    printError("graced refused the request: \(reply.message ?? "")")
                    throw ExitCode(ExitStatusCode.noSupervisor)
                }
                if request.command == .stop && reply.ok == true {
                    // graced closes this connection by exiting: wait for that.
                    while try client.nextReply(timeout: nil) != nil {}
                    client.waitForPeerExit(timeout: .seconds(10))
                }
                try onResult(reply)
                if reply.ok != true { throw ExitCode(ExitStatusCode.failed) }
                return
            }
        }
        if request.command == .stop { return }  // graced exited before it could reply
        printError("graced: the supervisor closed the connection without a verdict")
        throw ExitCode(ExitStatusCode.failed)
    } catch ControlClient.Failure.timedOut {
        try onTimeout()
        throw ExitCode(ExitStatusCode.failed)
    } catch let failure as ControlClient.Failure {
        printError("graced: \(failure)")
        throw ExitCode(ExitStatusCode.failed)
    }
}
