// Worker lines carry the level the worker gave them (issue 13 item 2), with the real
// graced binary: a worker prints the markers of Python logging, uvicorn, gunicorn,
// Beego, logfmt, JSON and syslog prefixes before it starts serving.

import Foundation
import Testing

@Suite(.serialized) struct WorkerLineLevelIntegrationTests {
    @Test func workerLinesAreLoggedAtTheLevelTheWorkerGaveThem() throws {
        let lines: [(String, String, String)] = [
            // printed, graced's level word, the message graced logs
            ("ERROR:    Error loading ASGI app. Could not import module \\\"x\\\".", "error", "ERROR:    Error loading ASGI app."),
            ("[2026-11-30 12:00:00 +0000] [42] [CRITICAL] WORKER TIMEOUT (pid:43)", "crit ", "[CRITICAL] WORKER TIMEOUT"),
            ("2026/11/30 12:00:00.000 [W] [server.go:12] slow", "warn ", "[W] [server.go:12] slow"),
            ("time=2026-11-30T12:00:00Z level=error msg=boom", "error", "level=error msg=boom"),
            ("{\\\"level\\\":\\\"warn\\\",\\\"msg\\\":\\\"json\\\"}", "warn ", "json"),
            ("<3>syslog prefixed", "error", "syslog prefixed"),
            ("plain line with level=error inside", "info ", "plain line with level=error inside"),
        ]
        let script = lines.map { "printf '%s\\n' \"\($0.0)\" >&2" }.joined(separator: "; ")
        let fixture = try ReliabilityFixture(
            prefix: "levels",
            command: ["/bin/sh", "-c", script + "; exec \"$0\" \"$@\"", Binaries.python3, Binaries.workerScript])
        let logged = try fixture.graced.waitForLog(
            matching: { Reliability.isEvent("worker-output", $0) }, count: lines.count, timeout: .seconds(20),
            what: "worker-output lines")
        for (index, (_, level, message)) in lines.enumerated() {
            let line = try #require(logged.first { $0.contains(message) }, "\(message) not logged: \(logged)")
            #expect(Reliability.level(of: line).map { $0 + String(repeating: " ", count: max(0, 5 - $0.count)) } == level,
                    "#\(index): \(line)")
        }
        let syslog = try #require(logged.first { $0.contains("syslog prefixed") })
        #expect(!syslog.contains("<3>"), "the syslog prefix is removed, as systemd does: \(syslog)")
    }
}
