#if canImport(Glibc)
import Glibc
#endif
import TOML
import Testing

@testable import SupervisorCore

private let configPath = "/etc/graced/test.conf"

/// Problems of `text`, or [] when it loads. The filesystem is not consulted unless asked,
/// so the tests run anywhere.
private func problems(
    _ text: String,
    path: String = configPath,
    checkFilesystem: Bool = false,
    environment: [String: String] = ["PATH": "/usr/bin:/bin"]
) -> [ConfigProblem] {
    do {
        _ = try ConfigLoader.parse(text: text, path: path, checkFilesystem: checkFilesystem, environment: environment)
        return []
    } catch {
        return error.problems
    }
}

/// Expects exactly one problem, at `line` (and `column`, when given), whose message
/// contains `message`.
private func expectProblem(
    _ text: String,
    line: Int?,
    column: Int? = nil,
    _ message: String,
    path: String = configPath,
    checkFilesystem: Bool = false,
    environment: [String: String] = ["PATH": "/usr/bin:/bin"],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let found = problems(text, path: path, checkFilesystem: checkFilesystem, environment: environment)
    #expect(found.count == 1, "\(found)", sourceLocation: sourceLocation)
    guard let problem = found.first else { return }
    // PATH:LINE:COLUMN: message, or PATH: message for a file that cannot be read.
    let prefix = line.map { "\(path):\($0):" } ?? "\(path): "
    #expect(problem.description.hasPrefix(prefix), "\(problem)", sourceLocation: sourceLocation)
    if let line {
        #expect(problem.line == line && problem.column != nil, "\(problem)", sourceLocation: sourceLocation)
        #expect(problem.description.hasPrefix("\(path):\(line):\(problem.column ?? 0): "), "\(problem)", sourceLocation: sourceLocation)
    }
    if let column {
        #expect(problem.column == column, "\(problem)", sourceLocation: sourceLocation)
    }
    #expect(problem.message.contains(message), "\(problem)", sourceLocation: sourceLocation)
}

/// A valid configuration: one listener, a worker using it.
private let minimal = """
    [[listener]]
    name = "http"
    address = "0.0.0.0:8080"

    [worker]
    command = ["/usr/bin/server", "--fd", "{fd:http}"]

    """

/// A directory that is removed with everything in it when the test ends.
private final class TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/graced-config-test.XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed")
        path = String(cString: created!)
    }

    @discardableResult
    func file(_ name: String, contents: String = "#!/bin/sh\n", mode: mode_t) -> String {
        let filePath = path + "/" + name
        let fd = open(filePath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        precondition(fd >= 0, "cannot create \(filePath)")
        _ = contents.utf8CString.withUnsafeBytes { write(fd, $0.baseAddress, $0.count - 1) }
        fchmod(fd, mode)
        close(fd)
        return filePath
    }

    func directory(_ name: String) -> String {
        let directoryPath = path + "/" + name
        mkdir(directoryPath, 0o755)
        return directoryPath
    }

    deinit {
        _ = system("rm -rf '\(path)'")
    }
}

@Suite struct ConfigLoaderTests {
    // MARK: Valid configurations

    @Test func fullConfigurationParsesToEveryValue() throws {
        let text = """
            # every key of graced.conf
            [graced]
            control_socket = "/run/graced/test.sock"
            control_group = "root"
            fd_store = true
            log_format = "journal"

            [[listener]]
            name = "http"
            address = "0.0.0.0:8080"
            backlog = 1024

            [[listener]]
            name = "admin"
            address = "localhost:9090"

            [[listener]]
            name = "v6"
            address = "[::0]:8443"

            [[listener]]
            name = "sock.unix-1"
            address = "unix:/run/app.sock"

            [worker]
            command = [
                "/bin/sh",
                "-c",
                "exec server --fd {fd:http} --admin-fd {fd:admin}",
            ]
            directory = "/tmp"
            user = "root"
            group = "root"
            environment = { APP_ENV = "production", PATH = "/usr/bin:/bin" }
            processes = 4
            ready = "exec"
            ready_delay = "2s"
            ready_command = ["/bin/true", "--health"]
            ready_timeout = "1m30s"
            ready_settle = "500ms"
            stop_signal = "SIGQUIT"
            drain_timeout = "45s"
            max_draining = 3
            restart = "always"
            expected_shutdown_messages = ["bye", "listener closed"]
            """
        let config = try ConfigLoader.parse(text: text, path: configPath, checkFilesystem: true, environment: [:])
        let expected = GracedConfig(
            path: configPath,
            daemon: DaemonSettings(controlSocket: "/run/graced/test.sock", controlGroup: "root", fdStore: true, logFormat: .journal),
            listeners: [
                ListenerConfig(name: "http", address: .ipv4(host: "0.0.0.0", port: 8080), backlog: 1024, line: 8),
                ListenerConfig(name: "admin", address: .ipv4(host: "127.0.0.1", port: 9090), backlog: 4096, line: 13),
                ListenerConfig(name: "v6", address: .ipv6(host: "::", port: 8443), backlog: 4096, line: 17),
                ListenerConfig(name: "sock.unix-1", address: .unix(path: "/run/app.sock"), backlog: 4096, line: 21),
            ],
            worker: WorkerConfig(
                command: ["/bin/sh", "-c", "exec server --fd {fd:http} --admin-fd {fd:admin}"],
                directory: "/tmp",
                user: "root",
                group: "root",
                environment: [
                    EnvironmentVariable(name: "APP_ENV", value: "production"),
                    EnvironmentVariable(name: "PATH", value: "/usr/bin:/bin"),
                ],
                processes: 4,
                ready: .exec,
                readyDelay: .seconds(2),
                readyCommand: ["/bin/true", "--health"],
                readyTimeout: .seconds(90),
                readySettle: .milliseconds(500),
                stopSignal: .quit,
                drainTimeout: .seconds(45),
                maxDraining: 3,
                restart: .always,
                expectedShutdownMessages: ["bye", "listener closed"]
            )
        )
        #expect(config == expected)
    }

