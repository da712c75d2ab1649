#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: which call, on what, and the errno it set.
public struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
    public var call: String
    public var errno: Int32

    public init(_ call: String, errno: Int32 = Glibc.errno) {
        self.call = call
        self.errno = errno
    }

    /// `strerror` text, e.g. "Address already in use".
    public var reason: String { SystemError.describe(errno) }

    public var description: String { "\(call): \(reason)" }

    public static func describe(_ errno: Int32) -> String {
        guard let text = strerror(errno) else { return "errno \(errno)" }
        return String(cString: text)
    }
}

/// Retries a call interrupted by a signal (EINTR), the classic POSIX loop.
@inline(__always)
func retryingOnInterrupt<T: BinaryInteger>(_ body: () -> T) -> T {
    while true {
        let result = body()
        if result == -1 && errno == EINTR { continue }
        return result
    }
}
