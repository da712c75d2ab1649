import Logging
import Testing
@testable import SupervisorCore

/// Real lines as the servers and libraries print them, and the level graced gives them.
@Suite struct WorkerLineLevelTests {
    static let cases: [(String, Logger.Level?)] = [
        // Python logging (basicConfig's "%(levelname)s:%(name)s:%(message)s")
        ("ERROR:root:database unreachable", .error),
        ("WARNING:root:slow request", .warning),
        ("CRITICAL:app:out of memory", .critical),
        ("INFO:werkzeug:127.0.0.1 - - \"GET / HTTP/1.1\" 200 -", .info),
        ("DEBUG:urllib3.connectionpool:Starting new HTTP connection (1): x:80", .debug),
        // uvicorn
        ("ERROR:    Error loading ASGI app. Could not import module \"x\".", .error),
        ("INFO:     Started server process [4242]", .info),
        ("INFO:     Uvicorn running on socket ('0.0.0.0', 8080) (Press CTRL+C to quit)", .info),
        ("WARNING:  Invalid HTTP request received.", .warning),
        ("CRITICAL: boom", .critical),
        // gunicorn
        ("[2026-11-30 12:00:00 +0000] [1234] [ERROR] Exception in worker process", .error),
        ("[2026-11-30 12:00:00 +0000] [1234] [INFO] Booting worker with pid: 1234", .info),
        ("[2026-11-30 12:00:00 +0000] [1234] [CRITICAL] WORKER TIMEOUT (pid:1240)", .critical),
        ("[2026-11-30 12:00:00 +0000] [1234] [WARNING] Worker with pid 1240 was terminated due to signal 9", .warning),
        ("[2026-11-30 12:00:00 +0000] [1234] [DEBUG] Current configuration:", .debug),
        ("[ERROR] no timestamp", .error),
        // hypercorn
        ("[2026-11-30 12:00:00 +0000] [4242] [INFO] Running on http://0.0.0.0:8080 (CTRL + C to quit)", .info),
        ("[2026-11-30 12:00:00 +0000] [4242] [ERROR] Error in ASGI Framework", .error),
        // Flask's default handler, Python's "%(asctime)s %(levelname)s"
        ("[2026-11-30 12:00:00,123] ERROR in app: Exception on / [GET]", .error),
        ("2026-11-30 12:00:00,123 WARNING django.request Not Found: /x", .warning),
        // Celery
        ("[2026-11-30 12:00:00,123: ERROR/MainProcess] consumer: Cannot connect to amqp://", .error),
        ("[2026-11-30 12:00:00,123: INFO/MainProcess] Connected to redis://", .info),
        // Twisted
        ("2026-11-30T12:00:00+0000 [twisted.internet.defer#critical] Unhandled error in Deferred:", .critical),
        ("2026-11-30T12:00:00+0000 [twisted.web.server.Site#info] Starting factory", .info),
        ("2026-11-30T12:00:00+0000 [-] Log opened.", nil),
        // Go: Beego
        ("2026/11/30 12:00:00.000 [C] [server.go:12] listen tcp :8080: bind: address already in use", .critical),
        ("2026/11/30 12:00:00.000 [E] [router.go:88] handler crashed", .error),
        ("2026/11/30 12:00:00.000 [W] [app.go:5] slow", .warning),
        ("2026/11/30 12:00:00.000 [I] [server.go:280] http server Running on http://:8080", .info),
        ("2026/11/30 12:00:00.000 [D] [app.go:5] details", .debug),
        ("2026/11/30 12:00:00.000 [N] [app.go:5] notice", .notice),
        ("2026/11/30 12:00:00.000 [A] [app.go:5] alert", .critical),
        ("2026/11/30 12:00:00.000 [M] [app.go:5] emergency", .critical),
        // Go: standard log (no level), panics, glog/klog, zap, zerolog, logrus, slog
        ("2026/11/30 12:00:00 http: Server closed", nil),
        ("2026/11/30 12:00:00 error reading config: open x: no such file or directory", .error),
        ("panic: runtime error: index out of range [5] with length 3", .critical),
        ("E1130 12:00:00.123456    4242 main.go:10] connection refused", .error),
        ("I1130 12:00:00.123456    4242 main.go:10] serving", .info),
        ("W1130 12:00:00.123456    4242 main.go:10] slow", .warning),
        ("F1130 12:00:00.123456    4242 main.go:10] cannot continue", .critical),
        ("2026-11-30T12:00:00.000Z\tERROR\tserver/main.go:42\tfailed to serve", .error),
        ("2026-11-30T12:00:00.000Z\tinfo\tserver/main.go:42\tserving", .info),
        ("{\"level\":\"error\",\"ts\":1764504000.1,\"caller\":\"main.go:12\",\"msg\":\"boom\"}", .error),
        ("{\"level\":\"warn\",\"ts\":1764504000.1,\"msg\":\"slow\"}", .warning),
        ("12:00PM ERR failed to connect error=\"dial tcp: refused\"", .error),
        ("12:00PM WRN retrying", .warning),
        ("{\"level\":\"fatal\",\"time\":\"2026-11-30T12:00:00Z\",\"message\":\"bye\"}", .critical),
        ("ERRO[0000] cannot bind                                   error=\"address in use\"", .error),
        ("WARN[0003] slow", .warning),
        ("time=\"2026-11-30T12:00:00Z\" level=error msg=\"cannot bind\" port=8080", .error),
        ("time=2026-11-30T12:00:00.000Z level=WARN msg=slow", .warning),
        ("t=2026-11-30T12:00:00+0000 lvl=crit msg=bye", .critical),
        ("level=panic msg=x", .critical),
        ("severity=err msg=x", .error),
        ("level=debug msg=x", .debug),
        ("level=info msg=\"level=error is only text\"", .info),
        // JSON: pino/bunyan (Node), winston, structlog, GCP's severity
        ("{\"level\":50,\"time\":1764504000000,\"pid\":4242,\"hostname\":\"h\",\"msg\":\"request failed\"}", .error),
        ("{\"level\":30,\"time\":1764504000000,\"pid\":4242,\"msg\":\"listening\"}", .info),
        ("{\"level\":60,\"msg\":\"fatal\"}", .critical),
        ("{\"level\":40,\"msg\":\"warn\"}", .warning),
        ("{\"level\":20,\"msg\":\"debug\"}", .debug),
        ("{\"message\":\"boom\",\"level\":\"error\"}", .error),
        ("{\"event\": \"login failed\", \"level\": \"warning\", \"timestamp\": \"2026-11-30T12:00:00Z\"}", .warning),
        ("{\"severity\":\"ERROR\",\"message\":\"x\"}", .error),
        ("{\"nested\":{\"level\":\"error\"},\"msg\":\"x\"}", nil),
        ("{\"msg\":\"level=error\",\"a\":[1,{\"b\":\"c\"}],\"lvl\":\"info\"}", .info),
        ("{\"log.level\":\"error\",\"message\":\"x\"}", .error),
        // Ruby Logger, Puma
        ("E, [2026-11-30T12:00:00.123456 #4242] ERROR -- : boom", .error),
        ("W, [2026-11-30T12:00:00.123456 #4242]  WARN -- app: slow", .warning),
        ("I, [2026-11-30T12:00:00.123456 #4242]  INFO -- : started", .info),
        // Rust env_logger
        ("[2026-11-30T12:00:00Z ERROR my_app] cannot bind", .error),
        ("[2026-11-30T12:00:00Z INFO  my_app::server] listening", .info),
        // Node.js
        ("(node:4242) [DEP0005] DeprecationWarning: Buffer() is deprecated", .warning),
        ("(node:4242) Warning: Accessing non-existent property", .warning),
        ("(node:4242) UnhandledPromiseRejectionWarning: Error: boom", .warning),
        ("Server listening on port 8080", nil),
        ("Error: listen EADDRINUSE: address already in use :::8080", .error),
        // syslog prefixes
        ("<3>disk full", .error),
        ("<0>emergency", .critical),
        ("<2>crit", .critical),
        ("<4>warn", .warning),
        ("<5>notice", .notice),
        ("<6>info", .info),
        ("<7>debug", .debug),
        ("<8>not a level", nil),
        ("<35>with facility: not stripped, as systemd", nil),
        ("<a>x", nil),
        // No marker at the start: info
        ("GET /error 500", nil),
        ("request failed: level=error", nil),
        ("connection ERROR: reset", nil),
        ("Error loading config", nil),
        ("error", nil),
        ("the [ERROR] marker in the middle", nil),
        ("127.0.0.1 - - [30/Nov/2026:12:00:00 +0000] \"GET /error HTTP/1.1\" 500 0", nil),
        ("[Errno 98] Address already in use", nil),
        ("[E] without a timestamp", nil),
        ("eRRor: odd case", nil),
        ("Information about the thing", nil),
        ("Warnings: 3", nil),
        ("Traceback (most recent call last):", nil),
        ("  File \"/app/x.py\", line 3, in <module>", nil),
        ("2026/11/30 12:00:00 Infos and more", nil),
        ("", nil),
        ("[", nil),
        ("{", nil),
        ("{\"level\":", nil),
        ("level=", nil),
        ("<3", nil),
        ("12:00", nil),
        ("2026-11-30", nil),
    ]

