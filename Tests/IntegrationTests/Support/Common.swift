// Small things the other support files share: the error type, time arithmetic, a lock box.

import Foundation

/// A failure of a test helper (timeout, unexpected output, spawn error). The message is
/// meant to be read in a test report, so it carries the context (e.g. the log so far).
struct TestSupportError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}

/// A point in time on the monotonic clock, for polling loops.
struct Deadline {
    private let end: ContinuousClock.Instant
    init(after timeout: Duration) { end = .now + timeout }
    var hasPassed: Bool { ContinuousClock.now >= end }
    /// Time left, never negative.
    var remaining: Duration { max(.zero, end - .now) }
}

/// Sleeps the calling thread (helpers are synchronous and run on their own threads).
func sleepThread(_ duration: Duration) {
    Thread.sleep(forTimeInterval: duration.seconds)
}

/// Polls `condition` every `interval` until it returns true or `timeout` passes.
/// Returns whether it became true.
@discardableResult
func poll(timeout: Duration, interval: Duration = .milliseconds(20), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Deadline(after: timeout)
    while true {
        if try condition() { return true }
        if deadline.hasPassed { return false }
        sleepThread(interval)
    }
}

/// A value guarded by a lock, for state shared between threads.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    /// Runs `body` with exclusive access to the value.
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
