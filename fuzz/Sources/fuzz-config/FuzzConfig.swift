// libFuzzer target: ConfigLoader.parse (the TOML module, then ConfigValidator) on
// arbitrary bytes, and TOMLDocument.parse on its own.
//
// Invariants checked on every input (a violation aborts, so libFuzzer saves the input):
// - parsing never crashes or traps (stack depth included: nesting is bounded);
// - TOMLDocument.parse either throws a TOMLError positioned inside the input or returns
//   a tree whose every key and value position is inside the input;
// - ConfigLoader returns a config or a ConfigError with at least one problem, sorted by
//   line and column, each naming the path it was given and a line within the file
//   (1 ... newlines + 1) with a column within that line (1 ... its length + 1);
// - a config it returns is internally consistent: at least one listener, unique valid
//   names, listener lines within the file, a non-empty command whose {fd:NAME}
//   placeholders all name listeners, values within their documented ranges, no reserved
//   environment variable.

import CFuzzDriver
import SupervisorCore
import TOML

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
    for duration in [worker.readyDelay, worker.readyTimeout, worker.readySettle, worker.drainTimeout, worker.stopAcceptTimeout] {
        check(duration >= .zero && duration <= maximumDuration, "duration out of range \(duration)")
    }
    check(worker.startLimit >= 1, "start_limit \(worker.startLimit)")
    check(config.listeners.count <= 256, "\(config.listeners.count) listeners")
    if let ready = worker.readyListeners {
        check(!ready.isEmpty && ready.allSatisfy(names.contains) && Set(ready).count == ready.count, "ready_listeners \(ready)")
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

/// Per line (1-based index), how many columns it has: its non-continuation bytes, as the
/// TOML module counts Unicode scalars (for invalid UTF-8, the bytes before the error).
private func lineLengths(_ bytes: UnsafeBufferPointer<UInt8>) -> [Int] {
    var lengths = [0, 0]
    for byte in bytes {
        if byte == UInt8(ascii: "\n") {
            lengths.append(0)
        } else if byte & 0xC0 != 0x80 {
            lengths[lengths.count - 1] += 1
        }
    }
    return lengths
}

private func checkPosition(_ position: TOMLPosition, _ lengths: [Int], _ what: @autoclosure () -> String) {
    check((1..<lengths.count).contains(position.line), "\(what()): line \(position.line) outside 1...\(lengths.count - 1)")
    guard (1..<lengths.count).contains(position.line) else { return }
    check((1...lengths[position.line] + 1).contains(position.column), "\(what()): column \(position.column) outside line \(position.line) of \(lengths[position.line]) columns")
}

/// Every position in the tree lies inside the input; recursion follows the tree, whose
/// depth the parser bounds.
private func checkTree(_ table: TOMLTable, _ lengths: [Int]) {
    for entry in table.entries {
        checkPosition(entry.keyPosition, lengths, "key '\(entry.key)'")
        checkNode(entry.node, lengths)
    }
}

private func checkNode(_ node: TOMLNode, _ lengths: [Int]) {
    checkPosition(node.position, lengths, "value \(node.value.typeDescription)")
    switch node.value {
    case .table(let table): checkTree(table, lengths)
    case .array(let elements): for element in elements { checkNode(element, lengths) }
    default: break
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let array = Array(bytes)
    let lengths = lineLengths(bytes)
    let lineCount = lengths.count - 1

    do {
        let tree = try TOMLDocument.parse(array)
        checkTree(tree, lengths)
    } catch {
        checkPosition(error.position, lengths, "TOMLError \(error)")
        check(!error.message.isEmpty, "empty TOMLError message")
    }

    do {
        let config = try ConfigLoader.parse(bytes: array, path: path, checkFilesystem: false, environment: environment)
        checkConfig(config, lineCount: lineCount)
    } catch {
        check(!error.problems.isEmpty, "a ConfigError without problems")
        var previous = (0, 0)
        for problem in error.problems {
            check(problem.path == path, "problem path \(problem.path): \(problem)")
            check(!problem.message.isEmpty, "empty problem message")
            guard let line = problem.line, let column = problem.column else {
                fatalError("fuzz-config invariant violated: a problem without line and column: \(problem)")
            }
            checkPosition(TOMLPosition(line: line, column: column), lengths, "problem \(problem)")
            check((line, column) >= previous, "problems not sorted by line and column: \(error)")
            previous = (line, column)
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
