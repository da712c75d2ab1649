#if canImport(Glibc)
import Glibc
#endif
import TOML

/// Walks the parsed document (a ``TOMLTable`` with a position for every key and value) and
/// checks every value, collecting every problem rather than stopping at the first.
///
/// Positions: a problem with a value points at the value (an array element at the
/// element), an unknown key at the key, a missing key at its table's header, and a
/// missing table at the start of the file.
struct ConfigValidator {
    let path: String
    let checkFilesystem: Bool
    let environment: [String: String]
    /// Absolute; relative command paths are resolved against it when `directory` is unset.
    let configDirectory: String
    private(set) var problems: [ConfigProblem] = []

    static let topLevelTables = ["graced", "listener", "worker"]
    static let daemonKeys = ["control_socket", "control_group", "fd_store", "log_format"]
    static let listenerKeys = ["name", "address", "backlog"]
    static let workerKeys = [
        "command", "directory", "user", "group", "environment", "processes", "ready", "ready_listeners",
        "ready_delay", "ready_command", "ready_timeout", "ready_settle", "stop_accept_timeout", "start_limit",
        "stop_signal", "drain_timeout", "max_draining", "restart", "expected_shutdown_messages",
    ]

    /// Set for every worker, so a user value would be overwritten or break the protocol.
    static let reservedForWorkers = [
        "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "GRACED_GENERATION", "GRACED_WORKER",
        "EINHORN_FDS",
    ]
    /// graced's own watchdog variables, which are never passed on.
    static let reservedForGraced = ["WATCHDOG_USEC", "WATCHDOG_PID"]

    /// `sun_path` holds 108 bytes including the terminating NUL.
    static let maximumUnixPathLength = 107

    /// The spawn helper passes at most this many sockets to a worker.
    static let maximumListeners = 256

    init(path: String, checkFilesystem: Bool, environment: [String: String], configDirectory: String) {
        self.path = path
        self.checkFilesystem = checkFilesystem
        self.environment = environment
        self.configDirectory = configDirectory
    }

    /// A table being validated: its keys, where it is, and how messages name it.
    struct Section {
        var table: TOMLTable
        /// The table's header (or where it was first written): missing keys are reported here.
        var position: TOMLPosition
        /// The prefix of a key in messages: `worker` in `worker.processes`.
        var name: String
        /// How the user writes the table: `[worker]`, `[[listener]]`.
        var header: String

        /// Where the value of `key` begins; the table's position when it has no such key.
        func valuePosition(_ key: String) -> TOMLPosition {
            table[key]?.position ?? position
        }
    }

    // MARK: Reporting

    mutating func report(_ position: TOMLPosition, _ message: String) {
        problems.append(ConfigProblem(path: path, position: position, message: message))
    }

    mutating func reportType(_ section: Section, _ key: String, expected: String, found node: TOMLNode, hint: String = "") {
        report(node.position, "\(section.name).\(key): expected \(expected), found \(node.value.typeDescription)\(hint)")
    }

    // MARK: The document

    mutating func validate(_ root: TOMLTable) -> GracedConfig? {
        for entry in root.entries where !Self.topLevelTables.contains(entry.key) {
            reportUnknownTopLevelKey(entry)
        }

        var daemon = DaemonSettings()
        if let node = root["graced"] {
            if let table = node.value.table {
                daemon = validateDaemon(Section(table: table, position: node.position, name: "graced", header: "[graced]"))
            } else {
                report(node.position, "graced: expected a table ([graced]), found \(node.value.typeDescription)")
            }
        }

        let listeners = validateListeners(root)

        var worker: WorkerConfig?
        if let node = root["worker"] {
            if let table = node.value.table {
                worker = validateWorker(Section(table: table, position: node.position, name: "worker", header: "[worker]"), listeners: listeners)
            } else {
                report(node.position, "worker: expected a table ([worker]), found \(node.value.typeDescription)")
            }
        } else {
            report(.start, "missing [worker] table: it sets the command that serves the listeners")
        }

        guard let worker, let listeners else { return nil }
        return GracedConfig(path: path, daemon: daemon, listeners: listeners, worker: worker)
    }

