// Worker lines at the level the worker gave them (issue "ecosystem", item 2), with real
// servers: a Go net/http worker that logs like Beego (examples/beego-style), and uvicorn
// failing to load its app.

import Foundation
import Testing

@Suite("worker log levels")
struct WorkerLogLevelTests {
    static let go: String? = ["/usr/bin/go", "/usr/lib/go/bin/go", "/usr/local/go/bin/go"].first { Binaries.isExecutableFile($0) }
    static let hasUvicorn = runCommand(Binaries.python3, ["-c", "import uvicorn"]).status == 0

    /// Builds examples/beego-style into `directory`.
    static func buildBeegoWorker(in directory: TemporaryDirectory) throws -> String {
        let output = directory.file("beego")
        var environment = cleanEnvironment()
        environment["GOCACHE"] = directory.file("gocache")
        environment["HOME"] = directory.path
        let result = runCommand("/bin/sh", ["-c", "cd \"$1\" && exec \"$2\" build -o \"$3\" .", "sh",
                                            Binaries.examplesDirectory + "/beego-style", go!, output],
                                environment: environment, timeout: .seconds(240))
        guard result.status == 0 else { throw TestSupportError("go build failed: \(result.stderr)") }
        return output
    }

    /// The seed of this project: a draining Beego-style worker's `[C] … use of closed network
    /// connection` is the normal closed-listener event, at info; the same line from a serving
    /// worker is critical.
    @Test(.enabled(if: go != nil, "needs Go (apt-get install golang-go)"))
    func beegoStyleShutdownLineIsInfoWhileDrainingAndCriticalWhileServing() throws {
        let tmp = try TemporaryDirectory(prefix: "levels")
        let worker = try Self.buildBeegoWorker(in: tmp)
        let port = freeTCPPort()
        let graced = try CoreHarness.startGraced(in: tmp, listeners: [("http", "127.0.0.1:\(port)")], command: [worker],
                                                 workerLines: ["drain_timeout = \"10s\""], waitForReady: false)
        defer { graced.terminate() }
        try graced.waitForLog(containing: "event=generation-ready")
        // Serving: the line is an error of the worker, at its own level.
        _ = try httpGet(port: port, path: "/critical")
        let serving = try graced.waitForLog(matching: { $0.contains("use of closed network connection") && $0.contains("event=worker-output") }).first ?? ""
        #expect(CoreHarness.level(of: serving) == "crit", "\(serving)")
        // Draining: the same words are the normal end of the accept loop.
        let offset = graced.logOffset()
        let reload = runGraced(["reload", "--config", graced.configPath])
        #expect(reload.status == 0, "\(reload)")
        let draining = try graced.waitForLog(containing: "event=closed-listener", since: offset)
        #expect(CoreHarness.level(of: draining) == "info", "\(draining)")
        #expect(draining.contains("use of closed network connection"))
        _ = try graced.waitForLog(containing: "event=generation-drained", since: offset)
        let bad = graced.logLines(since: offset).filter { CoreHarness.level(of: $0).map(CoreHarness.badLevels.contains) ?? false }
        #expect(bad.isEmpty, "lines at warning or above during a clean reload:\n\(bad.joined(separator: "\n"))")
        print("LEVELS beego: serving -> \(CoreHarness.level(of: serving) ?? "?"), draining -> \(CoreHarness.level(of: draining) ?? "?"); \(bad.count) lines at warning or above during the reload")
    }

    /// uvicorn's startup error is logged at error, and the failed reload names it.
    @Test(.enabled(if: hasUvicorn, "needs uvicorn (pip install uvicorn)"))
    func uvicornStartupErrorIsAnError() throws {
        let tmp = try TemporaryDirectory(prefix: "levels")
        let port = freeTCPPort()
        let app = Binaries.examplesDirectory + "/readiness"
        let graced = try CoreHarness.startGraced(
            in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
            command: [Binaries.python3, "-m", "uvicorn", "--fd", "{fd:http}", "--app-dir", app, "asgi_app:app"],
            workerLines: ["ready_timeout = \"30s\""])
        defer { graced.terminate() }
        // The next generation cannot import its app.
        let config = try String(contentsOfFile: graced.configPath, encoding: .utf8)
            .replacingOccurrences(of: "asgi_app:app", with: "no_such_module:app")
        try config.write(toFile: graced.configPath, atomically: true, encoding: .utf8)
        let offset = graced.logOffset()
        let reload = runGraced(["reload", "--config", graced.configPath])
        #expect(reload.status == 1, "\(reload)")
        #expect(reload.stderr.contains("Error loading ASGI app") || reload.stdout.contains("Error loading ASGI app"), "\(reload)")
        let line = try graced.waitForLog(matching: { $0.contains("Error loading ASGI app") && $0.contains("event=worker-output") }, since: offset).first ?? ""
        #expect(CoreHarness.level(of: line) == "error", "\(line)")
        print("LEVELS uvicorn: \(line.split(separator: " ", maxSplits: 2).dropFirst().joined(separator: " ").prefix(120))")
    }
}
