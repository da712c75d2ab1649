/// Where the control socket is: `control_socket`, else `$RUNTIME_DIRECTORY/graced.sock`
/// (systemd's `RuntimeDirectory=`), else `/run/graced.sock`.
public enum ControlSocketLocation {
    public static func resolve(configured: String?, environment: [String: String]) -> String {
        if let configured { return configured }
        // RuntimeDirectory= may list several directories, separated by ':'.
        if let runtime = environment["RUNTIME_DIRECTORY"]?.split(separator: ":").first, !runtime.isEmpty {
            return "\(runtime)/graced.sock"
        }
        return "/run/graced.sock"
    }

    /// Reads only `[graced] control_socket` from a config file, with the configuration's
    /// own TOML parser, tolerating every other error in it: `graced reload` must reach the
    /// supervisor to report that very error. After a syntax error, the lines before it are
    /// used (where `[graced]` usually is).
    public static func fromConfigFile(_ path: String) -> String? {
        guard let root = ConfigLoader.readDocumentLeniently(path: path) else { return nil }
        return root["graced"]?.value.table?["control_socket"]?.value.string
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        var slice = Substring(self)
        while let first = slice.first, characters.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, characters.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
