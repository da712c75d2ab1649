#if canImport(Glibc)
import Glibc
#endif
import Testing
import CSystemd
@testable import SupervisorCore

/// The fork/exec helper with real processes: fd placement, LISTEN_PID, exec errors.
@Suite struct ProcessSpawnerTests {
    /// Runs `/bin/sh -c script` through the helper and returns its stdout and exit status.
    func run(_ script: String, passing fds: [Int32] = [], listenPID: Bool = true, directory: String? = nil) throws -> (String, SupervisorCore.ExitStatus) {
        let out = try FileDescriptor.outputPipe()
        let devNull = try FileDescriptor.openDevNull()
        defer { FileDescriptor.close(devNull) }
        let pid = try ProcessSpawner.spawn(SpawnRequest(
            executable: "/bin/sh", arguments: ["sh", "-c", script],
            environment: ["PATH=/usr/bin:/bin", "LISTEN_FDS=\(fds.count)"], setsListenPID: listenPID,
            passedFDs: fds, stdinFD: devNull, stdoutFD: out.write, stderrFD: out.write,
            directory: directory, credentials: nil, parentDeathSignal: .term))
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
        return (String(decoding: bytes, as: UTF8.self), SupervisorCore.ExitStatus(waitStatus: status))
    }

    @Test func listenPIDIsTheChildsOwnPID() throws {
        let (output, status) = try run("echo $$ $LISTEN_PID")
        #expect(status == .exited(0))
        let parts = output.split(separator: " ").map { $0.trimmingCharacters(in: "\n") }
        #expect(parts.count == 2 && parts[0] == parts[1], "sh's pid and LISTEN_PID differ: \(output)")
    }

    @Test func passedFDsLandAt3AndNothingElseLeaks() throws {
        // Sources that collide with the targets (3, 4) must not clobber each other.
        var a: [Int32] = [-1, -1]
        var b: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &a) == 0)
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &b) == 0)
        defer { (a + b).forEach(FileDescriptor.close) }
        let inodeA = SocketInfo.inode(a[0])!
        let inodeB = SocketInfo.inode(b[0])!
        // Passed in reverse order on purpose: fd 3 gets b's socket, fd 4 gets a's.
        let (output, status) = try run("ls /proc/self/fd | sort -n | tr '\\n' ' '; echo; readlink /proc/$$/fd/3 /proc/$$/fd/4", passing: [b[0], a[0]])
        #expect(status == .exited(0))
        let lines = output.split(separator: "\n")
        // `ls` itself opens one fd for the directory; sh has 0,1,2,3,4.
        let fds = lines[0].split(separator: " ").compactMap { Int($0) }
        #expect(Set(fds).isSuperset(of: [0, 1, 2, 3, 4]))
        #expect(fds.filter { $0 > 4 }.count <= 1, "unexpected fds in the child: \(fds)")
        #expect(lines[1] == "socket:[\(inodeB)]")
        #expect(lines[2] == "socket:[\(inodeA)]")
    }

    @Test func signalMaskAndDispositionsAreReset() throws {
        // SigBlk and SigIgn of the child must be empty whatever the parent blocks.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGUSR2)
        var old = sigset_t()
        pthread_sigmask(SIG_BLOCK, &set, &old)
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        let (output, _) = try run("exec grep -E 'SigBlk|SigIgn' /proc/self/status")
        #expect(output.contains("SigBlk:\t0000000000000000"), "\(output)")
        #expect(output.contains("SigIgn:\t0000000000000000"), "\(output)")
    }

    @Test func theChildLeadsItsOwnSession() throws {
        let (output, _) = try run("cut -d' ' -f6 /proc/$$/stat; echo $$")
        let parts = output.split(separator: "\n")
        #expect(parts.count == 2 && parts[0] == parts[1], "session id is not the child's pid: \(output)")
    }

    @Test func execFailureIsReportedWithItsErrno() throws {
        let devNull = try FileDescriptor.openDevNull()
        defer { FileDescriptor.close(devNull) }
        let request = SpawnRequest(
            executable: "/nonexistent/worker", arguments: ["worker"], environment: [], setsListenPID: true,
            passedFDs: [], stdinFD: devNull, stdoutFD: devNull, stderrFD: devNull,
            directory: nil, credentials: nil, parentDeathSignal: nil)
        #expect {
            _ = try ProcessSpawner.spawn(request)
        } throws: { error in
            "\(error)" == "cannot execute /nonexistent/worker: No such file or directory"
        }
    }

    @Test func chdirFailureNamesTheStep() throws {
        let devNull = try FileDescriptor.openDevNull()
        defer { FileDescriptor.close(devNull) }
        let request = SpawnRequest(
            executable: "/bin/true", arguments: ["true"], environment: [], setsListenPID: false,
            passedFDs: [], stdinFD: devNull, stdoutFD: devNull, stderrFD: devNull,
            directory: "/nonexistent-dir", credentials: nil, parentDeathSignal: nil)
        #expect {
            _ = try ProcessSpawner.spawn(request)
        } throws: { error in
            "\(error)".contains("chdir") && "\(error)".contains("No such file or directory")
        }
    }
}
