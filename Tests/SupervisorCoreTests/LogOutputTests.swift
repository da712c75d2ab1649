#if canImport(Glibc)
import Glibc
#endif
import CSystemd
import Logging
import Testing
@testable import SupervisorCore

/// The log never blocks graced: a reader that stalls costs dropped lines, not a frozen
/// event loop.
@Suite struct LogOutputTests {
    init() {
        signal(SIGPIPE, SIG_IGN)  // as graced does; a test writes into a pipe without reader
    }

    /// A pipe of one page; the test keeps both ends.
    func smallPipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        try #require(graced_pipe_cloexec(&fds) == 0)
        _ = graced_set_pipe_size(fds[1], 4096)
        return (fds[0], fds[1])
    }

    func line(_ i: Int) -> [UInt8] {
        Array("line \(i) \(String(repeating: "x", count: 100))\n".utf8)
    }

    /// Reads whatever the pipe holds now (non-blocking).
    func readAvailable(_ fd: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 0) > 0, ready.revents & Int16(POLLIN) != 0 else { break }
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return bytes
    }

    /// Fills the destination's reader, checks nothing blocks, then lets the reader catch
    /// up and checks the lines and the drop report.
    func exercise(_ destination: LogDestination, reader: Int32, writerFD: Int32) throws {
        let output = LogOutput(destination: destination, capacity: 64 * 1024, dropReport: TextLogHandler.dropReport)
        defer { destination.close() }
        let start = MonotonicInstant.now()
        for i in 0..<20_000 { output.write(line(i)) }   // 2.2 MB into a 4 KiB pipe and a 64 KiB queue
        let elapsed = MonotonicInstant.now().since(start)
        #expect(elapsed < .seconds(2), "writing took \(elapsed) in mode \(output.mode)")
        print("LOGOUTPUT \(output.mode): 20,000 lines into a stalled reader in \(elapsed.milliseconds) ms, \(output.droppedRecords) dropped")
        #expect(output.hasPending)
        #expect(output.droppedRecords > 15_000, "\(output.droppedRecords)")
        #expect(fcntl(writerFD, F_GETFL) & O_NONBLOCK == 0, "the shared open file description became non-blocking")
        // The reader catches up.
        var received: [UInt8] = []
        let deadline = MonotonicInstant.now() + .seconds(10)
        while MonotonicInstant.now() < deadline {
            received += readAvailable(reader)
            if !output.drainPending() {
                received += readAvailable(reader)
                break
            }
        }
        #expect(!output.hasPending)
        let text = String(decoding: received, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.last == "", "the last line is cut")
        let body = lines.dropLast()
        #expect(body.dropLast().allSatisfy { $0.hasPrefix("line ") && $0.hasSuffix("xxx") }, "a line was torn in mode \(output.mode)")
        let report = String(body.last ?? "")
        #expect(report.contains(" warn  \(output.droppedRecords) log lines dropped"), "\(report)")
        #expect(report.contains("event=log-lines-dropped"))
        // Nothing lost besides what was counted.
        #expect(UInt64(body.count - 1) + output.droppedRecords == 20_000, "\(body.count) lines, \(output.droppedRecords) dropped")
        // In order.
        let numbers = body.dropLast().compactMap { Int($0.split(separator: " ")[1]) }
        #expect(numbers == numbers.sorted())
    }

    @Test func aPipeGetsAPrivateNonBlockingDescription() throws {
        let pipe = try smallPipe()
        defer { close(pipe.read); close(pipe.write) }
        let destination = LogDestination.stream(fd: pipe.write)
        guard case .nonBlocking(let own, _) = destination else {
            Issue.record("expected a private description, got \(destination.kind)")
            return
        }
        #expect(own != pipe.write)
        #expect(fcntl(own, F_GETFL) & O_NONBLOCK != 0)
        #expect(fcntl(own, F_GETFD) & FD_CLOEXEC != 0)
        try exercise(destination, reader: pipe.read, writerFD: pipe.write)
    }

    @Test func pollBeforeEachWriteWhereThePipeCannotBeReopened() throws {
        let pipe = try smallPipe()
        defer { close(pipe.read); close(pipe.write) }
        try exercise(.polled(pipe.write, chunk: Int(PIPE_BUF)), reader: pipe.read, writerFD: pipe.write)
    }

    @Test func aSocketIsWrittenWithMSGDONTWAIT() throws {
        var pair: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0)
        defer { close(pair[0]); close(pair[1]) }
        var size: Int32 = 4096
        setsockopt(pair[1], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(pair[0], SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        let destination = LogDestination.stream(fd: pair[1])
        guard case .socket = destination else {
            Issue.record("expected a socket, got \(destination.kind)")
            return
        }
        try exercise(destination, reader: pair[0], writerFD: pair[1])
    }

    @Test func aTerminalNobodyReadsDoesNotBlock() throws {
        // posix_openpt & co. are hidden from Swift: /dev/ptmx with TIOCSPTLCK and TIOCGPTN
        // (_IOW('T', 0x31, int), _IOR('T', 0x30, unsigned int)).
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        try #require(master >= 0)
        defer { close(master) }
        var unlock: Int32 = 0
        var number: UInt32 = 0
        try #require(ioctl(master, 0x4004_5431, &unlock) == 0 && ioctl(master, 0x8004_5430, &number) == 0)
        let terminal = open("/dev/pts/\(number)", O_WRONLY | O_NOCTTY | O_CLOEXEC)
        try #require(terminal >= 0)
        defer { close(terminal) }
        let destination = LogDestination.stream(fd: terminal)
        defer { destination.close() }
        guard case .nonBlocking = destination else {
            Issue.record("expected a private description, got \(destination.kind)")
            return
        }
        let output = LogOutput(destination: destination, capacity: 64 * 1024, dropReport: TextLogHandler.dropReport)
        let start = MonotonicInstant.now()
        for i in 0..<5000 { output.write(line(i)) }
        #expect(MonotonicInstant.now().since(start) < .seconds(2))
        #expect(output.droppedRecords > 0)
        #expect(fcntl(terminal, F_GETFL) & O_NONBLOCK == 0, "the terminal's own description became non-blocking")
        // The poll fallback on a terminal: same, 256 bytes at a time.
        let polled = LogOutput(destination: .polled(terminal, chunk: 256), capacity: 64 * 1024, dropReport: TextLogHandler.dropReport)
        for i in 0..<5000 { polled.write(line(i)) }
        #expect(polled.droppedRecords > 0)
        print("LOGOUTPUT terminal: \(output.mode) dropped \(output.droppedRecords) of 5,000; poll fallback dropped \(polled.droppedRecords)")
    }

    @Test func aRegularFileIsWrittenPlainly() throws {
        let path = "/tmp/graced-logoutput-\(getpid())-\(graced_random_u32())"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        defer { close(fd); unlink(path) }
        let output = LogOutput(fd: fd)
        #expect(output.pollFD == nil)
        for i in 0..<100 { output.write(line(i)) }
        #expect(!output.hasPending)
        #expect(output.droppedRecords == 0)
        var info = stat()
        fstat(fd, &info)
        #expect(Int(info.st_size) == (0..<100).reduce(0) { $0 + line($1).count })
        #expect(LogOutput(fd: open("/dev/null", O_WRONLY | O_CLOEXEC)).pollFD == nil)
    }

    @Test func aReaderThatIsGoneCostsNothingButDrops() throws {
        let pipe = try smallPipe()
        close(pipe.read)
        defer { close(pipe.write) }
        for destination in [LogDestination.polled(pipe.write, chunk: Int(PIPE_BUF)), .plain(pipe.write)] {
            let output = LogOutput(destination: destination, dropReport: TextLogHandler.dropReport)
            for i in 0..<1000 { output.write(line(i)) }
            #expect(output.droppedRecords == 1000, "\(destination.kind)")
            #expect(!output.hasPending)
        }
    }

    @Test func flushWaitsAtMostItsTimeout() throws {
        let pipe = try smallPipe()
        defer { close(pipe.read); close(pipe.write) }
        let output = LogOutput(destination: .polled(pipe.write, chunk: Int(PIPE_BUF)), dropReport: TextLogHandler.dropReport)
        for i in 0..<200 { output.write(line(i)) }
        let start = MonotonicInstant.now()
        #expect(output.flush(timeout: .milliseconds(200)) == false)
        let elapsed = MonotonicInstant.now().since(start)
        #expect(elapsed >= .milliseconds(190) && elapsed < .seconds(1), "\(elapsed)")
        // With a reader, flush completes.
        let reader = TestThread { while true { if readAvailable(pipe.read).isEmpty { usleep(1000) }; if !output.hasPending { break } } }
        #expect(output.flush(timeout: .seconds(10)))
        reader.join()
    }

    @Test func theEventLoopDrainsThePendingRecordsOnEPOLLOUT() throws {
        let pipe = try smallPipe()
        defer { close(pipe.read); close(pipe.write) }
        let destination = LogDestination.stream(fd: pipe.write)
        defer { destination.close() }
        let output = LogOutput(destination: destination, capacity: 1 << 20, dropReport: TextLogHandler.dropReport)
        let loop = try EventLoop()
        output.attach(to: loop)
        for i in 0..<100 { output.write(line(i)) }   // 10 KB: more than the pipe holds
        #expect(output.hasPending)
        let total = (0..<100).reduce(0) { $0 + line($1).count }
        let reader = TestThread {
            var got = 0
            while got < total {
                got += readAvailable(pipe.read).count
                usleep(2000)
            }
        }
        var checks = 0
        func check() {
            checks += 1
            if !output.hasPending || checks > 1000 { loop.stop() } else { loop.schedule(after: .milliseconds(10), check) }
        }
        loop.schedule(after: .milliseconds(10), check)
        loop.run()
        reader.join()
        #expect(!output.hasPending)
        #expect(output.droppedRecords == 0)
    }

    @Test func journalEntriesAreNativeProtocolDatagrams() {
        let plain = JournalLogHandler.encode(["MESSAGE=hello", "PRIORITY=6"])
        #expect(plain == Array("MESSAGE=hello\nPRIORITY=6\n".utf8))
        let multi = JournalLogHandler.encode(["MESSAGE=a\nb", "X=1"])
        #expect(multi == Array("MESSAGE\n".utf8) + [3, 0, 0, 0, 0, 0, 0, 0] + Array("a\nb\nX=1\n".utf8))
        #expect(JournalLogHandler.encode(["=nokey", "nonsense"]).isEmpty)
    }

    @Test func aFullJournalSocketDropsInsteadOfBlocking() throws {
        let path = "/tmp/graced-journal-\(getpid())-\(graced_random_u32()).sock"
        let server = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(server >= 0)
        defer { close(server); unlink(path) }
        var address = try #require(UnixAddress.make(path))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(server, $0, UnixAddress.length(path)) }
        }
        try #require(bound == 0)
        let destination = LogDestination.journal(path: path)
        defer { destination.close() }
        let output = LogOutput(destination: destination, capacity: 64 * 1024, dropReport: JournalLogHandler.dropReport)
        let handler = JournalLogHandler(label: "t", output: output)
        var logger = Logger(label: "t") { _ in handler }
        logger.logLevel = .info
        let start = MonotonicInstant.now()
        for i in 0..<5000 { logger.info("entry \(i)", metadata: ["event": "x"]) }
        #expect(MonotonicInstant.now().since(start) < .seconds(2))
        #expect(output.droppedRecords > 0)
        // journald catches up.
        var datagrams: [String] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = MonotonicInstant.now() + .seconds(10)
        while MonotonicInstant.now() < deadline {
            while true {
                let n = recv(server, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if n <= 0 { break }
                datagrams.append(String(decoding: buffer[0..<n], as: UTF8.self))
            }
            if !output.drainPending() && recv(server, &buffer, 0, Int32(MSG_DONTWAIT) | Int32(MSG_PEEK)) < 0 { break }
        }
        #expect(datagrams.first?.hasPrefix("MESSAGE=entry 0\nPRIORITY=6\nSYSLOG_IDENTIFIER=graced\nGRACED_EVENT=x\n") == true,
                "\(datagrams.first ?? "")")
        let report = try #require(datagrams.last)
        #expect(report.contains("GRACED_EVENT=log-lines-dropped\n"), "\(report)")
        #expect(report.contains("GRACED_DROPPED=\(output.droppedRecords)\n"), "\(report)")
        #expect(UInt64(datagrams.count - 1) + output.droppedRecords == 5000)
    }

    @Test func noJournaldMeansDroppedNotBlocked() {
        let destination = LogDestination.journal(path: "/nonexistent/journal.sock")
        defer { destination.close() }
        let output = LogOutput(destination: destination, dropReport: JournalLogHandler.dropReport)
        output.write(JournalLogHandler.encode(["MESSAGE=x"]))
        #expect(output.droppedRecords == 1)
        #expect(!output.hasPending)
    }
}

/// A plain pthread for tests that need a concurrent reader.
final class TestThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void

    init(_ body: @escaping () -> Void) {
        self.body = body
        let box = Unmanaged.passRetained(self)
        pthread_create(&thread, nil, { raw in
            let me = Unmanaged<TestThread>.fromOpaque(raw!).takeRetainedValue()
            me.body()
            return nil
        }, box.toOpaque())
    }

    func join() {
        pthread_join(thread, nil)
    }
}
