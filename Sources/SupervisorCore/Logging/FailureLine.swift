import Logging

/// Picks, from a worker's last output lines, the one line that best says why it failed,
/// for failure reports (`reload failed: worker exited 1: ModuleNotFoundError: …`).
///
/// Runtimes print the reason in different places: Ruby and Node print the exception
/// first and then many frames; Python prints `Traceback (most recent call last):`, the
/// frames, and the exception last; gunicorn wraps that in `[ERROR] Exception in worker
/// process`. So: the first line that looks like an exception (`ValueError: x`,
/// `Error: listen EADDRINUSE …`, `app.rb:3:in 'x': boom (RuntimeError)`, `panic: …`,
/// `fatal error: …`, `Exception in thread …`, `thread 'main' panicked at …`); else the
/// first line a worker marked as error or critical (see ``WorkerLineLevel``); else nil.
public enum FailureLine {
    public static func first(in lines: [String]) -> String? {
        if let line = lines.first(where: looksLikeException) { return line }
        return lines.first { line in
            guard let level = WorkerLineLevel.level(of: line) else { return false }
            return level >= .error
        }
    }

    /// True for the line that names an exception or a crash.
    public static func looksLikeException(_ line: String) -> Bool {
        let b = Array(line.utf8.prefix(4096))
        guard let first = b.first, first != UInt8(ascii: " "), first != UInt8(ascii: "\t") else { return false }
        for prefix in ["panic: ", "fatal error: ", "Exception in thread ", "Uncaught "] where line.hasPrefix(prefix) {
            return true
        }
        if line.hasPrefix("thread '"), line.contains("' panicked at ") { return true }
        if let name = leadingName(b), isExceptionName(name) {
            // "ValueError: boom", "java.lang.IllegalStateException: x", "Error: boom",
            // "KeyboardInterrupt" alone is not a failure, "TypeError" alone is.
            let end = name.count
            return end == b.count || b[end] == UInt8(ascii: ":")
        }
        // Ruby: "app.rb:3:in 'fail_now': boom (RuntimeError)", "… (Errno::EADDRINUSE)"
        if b.last == UInt8(ascii: ")"), let open = b.lastIndex(of: UInt8(ascii: "(")), open > 0,
           b[open - 1] == UInt8(ascii: " ") {
            let name = String(decoding: b[(open + 1)..<(b.count - 1)], as: UTF8.self)
            if let head = name.unicodeScalars.first, ("A"..."Z").contains(head),
               name.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == ":" || $0 == "_" }),
               isExceptionName(name) || name.hasPrefix("Errno::") {
                return true
            }
        }
        return false
    }

    /// `[A-Za-z_][A-Za-z0-9_.$]*` at the start.
    private static func leadingName(_ b: [UInt8]) -> String? {
        var end = 0
        while end < b.count {
            let c = b[end]
            let ok = WorkerLineLevel.isLetter(c) || c == UInt8(ascii: "_") || (end > 0 && (WorkerLineLevel.isDigit(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "$")))
            if !ok { break }
            end += 1
        }
        return end > 0 ? String(decoding: b[0..<end], as: UTF8.self) : nil
    }

    private static func isExceptionName(_ name: String) -> Bool {
        let last = name.split(whereSeparator: { $0 == "." || $0 == ":" }).last.map(String.init) ?? name
        return last.hasSuffix("Error") || last.hasSuffix("Exception") || last == "Failure"
    }
}