    @Test func omittedKeysTakeTheirDefaults() throws {
        let config = try ConfigLoader.parse(text: minimal, path: configPath, checkFilesystem: false)
        #expect(config.daemon == DaemonSettings())
        #expect(config.listeners == [ListenerConfig(name: "http", address: .ipv4(host: "0.0.0.0", port: 8080), line: 1)])
        #expect(config.worker == WorkerConfig(command: ["/usr/bin/server", "--fd", "{fd:http}"]))
        #expect(config.worker.expectedShutdownMessages == WorkerConfig.defaultExpectedShutdownMessages)
    }

    @Test func otherwiseSpelledTomlMeansTheSame() throws {
        // Inline array of tables, dotted keys, quoted keys, a [worker.environment] table,
        // and strings that look like TOML syntax.
        let text = """
            listener = [{ name = "http", address = "0.0.0.0:8080" }]
            worker.command = ['/usr/bin/server', "--banner", \"\"\"
            [graced]
            nope = 1\"\"\"]
            worker."processes" = 2

            [worker.environment]
            "APP ENV" = "x = [y]" # comment [z]
            """
        let config = try ConfigLoader.parse(text: text, path: configPath, checkFilesystem: false)
        #expect(config.listeners.map(\.name) == ["http"])
        #expect(config.worker.command == ["/usr/bin/server", "--banner", "[graced]\nnope = 1"])
        #expect(config.worker.processes == 2)
        #expect(config.worker.environment == [EnvironmentVariable(name: "APP ENV", value: "x = [y]")])
    }

    @Test func byteOrderMarkIsIgnored() throws {
        let config = try ConfigLoader.parse(text: "\u{FEFF}" + minimal + "processes = 2\n", path: configPath, checkFilesystem: false)
        #expect(config.worker.processes == 2)
        expectProblem("\u{FEFF}" + minimal + "processes = \"2\"\n", line: 7, "worker.processes")
    }

    // MARK: Syntax, unknown keys, types

    @Test func syntaxErrorNamesItsLineAndColumn() {
        expectProblem(minimal + "processes = = 2\n", line: 7, column: 13, "expected a value after 'processes =', found '='")
        expectProblem("[worker]\ncommand = [\"a\"\n", line: 3, column: 1, "expected ',' or ']' in the array that starts at line 2, column 11, found the end of the file")
        expectProblem("[worker\n", line: 1, column: 8, "expected ']' to close the header [worker, found the end of the line")
    }

    /// toml++ (inside TOMLKit, the previous parser) aborted the process on these instead of
    /// throwing; the TOML module reports each at its position.
    @Test(arguments: [
        ("[=x]\n", 1, 2, "expected a key, found '='"),
        ("a = 1\n[\nworker]\n", 2, 2, "expected a key, found the end of the line"),
        ("[[ [x]]]\n", 1, 4, "expected a key, found '['"),
        ("[[[x]]]\n", 1, 3, "expected a key, found '['"),
        ("[ \u{E9}]\n", 1, 3, "expected a key, found '\u{E9}' (U+00E9)"),
        ("a = [1, }\n", 1, 9, "expected a value or ']' in the array that starts at line 1, column 5, found '}'"),
        ("a = [\n  1,\n  \u{2028}]\n", 3, 3, "found '\u{2028}' (U+2028)"),
        ("a = 1979-05-27 7\n", 1, 16, "expected the end of the line after the value of 'a', found '7'"),
        ("a = [1979-05-27 7]\n", 1, 17, "expected ',' or ']' in the array that starts at line 1, column 5, found '7'"),
        ("a = { b = 1979-05-27T-07:32:00 }\n", 1, 11, "invalid time in '1979-05-27T-07:32:00': expected HH:MM:SS (seconds are required)"),
        ("[worker]\nready = notify # no quotes\n", 2, 9, "invalid value 'notify': a string must be quoted, e.g. \"notify\""),
    ])
    func malformedSyntaxIsReportedAtItsPosition(text: String, line: Int, column: Int, message: String) {
        expectProblem(text, line: line, column: column, message)
    }

