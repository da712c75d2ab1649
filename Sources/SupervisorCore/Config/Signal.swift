#if canImport(Glibc)
import Glibc
#endif

/// A POSIX signal, by number, with the name users write in the configuration.
public struct Signal: Hashable, Sendable, CustomStringConvertible {
    public let number: Int32

    public init(number: Int32) {
        self.number = number
    }

    public static let hup = Signal(number: SIGHUP)
    public static let int = Signal(number: SIGINT)
    public static let quit = Signal(number: SIGQUIT)
    public static let kill = Signal(number: SIGKILL)
    public static let usr1 = Signal(number: SIGUSR1)
    public static let usr2 = Signal(number: SIGUSR2)
    public static let term = Signal(number: SIGTERM)
    public static let winch = Signal(number: SIGWINCH)
    public static let cont = Signal(number: SIGCONT)

    /// Signals a user may name as `stop_signal`, by their usual names.
    static let byName: [(String, Int32)] = [
        ("SIGHUP", SIGHUP), ("SIGINT", SIGINT), ("SIGQUIT", SIGQUIT), ("SIGKILL", SIGKILL),
        ("SIGUSR1", SIGUSR1), ("SIGUSR2", SIGUSR2), ("SIGTERM", SIGTERM), ("SIGWINCH", SIGWINCH),
        ("SIGCONT", SIGCONT), ("SIGPWR", SIGPWR), ("SIGALRM", SIGALRM), ("SIGABRT", SIGABRT),
    ]

    /// Parses `"SIGTERM"`, `"TERM"` or `"sigterm"`. Numbers are refused: they differ between
    /// architectures and read badly in a config file.
    public init?(name: String) {
        let upper = name.uppercased()
        let full = upper.hasPrefix("SIG") ? upper : "SIG" + upper
        guard let match = Signal.byName.first(where: { $0.0 == full }) else { return nil }
        self.number = match.1
    }

    /// `SIGTERM`, or `signal 40` for one without a usual name.
    public var description: String {
        Signal.byName.first(where: { $0.1 == number })?.0 ?? "signal \(number)"
    }

    /// The names accepted by ``init(name:)``, for error messages.
    public static var knownNames: [String] { byName.map(\.0) }
}
