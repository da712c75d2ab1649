import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SupervisorCore

@Suite struct OutputLineSplitterTests {
    @Test func splitsAcrossChunks() {
        var splitter = OutputLineSplitter()
        #expect(splitter.feed(Array("hel".utf8)) == [])
        #expect(splitter.feed(Array("lo\nwor".utf8)) == ["hello"])
        #expect(splitter.feed(Array("ld\r\n\n".utf8)) == ["world", ""])
        #expect(splitter.finish() == nil)
    }

    @Test func keepsTheUnterminatedLastLine() {
        var splitter = OutputLineSplitter()
        _ = splitter.feed(Array("tail without newline".utf8))
        #expect(splitter.finish() == "tail without newline")
    }

    @Test func cutsLongLinesAndSkipsTheirRest() {
        var splitter = OutputLineSplitter(maxLineLength: 8)
        let first = splitter.feed(Array("0123456789abc".utf8))
        #expect(first == ["01234567" + OutputLineSplitter.truncationMarker])
        #expect(splitter.feed(Array("defgh".utf8)) == [])
        #expect(splitter.feed(Array("ij\nnext\n".utf8)) == ["next"])
    }

    @Test func aLineOfExactlyTheLimitIsNotCut() {
        var splitter = OutputLineSplitter(maxLineLength: 4)
        #expect(splitter.feed(Array("abcd".utf8)) == [])
        #expect(splitter.feed(Array("\n".utf8)) == ["abcd"])
    }
}

@Suite struct LogEscapingTests {
    @Test func controlCharactersCannotForgeLines() {
        let escaped = LogEscaping.escape("ok\n2026-01-01T00:00:00.000Z crit  forged\u{1b}[31m")
        #expect(!escaped.contains("\n"))
        #expect(!escaped.contains("\u{1b}"))
        #expect(escaped.contains("\\n"))
        #expect(escaped.contains("\\x1b"))
    }

    @Test func valuesWithSpacesOrEqualsAreQuoted() {
        #expect(LogEscaping.quoteIfNeeded("plain") == "plain")
        #expect(LogEscaping.quoteIfNeeded("two words") == "\"two words\"")
        #expect(LogEscaping.quoteIfNeeded("level=error") == "\"level=error\"")
        #expect(LogEscaping.quoteIfNeeded("say \"hi\"") == "\"say \\\"hi\\\"\"")
    }

    @Test func journalFieldNames() {
        #expect(JournalLogHandler.fieldName("event") == "GRACED_EVENT")
        #expect(JournalLogHandler.fieldName("pid") == "WORKER_PID")
        #expect(JournalLogHandler.fieldName("last_output") == "GRACED_LAST_OUTPUT")
        #expect(JournalLogHandler.fieldName("weird-key.x") == "GRACED_WEIRD_KEY_X")
        #expect(JournalLogHandler.priority(.warning) == 4)
    }
}

@Suite struct RestartBackoffTests {
    @Test func growsExponentiallyUpToTheCap() {
        var backoff = RestartBackoff()
        let delays = (0..<9).map { _ in backoff.nextDelay(afterUptime: .milliseconds(10)) }
        #expect(delays == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(30), .seconds(30), .seconds(30)])
    }

    @Test func aWorkerThatStayedUpRestartsQuicklyAgain() {
        var backoff = RestartBackoff()
        _ = backoff.nextDelay(afterUptime: .zero)
        _ = backoff.nextDelay(afterUptime: .zero)
        #expect(backoff.nextDelay(afterUptime: .seconds(60)) == .milliseconds(500))
    }
}

@Suite struct NotifyMessageTests {
    @Test func parsesAssignments() {
        let parsed = NotifyMessage.parse("READY=1\nSTATUS=serving: a=b\n\ngarbage\nSTOPPING=1")
        #expect(parsed.map(\.key) == ["READY", "STATUS", "STOPPING"])
        #expect(parsed[1].value == "serving: a=b")
    }
}

@Suite struct ControlProtocolTests {
    @Test func decodesKnownCommands() throws {
        #expect(try ControlProtocol.decodeRequest(Array(#"{"command":"status"}"#.utf8)) == ControlRequest(command: .status))
        #expect(try ControlProtocol.decodeRequest(Array(#"{"command":"reload","wait_drained":true}"#.utf8)) == ControlRequest(command: .reload, waitDrained: true))
    }

    @Test(arguments: [
        ("not json", "malformed JSON"),
        ("[1,2]", "JSON object"),
        (#"{"command":"explode"}"#, "unknown command 'explode'"),
        (#"{"cmd":"status"}"#, "missing \"command\""),
        (#"{"command":"reload","wait_drained":1}"#, "wait_drained"),
        (#"{"command":"status","extra":1}"#, "unknown field 'extra'"),
    ])
    func refusesBadRequests(line: String, expected: String) {
        #expect {
            _ = try ControlProtocol.decodeRequest(Array(line.utf8))
        } throws: { error in
            "\(error)".contains(expected)
        }
    }

    @Test func refusesOversizedRequests() {
        let line = Array(repeating: UInt8(ascii: " "), count: ControlProtocol.maxRequestBytes + 1)
        #expect(throws: ControlProtocolError.self) { _ = try ControlProtocol.decodeRequest(line) }
    }

    @Test func controlSocketIsFoundInABrokenConfig() throws {
        let path = "/tmp/graced-unit-\(UInt32.random(in: 0...UInt32.max)).conf"
        let text = "[graced]\ncontrol_socket = \"/run/x/graced.sock\" # comment\n[worker]\nbroken = = =\n"
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
        defer { unlink(path) }
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        #expect(ControlSocketLocation.fromConfigFile(path) == "/run/x/graced.sock")
        #expect(ControlSocketLocation.resolve(configured: nil, environment: ["RUNTIME_DIRECTORY": "/run/graced:/run/other"]) == "/run/graced/graced.sock")
        #expect(ControlSocketLocation.resolve(configured: nil, environment: [:]) == "/run/graced.sock")
    }
}

@Suite struct MessageQuotingTests {
    @Test func messagesThatLookLikeFieldsAreQuoted() {
        #expect(LogEscaping.quoteMessageIfNeeded("worker 12 ready") == "worker 12 ready")
        #expect(LogEscaping.quoteMessageIfNeeded("FORGED level=error") == "\"FORGED level=error\"")
        #expect(LogEscaping.quoteMessageIfNeeded("say \"x\"") == "\"say \\\"x\\\"\"")
    }
}
