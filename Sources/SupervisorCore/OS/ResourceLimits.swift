#if canImport(Glibc)
import Glibc
#endif

/// graced holds two pipes per worker, the listeners, control and notify sockets: with
/// many workers the usual soft limit of 1024 fds runs out. Like systemd, graced raises
/// its own soft RLIMIT_NOFILE to the hard limit at start, and gives every worker the
/// soft limit it started with (a worker that uses select(2) must not see fds above 1023).
public enum ResourceLimits {
    /// What workers get: the limit graced started with, once ``raiseFileLimit()`` ran.
    nonisolated(unsafe) static var workerFileLimit: rlimit?

    /// Raises the soft RLIMIT_NOFILE to the hard limit (capped at `fs.nr_open`, the most
    /// the kernel accepts) and remembers the original for workers. Call once, at start,
    /// before the first worker is spawned. Returns the original and the new soft limit;
    /// nil when the limit cannot be read. Raising may fail (e.g. under a seccomp or LSM
    /// rule): graced then goes on with its original limit.
    @discardableResult
    public static func raiseFileLimit() -> (original: UInt64, current: UInt64)? {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return nil }
        let original = limit
        if workerFileLimit == nil { workerFileLimit = original }
        var raised = self.raised(original, kernelMaximum: kernelMaximum())
        guard raised.rlim_cur != original.rlim_cur, setrlimit(RLIMIT_NOFILE_VALUE, &raised) == 0 else {
            return (UInt64(original.rlim_cur), UInt64(original.rlim_cur))
        }
        return (UInt64(original.rlim_cur), UInt64(raised.rlim_cur))
    }

    /// The soft limit raised to the hard one; an unlimited hard limit means `kernelMaximum`.
    /// Never lowers.
    static func raised(_ limit: rlimit, kernelMaximum: UInt64) -> rlimit {
        var target = limit.rlim_max
        if target == rlim_t.max { target = rlim_t(kernelMaximum) }  // RLIM_INFINITY
        return rlimit(rlim_cur: max(limit.rlim_cur, target), rlim_max: limit.rlim_max)
    }

    /// The current soft and hard RLIMIT_NOFILE.
    public static func fileLimit() -> (soft: UInt64, hard: UInt64)? {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return nil }
        return (UInt64(limit.rlim_cur), UInt64(limit.rlim_max))
    }

    /// /proc/sys/fs/nr_open, else the kernel's default 1,048,576.
    static func kernelMaximum() -> UInt64 {
        let fd = open("/proc/sys/fs/nr_open", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 1 << 20 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = read(fd, &buffer, buffer.count)
        guard n > 0 else { return 1 << 20 }
        let text = String(decoding: buffer[0..<n], as: UTF8.self).filter { $0.isNumber }
        return UInt64(text) ?? 1 << 20
    }

    private static var RLIMIT_NOFILE_VALUE: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
}
