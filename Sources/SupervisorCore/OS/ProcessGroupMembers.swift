#if canImport(Glibc)
import Glibc
#endif

/// The processes of given process groups (a worker leads its own group, so its group
/// is the worker and whatever it forked and did not move elsewhere).
///
/// Two ways to find them: a full scan reads the `pgrp` field of every /proc/PID/stat
/// (about 30 µs per process on the machine: milliseconds on a busy host), so it runs at
/// most once per `fullScanInterval`; in between, at most once per `rescanInterval`, a
/// walk down from the leader through /proc/PID/task/TID/children (cost grows with the
/// group, not the host) adds new descendants that are still in the group. A process of
/// the group that is not a descendant of the leader any more (its parent died) is seen
/// by the next full scan. A group leader is always in its own answer.
public final class ProcessGroupMembers {
    public let rescanInterval: Duration
    public let fullScanInterval: Duration
    private let reader: ProcReader
    private var groups: [pid_t: [pid_t]] = [:]
    private var fullScanAt: MonotonicInstant?
    private var walked: [pid_t: (at: MonotonicInstant, members: [pid_t])] = [:]

    /// - Parameter procRoot: "/proc", or a fake tree in tests.
    public init(procRoot: String = "/proc", rescanInterval: Duration = .milliseconds(100),
                fullScanInterval: Duration = .seconds(1)) {
        self.rescanInterval = rescanInterval
        self.fullScanInterval = fullScanInterval
        reader = ProcReader(root: procRoot, capacity: 4096)
    }

    /// The members of the group led by `leader`: the leader first, then the others in
    /// pid order.
    public func members(ofGroup leader: pid_t, now: MonotonicInstant = .now()) -> [pid_t] {
        if fullScanAt.map({ now.since($0) >= fullScanInterval }) ?? true {
            groups = scan()
            fullScanAt = now
            walked = [:]
        }
        var found = Set(groups[leader] ?? [])
        if let last = walked[leader], now.since(last.at) < rescanInterval {
            found.formUnion(last.members)
        } else {
            let descendants = descendantsInGroup(leader)
            walked[leader] = (now, descendants)
            found.formUnion(descendants)
        }
        found.remove(leader)
        return [leader] + found.sorted()
    }

    /// Forgets what was seen: the next question scans all of /proc again.
    public func invalidate() {
        fullScanAt = nil
        walked = [:]
    }

    /// Descendants of `leader` (through the children files of all its threads) whose
    /// process group is `leader`.
    func descendantsInGroup(_ leader: pid_t) -> [pid_t] {
        var result: [pid_t] = []
        var queue: [pid_t] = [leader]
        var seen: Set<pid_t> = [leader]
        while let pid = queue.popLast(), seen.count < 4096 {
            for tid in reader.numericEntries("\(reader.root)/\(pid)/task") {
                let children = reader.withFile("\(reader.root)/\(pid)/task/\(tid)/children", ProcessGroupMembers.pids) ?? []
                for child in children where seen.insert(child).inserted {
                    queue.append(child)
                    if reader.withFile("\(reader.root)/\(child)/stat", ProcessGroupMembers.processGroup) == leader {
                        result.append(child)
                    }
                }
            }
        }
        return result
    }

    /// Space-separated decimal pids, as in a children file.
    static func pids(_ bytes: UnsafeRawBufferPointer) -> [pid_t] {
        var result: [pid_t] = []
        var value: Int32 = 0
        var digits = 0
        for byte in bytes {
            if byte >= 0x30, byte <= 0x39, digits < 10 {
                value = value &* 10 &+ Int32(byte - 0x30)
                digits += 1
            } else {
                if digits > 0 { result.append(value) }
                value = 0
                digits = 0
            }
        }
        if digits > 0 { result.append(value) }
        return result
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
