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
            if command is Graced {
                // No subcommand: a missing argument.
                printError(helpMessage())
                Glibc.exit(ExitStatusCode.usage)
            }
            try command.run()
        } catch {
            exitMappingUsage(error)
        }
    }

    /// ArgumentParser exits 64 (EX_USAGE) on bad usage; the contract says 2, as for a bad
    /// configuration (graced-interface.md §1). --help and --version stay 0.
    static func exitMappingUsage(_ error: any Error) -> Never {
        if !(error is ExitCode), exitCode(for: error) == .validationFailure {
            printError(fullMessage(for: error))
            Glibc.exit(ExitStatusCode.usage)
        }
        exit(withError: error)
    }

    static let configuration = CommandConfiguration(
        commandName: "graced",
        abstract: "Hold listening sockets and restart the workers behind them without dropping a request.",
        discussion: """
            graced binds the listeners of its configuration (or takes them from systemd), \
            starts the workers with systemd socket activation (LISTEN_FDS, LISTEN_PID, \
            LISTEN_FDNAMES) and replaces them with zero downtime on `graced reload`.

            Exit status: 0 success; 1 failure (the reason is printed); 2 bad usage or a bad \
            configuration; 3 no supervisor answered (or it runs another configuration than \
            --config names); 4 `graced reload --timeout` expired before the verdict.

            Manual: man graced. Shell completions: `graced --generate-completion-script \
            bash|zsh|fish`; `make install` puts them in PREFIX/share/bash-completion/completions/graced, \
            PREFIX/share/zsh/site-functions/_graced and PREFIX/share/fish/vendor_completions.d/graced.fish \
            (PREFIX is /usr/local unless set), the manual in PREFIX/share/man/man1/graced.1.
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

    var path: String { explicitPath ?? "/etc/graced/graced.conf" }

    /// `--config`, else `$GRACED_CONFIG`: a file the user chose, not the built-in default.
    var explicitPath: String? {
        if let config { return config }
        if let fromEnvironment = getenv("GRACED_CONFIG"), fromEnvironment.pointee != 0 { return String(cString: fromEnvironment) }
        return nil
    }
}

/// Exit statuses of the contract (graced-interface.md §1).
enum ExitStatusCode {
    static let ok: Int32 = 0
    static let failed: Int32 = 1
    static let badConfig: Int32 = 2
    static let usage: Int32 = 2
    static let noSupervisor: Int32 = 3
    static let timedOut: Int32 = 4
}

func printError(_ text: String) {
    var line = text
    if !line.hasSuffix("\n") { line += "\n" }
    let bytes = Array(line.utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
