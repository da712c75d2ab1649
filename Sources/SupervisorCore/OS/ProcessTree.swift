#if canImport(Glibc)
import Glibc
#endif

/// Reads process ancestry from /proc, to accept READY=1 from a worker's descendants.
enum ProcessTree {
    /// The parent pid from /proc/PID/stat, or nil if the process is gone.
    static func parent(of pid: pid_t) -> pid_t? {
        guard let text = FileContents.text("/proc/\(pid)/stat") else { return nil }
        // Field 2 is "(comm)" and comm may hold spaces or ')': parse after the last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count >= 2, let ppid = pid_t(fields[1]) else { return nil }
        return ppid
    }

    /// Walks up from `pid` until `isTarget` holds (returning that pid) or the chain ends.
    static func ancestor(of pid: pid_t, where isTarget: (pid_t) -> Bool) -> pid_t? {
        var current = pid
        for _ in 0..<64 {
            if isTarget(current) { return current }
            guard current > 1, let next = parent(of: current) else { return nil }
            current = next
        }
        return nil
    }
}
