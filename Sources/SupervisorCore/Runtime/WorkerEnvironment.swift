/// Composes what a worker receives: argv with `{fd:NAME}` expanded and the environment
/// of the socket-activation protocol. Pure, so it is unit-tested without processes.
public enum WorkerEnvironment {
    /// Variables graced sets for every worker, and that the worker must never inherit from
    /// graced's own environment (they describe graced's sockets, not the worker's).
    public static let protocolVariables: Set<String> = [
        "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET",
        "WATCHDOG_USEC", "WATCHDOG_PID", "FDSTORE", "JOURNAL_STREAM",
        "GRACED_GENERATION", "GRACED_WORKER", "EINHORN_FDS",
    ]

    /// Replaces each `{fd:NAME}` with that listener's fd number in the worker (3, 4, ...),
    /// in one left-to-right pass, so a replacement is never read again as a placeholder.
    /// A placeholder naming no listener is left as it is (the config check refuses it).
    public static func expandArguments(_ arguments: [String], listenerNames: [String]) -> [String] {
        arguments.map { argument in
            guard argument.contains("{fd:") else { return argument }
            var result = ""
            var rest = argument[...]
            while let open = rest.firstRange(of: "{fd:") {
                result += rest[..<open.lowerBound]
                let afterOpen = rest[open.upperBound...]
                if let close = afterOpen.firstIndex(of: "}"),
                   let index = listenerNames.firstIndex(of: String(afterOpen[..<close])) {
                    result += String(3 + index)
                    rest = afterOpen[afterOpen.index(after: close)...]
                } else {
                    result += "{fd:"
                    rest = afterOpen
                }
            }
            return result + rest
        }
    }

    /// The worker's environment as `NAME=value` strings, except `LISTEN_PID`, which the
    /// spawn helper writes in the child. Later sources win: graced's environment, then
    /// `[worker] environment`, then the protocol variables.
    public static func compose(
        inherited: [String: String],
        configured: [EnvironmentVariable],
        listenerNames: [String],
        notifySocket: String,
        generation: Int,
        workerIndex: Int,
        credentials: WorkerCredentials?
    ) -> [String] {
        var environment = inherited.filter { !protocolVariables.contains($0.key) }
        if let credentials, let name = credentials.userName {
            environment["USER"] = name
            environment["LOGNAME"] = name
            if let home = credentials.home { environment["HOME"] = home }
        }
        for variable in configured {
            environment[variable.name] = variable.value
        }
        let fdNumbers = listenerNames.indices.map { String(3 + $0) }
        environment["LISTEN_FDS"] = String(listenerNames.count)
        environment["LISTEN_FDNAMES"] = listenerNames.joined(separator: ":")
        environment["EINHORN_FDS"] = fdNumbers.joined(separator: " ")
        environment["NOTIFY_SOCKET"] = notifySocket
        environment["GRACED_GENERATION"] = String(generation)
        environment["GRACED_WORKER"] = String(workerIndex)
        return environment.keys.sorted().map { "\($0)=\(environment[$0]!)" }
    }

    /// The environment of a `ready_command` probe: the worker's own, without the
    /// socket-activation variables (the probe gets no sockets), plus `GRACED_WORKER_PID`.
    public static func composeForProbe(
        inherited: [String: String],
        configured: [EnvironmentVariable],
        generation: Int,
        workerIndex: Int,
        workerPID: Int32,
        credentials: WorkerCredentials?
    ) -> [String] {
        let worker = compose(inherited: inherited, configured: configured, listenerNames: [], notifySocket: "",
                             generation: generation, workerIndex: workerIndex, credentials: credentials)
        let socketVariables: Set<String> = ["LISTEN_FDS", "LISTEN_FDNAMES", "EINHORN_FDS", "NOTIFY_SOCKET"]
        return worker.filter { entry in !socketVariables.contains(String(entry.prefix { $0 != "=" })) } + ["GRACED_WORKER_PID=\(workerPID)"]
    }
}