    @Test func deepNestingIsRefusedWithoutExhaustingTheStack() {
        let deep = "a = " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "\n"
        expectProblem(deep, line: 1, column: 133, "arrays and tables are nested too deeply (more than 128 levels)")
        let allowed = "a = " + String(repeating: "[", count: 128) + String(repeating: "]", count: 128) + "\n"
        #expect(problems(allowed).allSatisfy { !$0.message.contains("nested too deeply") })
        let dotted = "a" + String(repeating: ".a", count: 100_000) + " = 1\n"
        expectProblem(dotted, line: 1, "tables are nested too deeply (more than 128 levels)")
    }

    @Test func anEarlierSyntaxErrorIsReportedFirst() {
        expectProblem("a = \"unterminated\n[=x]\n", line: 1, column: 18, "unterminated string")
    }

    @Test func everyKindOfTOMLValueIsAccepted() {
        // Values graced does not use still must not be taken for the syntax toml++ chokes on.
        let text = #"""
            [values]
            a = [true, false, 0, -17, +99, 1_000, 0xDEAD_beef, 0o755, 0b1101, 3.1415, -0.01, 5e+22, 1E06, -2E-2,
                 6.626e-34, 224_617.445_991, inf, +inf, -nan, 1979-05-27T07:32:00Z, 1979-05-27T00:32:00-07:00,
                 1979-05-27T00:32:00.999999+07:00, 1979-05-27 07:32:00Z, 1979-05-27t07:32:00, 1979-05-27T00:32:00.5,
                 1979-05-27, 07:32:00, 00:32:00.999999, 1979-05-27 # a date, then a comment
                 ]
            b = { c = 1979-05-27 , d = [ 1 , 2 ] , e = { f = 1.5 } }
            "g.h" = 2
            'i' . j = '''
            [=x] a = [1, }
            '''
            m = """\
                [=x] \""" """
            [ values . k ]
            [[ values . l ]]
            """#
        #expect(throws: Never.self) { try TOMLDocument.parse(text) }
        // Only what graced itself refuses: the unknown table, no listener, no worker.
        #expect(problems(text).map(\.line) == [1, 1, 1], "\(problems(text))")
    }

    @Test func duplicateKeyIsASyntaxError() {
        expectProblem(minimal + "command = [\"/bin/true\"]\n", line: 7, column: 1, "duplicate key 'command' (first defined at line 6, column 1)")
    }

    @Test func unknownKeySuggestsTheClosestKnownKey() {
        expectProblem(minimal + "procesess = 2\n", line: 7, column: 1, "unknown key 'procesess' in [worker]; did you mean 'processes'?")
        expectProblem(minimal + "frobnicate = 2\n", line: 7, "unknown key 'frobnicate' in [worker]")
        expectProblem("[graced]\nfdstore = true\n" + minimal, line: 2, "unknown key 'fdstore' in [graced]; did you mean 'fd_store'?")
        expectProblem(
            minimal + "[[listener]]\nname = \"b\"\naddress = \"0.0.0.0:81\"\nadress = \"x\"\n",
            line: 10,
            "unknown key 'adress' in [[listener]]; did you mean 'address'?"
        )
        expectProblem(minimal + "[workers]\nprocesses = 2\n", line: 7, "unknown table [workers]; expected [graced], [[listener]] or [worker]; did you mean [worker]?")
        expectProblem(minimal + "[[listeners]]\nname = \"x\"\n", line: 7, "unknown table [listeners]; expected [graced], [[listener]] or [worker]; did you mean [[listener]]?")
        expectProblem("processes = 2\n" + minimal, line: 1, "unknown key 'processes' at the top level; it belongs in [worker]")
        expectProblem(minimal + "environment.LISTEN_FDX.y = 1\n", line: 7, "worker.environment.LISTEN_FDX: expected a string, found a table")
    }

    @Test func wrongTypeSaysWhatWasExpectedAndFound() {
        expectProblem(minimal + "processes = \"2\"\n", line: 7, column: 13, "worker.processes: expected an integer, found a string; write 2 without quotes")
        expectProblem(minimal + "processes = 1.5\n", line: 7, "worker.processes: expected an integer, found a floating-point number")
        expectProblem("[graced]\nfd_store = \"yes\"\n" + minimal, line: 2, "graced.fd_store: expected a boolean (true or false), found a string")
        expectProblem(minimal + "user = 1000\n", line: 7, "worker.user: expected a string, found an integer")
        expectProblem(minimal + "environment = [\"A=b\"]\n", line: 7, "worker.environment: expected a table of strings")
        expectProblem(minimal + "environment = { PORT = 8080 }\n", line: 7, "worker.environment.PORT: expected a string, found an integer; write PORT = \"8080\"")
    }

    @Test func wrongTypeOfAnArrayElementNamesTheElementsLine() {
        let text = """
            [[listener]]
            name = "http"
            address = "0.0.0.0:8080"

            [worker]
            command = [
                "/usr/bin/server",
                8080,
            ]
            """
        expectProblem(text, line: 8, column: 5, "worker.command[1]: expected a string, found an integer")
        expectProblem(minimal.replacingFirst("command = [", with: "command = \"/usr/bin/server\" #["), line: 6, "worker.command: expected an array of strings, found a string; write [\"...\", \"...\"]")
    }

    @Test func tablesOfTheWrongShape() {
        expectProblem("[listener]\nname = \"http\"\naddress = \"0.0.0.0:80\"\n[worker]\ncommand = [\"/bin/x\"]\n", line: 1, "listener: expected an array of tables ([[listener]]), found a table ([listener])")
        expectProblem(minimal.replacingFirst("[worker]", with: "[[worker]]"), line: 5, "worker: expected a table ([worker]), found an array")
        expectProblem("graced = 1\n" + minimal, line: 1, "graced: expected a table ([graced]), found an integer")
    }

    // MARK: Values

    @Test func badDurationNamesTheKeyAndWhatIsAccepted() {
        expectProblem(minimal + "drain_timeout = \"30\"\n", line: 7, "worker.drain_timeout: invalid duration \"30\": no unit after \"30\"; write a number and a unit")
        expectProblem(minimal + "ready_timeout = \"3x\"\n", line: 7, "unknown unit \"x\"")
        expectProblem(minimal + "ready_settle = \"-1s\"\n", line: 7, "durations cannot be negative")
        expectProblem(minimal + "drain_timeout = 30\n", line: 7, "worker.drain_timeout: expected a duration string such as \"30s\" or \"250ms\", found an integer; write \"30s\" for 30 seconds")
        expectProblem(minimal + "ready_timeout = \"0s\"\n", line: 7, "worker.ready_timeout: must be longer than 0s")
        expectProblem(minimal + "ready = \"delay\"\nready_delay = \"1m\"\n", line: 8, "worker.ready_delay (1m) must be shorter than ready_timeout (30s)")
    }

    @Test func badSignalListsTheAcceptedNames() {
        expectProblem(minimal + "stop_signal = \"SIGFOO\"\n", line: 7, "worker.stop_signal: unknown signal \"SIGFOO\"; accepted: SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGUSR1, SIGUSR2, SIGTERM")
        expectProblem(minimal + "stop_signal = 15\n", line: 7, "worker.stop_signal: expected a signal name such as \"SIGTERM\", found an integer; accepted: SIGHUP")
    }

    @Test func enumerationsListTheirValues() {
        expectProblem(minimal + "ready = \"notfy\"\n", line: 7, "worker.ready: unknown value \"notfy\"; expected \"accepting\", \"notify\", \"delay\" or \"exec\"; did you mean \"notify\"?")
        expectProblem(minimal + "restart = \"sometimes\"\n", line: 7, "worker.restart: unknown value \"sometimes\"; expected \"always\", \"on-failure\" or \"no\"")
        expectProblem("[graced]\nlog_format = \"json\"\n" + minimal, line: 2, "graced.log_format: unknown value \"json\"; expected \"auto\", \"text\" or \"journal\"")
    }

    @Test(arguments: [
        ("processes = 0", "worker.processes: must be from 1 to 1024, found 0"),
        ("processes = 1025", "worker.processes: must be from 1 to 1024, found 1025"),
        ("max_draining = 65", "worker.max_draining: must be from 1 to 64, found 65"),
    ])
    func integersOutOfRange(line: String, message: String) {
        expectProblem(minimal + line + "\n", line: 7, message)
    }

    @Test func backlogOutOfRange() {
        expectProblem(minimal.replacingFirst("address = \"0.0.0.0:8080\"", with: "address = \"0.0.0.0:8080\"\nbacklog = 0"), line: 4, "listener.backlog: must be from 1 to 65535, found 0")
    }

    @Test func execReadinessNeedsAReadyCommand() {
        expectProblem(minimal + "ready = \"exec\"\n", line: 7, "worker.ready = \"exec\" needs ready_command")
        expectProblem(minimal + "ready_command = []\n", line: 7, "worker.ready_command: must name a program")
    }

    @Test func controlSocketMustBeAnAbsoluteUnixPath() {
        expectProblem("[graced]\ncontrol_socket = \"graced.sock\"\n" + minimal, line: 2, "graced.control_socket: must be an absolute path")
        let long = "/" + String(repeating: "a", count: 107)
        expectProblem("[graced]\ncontrol_socket = \"\(long)\"\n" + minimal, line: 2, "is 108 bytes long; a Unix socket path may have at most 107")
    }

    @Test func relativeDirectoryIsRefused() {
        expectProblem(minimal + "directory = \"srv/app\"\n", line: 7, "worker.directory: must be an absolute path")
    }

    // MARK: Listeners

    @Test func duplicateListenerNameNamesTheFirstDefinition() {
        let text = minimal + """
            [[listener]]
            name = "http"
            address = "0.0.0.0:8081"
            """
        expectProblem(text, line: 8, column: 8, "duplicate listener name 'http' (also defined at line 2)")
    }

    @Test func duplicateAddressNamesBothListeners() {
        let text = minimal + """
            [[listener]]
            name = "other"
            address = "0.0.0.0:8080"
            """
        expectProblem(text, line: 9, "listeners 'http' (line 3) and 'other' have the same address 0.0.0.0:8080")
        // The same address spelled differently is still the same address.
        let v6 = minimal.replacingFirst("0.0.0.0:8080", with: "[::]:8080") + "[[listener]]\nname = \"b\"\naddress = \"[0::0]:8080\"\n"
        expectProblem(v6, line: 9, "listeners 'http' (line 3) and 'b' have the same address [::]:8080")
    }

    @Test func wildcardAndSpecificAddressOnOnePortOverlap() {
        let text = minimal + "[[listener]]\nname = \"local\"\naddress = \"127.0.0.1:8080\"\n"
        expectProblem(text, line: 9, "listener 'local' address 127.0.0.1:8080 overlaps 0.0.0.0:8080 of listener 'http' (line 3)")
    }

    @Test(arguments: [
        ("example.com:80", "\"example.com\" is not a numeric IPv4 address (graced resolves no host names)"),
        ("0.0.0.0", "missing port"),
        ("0.0.0.0:0", "the port must be a number from 1 to 65535, found \"0\""),
        ("0.0.0.0:65536", "the port must be a number from 1 to 65535, found \"65536\""),
        ("0.0.0.0:http", "the port must be a number from 1 to 65535, found \"http\""),
        ("0.0.0.0:+80", "the port must be a number"),
        ("1.2.3:80", "\"1.2.3\" is not a numeric IPv4 address"),
        (":8080", "missing host; write \"0.0.0.0:8080\""),
        ("::1:80", "an IPv6 address must be written in brackets"),
        ("[::1]80", "missing port after the IPv6 address"),
        ("[::1:80", "missing ']'"),
        ("[zz::1]:80", "\"zz::1\" is not a numeric IPv6 address"),
        ("[127.0.0.1]:80", "\"127.0.0.1\" is not a numeric IPv6 address"),
        ("unix:run/app.sock", "a Unix socket needs an absolute path"),
        ("unix:/" + String(repeating: "x", count: 107), "the path is 108 bytes long; a Unix socket path may have at most 107"),
    ])
    func badAddressForms(address: String, message: String) {
        expectProblem(minimal.replacingFirst("0.0.0.0:8080", with: address), line: 3, "listener.address: \"\(address)\": \(message)")
    }

    @Test(arguments: [
        ("0.0.0.0:8080", ListenerAddress.ipv4(host: "0.0.0.0", port: 8080)),
        ("localhost:1", .ipv4(host: "127.0.0.1", port: 1)),
        ("10.1.2.3:65535", .ipv4(host: "10.1.2.3", port: 65535)),
        ("[::]:8080", .ipv6(host: "::", port: 8080)),
        ("[0:0::1]:443", .ipv6(host: "::1", port: 443)),
        ("[2001:DB8::1]:80", .ipv6(host: "2001:db8::1", port: 80)),
        ("unix:/run/app.sock", .unix(path: "/run/app.sock")),
        ("unix:/" + String(repeating: "x", count: 106), .unix(path: "/" + String(repeating: "x", count: 106))),
    ])
    func goodAddressForms(text: String, expected: ListenerAddress) throws {
        #expect(try ConfigValidator.parseListenerAddress(text).get() == expected)
    }

    @Test(arguments: ["", "a:b", "a b", "é", String(repeating: "n", count: 256)])
    func badListenerNames(name: String) {
        expectProblem(minimal.replacingFirst("\"http\"", with: "\"\(name)\""), line: 2, "listener.name: ")
    }

    @Test func listenerWithoutNameOrAddressIsReportedAtItsHeader() {
        let text = minimal + "\n[[listener]]\nbacklog = 10\n"
        let found = problems(text)
        #expect(found.map(\.line) == [8, 8])
        #expect(found.map(\.column) == [1, 1])
        #expect(found[0].message.contains("[[listener]] without a name"))
        #expect(found[1].message.contains("missing address"))
    }

    @Test func noListenerIsReportedAtTheStartOfTheFile() {
        expectProblem("[worker]\ncommand = [\"/usr/bin/server\"]\n", line: 1, "no [[listener]] table: at least one listener is required")
        expectProblem("listener = []\n[worker]\ncommand = [\"/usr/bin/server\"]\n", line: 1, "listener: at least one listener is required")
    }

    // MARK: [worker]

    @Test func missingWorkerIsReportedAtTheStartOfTheFile() {
        expectProblem("[[listener]]\nname = \"http\"\naddress = \"0.0.0.0:8080\"\n", line: 1, "missing [worker] table")
    }

    @Test func missingCommandIsReportedAtTheWorkerHeader() {
        expectProblem(minimal.replacingFirst("command", with: "processes = 2\n#"), line: 5, "[worker] has no command")
        expectProblem(minimal.replacingFirst("[\"/usr/bin/server\", \"--fd\", \"{fd:http}\"]", with: "[]"), line: 6, "worker.command: must name a program")
    }

    @Test func placeholderMustNameAListener() {
        let text = """
            [[listener]]
            name = "http"
            address = "0.0.0.0:8080"

            [worker]
            command = [
                "/usr/bin/server",
                "--fd={fd:nope}",
            ]
            """
        expectProblem(text, line: 8, "worker.command[1]: {fd:nope} names no listener; the listeners are 'http'")
        expectProblem(minimal.replacingFirst("{fd:http}", with: "{fd:htp}"), line: 6, "did you mean {fd:http}?")
        expectProblem(minimal.replacingFirst("{fd:http}", with: "{fd:http"), line: 6, "unterminated placeholder")
    }

    @Test func reservedEnvironmentNamesAreRefused() {
        let text = minimal + """
            environment = { APP_ENV = "production", LISTEN_FDS = "3" }
            """
        expectProblem(text, line: 7, "environment may not set LISTEN_FDS: graced sets it for every worker")
        for name in ["LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "GRACED_GENERATION", "GRACED_WORKER", "EINHORN_FDS"] {
            expectProblem(minimal + "[worker.environment]\n\(name) = \"x\"\n", line: 8, "environment may not set \(name): graced sets it for every worker")
        }
        expectProblem(minimal + "environment.WATCHDOG_USEC = \"1\"\n", line: 7, "environment may not set WATCHDOG_USEC: it belongs to graced's own watchdog")
    }

    @Test func everyProblemIsReportedInLineOrder() {
        let text = """
            [worker]
            command = ["/usr/bin/server", "{fd:nope}"]
            procesess = 2
            drain_timeout = 30

            [[listener]]
            name = "http"
            address = "0.0.0.0:99999"

            [[listener]]
            name = "http"
            address = "0.0.0.0:8080"
            """
        let found = problems(text)
        #expect(found.map(\.line) == [3, 4, 8, 11])
        #expect(found.allSatisfy { $0.path == configPath })
        // The listeners are broken, so {fd:nope} is not judged against them.
        let error = ConfigError(problems: found)
        #expect(error.description.split(separator: "\n").count == 4)
        #expect(error.description.hasPrefix("\(configPath):3:1: unknown key 'procesess' in [worker]"))
    }

    // MARK: The filesystem

    @Test func commandNotFoundInPath() {
        let text = minimal.replacingFirst("/usr/bin/server", with: "pyhton3")
        expectProblem(text, line: 6, "command 'pyhton3' not found in PATH (/usr/bin:/bin)", checkFilesystem: true)
        // The worker's own PATH is the one searched.
        let own = text + "environment = { PATH = \"/nonexistent\" }\n"
        expectProblem(own, line: 6, "command 'pyhton3' not found in PATH (/nonexistent)", checkFilesystem: true)
    }

    @Test func commandFoundInPath() throws {
        let text = minimal.replacingFirst("/usr/bin/server", with: "sh")
        let config = try ConfigLoader.parse(text: text, path: configPath, environment: ["PATH": "relative:/bin"])
        #expect(config.worker.command[0] == "sh")
        #expect(config.worker.resolvedExecutable(processEnvironment: ["PATH": "relative:/bin"]) == "/bin/sh")
    }

    @Test func commandThatIsNotExecutable() {
        let directory = TemporaryDirectory()
        let program = directory.file("server", mode: 0o644)
        expectProblem(minimal.replacingFirst("/usr/bin/server", with: program), line: 6, "command '\(program)' is not executable", checkFilesystem: true)
        expectProblem(minimal.replacingFirst("/usr/bin/server", with: directory.path), line: 6, "command '\(directory.path)' is not a regular file", checkFilesystem: true)
        expectProblem(minimal.replacingFirst("/usr/bin/server", with: directory.path + "/nope"), line: 6, "command '\(directory.path)/nope': No such file or directory", checkFilesystem: true)
    }

    @Test func relativeCommandIsResolvedAgainstTheConfigDirectory() throws {
        let directory = TemporaryDirectory()
        _ = directory.directory("bin")
        let program = directory.file("bin/server", mode: 0o755)
        let text = minimal.replacingFirst("/usr/bin/server", with: "./bin/server")
        let config = try ConfigLoader.parse(text: text, path: directory.path + "/graced.conf")
        #expect(config.worker.command[0] == program)
        #expect(config.worker.resolvedExecutable(processEnvironment: [:]) == program)
        expectProblem(text, line: 6, "command '/etc/graced/bin/server': No such file or directory", checkFilesystem: true)
    }

    @Test func relativeCommandIsResolvedAgainstTheWorkerDirectory() throws {
        let directory = TemporaryDirectory()
        let program = directory.file("server", mode: 0o755)
        let text = minimal.replacingFirst("/usr/bin/server", with: "./server") + "directory = \"\(directory.path)\"\n"
        let config = try ConfigLoader.parse(text: text, path: configPath)
        #expect(config.worker.command[0] == "./server")
        #expect(config.worker.resolvedExecutable(processEnvironment: [:]) == program)
    }

    @Test func directoryUserAndGroupMustExist() {
        let directory = TemporaryDirectory()
        let file = directory.file("plain", mode: 0o644)
        expectProblem(minimal + "directory = \"/nonexistent/graced\"\n", line: 7, "worker.directory: '/nonexistent/graced': No such file or directory", checkFilesystem: true, environment: [:])
        expectProblem(minimal + "directory = \"\(file)\"\n", line: 7, "worker.directory: '\(file)' is not a directory", checkFilesystem: true, environment: [:])
        let program = minimal.replacingFirst("/usr/bin/server", with: "/bin/sh")
        expectProblem(program + "user = \"no-such-user-graced\"\n", line: 7, "worker.user: user 'no-such-user-graced' does not exist", checkFilesystem: true)
        expectProblem(program + "group = \"no-such-group-graced\"\n", line: 7, "worker.group: group 'no-such-group-graced' does not exist", checkFilesystem: true)
        expectProblem("[graced]\ncontrol_group = \"no-such-group-graced\"\n" + program, line: 2, "graced.control_group: group 'no-such-group-graced' does not exist", checkFilesystem: true)
    }

    // MARK: Reading the file

    @Test func loadReadsAFile() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("graced.conf", contents: minimal.replacingFirst("/usr/bin/server", with: "/bin/sh"), mode: 0o644)
        let config = try ConfigLoader.load(path: path)
        #expect(config.path == path)
        #expect(config.worker.command == ["/bin/sh", "--fd", "{fd:http}"])
    }

    @Test func unreadableFileNamesThePathAndTheReason() {
        let missing = #expect(throws: ConfigError.self) { try ConfigLoader.load(path: "/nonexistent/graced.conf") }
        #expect(missing?.description == "/nonexistent/graced.conf: cannot read: No such file or directory")
        #expect(missing?.problems.first?.line == nil)
        let directory = TemporaryDirectory()
        let notAFile = #expect(throws: ConfigError.self) { try ConfigLoader.load(path: directory.path) }
        #expect(notAFile?.description == "\(directory.path): cannot read: Is a directory")
    }

    @Test func invalidUTF8AndNULAreRefusedWithTheirLine() {
        let directory = TemporaryDirectory()
        let path = directory.path + "/bad.conf"
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        let bytes: [UInt8] = Array("[worker]\n".utf8) + [0xFF, 0x0A]
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        let error = #expect(throws: ConfigError.self) { try ConfigLoader.load(path: path) }
        #expect(error?.description == "\(path):2:1: invalid UTF-8 (byte 0xFF); the file must be UTF-8")
        expectProblem(minimal + "x = \"a\u{0}b\"\n", line: 7, column: 7, "control character U+0000 in a string")
    }

    // MARK: Positions

    @Test func problemsPointAtTheKeyOrTheValue() {
        let text = """
            [graced]
            control_socket = "relative"
              "quoted key" = 1
            [[listener]]
            name = 'a'
            address = "0.0.0.0:80"
            [worker]
            command = ["/bin/x",
                "{fd:b}"]
            environment = { A = 1, LISTEN_FDS = "3" }
            """
        let found = problems(text)
        let located = found.map { "\($0.line ?? 0):\($0.column ?? 0)" }
        #expect(located == ["2:18", "3:3", "9:5", "10:21", "10:24"], "\(found)")
    }

    // MARK: New keys

    @Test func readyListenersMustNameListeners() throws {
        let two = minimal + "[[listener]]\nname = \"admin\"\naddress = \"127.0.0.1:9\"\n"
        let worker = "[worker]\ncommand = [\"/usr/bin/server\"]\n"
        let base = two.replacingFirst("[worker]\ncommand = [\"/usr/bin/server\", \"--fd\", \"{fd:http}\"]\n", with: "")
        let config = try ConfigLoader.parse(text: base + worker + "ready = \"accepting\"\nready_listeners = [\"http\"]\n", path: configPath, checkFilesystem: false)
        #expect(config.worker.ready == .accepting)
        #expect(config.worker.readyListeners == ["http"])
        #expect(try ConfigLoader.parse(text: minimal, path: configPath, checkFilesystem: false).worker.readyListeners == nil)
        expectProblem(base + worker + "ready_listeners = [\"http\", \"admn\"]\n", line: 10, column: 28, "worker.ready_listeners[1]: 'admn' names no listener; the listeners are 'http', 'admin'; did you mean 'admin'?")
        expectProblem(base + worker + "ready_listeners = [\"http\", \"http\"]\n", line: 10, "'http' is listed twice")
        expectProblem(base + worker + "ready_listeners = []\n", line: 10, "must name at least one listener")
        expectProblem(base + worker + "ready_listeners = \"http\"\n", line: 10, "worker.ready_listeners: expected an array of strings, found a string")
        expectProblem(base + worker + "ready = \"notify\"\nready_listeners = [\"http\"]\n", line: 11, "applies only to ready = \"accepting\"")
    }

    @Test func stopAcceptTimeoutAndStartLimit() throws {
        let defaults = try ConfigLoader.parse(text: minimal, path: configPath, checkFilesystem: false)
        #expect(defaults.worker.stopAcceptTimeout == .seconds(5))
        #expect(defaults.worker.startLimit == 5)
        let set = try ConfigLoader.parse(text: minimal + "stop_accept_timeout = \"2s\"\nstart_limit = 3\n", path: configPath, checkFilesystem: false)
        #expect(set.worker.stopAcceptTimeout == .seconds(2))
        #expect(set.worker.startLimit == 3)
        expectProblem(minimal + "start_limit = 0\n", line: 7, "worker.start_limit: must be from 1 to 10000, found 0")
        expectProblem(minimal + "stop_accept_timeout = 5\n", line: 7, "worker.stop_accept_timeout: expected a duration string")
    }

    @Test func limitsCheckedByGracedCheck() {
        expectProblem(minimal + "drain_timeout = \"8761h\"\n", line: 7, "worker.drain_timeout: invalid duration \"8761h\": it is too long: more than a year (8760h)")
        var many = "[worker]\ncommand = [\"/usr/bin/server\"]\n"
        for number in 0..<257 {
            many += "[[listener]]\nname = \"l\(number)\"\naddress = \"127.0.0.1:\(number + 1000)\"\n"
        }
        expectProblem(many, line: 3 + 256 * 3, column: 1, "257 listeners: a worker can be given at most 256")
        var allowed = many
        allowed.removeSubrange(allowed.firstRange(of: "[[listener]]\nname = \"l256\"")!.lowerBound...)
        #expect(problems(allowed) == [])
    }

    @Test func controlSocketIsReadFromTheTreeDespiteOtherErrors() {
        let directory = TemporaryDirectory()
        let good = directory.file("a.conf", contents: "[graced]\ncontrol_socket = \"/run/a.sock\" # c\nbogus = 1\n", mode: 0o644)
        #expect(ControlSocketLocation.fromConfigFile(good) == "/run/a.sock")
        let broken = directory.file("b.conf", contents: "[graced]\n'control_socket' = '/run/b.sock'\n[worker\nx = \n", mode: 0o644)
        #expect(ControlSocketLocation.fromConfigFile(broken) == "/run/b.sock")
        let none = directory.file("c.conf", contents: "[worker]\ncontrol_socket = \"/run/c.sock\"\n", mode: 0o644)
        #expect(ControlSocketLocation.fromConfigFile(none) == nil)
        #expect(ControlSocketLocation.fromConfigFile(directory.path + "/missing.conf") == nil)
    }

    @Test(arguments: [("procesess", "processes"), ("adress", "address"), ("ready_timout", "ready_timeout")])
    func suggestionsForTypos(typo: String, expected: String) {
        #expect(ConfigValidator.closestMatch(to: typo, in: ConfigValidator.workerKeys + ConfigValidator.listenerKeys) == expected)
    }

    @Test func noSuggestionForUnrelatedWords() {
        #expect(ConfigValidator.closestMatch(to: "banana", in: ConfigValidator.workerKeys) == nil)
        #expect(ConfigValidator.editDistance("procesess", "processes") == 1)
    }
}

extension String {
    /// The text with the first occurrence of `target` replaced (Foundation-free).
    fileprivate func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = firstRange(of: target) else { return self }
        return String(self[..<range.lowerBound]) + replacement + String(self[range.upperBound...])
    }
}