    private mutating func reportUnknownTopLevelKey(_ entry: TOMLTable.Entry) {
        let key = entry.key
        let value = entry.node.value
        if value.table != nil || value.array?.first?.value.table != nil {
            var message = "unknown table [\(key)]; expected [graced], [[listener]] or [worker]"
            if let suggestion = Self.closestMatch(to: key, in: Self.topLevelTables) {
                message += suggestion == "listener" ? "; did you mean [[listener]]?" : "; did you mean [\(suggestion)]?"
            }
            report(entry.node.position, message)
            return
        }
        var message = "unknown key '\(key)' at the top level"
        if Self.workerKeys.contains(key) {
            message += "; it belongs in [worker]"
        } else if Self.listenerKeys.contains(key) {
            message += "; it belongs in a [[listener]]"
        } else if Self.daemonKeys.contains(key) {
            message += "; it belongs in [graced]"
        } else {
            message += " (keys go in [graced], [[listener]] or [worker])"
        }
        report(entry.keyPosition, message)
    }

    mutating func checkUnknownKeys(_ section: Section, known: [String]) {
        for entry in section.table.entries where !known.contains(entry.key) {
            var message = "unknown key '\(entry.key)' in \(section.header)"
            if let suggestion = Self.closestMatch(to: entry.key, in: known) {
                message += "; did you mean '\(suggestion)'?"
            }
            report(entry.keyPosition, message)
        }
    }

    // MARK: [graced]

    private mutating func validateDaemon(_ section: Section) -> DaemonSettings {
        checkUnknownKeys(section, known: Self.daemonKeys)
        var settings = DaemonSettings()
        if let socket = string(section, "control_socket") {
            let position = section.valuePosition("control_socket")
            if !socket.hasPrefix("/") {
                report(position, "graced.control_socket: must be an absolute path, found \"\(socket)\"")
            } else if socket.utf8.count > Self.maximumUnixPathLength {
                report(position, "graced.control_socket: the path is \(socket.utf8.count) bytes long; a Unix socket path may have at most \(Self.maximumUnixPathLength)")
            } else {
                settings.controlSocket = socket
            }
        }
        if let group = string(section, "control_group") {
            let position = section.valuePosition("control_group")
            if group.isEmpty {
                report(position, "graced.control_group: must not be empty")
            } else if checkFilesystem, UserDatabase.groupID(named: group) == nil {
                report(position, "graced.control_group: group '\(group)' does not exist")
            } else {
                settings.controlGroup = group
            }
        }
        if let node = section.table["fd_store"] {
            if let flag = node.value.boolean {
                settings.fdStore = flag
            } else {
                reportType(section, "fd_store", expected: "a boolean (true or false)", found: node)
            }
        }
        if let format = choice(section, "log_format", LogFormat.self) {
            settings.logFormat = format
        }
        return settings
    }

    // MARK: [[listener]]

