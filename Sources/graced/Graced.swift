import ArgumentParser
import Logging
import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

@main
struct Graced: ParsableCommand {
    static func main() {
        // Before anything opens a file: with 0, 1 or 2 closed, graced's own fds would take
        // their numbers and log lines would go into a socket.
        while true {
            let fd = open("/dev/null", O_RDWR)
            if fd < 0 { break }
            if fd > 2 { close(fd); break }
        }
        // A control client whose supervisor hangs up gets EPIPE, not a silent death.
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "graced",
        abstract: "Hold listening sockets and restart the workers behind them without dropping a request.",
        discussion: """
            graced binds the listeners of its configuration (or takes them from systemd), \
            starts the workers with systemd socket activation (LISTEN_FDS, LISTEN_PID, \
            LISTEN_FDNAMES) and replaces them with zero downtime on `graced reload`.
            """,
        version: GracedVersion.string,
        subcommands: [Run.self, Check.self, Reload.self, Status.self, Stop.self]
    )
}

/// Options shared by the commands that read the configuration.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The configuration file.",
        discussion: "Default: $GRACED_CONFIG, else /etc/graced/graced.conf.",
        valueName: "path"))
    var config: String?

    var path: String {
        if let config { return config }
        if let fromEnvironment = getenv("GRACED_CONFIG") { return String(cString: fromEnvironment) }
        return "/etc/graced/graced.conf"
    }
}

/// Exit statuses of the contract (graced-interface.md §1).
enum ExitStatusCode {
    static let ok: Int32 = 0
    static let failed: Int32 = 1
    static let badConfig: Int32 = 2
    static let noSupervisor: Int32 = 3
}

func printError(_ text: String) {
    var line = text
    if !line.hasSuffix("\n") { line += "\n" }
    let bytes = Array(line.utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
