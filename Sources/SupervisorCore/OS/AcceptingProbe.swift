#if canImport(Glibc)
import Glibc
#endif

/// Sees from /proc, without help from the server, which listening sockets a set of
/// processes waits on for connections — the `ready = "accepting"` readiness check, and
/// (an empty answer) the proof that an old generation stopped accepting.
///
/// A process waits on a listener (a socket inode graced holds, see ``SocketInfo/inode(_:)``)
/// when it has the listener open as some fd N and
/// - one of its epoll sets watches fd N for input (`tfd: N … ino:INODE` in
///   /proc/PID/fdinfo/EPFD, with EPOLLIN armed): Go, libuv/Node, asyncio, uvicorn, NIO,
///   twisted, selectors.EpollSelector; or
/// - one of its threads is blocked in accept/accept4 on fd N
///   (/proc/PID/task/TID/syscall): blocking servers; or
/// - one of its threads is blocked in poll/ppoll/select/pselect6 with fd N in its read
///   set, read from /proc/PID/mem (needs ptrace rights: root, or the parent under the
///   same uid; without them this case is not seen): Ruby's IO.select, gunicorn's sync
///   worker, selectors.PollSelector/SelectSelector.
///
/// An epoll registration counts only while the fd it was made for still is that socket
/// in the process, so a worker that closed its fd without deregistering (the
/// registration lives on while graced holds the socket) does not read as accepting.
/// io_uring accepts cannot be seen.
///
/// Not thread-safe: one probe per thread (it reuses a read buffer). Costs a few
/// system calls per fd and per thread of each process; see the integration tests for
/// measurements.
public final class AcceptingProbe {
    /// How a process was seen waiting.
    public enum Mechanism: Hashable, Sendable, CustomStringConvertible {
        /// The listener is in the epoll set behind fd `epollFD`.
        case epoll(epollFD: Int32)
        /// Thread `thread` is blocked in accept/accept4.
        case accept(thread: pid_t)
        /// Thread `thread` is blocked in poll/ppoll with the listener in its set.
        case poll(thread: pid_t)
        /// Thread `thread` is blocked in select/pselect6 with the listener in its read set.
        case select(thread: pid_t)

        public var description: String {
            switch self {
            case .epoll(let fd): return "epoll fd \(fd)"
            case .accept(let tid): return "accept in thread \(tid)"
            case .poll(let tid): return "poll in thread \(tid)"
            case .select(let tid): return "select in thread \(tid)"
            }
        }
    }

    /// One process waiting on one listener.
    public struct Waiter: Hashable, Sendable {
        public var pid: pid_t
        /// The listener's socket inode.
        public var inode: UInt64
        /// The fd number of the listener in that process.
        public var fd: Int32
        public var mechanism: Mechanism
    }

    /// What one probe saw.
    public struct Report: Equatable, Sendable {
        /// At most one entry per (pid, inode): the first mechanism seen.
        public var waiters: [Waiter] = []
        /// Every process that has a listener open, with the inodes it holds, waiting or
        /// not. A single-threaded server that blocks in accept() reads as not waiting
        /// while it handles a request; a caller deciding that such a process stopped
        /// accepting can ask whether it still holds the listener.
        public var holders: [pid_t: Set<UInt64>] = [:]
        /// Processes whose fds could not be read (gone, or not ours to inspect).
        public var unreadable: [pid_t] = []

        /// The listener inodes some process waits on.
        public var acceptingInodes: Set<UInt64> { Set(waiters.map(\.inode)) }

        /// The pids that wait on `inode`, in probe order.
        public func pids(waitingOn inode: UInt64) -> [pid_t] {
            waiters.filter { $0.inode == inode }.map(\.pid)
        }

        /// True when some process waits on every one of `inodes`.
        public func isAccepting(onAll inodes: Set<UInt64>) -> Bool {
            inodes.isSubset(of: acceptingInodes)
        }
    }

    /// The largest poll set read from another process (struct pollfd is 8 bytes).
    static let maxPollEntries = 4096

    private let reader: ProcReader
    private let readsMemory: Bool

    /// - Parameters:
    ///   - procRoot: "/proc", or a fake tree in tests.
    ///   - readsMemory: read poll/select sets from /proc/PID/mem; off, threads blocked in
    ///     poll or select are never counted.
    public init(procRoot: String = "/proc", readsMemory: Bool = true) {
        reader = ProcReader(root: procRoot)
        self.readsMemory = readsMemory
    }

