// The journal: part of SystemdTests; helpers in Support/SystemdFixtures.swift.

import Foundation
import Testing

// MARK: - Journal

extension SystemdTests {
    @Suite("journal", .timeLimit(.minutes(5)))
    struct Journal {
        enum Trigger: String, CaseIterable, Sendable {
            /// JOURNAL_STREAM = dev:inode of graced's stderr (what systemd sets for StandardError=journal).
            case journalStreamMatchesStderr
            /// `[graced] log_format = "journal"`.
            case logFormatJournal
        }

        /// Under journald graced logs through sd_journal_sendv with PRIORITY, MESSAGE,
        /// SYSLOG_IDENTIFIER=graced and its structured fields, and writes no event lines to
        /// stderr. Captured on a test-owned /run/systemd/journal/socket in a private mount
        /// namespace.
        @Test(.enabled(if: JournalCapture.isAvailable, "needs root and unshare --mount to capture journal entries"),
              arguments: Trigger.allCases)
        func logsStructuredEntriesToTheJournal(_ trigger: Trigger) throws {
            let directory = try TemporaryDirectory(prefix: "sd-journal")
            let port = freeTCPPort()
            let gracedLines = trigger == .logFormatJournal ? ["log_format = \"journal\""] : []
            let config = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(port)")],
                                         command: Binaries.workerCommand(["--print-lines", "2"]),
                                         workerLines: ["ready = \"notify\"", "drain_timeout = \"5s\""], gracedLines: gracedLines)
            let (wrapper, entriesPath) = try JournalCapture.prepare(in: directory.path, command: [try Binaries.graced])
            let logPath = directory.file("graced.log")
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            var environment: [String: String] = [:]
            if trigger == .journalStreamMatchesStderr { environment["JOURNAL_STREAM"] = try deviceAndInode(of: logPath) }
            let graced = try GracedProcess(config: config, environment: environment, logPath: logPath, executable: wrapper)
            defer { graced.terminate() }
            func entries() -> [[String: String]] { JournalCapture.entries(entriesPath).map(\.fields) }
            func describe() -> String {
                "journal entries:\n" + entries().map { "  \($0)" }.joined(separator: "\n") + "\ngraced.log:\n\(graced.log())"
                    + "\nsink log:\n" + String(decoding: readWholeFile(directory.file("journal_sink.log")) ?? [], as: UTF8.self)
            }

            do {
                _ = try waitForHTTP(.tcp(host: "127.0.0.1", port: port), path: "/health", timeout: .seconds(60))
            } catch {
                throw TestSupportError("\(error); \(describe())")
            }
            let info = try workerInfo(port: port, timeout: .seconds(10))
            let gotReady = poll(timeout: .seconds(20)) { entries().contains { $0["GRACED_EVENT"] == "generation-ready" } }
            #expect(gotReady, "no generation-ready entry; \(describe())")

            for entry in entries() {
                #expect(entry["SYSLOG_IDENTIFIER"] == "graced" && entry["MESSAGE"] != nil && entry["PRIORITY"] != nil,
                        "entry without the standard fields: \(entry)")
            }
            let starting = entries().first { $0["GRACED_EVENT"] == "starting" }
            #expect(starting?["PRIORITY"] == "6" && starting?["MESSAGE"]?.contains("starting") == true, "\(describe())")
            #expect(starting?["WORKER_PID"] == nil, "graced's own pid journaled as WORKER_PID: \(starting ?? [:])")
            let opened = entries().first { $0["GRACED_EVENT"] == "listener-open" }
            #expect(opened?["LISTENER"] == "http" && opened?["MESSAGE"] == "listener http listening on 127.0.0.1:\(port)",
                    "\(describe())")
            let output = entries().first { $0["GRACED_EVENT"] == "worker-output" && $0["MESSAGE"] == "output line 1" }
            #expect(output != nil, "no worker-output entry for \"output line 1\"; \(describe())")
            if let output {
                #expect(output["PRIORITY"] == "6")
                #expect(output["WORKER_PID"] == "\(info.pid)", "\(output)")
                #expect(output["GRACED_GENERATION"] == "1", "\(output)")
                #expect(output["GRACED_STREAM"] == "stdout", "\(output)")
            }
            let ready = entries().first { $0["GRACED_EVENT"] == "generation-ready" }
            #expect(ready?["GRACED_GENERATION"] == "1" && ready?["PRIORITY"] == "6", "\(describe())")

            // An error with a multi-line message: PRIORITY=3, the message intact.
            let good = String(decoding: readWholeFile(config) ?? [], as: UTF8.self)
            try writeRawConfig(in: directory.path, sdBrokenConfig(directory: directory.path))
            let failed = runGraced(["reload", "--config", config], timeout: .seconds(90))
            #expect(failed.status == 1, "\(failed)")
            try writeRawConfig(in: directory.path, good)
            #expect(poll(timeout: .seconds(20)) { entries().contains { $0["GRACED_EVENT"] == "reload-failed" } }, "\(describe())")
            if let failure = entries().first(where: { $0["GRACED_EVENT"] == "reload-failed" }) {
                #expect(failure["PRIORITY"] == "3", "\(failure)")
                #expect(failure["MESSAGE"]?.contains("invalid configuration, nothing changed: ") == true, "\(failure)")
            }

            // Nothing of graced's own events went to stderr.
            let eventLines = graced.logLines().filter { $0.contains("event=") }
            #expect(eventLines.isEmpty, "text event lines while logging to the journal:\n\(eventLines.joined(separator: "\n"))")

            graced.signal(SIGTERM)
            #expect(try graced.waitForExit(timeout: .seconds(30)) == 0, "\(describe())")
            #expect(poll(timeout: .seconds(5)) { entries().contains { $0["GRACED_EVENT"] == "stopped" } }, "\(describe())")
            #expect(!graced.log().contains("event="), "graced.log:\n\(graced.log())")
        }

        /// A JOURNAL_STREAM that is not graced's stderr (inherited from a parent whose stderr
        /// went to the journal) keeps text logging on stderr.
        @Test func journalStreamOfAnotherFileKeepsTextLogs() throws {
            let directory = try TemporaryDirectory(prefix: "sd-nojournal")
            let port = freeTCPPort()
            let config = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(port)")],
                                         command: Binaries.workerCommand(), workerLines: ["ready = \"notify\""])
            let other = try directory.write("other", "")
            let graced = try GracedProcess(config: config, environment: ["JOURNAL_STREAM": try deviceAndInode(of: other)])
            defer { graced.terminate() }
            let line = try graced.waitForLog(containing: "generation 1 ready", timeout: .seconds(60))
            #expect(line.contains("event=generation-ready"), "\(line)")
        }
    }
}
