// Helpers of the systemd suites (Systemd/): status through the control socket, a
// wrapper that starts graced with a prelude, a broken config.

import Foundation
import Testing

// MARK: - Helpers

/// `graced status --json` as a JSON object.
func sdStatus(config: String) throws -> [String: Any] {
    let result = runGraced(["status", "--json", "--config", config], timeout: .seconds(30))
    guard result.status == 0 else {
        throw TestSupportError("graced status --json exited \(result.status): \(result.stdout) \(result.stderr)")
    }
    guard let object = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
        throw TestSupportError("graced status --json printed no JSON object: \(result.stdout)")
    }
    return object
}

/// One listener of `graced status --json`.
struct StatusListener: CustomStringConvertible {
    var name: String
    var address: String
    var origin: String
    var inode: UInt64?
    var description: String { "\(name) \(address) origin \(origin) inode \(inode.map(String.init) ?? "nil")" }
}

func sdListeners(config: String) throws -> [StatusListener] {
    let listeners = try sdStatus(config: config)["listeners"] as? [[String: Any]] ?? []
    return listeners.map {
        StatusListener(name: $0["name"] as? String ?? "?", address: $0["address"] as? String ?? "?",
                       origin: $0["origin"] as? String ?? "?", inode: ($0["inode"] as? NSNumber)?.uint64Value)
    }
}

/// Polls until a request is answered by generation `generation`.
@discardableResult
func sdWaitForGeneration(_ generation: String, port: UInt16, timeout: Duration = .seconds(30)) throws -> WorkerInfo {
    var last = "no answer"
    let deadline = Deadline(after: timeout)
    while !deadline.hasPassed {
        do {
            let info = try workerInfo(port: port, timeout: .seconds(10))
            if info.generation == generation { return info }
            last = "generation \(info.generation ?? "nil") pid \(info.pid)"
        } catch {
            last = "\(error)"
        }
        sleepThread(.milliseconds(50))
    }
    throw TestSupportError("no answer from generation \(generation) on port \(port) within \(timeout); last: \(last)")
}

/// A wrapper script that runs the built graced with the wrapper's arguments after
/// `prelude` (shell lines, e.g. `export WATCHDOG_PID=$$`): the pid stays the wrapper's.
func gracedWrapper(in directory: String, name: String, prelude: String) throws -> String {
    try writeExecutable(directory + "/" + name, """
        #!/bin/sh
        \(prelude)
        exec \(shellQuote(try Binaries.graced)) "$@"

        """)
}

/// The executable a process runs now (readlink /proc/PID/exe).
func executable(of pid: Int) -> String? {
    readLink("/proc/\(pid)/exe")
}

/// A config whose only readable line is the control socket (so that `graced reload
/// --config` still reaches graced, which must then report the error).
func sdBrokenConfig(directory: String) -> String {
    "[graced]\ncontrol_socket = \(tomlString(controlSocketPath(in: directory)))\n\n[worker\ncommand = 3\n"
}

let socketActivateAvailable = Binaries.systemdSocketActivate != nil

/// Everything systemd-related, so that `swift test --filter IntegrationTests.SystemdTests`
/// runs it all.