    /// Which of `listenerInodes` the processes `pids` wait on. An empty `waiters` means
    /// none of them waits on any of the listeners (any more).
    ///
    /// - Parameter stopWhenAllSeen: stop at the first process after which every listener
    ///   has a waiter: enough for "is it ready?" and for "has it stopped accepting?"
    ///   (then `waiters` and `holders` are incomplete); false lists every waiter, for a
    ///   warning that names them.
    public func probe(pids: [pid_t], listenerInodes: Set<UInt64>, stopWhenAllSeen: Bool = false) -> Report {
        var report = Report()
        guard !listenerInodes.isEmpty else { return report }
        for pid in pids {
            if stopWhenAllSeen, report.isAccepting(onAll: listenerInodes) { break }
            if !inspect(pid: pid, listenerInodes: listenerInodes, into: &report) {
                report.unreadable.append(pid)
            }
        }
        return report
    }

    /// Adds the waiters of one process; false when its fds could not be read.
    private func inspect(pid: pid_t, listenerInodes: Set<UInt64>, into report: inout Report) -> Bool {
        var listenerFDs: [Int32: UInt64] = [:]
        var epollFDs: [Int32] = []
        let readable = reader.forEachFD(
            of: pid,
            socket: { fd, inode in if listenerInodes.contains(inode) { listenerFDs[fd] = inode } },
            epoll: { epollFDs.append($0) })
        guard readable else { return false }
        guard !listenerFDs.isEmpty else { return true }
        let held = Set(listenerFDs.values)
        report.holders[pid] = held

        var found: Set<UInt64> = []
        func add(_ fd: Int32, _ inode: UInt64, _ mechanism: Mechanism) {
            guard !found.contains(inode) else { return }
            found.insert(inode)
            report.waiters.append(Waiter(pid: pid, inode: inode, fd: fd, mechanism: mechanism))
        }

        for epollFD in epollFDs.sorted() {
            let registrations = reader.withFile("\(reader.root)/\(pid)/fdinfo/\(epollFD)", EpollRegistration.parse) ?? []
            for registration in registrations where registration.wantsInput {
                if listenerFDs[registration.fd] == registration.inode {
                    add(registration.fd, registration.inode, .epoll(epollFD: epollFD))
                }
            }
        }
        if found == held { return true }

        // Threads blocked in accept, poll or select.
        for tid in reader.numericEntries("\(reader.root)/\(pid)/task").sorted() {
            guard let syscall = reader.withFile("\(reader.root)/\(pid)/task/\(tid)/syscall", ThreadSyscall.parse) ?? nil
            else { continue }
            switch syscall.call {
            case .accept:
                let fd = Int32(truncatingIfNeeded: syscall.arguments[0])
                if let inode = listenerFDs[fd] { add(fd, inode, .accept(thread: tid)) }
            case .poll:
                guard readsMemory else { continue }
                for fd in polledListeners(pid: pid, syscall: syscall, listenerFDs: listenerFDs) {
                    add(fd, listenerFDs[fd]!, .poll(thread: tid))
                }
            case .select:
                guard readsMemory else { continue }
                for fd in selectedListeners(pid: pid, syscall: syscall, listenerFDs: listenerFDs) {
                    add(fd, listenerFDs[fd]!, .select(thread: tid))
                }
            case .epollWait, .other:
                continue
            }
            if found == held { break }
        }
        return true
    }

    /// The listener fds in a blocked poll/ppoll's set with POLLIN asked for.
    private func polledListeners(pid: pid_t, syscall: ThreadSyscall, listenerFDs: [Int32: UInt64]) -> [Int32] {
        let address = syscall.arguments[0]
        let count = Int(min(syscall.arguments[1], UInt64(AcceptingProbe.maxPollEntries)))
        guard address != 0, count > 0,
              let bytes = ProcessMemory.read(root: reader.root, pid: pid, address: address, count: count * 8)
        else { return [] }
        var result: [Int32] = []
        for entry in 0..<count {
            let base = entry * 8
            let fd = Int32(bitPattern: UInt32(bytes[base]) | UInt32(bytes[base + 1]) << 8
                | UInt32(bytes[base + 2]) << 16 | UInt32(bytes[base + 3]) << 24)
            let events = UInt16(bytes[base + 4]) | UInt16(bytes[base + 5]) << 8
            if events & UInt16(POLLIN) != 0, listenerFDs[fd] != nil, !result.contains(fd) { result.append(fd) }
        }
        return result
    }

    /// The listener fds in a blocked select/pselect6's read set.
    private func selectedListeners(pid: pid_t, syscall: ThreadSyscall, listenerFDs: [Int32: UInt64]) -> [Int32] {
        let nfds = Int64(bitPattern: syscall.arguments[0])
        let address = syscall.arguments[1]
        let candidates = listenerFDs.keys.filter { Int64($0) < nfds }.sorted()
        guard address != 0, let highest = candidates.last,
              let bytes = ProcessMemory.read(root: reader.root, pid: pid, address: address, count: Int(highest) / 8 + 1)
        else { return [] }
        return candidates.filter { bytes[Int($0) / 8] & (1 << UInt8($0 % 8)) != 0 }
    }
}
