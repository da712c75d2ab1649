import ArgumentParser
import Foundation
import SupervisorCore

/// How a command finds the running supervisor.
struct ControlTarget: ParsableArguments {
    /// Its `control_socket` is used (read leniently, so a broken file still leads there).
    @OptionGroup var options: ConfigOption

    @Option(name: .long, help: ArgumentHelp("The control socket itself (overrides --config).", valueName: "path"))
    var control: String?

    func socketPath() -> String {
        if let control { return control }
        return ControlSocketLocation.resolve(
            configured: ControlSocketLocation.fromConfigFile(options.path),
            environment: ConfigLoader.processEnvironment)
    }

    func connect() throws -> ControlClient {
        do {
            return try ControlClient(path: socketPath())
        } catch {
            printError("graced: \(error)")
            throw ExitCode(ExitStatusCode.noSupervisor)
        }
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace the workers with a new generation, without dropping a request.",
        discussion: """
            Blocks until the verdict is known and prints the progress: the new generation \
            spawned, ready, the old one told to stop (and, with --wait-drained, drained). \
            The supervisor re-reads its configuration first; if it is invalid, nothing changes.

            Exit status: 0 the new generation serves; 1 the reload failed and the previous \
            generation still serves (the reason is printed); 3 no supervisor answered.
            """
    )

    @OptionGroup var target: ControlTarget

    @Option(name: .long, help: ArgumentHelp("Give up waiting after this long (e.g. 90s); the reload itself goes on.", valueName: "duration"))
    var timeout: String?

    @Flag(name: .long, help: "Also wait until the previous generation has exited.")
    var waitDrained = false

    func run() throws {
        var limit: Duration?
        if let timeout {
            do { limit = try parseDuration(timeout) } catch { throw ValidationError("--timeout: \(error)") }
        }
        let client = try target.connect()
        try converse(client, ControlRequest(command: .reload, waitDrained: waitDrained ? true : nil), timeout: limit) { reply in
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
        discussion: "Exit status: 0, or 3 when no supervisor answered."
    )

    @OptionGroup var target: ControlTarget

    @Flag(name: .long, help: "Print the status as JSON.")
    var json = false

    func run() throws {
        let client = try target.connect()
        try converse(client, ControlRequest(command: .status), timeout: .seconds(10)) { reply in
            guard let status = reply.status else {
                printError("graced: \(reply.message ?? "no status in the reply")")
                return
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: (try? encoder.encode(status)) ?? Data(), as: UTF8.self))
            } else {
                print(StatusTable.render(status), terminator: "")
            }
        }
    }
}

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop the supervisor gracefully (like SIGTERM) and wait until it has exited.",
        discussion: "Exit status: 0, or 3 when no supervisor answered."
    )

    @OptionGroup var target: ControlTarget

    func run() throws {
        let client = try target.connect()
        try converse(client, ControlRequest(command: .stop), timeout: nil) { reply in
            print(reply.message ?? "graced stopped")
        }
    }
}

/// Sends one request, prints progress lines, hands the result to `onResult` and exits
/// 0 or 1 by its `ok`.
func converse(_ client: ControlClient, _ request: ControlRequest, timeout: Duration?, onResult: (ControlReply) -> Void) throws {
    do {
        do {
            try client.send(request)
        } catch {
            // graced may have refused the connection already: its reply says why.
            guard let reply = try? client.nextReply(timeout: .seconds(2)), reply.refused == true else { throw error }
            printError("graced refused the request: \(reply.message ?? "")")
            throw ExitCode(ExitStatusCode.noSupervisor)
        }
        while let reply = try client.nextReply(timeout: timeout) {
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
                onResult(reply)
                if reply.ok != true { throw ExitCode(ExitStatusCode.failed) }
                return
            }
        }
        if request.command == .stop { return }  // graced exited before it could reply
        printError("graced: the supervisor closed the connection without a verdict")
        throw ExitCode(ExitStatusCode.failed)
    } catch let failure as ControlClient.Failure {
        printError("graced: \(failure)")
        throw ExitCode(ExitStatusCode.failed)
    }
}
