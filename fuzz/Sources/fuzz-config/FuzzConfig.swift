// libFuzzer target: ConfigLoader.parse on arbitrary text.
//
// Invariants checked on every input (a violation aborts, so libFuzzer saves the input):
// - parse never crashes (TOMLKit/toml++ included: the input reaches C++);
// - it returns a config or a ConfigError with at least one problem, sorted by line, each
//   naming the path it was given and, when it has a line, one within the file
//   (1 ... newlines + 1);
// - a config it returns is internally consistent: at least one listener, unique valid
//   names, listener lines within the file, a non-empty command whose {fd:NAME}
//   placeholders all name listeners, values within their documented ranges, no reserved
//   environment variable.

import CFuzzDriver
import SupervisorCore

private let path = "/fuzz/graced.conf"
private let environment = ["PATH": "/usr/bin:/bin", "HOME": "/root"]

private func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        fatalError("fuzz-config invariant violated: \(message())")
    }
}

private let listenerNameBytes = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-".utf8))
private let reservedEnvironment: Set<String> = [
    "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "GRACED_GENERATION", "GRACED_WORKER",
    "EINHORN_FDS", "WATCHDOG_USEC", "WATCHDOG_PID",
]

/// The `{fd:NAME}` names in `argument`, as the validator scans them.
private func placeholders(in argument: String) -> [String] {
    var names: [String] = []
    var rest = Substring(argument)
    while let open = rest.firstRange(of: "{fd:") {
        let afterOpen = rest[open.upperBound...]
        guard let close = afterOpen.firstIndex(of: "}") else { break }
        names.append(String(afterOpen[..<close]))
        rest = afterOpen[afterOpen.index(after: close)...]
    }
    return names
}

private func checkConfig(_ config: GracedConfig, lineCount: Int) {
    check(config.path == path, "config.path \(config.path)")
    check(!config.listeners.isEmpty, "a config without listeners")
    var names = Set<String>()
    for listener in config.listeners {
        check(!listener.name.isEmpty && listener.name.utf8.count <= 255, "listener name length: \(listener.name)")
        check(listener.name.utf8.allSatisfy(listenerNameBytes.contains), "listener name charset: \(listener.name)")
        check(names.insert(listener.name).inserted, "duplicate listener name \(listener.name)")
        check((1...lineCount).contains(listener.line), "listener line \(listener.line) outside 1...\(lineCount)")
        check((1...65535).contains(listener.backlog), "backlog \(listener.backlog)")
    }
    let addresses = config.listeners.map(\.address)
    check(Set(addresses).count == addresses.count, "duplicate listener addresses \(addresses)")
    let worker = config.worker
    check(!worker.command.isEmpty && !worker.command[0].isEmpty, "empty command \(worker.command)")
    for argument in worker.command {
        for name in placeholders(in: argument) {
            check(names.contains(name), "{fd:\(name)} accepted without such a listener in \(worker.command)")
        }
    }
    check((1...1024).contains(worker.processes), "processes \(worker.processes)")
    check((1...64).contains(worker.maxDraining), "max_draining \(worker.maxDraining)")
    for duration in [worker.readyDelay, worker.readyTimeout, worker.readySettle, worker.drainTimeout] {
        check(duration >= .zero, "negative duration \(duration)")
    }
    for variable in worker.environment {
        check(!variable.name.isEmpty && !variable.name.contains("="), "environment name \(variable.name)")
        check(!reservedEnvironment.contains(variable.name), "reserved environment name accepted: \(variable.name)")
    }
    if let socket = config.daemon.controlSocket {
        check(socket.hasPrefix("/") && socket.utf8.count <= 107, "control_socket \(socket)")
    }
    // What the spawner does with it must not trap either.
    _ = WorkerEnvironment.expandArguments(worker.command, listenerNames: config.listeners.map(\.name))
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    // load() refuses invalid UTF-8 before parse; parse takes a String, so decode (invalid
    // sequences become U+FFFD, which the parser must handle like any other character).
    let text = String(decoding: bytes, as: UTF8.self)
    let lineCount = text.utf8.reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
    do {
        let config = try ConfigLoader.parse(text: text, path: path, checkFilesystem: false, environment: environment)
        checkConfig(config, lineCount: lineCount)
    } catch {
        check(!error.problems.isEmpty, "a ConfigError without problems")
        var previous = 0
        for problem in error.problems {
            check(problem.path == path, "problem path \(problem.path): \(problem)")
            check(!problem.message.isEmpty, "empty problem message")
            if let line = problem.line {
                check((1...lineCount).contains(line), "problem line \(line) outside 1...\(lineCount): \(problem)")
            }
            // Sorted by line, a problem without one first.
            check((problem.line ?? 0) >= previous, "problems not sorted by line: \(error)")
            previous = problem.line ?? 0
        }
        _ = error.description
    }
    return 0
}

/// The entry point SwiftPM links as main (see Package.swift): libFuzzer's driver.
@_cdecl("fuzz_config_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}