    @Test(arguments: cases)
    func classifies(_ line: String, _ expected: Logger.Level?) {
        #expect(WorkerLineLevel.classify(line).level == expected, "\(line.debugDescription)")
    }

    @Test func stripsTheSyslogPrefixLikeSystemd() {
        #expect(WorkerLineLevel.classify("<3>disk full").message == "disk full")
        #expect(WorkerLineLevel.classify("<04>x").message == "x")
        #expect(WorkerLineLevel.classify("<35>kept").message == "<35>kept")
        #expect(WorkerLineLevel.classify("<3>\u{301}combining").message == "\u{301}combining")
        #expect(WorkerLineLevel.classify("ERROR: kept").message == "ERROR: kept")
    }

    @Test func survivesEveryPrefixOfRealLines() {
        // No index may run past the end, whatever the cut.
        for (line, _) in Self.cases {
            let bytes = Array(line.utf8)
            for end in 0...bytes.count {
                _ = WorkerLineLevel.classify(String(decoding: bytes[0..<end], as: UTF8.self))
            }
        }
    }

    @Test func looksOnlyAtTheStartOfLongLines() {
        let long = String(repeating: "x", count: 100_000) + " level=error"
        #expect(WorkerLineLevel.classify(long).level == nil)
        #expect(WorkerLineLevel.classify("ERROR: " + long).level == .error)
    }
}

