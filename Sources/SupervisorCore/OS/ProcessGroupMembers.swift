#if canImport(Glibc)
import Glibc
#endif

/// The processes of given process groups (a worker leads its own group, so its group
/// is the worker and whatever it forked and did not move elsewhere), found by reading the
/// `pgrp` field of every /proc/PID/stat.
///
/// A full scan of /proc costs about a millisecond on a busy machine, so it runs at most
/// once per `rescanInterval`; in between the last scan answers. A group leader is always
/// in its own answer, even before the next scan has seen it.
public final class ProcessGroupMembers {
    public let rescanInterval: Duration
    private let reader: ProcReader
    private var groups: [pid_t: [pid_t]] = [:]
    private var scannedAt: MonotonicInstant?

    /// - Parameter procRoot: "/proc", or a fake tree in tests.
    public init(procRoot: String = "/proc", rescanInterval: Duration = .milliseconds(100)) {
        self.rescanInterval = rescanInterval
        reader = ProcReader(root: procRoot, capacity: 4096)
    }

    /// The members of the group led by `leader`: the leader first (when it still exists
    /// or the last scan is older than it), then the others in pid order.
    public func members(ofGroup leader: pid_t, now: MonotonicInstant = .now()) -> [pid_t] {
        refreshIfStale(now: now)
        let others = (groups[leader] ?? []).filter { $0 != leader }
        return [leader] + others
    }

    /// Forgets the last scan: the next question scans again.
    public func invalidate() { scannedAt = nil }

    private func refreshIfStale(now: MonotonicInstant) {
        if let scannedAt, now.since(scannedAt) < rescanInterval { return }
        groups = scan()
        scannedAt = now
    }

    /// pgrp -> pids of every process in /proc, each list sorted.
    func scan() -> [pid_t: [pid_t]] {
        var result: [pid_t: [pid_t]] = [:]
        for pid in reader.numericEntries(reader.root) {
            guard let group = reader.withFile("\(reader.root)/\(pid)/stat", ProcessGroupMembers.processGroup) ?? nil
            else { continue }
            result[group, default: []].append(pid)
        }
        for key in result.keys { result[key]!.sort() }
        return result
    }

    /// Field 5 of /proc/PID/stat (`pid (comm) state ppid pgrp …`); comm may hold spaces
    /// and parentheses, so fields are counted after the last ')'.
    static func processGroup(_ bytes: UnsafeRawBufferPointer) -> pid_t? {
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        var field = 0
        var index = close + 1
        // " state ppid pgrp": the third field after the ')'.
        while index < bytes.count {
            while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 }
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: " ") { index += 1 }
            field += 1
            if field == 3 {
                return ProcReader.decimal(UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
            }
        }
        return nil
    }
}
