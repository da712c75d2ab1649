// The command line as users meet it (graced-interface.md §1 and §7): exit status 2 for
// bad usage on every subcommand (--help and --version stay 0), 4 when `reload --timeout`
// expires, 3 when the supervisor reached runs another configuration than --config
// names; the shell completions and the man page.

import Foundation
import SupervisorCore
import Testing

private let subcommands = ["run", "check", "reload", "status", "stop"]

@Suite struct CLIUsageTests {
    @Test(arguments: [[]] + subcommands.map { [$0] })
    func unknownOptionExits2(prefix: [String]) {
        let result = runGraced(prefix + ["--bogus"])
        #expect(result.status == 2, "graced \(prefix) --bogus: \(result)")
        #expect(result.stderr.contains("--bogus"), "the error names the option: \(result.stderr)")
        #expect(result.stderr.contains("Usage:") || result.stderr.contains("USAGE:"), "\(result.stderr)")
    }

    @Test(arguments: [[]] + subcommands.map { [$0] })
    func helpAndVersionExit0(prefix: [String]) {
        let help = runGraced(prefix + ["--help"])
        #expect(help.status == 0, "graced \(prefix) --help: \(help)")
        #expect(help.stdout.contains("USAGE: graced"), "\(help.stdout)")
        let version = runGraced(prefix + ["--version"])
        #expect(version.status == 0, "graced \(prefix) --version: \(version)")
        #expect(!version.stdout.isEmpty)
    }

    @Test(arguments: [
        ["bogus"],                                   // unknown subcommand
        [],                                          // no subcommand at all
        ["run", "--config"],                         // missing value
        ["check", "--config"],
        ["reload", "--config"],
        ["status", "--control"],
        ["stop", "--control"],
        ["reload", "--timeout"],
        ["reload", "--timeout", "soon"],             // invalid value
        ["reload", "--timeout", "-1s"],
        ["run", "--log-level", "loud", "--config", "/nonexistent/graced.conf"],
        ["status", "extra-argument"],                // unexpected argument
        ["stop", "--json"],                          // another subcommand's flag
    ])
    func badUsageExits2(arguments: [String]) {
        let result = runGraced(arguments, environment: ["GRACED_CONFIG": "/nonexistent/graced.conf"])
        #expect(result.status == 2, "graced \(arguments): \(result)")
        #expect(!result.stderr.isEmpty, "graced \(arguments) says nothing")
    }

    @Test func helpTellsWhereCompletionsAndTheManualAre() {
        let help = runGraced(["--help"])
        #expect(help.stdout.contains("man graced"), "\(help.stdout)")
        #expect(help.stdout.contains("share/bash-completion/completions/graced"), "\(help.stdout)")
        #expect(help.stdout.contains("--generate-completion-script"), "\(help.stdout)")
    }
}

@Suite struct CLIInstallTests {
    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScriptsCoverEverySubcommand(shell: String) {
        let result = runGraced(["--generate-completion-script", shell])
        #expect(result.status == 0, "\(result)")
        for word in subcommands + ["--config", "--control", "--timeout", "--wait-drained", "--json", "--log-level"] {
            #expect(result.stdout.contains(word.hasPrefix("--") && shell == "fish" ? String(word.dropFirst(2)) : word),
                    "\(shell) completions lack \(word)")
        }
        if shell == "bash", Binaries.isExecutableFile("/bin/bash") {
            // The script is valid bash.
            let path = "/tmp/graced-completion-\(getpid()).bash"
            try? result.stdout.write(toFile: path, atomically: true, encoding: .utf8)
            defer { unlink(path) }
            let check = runCommand("/bin/bash", ["-n", path])
            #expect(check.status == 0, "bash -n: \(check)")
        }
    }

    @Test func manPageCoversEverySubcommandAndRendersCleanly() throws {
        let path = Binaries.repositoryRoot + "/man/graced.1"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for word in subcommands.map({ ".It Em \($0)" }) + ["EXIT STATUS", "-timeout", "-control", "GRACED_CONFIG"] {
            #expect(text.contains(word), "man/graced.1 lacks \(word)")
        }
        // The man page says what --help says (regenerate with `make man` after a change).
        let help = runGraced(["reload", "--help"])
        for line in ["Give up waiting after this long", "Also wait until the previous generation has exited"] {
            #expect(help.stdout.contains(line) == text.contains(line), "man/graced.1 is stale: `make man`")
        }
        guard Binaries.isExecutableFile("/usr/bin/groff") else { return }
        let rendered = runCommand("/usr/bin/groff", ["-man", "-Tutf8", "-ww", "-P-bcou", path])
        #expect(rendered.status == 0, "\(rendered.stderr)")
        #expect(rendered.stderr.isEmpty, "groff warnings: \(rendered.stderr)")
        #expect(rendered.stdout.contains("EXIT STATUS"))
    }
}

/// One graced supervising examples/worker.py; `readyAfter` delays each worker's READY=1.
private final class CLIFixture {
    let directory: TemporaryDirectory
    let port: UInt16
    let configPath: String
    let graced: GracedProcess
    var socketPath: String { controlSocketPath(in: directory.path) }

