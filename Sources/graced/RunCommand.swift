import ArgumentParser
import Logging
import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the supervisor in the foreground.",
        discussion: """
            graced never daemonizes: systemd, a terminal or a container keeps it. \
            SIGHUP reloads; SIGTERM or SIGINT drains the workers and exits 0; a second \
            SIGTERM or SIGINT kills the workers at once.

            Exit status: 0 after a clean stop, 1 on a fatal runtime error, 2 on a bad \
            configuration or bad usage.
            """
    )

    @OptionGroup var options: ConfigOption

    @Option(name: .long, help: "Lowest level logged: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("unknown log level '\(logLevel)'")
        }
        let environment = ConfigLoader.processEnvironment
        let config: GracedConfig
        do {
            config = try ConfigLoader.load(path: options.path, environment: environment)
        } catch {
            printError("\(error)")
            throw ExitCode(ExitStatusCode.badConfig)
        }
        let useJournal: Bool
        switch config.daemon.logFormat {
        case .auto: useJournal = JournalLogHandler.stderrIsJournal(environment: environment)
        case .journal: useJournal = true
        case .text: useJournal = false
        }
        LoggingSystem.bootstrap { label in
            if useJournal { return JournalLogHandler(label: label, level: level) }
            return TextLogHandler(label: label, level: level)
        }
        let logger = Logger(label: "graced")
        // Soft RLIMIT_NOFILE up to the hard limit for graced; workers get the original back.
        ResourceLimits.raiseFileLimit()
        let supervisor: Supervisor
        do {
            supervisor = try Supervisor(config: config, logger: logger, environment: environment)
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode(ExitStatusCode.failed)
        }
        logger.info("graced \(GracedVersion.string) starting", metadata: ["event": "starting", "config": "\(config.path)"])
        let status = supervisor.run()
        if status != 0 { throw ExitCode(status) }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the configuration without starting anything.",
        discussion: """
            Checks syntax, types, unknown keys, durations, signal names, that the command \
            exists and is executable, and duplicate listener names or addresses. Prints \
            one `PATH:LINE:COLUMN: message` per problem, every problem.

            Exit status: 0 when valid, 2 when not.
            """
    )

    @OptionGroup var options: ConfigOption

    func run() throws {
        do {
            let config = try ConfigLoader.load(path: options.path, environment: ConfigLoader.processEnvironment)
            print("\(config.path): ok (\(config.listeners.count) listener\(config.listeners.count == 1 ? "" : "s"), \(config.worker.processes) worker\(config.worker.processes == 1 ? "" : "s"))")
        } catch {
            printError("\(error)")
            throw ExitCode(ExitStatusCode.badConfig)
        }
    }
}
