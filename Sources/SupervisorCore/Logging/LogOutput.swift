#if canImport(Glibc)
import Glibc
#endif

/// The way out for graced's log records: never blocks the caller.
///
/// A record is written at once when nothing is queued and the destination takes it;
/// otherwise it waits in a bounded queue (``capacity`` bytes, 1 MiB by default). When
/// the queue is full, new records are dropped and counted. Once the reader has caught
/// up, one record says how many were dropped (``dropReport``); a reader that stays
/// slower than graced gets that record where the gap is, at most once a second.
///
/// Queued records go out on the next record, on ``drainPending()`` (call it when
/// ``pollFD`` is writable: see ``attach(to:)``) and at exit (``flush(timeout:)``, run
/// by an atexit handler for at most one second).
///
/// Thread-safe (a lock): swift-log may call handlers from any thread.
public final class LogOutput: @unchecked Sendable {
    /// The text log on fd 2.
    public static let standardError = LogOutput(destination: .stream(fd: 2), dropReport: TextLogHandler.dropReport)
    /// journald's native socket.
    public static let journal = LogOutput(destination: .journal(), dropReport: JournalLogHandler.dropReport)

    /// Records dropped by every output so far (for `graced status`).
    public static var droppedRecords: UInt64 {
        registry.withLock { outputs in outputs.reduce(0) { $0 + $1.droppedRecords } }
    }

    /// Every output graced created, for the atexit flush and ``attachAll(to:)``.
    static let registry = LockedValue<[LogOutput]>([])

    public let capacity: Int
    let destination: LogDestination
    private let state: LockedValue<State>
    private let dropReport: @Sendable (UInt64) -> [UInt8]

    struct State {
        var queue = RecordQueue()
        /// Bytes of queue[0] already written (a stream may take part of a record).
        var headOffset = 0
        var queuedBytes = 0
        var dropped: UInt64 = 0
        var droppedSinceReport: UInt64 = 0
        var lastReport = MonotonicInstant(nanoseconds: 0)
        /// Called (outside the lock) when records start waiting.
        var onPending: ((LogOutput) -> Void)?
    }

    init(destination: LogDestination, capacity: Int = 1 << 20, dropReport: @escaping @Sendable (UInt64) -> [UInt8]) {
        self.destination = destination
        self.capacity = capacity
        self.dropReport = dropReport
        self.state = LockedValue(State())
        LogOutput.registry.withLock { $0.append(self) }
        LogOutput.installExitFlush
    }

    /// An output to any stream fd (a pipe, a socket, a file), as fd 2 is handled.
    public convenience init(fd: Int32, capacity: Int = 1 << 20) {
        self.init(destination: .stream(fd: fd), capacity: capacity, dropReport: TextLogHandler.dropReport)
    }

    /// Records dropped by this output so far.
    public var droppedRecords: UInt64 { state.withLock { $0.dropped } }

    /// True while records wait for the destination.
    public var hasPending: Bool { state.withLock { !$0.queue.isEmpty } }

    /// The fd to wait on for writability while ``hasPending`` (nil: never pending).
    public var pollFD: Int32? { destination.pollFD }

    /// How this output writes (for the README and tests).
    public var mode: String { destination.kind }

    /// Writes or queues one record (a whole line, or a whole journal datagram).
    public func write(_ record: [UInt8]) {
        var notify: ((LogOutput) -> Void)?
        state.withLock { s in
            let wasEmpty = s.queue.isEmpty
            drainLocked(&s)
            if s.queue.isEmpty {
                switch record.withUnsafeBytes({ destination.write($0) }) {
                case .wrote(let n) where n == record.count:
                    return
                case .wrote(let n):
                    s.queue.append(record)
                    s.headOffset = n
                    s.queuedBytes += record.count
                case .wouldBlock:
                    s.queue.append(record)
                    s.queuedBytes += record.count
                case .failed:
                    count(drop: &s)
                    return
                }
            } else if s.queuedBytes + record.count > capacity {
                count(drop: &s)
            } else {
                // A reader slower than graced for good never lets the queue empty: the
                // gap is then reported where it is, at most once a second.
                if s.droppedSinceReport > 0, MonotonicInstant.now().since(s.lastReport) >= .seconds(1) {
                    let report = dropReport(s.droppedSinceReport)
                    s.droppedSinceReport = 0
                    s.lastReport = .now()
                    s.queue.append(report)
                    s.queuedBytes += report.count
                }
                s.queue.append(record)
                s.queuedBytes += record.count
            }
            if wasEmpty && !s.queue.isEmpty { notify = s.onPending }
        }
        notify?(self)
    }

    /// Writes what the destination takes now, without waiting. Returns true while records
    /// are still pending.
    @discardableResult
    public func drainPending() -> Bool {
        state.withLock { s in
            drainLocked(&s)
            return !s.queue.isEmpty
        }
    }

    /// Waits up to `timeout` for every queued record to go out (at exit).
    /// Returns true when nothing is pending any more.
    @discardableResult
    public func flush(timeout: Duration) -> Bool {
        let deadline = MonotonicInstant.now() + timeout
        while drainPending() {
            let left = deadline.since(.now()).nanoseconds
            guard left > 0 else { return false }
            _ = destination.waitWritable(milliseconds: Int32(clamping: max(1, left / 1_000_000)))
        }
        return true
    }

    /// Called with this output whenever records start waiting: arm EPOLLOUT on ``pollFD``.
    public func setOnPending(_ action: ((LogOutput) -> Void)?) {
        state.withLock { $0.onPending = action }
    }

    func stateOnPending() -> ((LogOutput) -> Void)? {
        state.withLock { $0.onPending }
    }

    private func count(drop s: inout State) {
        s.dropped += 1
        s.droppedSinceReport += 1
    }

    /// Writes queued records until the destination would block; once the queue is empty
    /// after drops, writes (or queues) the drop report.
    private func drainLocked(_ s: inout State) {
        while let head = s.queue.first {
            defer { s.queue.compact() }
            let result = head.withUnsafeBytes { raw in
                destination.write(UnsafeRawBufferPointer(rebasing: raw[s.headOffset...]))
            }
            switch result {
            case .wrote(let n):
                s.headOffset += n
                guard s.headOffset >= head.count else { return }
            case .wouldBlock:
                return
            case .failed:
                if s.headOffset == 0 { count(drop: &s) }  // a record cut half-way was counted as written
            }
            s.queue.removeFirst()
            s.queuedBytes -= head.count
            s.headOffset = 0
        }
        guard s.droppedSinceReport > 0 else { return }
        let report = dropReport(s.droppedSinceReport)
        switch report.withUnsafeBytes({ destination.write($0) }) {
        case .wrote(let n):
            s.droppedSinceReport = 0
            s.lastReport = .now()
            if n < report.count {
                s.queue.append(report)
                s.headOffset = n
                s.queuedBytes += report.count
            }
        case .wouldBlock:
            // Queued (even over capacity: one line), so that it goes out without another record.
            s.droppedSinceReport = 0
            s.lastReport = .now()
            s.queue.append(report)
            s.queuedBytes += report.count
        case .failed:
            break  // reported later, with the count so far
        }
    }

    // MARK: - Exit

    /// At exit, every output gets up to a second in all to write what it still holds.
    private static let installExitFlush: Void = {
        atexit {
            let deadline = MonotonicInstant.now() + .seconds(1)
            for output in LogOutput.registry.withLock({ $0 }) {
                let left = deadline.since(.now())
                guard left > .zero else { break }
                output.flush(timeout: left)
            }
        }
    }()
}