    init(readyAfter: Double = 0) throws {
        directory = try TemporaryDirectory(prefix: "cli")
        port = freeTCPPort()
        configPath = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(port)")],
                                     command: Binaries.workerCommand(["--ready-after", String(readyAfter)]),
                                     workerLines: ["ready = \"notify\"", "ready_timeout = \"60s\"", "drain_timeout = \"10s\""])
        graced = try GracedProcess(config: configPath)
        try graced.waitForLog(containing: "generation 1 ready", timeout: .seconds(60))
    }
}

@Suite struct CLISupervisorTests {
    @Test func reloadTimeoutExits4AndTheReloadGoesOn() throws {
        let fixture = try CLIFixture(readyAfter: 3)
        defer { fixture.graced.terminate() }
        let started = ContinuousClock.now
        let reload = runGraced(["reload", "--config", fixture.configPath, "--timeout", "500ms"], timeout: .seconds(30))
        let elapsed = ContinuousClock.now - started
        #expect(reload.status == 4, "\(reload)")
        #expect(elapsed < .seconds(2.5), "reload --timeout 500ms returned after \(elapsed)")
        #expect(reload.stderr.contains("the reload goes on"), "\(reload.stderr)")
        #expect(reload.stderr.contains("graced status --config \(fixture.configPath)"), "\(reload.stderr)")
        #expect(reload.stderr.contains("pid \(fixture.graced.pid)"), "\(reload.stderr)")
        // It did go on: generation 2 becomes ready and serves, and `graced status` says so.
        try fixture.graced.waitForLog(containing: "reload succeeded: generation 2 serving", timeout: .seconds(30))
        let served = poll(timeout: .seconds(20), interval: .milliseconds(100)) {
            let status = runGraced(["status", "--json", "--config", fixture.configPath])
            return status.status == 0 && status.stdout.contains("\"number\" : 2") && status.stdout.contains("\"ok\" : true")
        }
        #expect(served, "status never showed generation 2 and a successful reload:\n\(runGraced(["status", "--config", fixture.configPath]).stdout)")
        // A timeout that is long enough gives the verdict.
        let patient = runGraced(["reload", "--config", fixture.configPath, "--timeout", "60s"], timeout: .seconds(90))
        #expect(patient.status == 0, "\(patient)")
    }

    @Test func aSupervisorRunningAnotherConfigIsRefused() throws {
        let fixture = try CLIFixture()
        defer { fixture.graced.terminate() }
        // Another file naming the same control socket: the user meant another supervisor.
        let other = try TemporaryDirectory(prefix: "cli-other")
        let otherConfig = try writeRawConfig(in: other.path, try String(contentsOfFile: fixture.configPath, encoding: .utf8))
        let offset = fixture.graced.logOffset()
        for command in ["status", "reload", "stop"] {
            let result = runGraced([command, "--config", otherConfig], timeout: .seconds(30))
            #expect(result.status == 3, "graced \(command) --config <other>: \(result)")
            #expect(result.stderr.contains("pid \(fixture.graced.pid)"), "\(command): \(result.stderr)")
            #expect(result.stderr.contains(ControlClient.canonicalPath(fixture.configPath)), "\(command): \(result.stderr)")
            #expect(result.stderr.contains(ControlClient.canonicalPath(otherConfig)), "\(command): \(result.stderr)")
            #expect(result.stdout.isEmpty, "\(command) printed \(result.stdout)")
        }
        let envStatus = runGraced(["status"], environment: ["GRACED_CONFIG": otherConfig])
        #expect(envStatus.status == 3, "GRACED_CONFIG=<other> graced status: \(envStatus)")
        #expect(fixture.graced.isRunning, "graced stop --config <other> stopped it")
        #expect(!fixture.graced.logLines(since: offset).contains { $0.contains("reload requested") || $0.contains("stopping") },
                "a refused command reached the supervisor:\n\(fixture.graced.logLines(since: offset).joined(separator: "\n"))")

        // The same file by another name (a symbolic link, `..`) is the same configuration.
        let link = other.file("link.conf")
        #expect(symlink(fixture.configPath, link) == 0)
        let viaLink = runGraced(["status", "--config", link])
        #expect(viaLink.status == 0, "\(viaLink)")
        let dotted = fixture.directory.path + "/../" + URL(fileURLWithPath: fixture.directory.path).lastPathComponent + "/graced.conf"
        let viaDots = runGraced(["reload", "--config", dotted], timeout: .seconds(60))
        #expect(viaDots.status == 0, "\(viaDots)")
        // --control skips the check.
        let direct = runGraced(["status", "--control", fixture.socketPath])
        #expect(direct.status == 0, "\(direct)")
        let stop = runGraced(["stop", "--config", fixture.configPath], timeout: .seconds(60))
        #expect(stop.status == 0, "\(stop)")
        #expect(!fixture.graced.isRunning)
    }
}
