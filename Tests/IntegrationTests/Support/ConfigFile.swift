// graced configuration files for tests, written into the test's temporary directory
// with the control socket inside that directory.

import Foundation

/// A TOML basic string: "text" with backslash, quote and control characters escaped.
func tomlString(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": result += "\\\\"
        case "\"": result += "\\\""
        case "\n": result += "\\n"
        case "\t": result += "\\t"
        case "\r": result += "\\r"
        case _ where scalar.value < 0x20 || scalar.value == 0x7f:
            result += String(format: "\\u%04X", scalar.value)
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}

/// A TOML array of strings: ["a", "b"].
func tomlArray(_ items: [String]) -> String {
    "[" + items.map(tomlString).joined(separator: ", ") + "]"
}

/// The control socket path that `writeConfig` puts into a config in `directory`.
func controlSocketPath(in directory: String) -> String {
    directory + "/control.sock"
}

/// Writes a graced configuration into `directory` and returns its path.
///
///     let config = try writeConfig(in: tmp.path,
///                                  listeners: [("http", "127.0.0.1:\(port)")],
///                                  command: Binaries.workerCommand(["--work-ms", "10"]),
///                                  workerLines: ["ready = \"notify\"", "drain_timeout = \"5s\""])
///
/// - Parameters:
///   - listeners: `[[listener]]` entries in order (the first becomes fd 3).
///   - command: `[worker] command`.
///   - workerLines: more `[worker]` lines, raw TOML.
///   - gracedLines: more `[graced]` lines, raw TOML (`control_socket` is already set to
///     `controlSocketPath(in: directory)`).
///   - listenerLines: more raw TOML lines for the listener with that name (`backlog = 16`).
///   - fileName: the file's name in `directory`.
@discardableResult
func writeConfig(in directory: String, listeners: [(name: String, address: String)], command: [String],
                 workerLines: [String] = [], gracedLines: [String] = [], listenerLines: [String: [String]] = [:],
                 fileName: String = "graced.conf") throws -> String {
    var lines = ["# written by the graced integration tests", "[graced]",
                 "control_socket = \(tomlString(controlSocketPath(in: directory)))"]
    lines += gracedLines
    for listener in listeners {
        lines += ["", "[[listener]]", "name = \(tomlString(listener.name))", "address = \(tomlString(listener.address))"]
        lines += listenerLines[listener.name] ?? []
    }
    lines += ["", "[worker]", "command = \(tomlArray(command))"]
    lines += workerLines
    return try writeRawConfig(in: directory, lines.joined(separator: "\n") + "\n", fileName: fileName)
}

/// Writes `contents` verbatim as a config file in `directory` (for invalid configs) and
/// returns its path.
@discardableResult
func writeRawConfig(in directory: String, _ contents: String, fileName: String = "graced.conf") throws -> String {
    let path = directory + "/" + fileName
    try contents.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}
