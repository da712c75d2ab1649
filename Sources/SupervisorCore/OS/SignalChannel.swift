#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// Delivers signals as readable events on a signalfd: no work ever runs inside a signal
/// handler, and a signal that arrives between two checks is never lost.
public final class SignalChannel {
    public let fd: Int32

    /// Blocks `signals` for the calling thread (call it before any other thread starts, so
    /// every thread inherits the mask) and opens the signalfd that reads them.
    public init(signals: [Int32]) throws(SystemError) {
        var set = sigset_t()
        guard graced_make_sigset(&set, signals, Int32(signals.count)) == 0 else { throw SystemError("sigaddset") }
        guard pthread_sigmask(SIG_BLOCK, &set, nil) == 0 else { throw SystemError("pthread_sigmask") }
        fd = signalfd(-1, &set, Int32(SFD_CLOEXEC | SFD_NONBLOCK))
        guard fd >= 0 else { throw SystemError("signalfd") }
    }

    deinit {
        FileDescriptor.close(fd)
    }

    /// The signals that arrived since the last call, in order (several of a kind may merge).
    public func drain() -> [Int32] {
        var received: [Int32] = []
        var info = signalfd_siginfo()
        while true {
            let n = retryingOnInterrupt { read(fd, &info, MemoryLayout<signalfd_siginfo>.size) }
            guard n == MemoryLayout<signalfd_siginfo>.size else { break }
            received.append(Int32(info.ssi_signo))
        }
        return received
    }

    /// SIGPIPE would kill graced when a reader of its stderr or a control client goes
    /// away; graced sees EPIPE instead.
    public static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }
}
