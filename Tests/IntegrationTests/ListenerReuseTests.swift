// Listeners matched by address, not only by name (issue "hostile", item 5): renaming a
// listener, re-adding one whose old generation still drains, and retrying after a failed
// reload all keep the socket graced holds instead of failing to bind it again.

import Foundation
import Testing

@Suite("listener reuse")
struct ListenerReuseTests {
    static func inodes(_ status: [String: Any]) -> [String: Int] {
        var result: [String: Int] = [:]
        for listener in CoreHarness.listeners(status) {
            if let name = listener["name"] as? String, let inode = listener["inode"] as? Int { result[name] = inode }
        }
        return result
    }

    @Test func renamedAndReaddedListenersKeepTheirSockets() throws {
        let tmp = try TemporaryDirectory(prefix: "reuse")
        let (http, admin) = (freeTCPPort(), freeTCPPort())
        // Old generations ignore SIGTERM: they keep draining (and holding the sockets)
        // while the next reloads run.
        let lines = ["ready = \"notify\"", "drain_timeout = \"20s\"", "stop_accept_timeout = \"1s\"", "max_draining = 3"]
        let command = Binaries.workerCommand(["--ignore-sigterm"])
        func write(_ listeners: [(String, String)]) throws -> String {
            try writeConfig(in: tmp.path, listeners: listeners, command: command, workerLines: lines)
        }
        let config = try write([("http", "127.0.0.1:\(http)"), ("admin", "127.0.0.1:\(admin)")])
        let graced = try GracedProcess(config: config)
        defer { graced.terminate() }
        try graced.waitForLog(containing: "event=generation-ready")
        let before = Self.inodes(try CoreHarness.status(config: config))

        // 1. admin removed: generation 1 drains and still holds it.
        _ = try write([("http", "127.0.0.1:\(http)")])
        var reload = runGraced(["reload", "--config", config])
        #expect(reload.status == 0, "\(reload)")
        // 2. admin back while generation 1 drains: the same socket, not EADDRINUSE.
        _ = try write([("http", "127.0.0.1:\(http)"), ("admin", "127.0.0.1:\(admin)")])
        reload = runGraced(["reload", "--config", config])
        #expect(reload.status == 0, "\(reload)")
        #expect(Self.inodes(try CoreHarness.status(config: config))["admin"] == before["admin"])
        // 3. http renamed web: the same socket under its new name.
        _ = try write([("web", "127.0.0.1:\(http)"), ("admin", "127.0.0.1:\(admin)")])
        reload = runGraced(["reload", "--config", config])
        #expect(reload.status == 0, "\(reload)")
        let after = Self.inodes(try CoreHarness.status(config: config))
        #expect(after["web"] == before["http"], "\(after) vs \(before)")
        #expect(after["http"] == nil)
        // The old generations ignore SIGTERM and still accept: ask the newest worker's environment.
        let status = try CoreHarness.status(config: config)
        let serving = (status["generations"] as? [[String: Any]] ?? []).first { $0["state"] as? String == "serving" }
        let pid = try #require((serving?["workers"] as? [[String: Any]])?.first?["pid"] as? Int)
        #expect(environment(pid: pid)["LISTEN_FDNAMES"] == "web:admin")
        print("REUSE listeners: inodes before \(before), after \(after)")
    }
}
