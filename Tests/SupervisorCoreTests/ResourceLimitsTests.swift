#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import SupervisorCore

/// RLIMIT_NOFILE: the worker gets the soft limit graced started with.
@Suite(.serialized) struct ResourceLimitsTests {
    /// `sh -c script` through the spawn helper with `fileLimit`; its stdout.
    func run(_ script: String, fileLimit: rlimit?) throws -> String {
        let out = try FileDescriptor.outputPipe()
        let devNull = try FileDescriptor.openDevNull()
        defer { FileDescriptor.close(devNull) }
        var request = SpawnRequest(
            executable: "/bin/sh", arguments: ["sh", "-c", script], environment: ["PATH=/usr/bin:/bin"],
            setsListenPID: false, passedFDs: [], stdinFD: devNull, stdoutFD: out.write, stderrFD: out.write,
            directory: nil, credentials: nil, parentDeathSignal: nil)
        request.fileLimit = fileLimit
        let pid = try ProcessSpawner.spawn(request)
        FileDescriptor.close(out.write)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            var pfd = pollfd(fd: out.read, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, 5000)
            let n = read(out.read, &chunk, chunk.count)
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        FileDescriptor.close(out.read)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func theWorkerGetsTheRequestedSoftLimit() throws {
        let (_, hard) = try #require(ResourceLimits.fileLimit())
        let soft = min(hard, 777)
        let output = try run("ulimit -Sn; ulimit -Hn", fileLimit: rlimit(rlim_cur: rlim_t(soft), rlim_max: rlim_t(hard)))
        let values = output.split(separator: "\n").map(String.init)
        #expect(values.first == String(soft), "\(output)")
        #expect(values.dropFirst().first == (hard == UInt64(rlim_t.max) ? "unlimited" : String(hard)), "\(output)")
    }

    @Test func withoutALimitTheWorkerInheritsGraceds() throws {
        let (soft, _) = try #require(ResourceLimits.fileLimit())
        let output = try run("ulimit -Sn", fileLimit: nil)
        let expected = soft == UInt64(rlim_t.max) ? "unlimited" : String(soft)
        #expect(output.split(separator: "\n").first.map(String.init) == expected, "\(output)")
    }

    @Test func anImpossibleLimitIsASpawnError() throws {
        let (_, hard) = try #require(ResourceLimits.fileLimit())
        guard hard != UInt64(rlim_t.max), getuid() != 0 else { return }  // root may raise its hard limit
        #expect(throws: SpawnError.self) {
            _ = try run("true", fileLimit: rlimit(rlim_cur: rlim_t(hard) + 1, rlim_max: rlim_t(hard) + 1))
        }
    }

    @Test func raisingGoesUpToTheHardLimitNeverDown() {
        func raised(_ soft: UInt, _ hard: UInt) -> UInt {
            ResourceLimits.raised(rlimit(rlim_cur: soft, rlim_max: hard), kernelMaximum: 1 << 20).rlim_cur
        }
        #expect(raised(1024, 4096) == 4096)
        #expect(raised(1024, 524_288) == 524_288)
        #expect(raised(4096, 4096) == 4096)
        #expect(raised(1024, rlim_t.max) == 1 << 20)
        #expect(raised(rlim_t.max, rlim_t.max) == rlim_t.max)
        #expect(ResourceLimits.raised(rlimit(rlim_cur: 1024, rlim_max: 4096), kernelMaximum: 1 << 20).rlim_max == 4096)
        #expect(ResourceLimits.kernelMaximum() >= 1024)
    }
}
