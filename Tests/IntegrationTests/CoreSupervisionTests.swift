// Core behaviour of graced, continued (issue "core"): crash loops with backoff,
// graceful and forced stops, fatal start-up errors, `graced check`, worker output in
// the log, process isolation of workers, and the CLI basics. Helpers: CoreHarness in
// CoreTests.swift.

import Foundation
import Testing

@Suite("core: supervision, stop, output, config checking, CLI")
struct CoreSupervisionTests {
    // 9.
    @Test func crashingWorkerIsRetriedWithGrowingGapsAndGracedStaysUp() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let port = freeTCPPort()
        let graced = try CoreHarness.startGraced(
            in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
            command: Binaries.workerCommand(["--crash-at-start", "--print-lines", "2"]), waitForReady: false)
        defer { graced.terminate() }

        // Attempts at about 0, 0.5, 1.5, 3.5 s: four starts take some 4 s.
        let started = try graced.waitForLog(matching: { CoreHarness.field("event", in: $0) == "worker-started" },
                                            count: 4, timeout: .seconds(40), what: "worker-started")
        let times = started.compactMap(CoreHarness.timestamp(of:))
        try #require(times.count == 4, "unparsable times in \(started)")
        let gaps = zip(times.dropFirst(), times).map { $0.timeIntervalSince($1) }

        let lines = graced.logLines()
        let scheduled = CoreHarness.lines(lines, event: "restart-scheduled")
        let delays = scheduled.prefix(3).compactMap { line -> Double? in
            guard let range = line.range(of: " in ") else { return nil }
            let word = line[range.upperBound...].prefix { $0 != " " }
            if word.hasSuffix("ms") { return Double(word.dropLast(2)).map { $0 / 1000 } }
            if word.hasSuffix("s") { return Double(word.dropLast()) }
            return nil
        }
        try #require(delays.count == 3, "restart-scheduled lines: \(scheduled)")
        #expect(delays[0] < delays[1] && delays[1] < delays[2], "backoff delays do not grow: \(delays)")
        #expect(delays[0] >= 0.1, "first restart delay \(delays[0])s")
        for (gap, delay) in zip(gaps, delays) {
            #expect(gap >= delay - 0.05, "a restart came sooner than its announced delay: gaps \(gaps), delays \(delays)")
        }
        #expect(gaps[2] > gaps[0], "the gaps between attempts do not grow: \(gaps)")

        // Every death is an error with the worker's last output.
        let died = CoreHarness.lines(lines, event: "worker-died")
        #expect(died.count >= 3, "worker-died lines: \(died)")
        for line in died {
            #expect(CoreHarness.level(of: line) == "error", "\(line)")
            #expect(line.contains("exited 3"), "\(line)")
            #expect(line.contains("crashing on purpose"), "the last output is in the error line: \(line)")
            #expect(line.contains("output line 2"), "the last output is in the error line: \(line)")
        }

