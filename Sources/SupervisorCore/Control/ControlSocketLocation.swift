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

    /// Reads only `[graced] control_socket` from a config file, tolerating every other
    /// error in it: `graced reload` must reach the supervisor to report that very error.
    public static func fromConfigFile(_ path: String) -> String? {
        guard let text = ProcessTree.readSmallFile(path) else { return nil }
        var inGraced = false
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.trimmingCharacters(in: " \t\r")
            if line.hasPrefix("[") {
                inGraced = line.replacingOccurrences(of: " ", with: "") == "[graced]"
                continue
            }
            guard inGraced, line.hasPrefix("control_socket") else { continue }
            let rest = line.dropFirst("control_socket".count).trimmingCharacters(in: " \t")
            guard rest.hasPrefix("=") else { continue }
            let value = rest.dropFirst().trimmingCharacters(in: " \t")
            guard let quote = value.first, quote == "\"" || quote == "'" else { continue }
            let body = value.dropFirst()
            guard let end = body.firstIndex(of: quote) else { continue }
            return String(body[..<end])
        }
        return nil
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