    /// nil when the listeners are so broken that no worker could be checked against them.
    private mutating func validateListeners(_ root: TOMLTable) -> [ListenerConfig]? {
        guard let node = root["listener"] else {
            report(.start, "no [[listener]] table: at least one listener is required")
            return nil
        }
        guard let array = node.value.array, array.allSatisfy({ $0.value.table != nil }) else {
            let found = node.value.table != nil ? "a table ([listener])" : node.value.typeDescription
            report(node.position, "listener: expected an array of tables ([[listener]]), found \(found)")
            return nil
        }
        guard !array.isEmpty else {
            report(node.position, "listener: at least one listener is required")
            return nil
        }

        var listeners: [ListenerConfig] = []
        var complete = true
        if array.count > Self.maximumListeners {
            report(array[Self.maximumListeners].position, "\(array.count) listeners: a worker can be given at most \(Self.maximumListeners)")
            complete = false
        }
        var namesSeen: [String: TOMLPosition] = [:]
        // Per address: the listener's name and the line of its address.
        var addressesSeen: [(address: ListenerAddress, name: String, line: Int)] = []
        for element in array {
            let section = Section(table: element.value.table!, position: element.position, name: "listener", header: "[[listener]]")
            checkUnknownKeys(section, known: Self.listenerKeys)
            let headerLine = element.position.line

            let name = string(section, "name")
            if section.table["name"] == nil {
                report(section.position, "[[listener]] without a name: add name = \"...\" (it becomes the fd's name in LISTEN_FDNAMES)")
            }
            var validName: String?
            if let name {
                let position = section.valuePosition("name")
                if let problem = listenerNameProblem(name) {
                    report(position, "listener.name: \(problem)")
                } else if let first = namesSeen[name] {
                    report(position, "duplicate listener name '\(name)' (also defined at line \(first.line))")
                } else {
                    namesSeen[name] = position
                    validName = name
                }
            }

            if section.table["address"] == nil {
                report(section.position, "listener\(name.map { " '\($0)'" } ?? ""): missing address, e.g. address = \"0.0.0.0:8080\"")
            }
            var validAddress: ListenerAddress?
            if let text = string(section, "address") {
                let position = section.valuePosition("address")
                switch Self.parseListenerAddress(text) {
                case .failure(let problem):
                    report(position, "listener.address: \(problem.message)")
                case .success(let address):
                    let label = name.map { "'\($0)'" } ?? "at line \(headerLine)"
                    if let clash = addressesSeen.first(where: { $0.address == address }) {
                        report(position, "listeners '\(clash.name)' (line \(clash.line)) and \(label) have the same address \(address)")
                    } else if let clash = addressesSeen.first(where: { Self.addressesOverlap($0.address, address) }) {
                        report(position, "listener \(label) address \(address) overlaps \(clash.address) of listener '\(clash.name)' (line \(clash.line)): both cannot be bound")
                    } else {
                        validAddress = address
                    }
                    addressesSeen.append((address, name ?? "at line \(headerLine)", position.line))
                }
            }

            var backlog: Int32 = 4096
            if let value = integer(section, "backlog", in: 1...65535) {
                backlog = Int32(value)
            }

            if let validName, let validAddress {
                listeners.append(ListenerConfig(name: validName, address: validAddress, backlog: backlog, line: headerLine))
            } else {
                complete = false
            }
        }
        return complete ? listeners : nil
    }

