import ArgumentParser
import SupervisorCore

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ask the running supervisor for a zero-downtime reload.")
    @OptionGroup var options: ConfigOption
    func run() throws { throw ExitCode(3) }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show listeners, generations and workers.")
    @OptionGroup var options: ConfigOption
    func run() throws { throw ExitCode(3) }
}

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop the supervisor gracefully.")
    @OptionGroup var options: ConfigOption
    func run() throws { throw ExitCode(3) }
}
