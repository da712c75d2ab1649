/// How a child process ended, as waitpid reports it.
public enum ExitStatus: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    /// Decodes a raw wait status (WIFEXITED/WEXITSTATUS/WTERMSIG are macros Swift does
    /// not import, and the bit layout is the same on every Linux architecture).
    public init(waitStatus status: Int32) {
        let signal = status & 0x7f
        if signal == 0 {
            self = .exited((status >> 8) & 0xff)
        } else {
            self = .signaled(signal)
        }
    }

    public var isSuccess: Bool { self == .exited(0) }

    /// True for the ends graced asks for: exit 0, or death by the stop signal it sent.
    public func isNormalEnd(stopSignal: Signal) -> Bool {
        switch self {
        case .exited(let code): return code == 0
        case .signaled(let number): return number == stopSignal.number
        }
    }

    /// "exited 0", "exited 3", "killed by SIGKILL".
    public var description: String {
        switch self {
        case .exited(let code): return "exited \(code)"
        case .signaled(let signal): return "killed by \(Signal(number: signal))"
        }
    }
}