@Suite struct FailureLineTests {
    @Test func rubyPrintsTheExceptionFirst() {
        let lines = [
            "Puma starting in single mode...",
            "/usr/lib/ruby/3.3.0/socket.rb:201:in `bind': Address already in use - bind(2) for 0.0.0.0:8080 (Errno::EADDRINUSE)",
            "\tfrom /usr/lib/ruby/3.3.0/socket.rb:201:in `listen'",
            "\tfrom app.rb:3:in `<main>'",
        ]
        #expect(FailureLine.first(in: lines) == lines[1])
        #expect(FailureLine.first(in: ["app.rb:3:in 'Object#fail_now': boom (RuntimeError)", "\tfrom app.rb:5:in '<main>'"])
                == "app.rb:3:in 'Object#fail_now': boom (RuntimeError)")
    }

    @Test func nodePrintsTheErrorBeforeItsFrames() {
        let lines = [
            "/app/server.js:3",
            "    throw new Error('boom');",
            "    ^",
            "",
            "Error: boom",
            "    at Object.<anonymous> (/app/server.js:3:11)",
            "    at Module._compile (node:internal/modules/cjs/loader:1256:14)",
            "",
            "Node.js v20.11.0",
        ]
        #expect(FailureLine.first(in: lines) == "Error: boom")
        #expect(FailureLine.first(in: ["node:events:497", "      throw er; // Unhandled 'error' event",
                                       "Error: listen EADDRINUSE: address already in use :::8080",
                                       "    at Server.setupListenHandle [as _listen2] (node:net:1897:16)"])
                == "Error: listen EADDRINUSE: address already in use :::8080")
    }

    @Test func pythonPrintsTheExceptionAfterItsFrames() {
        let lines = [
            "[2026-11-30 12:00:00 +0000] [10] [INFO] Booting worker with pid: 10",
            "[2026-11-30 12:00:00 +0000] [10] [ERROR] Exception in worker process",
            "Traceback (most recent call last):",
            "  File \"/usr/lib/python3/dist-packages/gunicorn/arbiter.py\", line 609, in spawn_worker",
            "    worker.init_process()",
            "ModuleNotFoundError: No module named 'app'",
            "[2026-11-30 12:00:00 +0000] [10] [INFO] Worker exiting (pid: 10)",
        ]
        #expect(FailureLine.first(in: lines) == "ModuleNotFoundError: No module named 'app'")
    }

    @Test func uvicornMarksItsErrorWithALevel() {
        let lines = [
            "ERROR:    Error loading ASGI app. Could not import module \"x\".",
        ]
        #expect(FailureLine.first(in: lines) == lines[0])
    }

    @Test func goPanicsAndFatalErrors() {
        #expect(FailureLine.first(in: ["serving", "panic: runtime error: invalid memory address or nil pointer dereference",
                                       "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4]", "",
                                       "goroutine 1 [running]:"])
                == "panic: runtime error: invalid memory address or nil pointer dereference")
        #expect(FailureLine.first(in: ["fatal error: all goroutines are asleep - deadlock!", "", "goroutine 1 [chan receive]:"])
                == "fatal error: all goroutines are asleep - deadlock!")
        #expect(FailureLine.first(in: ["2026/11/30 12:00:00.000 [I] [server.go:280] starting",
                                       "2026/11/30 12:00:00.000 [C] [server.go:12] listen tcp :8080: bind: address already in use"])
                == "2026/11/30 12:00:00.000 [C] [server.go:12] listen tcp :8080: bind: address already in use")
    }

    @Test func javaAndRust() {
        #expect(FailureLine.first(in: ["Exception in thread \"main\" java.net.BindException: Address already in use", "\tat x"])
                == "Exception in thread \"main\" java.net.BindException: Address already in use")
        #expect(FailureLine.first(in: ["java.lang.IllegalStateException: not configured"]) == "java.lang.IllegalStateException: not configured")
        #expect(FailureLine.first(in: ["thread 'main' panicked at src/main.rs:2:5:", "boom"]) == "thread 'main' panicked at src/main.rs:2:5:")
    }

    @Test func nothingThatLooksLikeAnError() {
        #expect(FailureLine.first(in: []) == nil)
        #expect(FailureLine.first(in: ["starting", "listening on 8080", "WARNING: slow", "  File \"x\" Error: indented"]) == nil)
        #expect(FailureLine.first(in: ["KeyboardInterrupt", "ErrorCount is 3", "Errors: 0", "(fine) (ok)"]) == nil)
    }
}
