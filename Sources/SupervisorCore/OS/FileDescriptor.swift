#if canImport(Glibc)
import CSystemd
import Glibc
#endif

/// Thin wrappers for the fd calls graced makes in more than one place.
enum FileDescriptor {
    static func close(_ fd: Int32) {
        // Linux closes the fd even when close() reports EINTR: never retry.
        _ = Glibc.close(fd)
    }

    static func setNonBlocking(_ fd: Int32) throws(SystemError) {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw SystemError("fcntl(O_NONBLOCK)")
        }
    }

    /// Opens /dev/null close-on-exec, for a worker's stdin.
    static func openDevNull() throws(SystemError) -> Int32 {
        let fd = open("/dev/null", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open(/dev/null)") }
        return fd
    }

    /// A close-on-exec pipe whose read end is non-blocking: graced reads, the worker writes.
    static func outputPipe() throws(SystemError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard graced_pipe_cloexec(&fds) == 0 else { throw SystemError("pipe2") }
        // A roomy pipe absorbs bursts while graced is busy elsewhere, so the worker does not
        // stall on write(2). Best effort: the limit is /proc/sys/fs/pipe-max-size.
        _ = graced_set_pipe_size(fds[1], 1 << 20)
        do {
            try setNonBlocking(fds[0])
        } catch {
            close(fds[0])
            close(fds[1])
            throw error
        }
        return (fds[0], fds[1])
    }

    /// write(2) until done; for short control messages on blocking or non-blocking fds.
    /// Returns false when the peer is gone or would block.
    @discardableResult
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                retryingOnInterrupt { Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset) }
            }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }
}
