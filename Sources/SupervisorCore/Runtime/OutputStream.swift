#if canImport(Glibc)
import Glibc
#endif

/// The read end of one of a worker's stdout/stderr pipes.
final class OutputStream {
    let fd: Int32
    /// The worker whose pipe it is.
    let pid: Int32
    /// "stdout" or "stderr".
    let name: String
    private var splitter = OutputLineSplitter()
    private static let chunkSize = 64 * 1024

    init(fd: Int32, pid: Int32, name: String) {
        self.fd = fd
        self.pid = pid
        self.name = name
    }

    /// Reads one chunk and returns the lines it completes and whether the stream ended.
    /// One chunk per wake-up: epoll (level-triggered) comes back for the rest after the
    /// other ready fds, so a flooding worker cannot starve the control socket or reloads.
    func readAvailable(maxChunks: Int = 1) -> (lines: [String], ended: Bool) {
        var lines: [String] = []
        var buffer = [UInt8](repeating: 0, count: OutputStream.chunkSize)
        for _ in 0..<maxChunks {
            let n = buffer.withUnsafeMutableBytes { raw in
                retryingOnInterrupt { read(fd, raw.baseAddress!, raw.count) }
            }
            if n > 0 {
                lines += buffer.withUnsafeBytes { splitter.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return (lines, false)
            }
            // EOF, or an error that will not go away.
            if let last = splitter.finish() { lines.append(last) }
            return (lines, true)
        }
        return (lines, false)
    }
}