        #expect(graced.isRunning)
        let status = runGraced(["status", "--config", graced.configPath])
        #expect(status.status == 0, "graced status: \(status.stdout) \(status.stderr)")
        let json = try CoreHarness.status(config: graced.configPath)
        #expect(json["state"] as? String == "running", "\(json)")
    }

    // 10.
    @Test func sigtermDrainsInFlightRequestsAndExitsCleanly() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let port = freeTCPPort()
        let graced = try CoreHarness.startGraced(in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
                                                 command: Binaries.workerCommand(["--work-ms", "3000"]),
                                                 workerLines: ["ready = \"notify\"", "drain_timeout = \"30s\""])
        defer { graced.terminate() }
        let workerPID = try #require(graced.childPIDs().first)
        let baseline = Set(openFDs(pid: workerPID))

        // The slow request, in a thread of its own.
        let outcome = Locked<(response: HTTPResponse?, error: String?, finished: ContinuousClock.Instant?)>((nil, nil, nil))
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            do {
                let response = try httpRequest(.tcp(host: "127.0.0.1", port: port), timeout: .seconds(30))
                outcome.withLock { $0 = (response, nil, .now) }
            } catch {
                outcome.withLock { $0 = (nil, "\(error)", .now) }
            }
            done.signal()
        }
        thread.start()

        // In flight: the worker accepted the connection (a new socket fd), and had time to
        // read the request and start its 3 s of work.
        let accepted = poll(timeout: .seconds(20)) {
            openFDs(pid: workerPID).contains { !baseline.contains($0) && socketInode(pid: workerPID, fd: $0) != nil }
        }
        #expect(accepted, "the worker never accepted the request")
        sleepThread(.milliseconds(500))
        let signalled = ContinuousClock.now
        graced.signal(SIGTERM)

        #expect(done.wait(timeout: .now() + 40) == .success, "the request never finished")
        let result = outcome.withLock { $0 }
        #expect(result.error == nil, "the in-flight request failed: \(result.error ?? "")")
        #expect(result.response?.status == 200)
        if let finished = result.finished {
            #expect(finished > signalled, "the request was not in flight when SIGTERM came")
        }

        #expect(try graced.waitForExit(timeout: .seconds(30)) == 0)
        let lines = graced.logLines()
        let log = graced.log()
        #expect(lines.contains { $0.contains("listener http 127.0.0.1:\(port) closed") }, "\(log)")
        #expect(lines.contains { $0.contains("generation 1 drained") }, "\(log)")
        let bad = lines.filter { CoreHarness.badLevels.contains(CoreHarness.level(of: $0) ?? "") }
        #expect(bad.isEmpty, "warn/error/crit lines during a clean drain: \(bad)")
        #expect(CoreHarness.waitUntilGone(workerPID), "worker \(workerPID) still runs after graced exited")
    }

    // 10b.
    @Test func sigintStopsGracefullyLikeSIGTERM() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let port = freeTCPPort()
        let graced = try CoreHarness.startGraced(in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
                                                 command: Binaries.workerCommand())
        defer { graced.terminate() }
        let workerPID = try workerInfo(port: port).pid

        graced.signal(SIGINT)
        #expect(try graced.waitForExit(timeout: .seconds(30)) == 0)
        let lines = graced.logLines()
        #expect(lines.contains { $0.contains("generation 1 drained") }, "\(graced.log())")
        #expect(lines.contains { $0.contains("listener http 127.0.0.1:\(port) closed") }, "\(graced.log())")
        #expect(lines.contains { $0.contains("worker \(workerPID) drained, exiting") },
                "the worker got its stop signal and drained: \(graced.log())")
        let bad = lines.filter { CoreHarness.badLevels.contains(CoreHarness.level(of: $0) ?? "") }
        #expect(bad.isEmpty, "warn/error/crit lines during a clean stop: \(bad)")
        #expect(CoreHarness.waitUntilGone(workerPID))
    }

    // 11.
    @Test func workerIgnoringSIGTERMIsKilledAfterTheDrainTimeout() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let port = freeTCPPort()
        let graced = try CoreHarness.startGraced(in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
                                                 command: Binaries.workerCommand(["--ignore-sigterm"]),
                                                 workerLines: ["ready = \"notify\"", "drain_timeout = \"1s\""])
        defer { graced.terminate() }
        let workerPID = try workerInfo(port: port).pid

        graced.signal(SIGTERM)
        let warning = try graced.waitForLog(containing: "event=drain-timeout")
        #expect(CoreHarness.level(of: warning) == "warn", "\(warning)")
        #expect(warning.contains("\(workerPID)"), "the warning names the worker: \(warning)")
        #expect(try graced.waitForExit(timeout: .seconds(30)) == 0)
        #expect(CoreHarness.waitUntilGone(workerPID), "worker \(workerPID) still runs after graced exited")
    }

    // 12.
    @Test func secondSIGTERMDuringTheDrainStopsNow() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let port = freeTCPPort()
        let graced = try CoreHarness.startGraced(in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
                                                 command: Binaries.workerCommand(["--ignore-sigterm"]),
                                                 workerLines: ["ready = \"notify\"", "drain_timeout = \"30s\""])
        defer { graced.terminate() }
        let workerPID = try workerInfo(port: port).pid

        graced.signal(SIGTERM)
        try graced.waitForLog(containing: "event=stopping")
        let secondSignal = ContinuousClock.now
        graced.signal(SIGTERM)
        let status = try graced.waitForExit(timeout: .seconds(25))
        let elapsed = ContinuousClock.now - secondSignal
        #expect(elapsed < .seconds(15), "graced took \(elapsed) to stop after the second SIGTERM")
        #expect(status == 0)
        let stopNow = CoreHarness.lines(graced.logLines(), event: "stop-now")
        #expect(stopNow.count == 1, "\(graced.log())")
        if let line = stopNow.first {
            #expect(CoreHarness.level(of: line) == "warn", "\(line)")
        }
        #expect(CoreHarness.waitUntilGone(workerPID), "worker \(workerPID) still runs after graced exited")
    }

    // 13.
    @Test func portAlreadyInUseIsAFatalErrorNamingTheListener() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let port = freeTCPPort()
        let busy = try CoreHarness.listenTCP(host: "127.0.0.1", port: port)
        defer { close(busy) }
        let config = try writeConfig(in: tmp.path, listeners: [("web", "127.0.0.1:\(port)")],
                                     command: Binaries.workerCommand(), workerLines: CoreHarness.defaultWorkerLines)
        // runGraced keeps stderr apart; a graced that does not exit is killed (status 124).
        let run = runGraced(["run", "--config", config], timeout: .seconds(30))
        #expect(run.status == 1, "exit \(run.status); stderr:\n\(run.stderr)")
        let problem = run.stderr.split(separator: "\n").map(String.init).filter { $0.contains("Address already in use") }
        #expect(problem.count >= 1, "stderr:\n\(run.stderr)")
        #expect(problem.contains { $0.contains("web") && $0.contains("127.0.0.1:\(port)") },
                "the error names the listener and its address: \(problem)")
        #expect(problem.allSatisfy { CoreHarness.level(of: $0).map(CoreHarness.badLevels.contains) ?? true },
                "a fatal error is logged at error level: \(problem)")
        #expect(!run.stderr.contains("event=worker-started"), "no worker may start: \(run.stderr)")
    }

    // 14.
    @Test func checkReportsEachKindOfBadConfigWithItsLine() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let notExecutable = try tmp.write("not-executable", "#!/bin/sh\nexit 0\n")
        chmod(notExecutable, 0o644)
        let python = Binaries.python3
        let control = controlSocketPath(in: tmp.path)

        /// A config whose line marked with `<<` is the bad one.
        struct Case {
            var name: String
            var lines: [String]
            var expectedText: String
        }
        func base(listeners: [String] = ["[[listener]]", "name = \"http\"", "address = \"127.0.0.1:1\""],
                  worker: [String] = ["command = \(tomlArray([python]))"]) -> [String] {
            ["[graced]", "control_socket = \(tomlString(control))", ""] + listeners + ["", "[worker]"] + worker
        }
        let cases: [Case] = [
            Case(name: "unknown key",
                 lines: base(worker: ["command = \(tomlArray([python]))", "colour = \"blue\" <<"]),
                 expectedText: "colour"),
            Case(name: "wrong type",
                 lines: base(worker: ["command = \(tomlArray([python]))", "processes = \"three\" <<"]),
                 expectedText: "processes"),
            Case(name: "bad duration",
                 lines: base(worker: ["command = \(tomlArray([python]))", "drain_timeout = \"5 parsecs\" <<"]),
                 expectedText: "drain_timeout"),
            Case(name: "bad signal name",
                 lines: base(worker: ["command = \(tomlArray([python]))", "stop_signal = \"SIGBOGUS\" <<"]),
                 expectedText: "SIGBOGUS"),
            Case(name: "duplicate listener name",
                 lines: base(listeners: ["[[listener]]", "name = \"http\"", "address = \"127.0.0.1:1\"", "",
                                         "[[listener]]", "name = \"http\" <<", "address = \"127.0.0.1:2\""]),
                 expectedText: "http"),
            Case(name: "duplicate address",
                 lines: base(listeners: ["[[listener]]", "name = \"a\"", "address = \"127.0.0.1:1\"", "",
                                         "[[listener]]", "name = \"b\"", "address = \"127.0.0.1:1\" <<"]),
                 expectedText: "127.0.0.1:1"),
            Case(name: "command not found",
                 lines: base(worker: ["command = \(tomlArray([tmp.file("no-such-program")])) <<"]),
                 expectedText: "no-such-program"),
            Case(name: "non-executable command",
                 lines: base(worker: ["command = \(tomlArray([notExecutable])) <<"]),
                 expectedText: "not-executable"),
            Case(name: "unknown {fd:} name",
                 lines: base(worker: ["command = \(tomlArray([python, "--fd", "{fd:nope}"])) <<"]),
                 expectedText: "nope"),
        ]

        for (index, testCase) in cases.enumerated() {
            let badLine = try #require(testCase.lines.firstIndex { $0.hasSuffix(" <<") }) + 1
            let text = testCase.lines.map { $0.hasSuffix(" <<") ? String($0.dropLast(3)) : $0 }.joined(separator: "\n") + "\n"
            let path = try writeRawConfig(in: tmp.path, text, fileName: "bad\(index).conf")
            let result = runGraced(["check", "--config", path])
            #expect(result.status == 2, "\(testCase.name): exit \(result.status), \(result.stdout) \(result.stderr)")
            let problems = result.stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("\(path):") }
            #expect(!problems.isEmpty, "\(testCase.name): no PATH:LINE:COLUMN: line on stderr: \(result.stderr)")
            // PATH:LINE:COLUMN: message, the column a number.
            let located = problems.filter { problem in
                let rest = problem.dropFirst("\(path):\(badLine):".count)
                return problem.hasPrefix("\(path):\(badLine):") && rest.prefix(while: \.isNumber).count > 0
                    && rest.drop(while: \.isNumber).hasPrefix(": ")
            }
            #expect(located.contains { $0.contains(testCase.expectedText) },
                    "\(testCase.name): expected \(path):\(badLine):COLUMN: ... \(testCase.expectedText); got \(result.stderr)\nconfig:\n\(text)")
        }

        // A valid config.
        let good = try writeRawConfig(in: tmp.path, base().joined(separator: "\n") + "\nready = \"notify\"\n",
                                      fileName: "good.conf")
        let ok = runGraced(["check", "--config", good])
        #expect(ok.status == 0, "\(ok.stdout) \(ok.stderr)")
        let okWords = (ok.stdout + ok.stderr).replacingOccurrences(of: good, with: "")
            .split(whereSeparator: { !$0.isLetter }).map { $0.lowercased() }
        #expect(okWords.contains("ok"), "\(ok.stdout) \(ok.stderr)")

        // `graced run` refuses a bad config with exit 2 and starts nothing.
        let port = freeTCPPort()
        let badRunLines = base(listeners: ["[[listener]]", "name = \"http\"", "address = \"127.0.0.1:\(port)\""],
                               worker: ["command = \(tomlArray(Binaries.workerCommand()))", "drain_timeout = \"soon\""])
        let badRunLine = badRunLines.count   // the last line
        let bad = try writeRawConfig(
            in: tmp.path,
            badRunLines.joined(separator: "\n") + "\n",
            fileName: "bad-run.conf")
        let run = runGraced(["run", "--config", bad], timeout: .seconds(30))
        #expect(run.status == 2, "exit \(run.status); stderr:\n\(run.stderr)")
        #expect(run.stderr.contains("\(bad):\(badRunLine):"), "stderr:\n\(run.stderr)")
        #expect(!run.stderr.contains("event=worker-started"), "no worker may start: \(run.stderr)")
    }

    // 15a.
    @Test func everyLineOfWorkerOutputIsLoggedInOrder() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let port = freeTCPPort()
        let graced = try CoreHarness.startGraced(in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
                                                 command: Binaries.workerCommand(["--print-lines", "500"]))
        defer { graced.terminate() }
        let workerPID = try workerInfo(port: port).pid
        try graced.waitForLog(containing: "output line 500 ")

        let output = graced.logLines().filter {
            CoreHarness.field("event", in: $0) == "worker-output" && $0.contains("output line ")
        }
        var numbers: [Int] = []
        for line in output {
            #expect(CoreHarness.field("pid", in: line) == String(workerPID), "\(line)")
            #expect(CoreHarness.field("stream", in: line) == "stdout", "\(line)")
            #expect(CoreHarness.level(of: line) == "info", "\(line)")
            guard let range = line.range(of: "output line ") else { continue }
            if let number = Int(line[range.upperBound...].prefix { $0.isNumber }) { numbers.append(number) }
        }
        #expect(numbers == Array(1...500), "lost or reordered lines: \(numbers.count) lines, first differences at \(zip(numbers, 1...).first { $0 != $1 }.map { "\($0)" } ?? "-")")
    }

    /// A worker command that first prints `text` (printf format) to stdout, then execs
    /// worker.py with `arguments` (same pid, so the socket-activation protocol holds).
    private func printingWorker(_ printfFormat: String, _ arguments: [String] = []) -> [String] {
        ["/bin/sh", "-c", "printf '\(printfFormat)'; exec \"$0\" \"$@\""] + Binaries.workerCommand(arguments)
    }

    // 15b.
    @Test func controlCharactersInWorkerOutputAreEscaped() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let port = freeTCPPort()
        // ESC (colour codes), a carriage return and a backspace in one line.
        let graced = try CoreHarness.startGraced(
            in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
            command: printingWorker("EVIL-CTRL \\033[31mred\\033[0m cr\\rback\\bspace\\n"))
        defer { graced.terminate() }
        let line = try graced.waitForLog(matching: { CoreHarness.message(of: $0).hasPrefix("EVIL-CTRL") },
                                         what: "the worker's line")[0]

        let bytes = readWholeFile(graced.logPath) ?? []
        #expect(!bytes.contains(0x1b), "a raw ESC in the log")
        #expect(!bytes.contains(0x0d), "a raw carriage return in the log")
        #expect(!bytes.contains(0x08), "a raw backspace in the log")
        #expect(line.contains("red"), "\(line)")
        #expect(line.contains("back") && line.contains("space"), "\(line)")
        #expect(CoreHarness.level(of: line) == "info")
        #expect(CoreHarness.field("event", in: line) == "worker-output")
        #expect(CoreHarness.field("stream", in: line) == "stdout")
    }

    // 15c.
    @Test func fieldsForgedInWorkerOutputAreNotFieldsOfTheLogLine() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let port = freeTCPPort()
        let graced = try CoreHarness.startGraced(
            in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
            command: printingWorker("FORGED level=error event=worker-died pid=1\\n"))
        defer { graced.terminate() }
        let line = try graced.waitForLog(matching: { CoreHarness.message(of: $0).hasPrefix("FORGED") },
                                         what: "the worker's line")[0]
        #expect(!line.contains("event=worker-started"), "\(line)")

        // Read the line as `key=value` fields (values may be quoted): a worker must not
        // be able to add fields that a log processor takes for graced's own.
        let keys = Self.unquotedKeys(line)
        #expect(keys.filter { $0 == "event" }.count == 1, "forged event= field: \(line)")
        #expect(keys.filter { $0 == "pid" }.count == 1, "forged pid= field: \(line)")
        #expect(!keys.contains("level"), "forged level= field: \(line)")
        #expect(CoreHarness.level(of: line) == "info")
    }

    /// The keys of the `key=value` words of a log line that are not inside double quotes.
    static func unquotedKeys(_ line: String) -> [String] {
        var words: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for character in line {
            if escaped { current.append(character); escaped = false; continue }
            if character == "\\" { escaped = true; current.append(character); continue }
            if character == "\"" { quoted.toggle(); current.append(character); continue }
            if character == " " && !quoted {
                if !current.isEmpty { words.append(current) }
                current = ""
                continue
            }
            current.append(character)
        }
        if !current.isEmpty { words.append(current) }
        return words.compactMap { word in
            guard let equals = word.firstIndex(of: "="), equals != word.startIndex else { return nil }
            let key = word[..<equals]
            guard key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }),
                  key.first?.isLetter == true else { return nil }
            return String(key)
        }
    }

    // 16.
    @Test func workerHasItsOwnSessionAndExitsWhenGracedIsKilled() throws {
        let tmp = try TemporaryDirectory(prefix: "core")
        let port = freeTCPPort()
        let graced = try CoreHarness.startGraced(in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
                                                 command: Binaries.workerCommand())
        defer { graced.terminate() }
        let workerPID = try workerInfo(port: port).pid

        let stat = try #require(processStat(pid: workerPID))
        #expect(stat.session == workerPID, "the worker leads a session of its own: \(stat)")
        #expect(stat.processGroup == workerPID, "the worker leads a process group of its own: \(stat)")
        let gracedStat = try #require(processStat(pid: graced.pid))
        #expect(stat.session != gracedStat.session)

        graced.signal(SIGKILL)
        #expect(try graced.waitForExit(timeout: .seconds(10)) == 128 + SIGKILL)
        #expect(CoreHarness.waitUntilGone(workerPID, timeout: .seconds(10)),
                "worker \(workerPID) survived graced's SIGKILL (no parent-death signal)")
    }

    // 17.
    @Test func versionAndHelp() throws {
        let version = runGraced(["--version"])
        #expect(version.status == 0, "\(version.stderr)")
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines).first?.isNumber == true,
                "version: \(version.stdout)")

        let help = runGraced(["--help"])
        #expect(help.status == 0, "\(help.stderr)")
        for subcommand in ["run", "check", "reload", "status", "stop"] {
            #expect(help.stdout.contains(subcommand), "--help does not mention \(subcommand): \(help.stdout)")
        }
        for subcommand in ["run", "check", "reload", "status", "stop"] {
            let sub = runGraced([subcommand, "--help"])
            #expect(sub.status == 0, "\(subcommand) --help: \(sub.stdout) \(sub.stderr)")
            #expect(sub.stdout.contains("USAGE"), "\(subcommand) --help: \(sub.stdout)")
        }
    }
}