    private func listenerNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if name.utf8.count > 255 { return "'\(name.prefix(32))...' is longer than 255 characters" }
        let allowed = name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
                return true
            default:
                return false
            }
        }
        if !allowed {
            return "'\(name)' may contain only letters, digits, '_', '.' and '-' (it is passed in LISTEN_FDNAMES, separated by ':')"
        }
        return nil
    }

    struct AddressProblem: Error {
        var message: String
    }

    /// Parses `HOST:PORT` (numeric IPv4, or `localhost`), `[IPv6]:PORT` and
    /// `unix:/absolute/path`. Hosts are numeric because graced binds before any resolver
    /// can be trusted, and a name that resolves to several addresses has no single socket.
    /// IP hosts are stored in canonical form (`[::0]` becomes `[::]`), so equal addresses
    /// compare equal, both here and when a reload decides which sockets to keep.
    static func parseListenerAddress(_ text: String) -> Result<ListenerAddress, AddressProblem> {
        func fail(_ message: String) -> Result<ListenerAddress, AddressProblem> {
            .failure(AddressProblem(message: message))
        }
        let forms = "use \"HOST:PORT\" with a numeric IPv4 address or localhost, \"[IPv6]:PORT\" or \"unix:/absolute/path\""
        if text.hasPrefix("unix:") {
            let socketPath = String(text.dropFirst(5))
            guard socketPath.hasPrefix("/") else {
                return fail("\"\(text)\": a Unix socket needs an absolute path, e.g. \"unix:/run/app.sock\"")
            }
            guard socketPath.utf8.count <= maximumUnixPathLength else {
                return fail("\"\(text)\": the path is \(socketPath.utf8.count) bytes long; a Unix socket path may have at most \(maximumUnixPathLength)")
            }
            return .success(.unix(path: socketPath))
        }

        let host: Substring
        let portText: Substring
        let bracketed = text.hasPrefix("[")
        if bracketed {
            guard let close = text.firstIndex(of: "]") else {
                return fail("\"\(text)\": missing ']' after the IPv6 address")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else {
                return fail("\"\(text)\": missing port after the IPv6 address, e.g. \"[::]:8080\"")
            }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                return fail("\"\(text)\": missing port; \(forms)")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") {
                return fail("\"\(text)\": an IPv6 address must be written in brackets, e.g. \"[::1]:8080\"")
            }
        }

        guard !portText.isEmpty, portText.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let port = Int(portText), (1...65535).contains(port)
        else {
            return fail("\"\(text)\": the port must be a number from 1 to 65535, found \"\(portText)\"")
        }

        if bracketed {
            guard let canonical = canonicalAddress(String(host), family: AF_INET6) else {
                return fail("\"\(text)\": \"\(host)\" is not a numeric IPv6 address")
            }
            return .success(.ipv6(host: canonical, port: UInt16(port)))
        }
        if host.isEmpty {
            return fail("\"\(text)\": missing host; write \"0.0.0.0:\(port)\" for every IPv4 address or \"[::]:\(port)\" for every IPv6 address")
        }
        if host == "localhost" {
            return .success(.ipv4(host: "127.0.0.1", port: UInt16(port)))
        }
        guard let canonical = canonicalAddress(String(host), family: AF_INET) else {
            return fail("\"\(text)\": \"\(host)\" is not a numeric IPv4 address (graced resolves no host names); \(forms)")
        }
        return .success(.ipv4(host: canonical, port: UInt16(port)))
    }

    /// inet_pton then inet_ntop: nil when `host` is not a numeric address of `family`.
    private static func canonicalAddress(_ host: String, family: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 16)  // in6_addr; in_addr uses the first 4
        guard buffer.withUnsafeMutableBytes({ inet_pton(family, host, $0.baseAddress) }) == 1 else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let written = buffer.withUnsafeBytes { bytes in
            text.withUnsafeMutableBufferPointer { inet_ntop(family, bytes.baseAddress, $0.baseAddress, socklen_t($0.count)) }
        }
        guard written != nil else { return nil }
        return String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Two different addresses that cannot both be bound: the wildcard and a specific
    /// address of the same family and port.
    static func addressesOverlap(_ a: ListenerAddress, _ b: ListenerAddress) -> Bool {
        switch (a, b) {
        case (.ipv4(let hostA, let portA), .ipv4(let hostB, let portB)):
            return portA == portB && (hostA == "0.0.0.0" || hostB == "0.0.0.0")
        case (.ipv6(let hostA, let portA), .ipv6(let hostB, let portB)):
            return portA == portB && (hostA == "::" || hostB == "::")
        default:
            return false
        }
    }

    // MARK: [worker]

    private mutating func validateWorker(_ section: Section, listeners: [ListenerConfig]?) -> WorkerConfig? {
        checkUnknownKeys(section, known: Self.workerKeys)
        var worker = WorkerConfig(command: [])
        var complete = true

        // directory first: a relative command is resolved against it.
        var directoryUsable = true
        if let directory = string(section, "directory") {
            let position = section.valuePosition("directory")
            if !directory.hasPrefix("/") {
                report(position, "worker.directory: must be an absolute path, found \"\(directory)\"")
                directoryUsable = false
            } else if checkFilesystem, let problem = directoryProblem(directory) {
                report(position, "worker.directory: \(problem)")
                directoryUsable = false
            } else {
                worker.directory = directory
            }
        }

        var environmentPath: String?
        if let node = section.table["environment"] {
            if let table = node.value.table {
                worker.environment = validateEnvironment(table)
                environmentPath = worker.environment.first(where: { $0.name == "PATH" })?.value
            } else {
                reportType(section, "environment", expected: "a table of strings, e.g. { APP_ENV = \"production\" }", found: node)
            }
        }

        if section.table["command"] == nil {
            report(section.position, "[worker] has no command: add command = [\"/path/to/server\", \"arg\", ...]")
            complete = false
        } else if let command = stringArray(section, "command") {
            if command.isEmpty {
                report(section.valuePosition("command"), "worker.command: must name a program, e.g. [\"/usr/bin/python3\", \"-m\", \"gunicorn\"]")
                complete = false
            } else if command[0].isEmpty {
                report(elementPosition(section, "command", 0), "worker.command: the program name is empty")
                complete = false
            } else {
                worker.command = command
                checkPlaceholders(section, listeners: listeners)
                // A relative path with a slash is meant relative to `directory`, where the
                // worker starts, or else to this file (graced's own working directory is
                // an accident of how it was started); without `directory`, the path is
                // made absolute here so the spawner executes exactly what was checked.
                if command[0].contains("/"), !command[0].hasPrefix("/"), worker.directory == nil, directoryUsable {
                    worker.command[0] = ConfigLoader.joinPath(configDirectory, command[0])
                }
                if checkFilesystem, directoryUsable {
                    if let problem = executableProblem(worker.command[0], directory: worker.directory, searchPath: environmentPath) {
                        report(elementPosition(section, "command", 0), problem)
                    }
                }
            }
        } else {
            complete = false
        }

        if let user = string(section, "user") {
            if user.isEmpty {
                report(section.valuePosition("user"), "worker.user: must not be empty")
            } else if checkFilesystem, UserDatabase.passwd(named: user) == nil {
                report(section.valuePosition("user"), "worker.user: user '\(user)' does not exist")
            } else {
                worker.user = user
            }
        }
        if let group = string(section, "group") {
            if group.isEmpty {
                report(section.valuePosition("group"), "worker.group: must not be empty")
            } else if checkFilesystem, UserDatabase.groupID(named: group) == nil {
                report(section.valuePosition("group"), "worker.group: group '\(group)' does not exist")
            } else {
                worker.group = group
            }
        }

        if let processes = integer(section, "processes", in: 1...1024) { worker.processes = processes }
        if let ready = choice(section, "ready", ReadinessMode.self) { worker.ready = ready }
        if let names = stringArray(section, "ready_listeners") {
            validateReadyListeners(names, section: section, listeners: listeners, into: &worker)
        }
        let problemsBeforeTiming = problems.count
        if let delay = duration(section, "ready_delay") { worker.readyDelay = delay }
        if let readyCommand = stringArray(section, "ready_command") {
            if readyCommand.isEmpty || readyCommand[0].isEmpty {
                report(section.valuePosition("ready_command"), "worker.ready_command: must name a program, e.g. [\"curl\", \"-fsS\", \"http://127.0.0.1:9090/health\"]")
            } else {
                worker.readyCommand = readyCommand
                // Resolved like `command` (see there).
                if readyCommand[0].contains("/"), !readyCommand[0].hasPrefix("/"), worker.directory == nil, directoryUsable {
                    worker.readyCommand![0] = ConfigLoader.joinPath(configDirectory, readyCommand[0])
                }
                if checkFilesystem, directoryUsable, worker.ready == .exec,
                    let problem = executableProblem(worker.readyCommand![0], directory: worker.directory, searchPath: environmentPath)
                {
                    report(elementPosition(section, "ready_command", 0), "worker.ready_command: \(problem)")
                }
            }
        } else if worker.ready == .exec, section.table["ready_command"] == nil {
            report(section.valuePosition("ready"), "worker.ready = \"exec\" needs ready_command, the program whose exit status 0 means ready")
        }
        if let timeout = duration(section, "ready_timeout") {
            if timeout <= .zero {
                report(section.valuePosition("ready_timeout"), "worker.ready_timeout: must be longer than 0s")
            } else {
                worker.readyTimeout = timeout
            }
        }
        let timingValid = problems[problemsBeforeTiming...].allSatisfy {
            !$0.message.hasPrefix("worker.ready_delay") && !$0.message.hasPrefix("worker.ready_timeout")
        }
        if timingValid, worker.ready == .delay, worker.readyDelay >= worker.readyTimeout {
            let position = section.valuePosition(section.table["ready_delay"] != nil ? "ready_delay" : "ready_timeout")
            report(position, "worker.ready_delay (\(worker.readyDelay.shortDescription)) must be shorter than ready_timeout (\(worker.readyTimeout.shortDescription)), or no worker could ever become ready")
        }
        if let settle = duration(section, "ready_settle") { worker.readySettle = settle }
        if let timeout = duration(section, "stop_accept_timeout") { worker.stopAcceptTimeout = timeout }
        if let limit = integer(section, "start_limit", in: 1...10_000) { worker.startLimit = limit }

        if let node = section.table["stop_signal"] {
            let names = Signal.knownNames.joined(separator: ", ")
            if let name = node.value.string {
                if let signal = Signal(name: name) {
                    worker.stopSignal = signal
                } else {
                    report(node.position, "worker.stop_signal: unknown signal \"\(name)\"; accepted: \(names)")
                }
            } else {
                reportType(section, "stop_signal", expected: "a signal name such as \"SIGTERM\"", found: node, hint: "; accepted: \(names)")
            }
        }
        if let timeout = duration(section, "drain_timeout") { worker.drainTimeout = timeout }
        if let maxDraining = integer(section, "max_draining", in: 1...64) { worker.maxDraining = maxDraining }
        if let restart = choice(section, "restart", RestartPolicy.self) { worker.restart = restart }
        if let messages = stringArray(section, "expected_shutdown_messages") {
            worker.expectedShutdownMessages = messages
        }

        return complete ? worker : nil
    }

    /// `ready_listeners`: each name must be a listener's, once; only for `ready = "accepting"`.
    private mutating func validateReadyListeners(_ names: [String], section: Section, listeners: [ListenerConfig]?, into worker: inout WorkerConfig) {
        if names.isEmpty {
            report(section.valuePosition("ready_listeners"), "worker.ready_listeners: must name at least one listener (leave it out to wait on all of them)")
            return
        }
        if section.table["ready"] != nil, worker.ready != .accepting {
            report(section.valuePosition("ready_listeners"), "worker.ready_listeners applies only to ready = \"accepting\", not \"\(worker.ready.rawValue)\"")
            return
        }
        var valid = true
        var seen: Set<String> = []
        for (offset, name) in names.enumerated() {
            let position = elementPosition(section, "ready_listeners", offset)
            if !seen.insert(name).inserted {
                report(position, "worker.ready_listeners[\(offset)]: '\(name)' is listed twice")
                valid = false
            } else if let listeners, !listeners.contains(where: { $0.name == name }) {
                let known = listeners.map { "'\($0.name)'" }.joined(separator: ", ")
                var message = "worker.ready_listeners[\(offset)]: '\(name)' names no listener; the listeners are \(known)"
                if let suggestion = Self.closestMatch(to: name, in: listeners.map(\.name)) {
                    message += "; did you mean '\(suggestion)'?"
                }
                report(position, message)
                valid = false
            }
        }
        if valid { worker.readyListeners = names }
    }

    private mutating func validateEnvironment(_ table: TOMLTable) -> [EnvironmentVariable] {
        var variables: [EnvironmentVariable] = []
        for entry in table.entries {
            let name = entry.key
            let value = entry.node.value
            if name.isEmpty || name.contains("=") {
                report(entry.keyPosition, "worker.environment: '\(name)' is not a valid variable name")
            } else if Self.reservedForWorkers.contains(name) {
                report(entry.keyPosition, "environment may not set \(name): graced sets it for every worker")
            } else if Self.reservedForGraced.contains(name) {
                report(entry.keyPosition, "environment may not set \(name): it belongs to graced's own watchdog and is never passed to workers")
            } else if let text = value.string {
                variables.append(EnvironmentVariable(name: name, value: text))
            } else {
                let hint = value.integer.map { "; write \(name) = \"\($0)\"" } ?? ""
                report(entry.node.position, "worker.environment.\(name): expected a string, found \(value.typeDescription)\(hint)")
            }
        }
        return variables.sorted { $0.name < $1.name }
    }

    /// `{fd:NAME}` must name a listener, or the worker would get a literal placeholder.
    private mutating func checkPlaceholders(_ section: Section, listeners: [ListenerConfig]?) {
        guard let elements = section.table["command"]?.value.array else { return }
        for (offset, element) in elements.enumerated() {
            guard let argument = element.value.string else { continue }
            var rest = Substring(argument)
            while let open = rest.firstRange(of: "{fd:") {
                let afterOpen = rest[open.upperBound...]
                guard let close = afterOpen.firstIndex(of: "}") else {
                    report(element.position, "worker.command[\(offset)]: unterminated placeholder in \"\(argument)\"; write {fd:NAME}")
                    break
                }
                let name = String(afterOpen[..<close])
                // With broken listeners the names are unknown: their own problems suffice.
                if let listeners, !listeners.contains(where: { $0.name == name }) {
                    let known = listeners.map { "'\($0.name)'" }.joined(separator: ", ")
                    var message = "worker.command[\(offset)]: {fd:\(name)} names no listener; the listeners are \(known)"
                    if let suggestion = Self.closestMatch(to: name, in: listeners.map(\.name)) {
                        message += "; did you mean {fd:\(suggestion)}?"
                    }
                    report(element.position, message)
                }
                rest = afterOpen[afterOpen.index(after: close)...]
            }
        }
    }

    // MARK: Typed values

    /// Where element `offset` of the array at `key` begins (the key's value, if it has none).
    func elementPosition(_ section: Section, _ key: String, _ offset: Int) -> TOMLPosition {
        guard let elements = section.table[key]?.value.array, offset < elements.count else {
            return section.valuePosition(key)
        }
        return elements[offset].position
    }

    /// The string at `key`; nil (after reporting) when it has another type.
    mutating func string(_ section: Section, _ key: String) -> String? {
        guard let node = section.table[key] else { return nil }
        guard let text = node.value.string else {
            reportType(section, key, expected: "a string", found: node)
            return nil
        }
        return text
    }

    mutating func integer(_ section: Section, _ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let node = section.table[key] else { return nil }
        guard let number = node.value.integer else {
            let hint = node.value.string.flatMap { Int($0) }.map { "; write \($0) without quotes" } ?? ""
            reportType(section, key, expected: "an integer", found: node, hint: hint)
            return nil
        }
        guard number >= range.lowerBound, number <= range.upperBound else {
            report(node.position, "\(section.name).\(key): must be from \(range.lowerBound) to \(range.upperBound), found \(number)")
            return nil
        }
        return Int(number)
    }

    mutating func duration(_ section: Section, _ key: String) -> Duration? {
        guard let node = section.table[key] else { return nil }
        if let text = node.value.string {
            do {
                return try parseDuration(text)
            } catch {
                report(node.position, "\(section.name).\(key): \(error)")
                return nil
            }
        }
        var hint = ""
        if let number = node.value.integer {
            hint = "; write \"\(number)s\" for \(number) seconds"
        } else if let number = node.value.float {
            hint = "; write \"\(number)s\" for \(number) seconds"
        }
        reportType(section, key, expected: "a duration string such as \"30s\" or \"250ms\"", found: node, hint: hint)
        return nil
    }

    mutating func choice<Choice: RawRepresentable & CaseIterable>(_ section: Section, _ key: String, _ type: Choice.Type) -> Choice?
    where Choice.RawValue == String {
        guard let text = string(section, key) else { return nil }
        if let result = Choice(rawValue: text) { return result }
        let options = Choice.allCases.map { "\"\($0.rawValue)\"" }
        let list = options.dropLast().joined(separator: ", ") + " or " + options.last!
        var message = "\(section.name).\(key): unknown value \"\(text)\"; expected \(list)"
        if let suggestion = Self.closestMatch(to: text, in: Choice.allCases.map(\.rawValue)) {
            message += "; did you mean \"\(suggestion)\"?"
        }
        report(section.valuePosition(key), message)
        return nil
    }

    /// An array of strings; a wrong element is reported at its own position.
    mutating func stringArray(_ section: Section, _ key: String) -> [String]? {
        guard let node = section.table[key] else { return nil }
        guard let array = node.value.array else {
            let hint = node.value.string != nil ? "; write [\"...\", \"...\"]" : ""
            reportType(section, key, expected: "an array of strings", found: node, hint: hint)
            return nil
        }
        var strings: [String] = []
        var valid = true
        for (offset, element) in array.enumerated() {
            if let text = element.value.string {
                strings.append(text)
            } else {
                report(element.position, "\(section.name).\(key)[\(offset)]: expected a string, found \(element.value.typeDescription)")
                valid = false
            }
        }
        return valid ? strings : nil
    }

    // MARK: The system

    private func directoryProblem(_ directory: String) -> String? {
        var info = stat()
        guard stat(directory, &info) == 0 else {
            return "'\(directory)': \(SystemError.describe(errno))"
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { return "'\(directory)' is not a directory" }
        return nil
    }

    /// Why `program` cannot be executed, or nil. A name without a slash is looked up in
    /// `searchPath` (the worker's own PATH) or else graced's PATH, as the spawner does.
    private func executableProblem(_ program: String, directory: String?, searchPath: String?) -> String? {
        if program.contains("/") {
            let resolved = program.hasPrefix("/") ? program : ConfigLoader.joinPath(directory ?? configDirectory, program)
            switch WorkerConfig.executableStatus(resolved) {
            case .executable: return nil
            case .missing(let error): return "command '\(resolved)': \(SystemError.describe(error))"
            case .notExecutable: return "command '\(resolved)' is not executable (chmod +x?)"
            case .notRegularFile: return "command '\(resolved)' is not a regular file"
            }
        }
        let searchPath = searchPath ?? environment["PATH"] ?? WorkerConfig.defaultSearchPath
        if WorkerConfig.findInPath(program, searchPath: searchPath) != nil { return nil }
        return "command '\(program)' not found in PATH (\(searchPath))"
    }
}

