#if canImport(Glibc)
import Glibc
#endif

/// Reads another process's memory through /proc/PID/mem: pread at the address. Needs
/// ptrace-attach rights over the process (root, or its parent under the same uid);
/// without them the open fails and the caller falls back to what it can see otherwise.
enum ProcessMemory {
    /// `count` bytes at `address`, nil when the memory cannot be read (no rights, the
    /// process is gone, the address is not mapped).
    static func read(root: String, pid: pid_t, address: UInt64, count: Int) -> [UInt8]? {
        guard count > 0, address <= UInt64(Int64.max) else { return count == 0 ? [] : nil }
        let fd = open("\(root)/\(pid)/mem", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { _ = close(fd) }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { raw in
                pread(fd, raw.baseAddress! + done, count - done, off_t(Int64(address) + Int64(done)))
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            done += n
        }
        return bytes
    }
}