extension WorkerConfig {
    enum ExecutableStatus: Equatable {
        case executable
        case missing(Int32)
        case notExecutable
        case notRegularFile
    }

    /// stat, then access(X_OK): root may execute a file only when some x bit is set, which
    /// access(2) reports correctly, while a mode check alone would not know the caller.
    static func executableStatus(_ path: String) -> ExecutableStatus {
        var info = stat()
        guard stat(path, &info) == 0 else { return .missing(errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { return .notRegularFile }
        return access(path, X_OK) == 0 ? .executable : .notExecutable
    }

    /// The PATH searched when neither the worker's environment nor graced's sets one
    /// (the default of systemd's manager).
    public static let defaultSearchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The absolute path to execute for `command[0]`, found as the configuration check
    /// found it: an absolute path as is; a relative one with a slash against `directory`
    /// (without `directory` the loader already made it absolute, relative to the config
    /// file); a bare name in the worker's `PATH` (from `environment`, else from
    /// `processEnvironment`, else ``defaultSearchPath``). nil when nothing executable is found.
    public func resolvedExecutable(processEnvironment: [String: String]) -> String? {
        guard let program = command.first, !program.isEmpty else { return nil }
        if program.hasPrefix("/") { return program }
        if program.contains("/") {
            guard let directory else { return nil }
            return ConfigLoader.joinPath(directory, program)
        }
        let searchPath = environment.first(where: { $0.name == "PATH" })?.value
            ?? processEnvironment["PATH"] ?? Self.defaultSearchPath
        return Self.findInPath(program, searchPath: searchPath)
    }

    /// The first executable regular file named `program` in the absolute entries of
    /// `searchPath` (relative entries would depend on the working directory, so they are
    /// skipped, as with systemd's ExecStart=).
    static func findInPath(_ program: String, searchPath: String) -> String? {
        for entry in searchPath.split(separator: ":") where entry.hasPrefix("/") {
            let candidate = ConfigLoader.joinPath(String(entry), program)
            if Self.executableStatus(candidate) == .executable { return candidate }
        }
        return nil
    }
}

// MARK: Suggestions

extension ConfigValidator {
    /// The candidate closest to `word` when it is close enough to be a typo.
    static func closestMatch(to word: String, in candidates: [String]) -> String? {
        let limit = word.count <= 4 ? 1 : 2
        var best: (candidate: String, distance: Int)?
        for candidate in candidates where abs(word.count - candidate.count) <= limit {
            let distance = editDistance(word.lowercased(), candidate.lowercased())
            if distance <= limit, distance < (best?.distance ?? .max) {
                best = (candidate, distance)
            }
        }
        return best?.candidate
    }

    /// Levenshtein distance where swapping two adjacent characters counts as one edit, the
    /// most common typo ("procesess").
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }
}
