#if canImport(Glibc)
import Glibc
#endif
import TOMLKit

/// One thing wrong with a configuration file, located for the user (and for editors that
/// jump to `PATH:LINE:`).
public struct ConfigProblem: Error, Equatable, Sendable, CustomStringConvertible {
    /// The configuration file, as the user named it.
    public var path: String
    /// 1-based; nil only when the file could not be read at all.
    public var line: Int?
    public var message: String

    public init(path: String, line: Int?, message: String) {
        self.path = path
        self.line = line
        self.message = message
    }

    /// `PATH:LINE: message`, or `PATH: message` without a line.
    public var description: String {
        if let line { return "\(path):\(line): \(message)" }
        return "\(path): \(message)"
    }
}

/// Every problem found in a configuration file, so that one `graced check` shows them all.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    /// Never empty; sorted by line.
    public var problems: [ConfigProblem]

    public init(problems: [ConfigProblem]) {
        self.problems = problems
    }

    /// One problem per line, in file order.
    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}

/// Reads and validates `graced.conf` (see the interface document, §2).
///
/// A configuration either loads completely or not at all: the result is a ``GracedConfig``
/// in which every value has been checked, or a ``ConfigError`` listing every problem. A
/// reload relies on this to leave the running generation untouched on any mistake.
public enum ConfigLoader {
    /// Larger files are refused rather than read: no sensible configuration comes close.
    static let maximumFileSize = 4 * 1024 * 1024

    /// The environment of this process, read from `environ` (without Foundation).
    public static var processEnvironment: [String: String] {
        var result: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if let equals = text.firstIndex(of: "=") {
                let name = String(text[..<equals])
                // The first definition wins, as getenv(3) sees it.
                if result[name] == nil { result[name] = String(text[text.index(after: equals)...]) }
            }
            entry += 1
        }
        return result
    }

    /// Reads the file at `path` and validates it; see ``parse(text:path:checkFilesystem:environment:)``.
    ///
    /// - Parameter environment: graced's environment; its `PATH` is searched for a
    ///   `command` without a slash (unless `[worker].environment` sets `PATH`).
    public static func load(
        path: String,
        environment: [String: String] = ConfigLoader.processEnvironment
    ) throws(ConfigError) -> GracedConfig {
        let bytes: [UInt8]
        switch readFile(path) {
        case .success(let content): bytes = content
        case .failure(let problem): throw ConfigError(problems: [problem])
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(problems: [ConfigProblem(path: path, line: firstInvalidUTF8Line(bytes), message: "the file is not valid UTF-8")])
        }
        return try parse(text: text, path: path, environment: environment)
    }

    /// Validates configuration text; `path` is used in messages and to resolve relative
    /// command paths.
    ///
    /// - Parameters:
    ///   - checkFilesystem: false skips every check that asks the system (the command
    ///     exists and is executable, `directory`, `user`, `group` and `control_group`
    ///     exist), for tests and for checking a file meant for another machine.
    ///   - environment: graced's environment; its `PATH` is searched for a `command`
    ///     without a slash (unless `[worker].environment` sets `PATH`).
    public static func parse(
        text: String,
        path: String,
        checkFilesystem: Bool = true,
        environment: [String: String] = ConfigLoader.processEnvironment
    ) throws(ConfigError) -> GracedConfig {
        // TOMLKit hands the text to C++ as a C string: a NUL would silently end the file.
        if let nul = text.utf8.firstIndex(of: 0) {
            let line = text.utf8[..<nul].reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            throw ConfigError(problems: [ConfigProblem(path: path, line: line, message: "the file contains a NUL byte")])
        }

        let sourceMap = ConfigSourceMap(scanning: text)
        if let unsafe = sourceMap.unsafeSyntax {
            // Only the statements before it may go to TOMLKit; an error there comes first.
            try parseSyntax(String(decoding: text.utf8.prefix(unsafe.statementOffset), as: UTF8.self), path: path).clear()
            let message = "\(unsafe.message) (column \(unsafe.column))"
            throw ConfigError(problems: [ConfigProblem(path: path, line: unsafe.line, message: message)])
        }
        let root = try parseSyntax(text, path: path)
        // TOMLKit 0.6.0 never frees a parsed tree (its TOMLTable has no deinit, upstream
        // issue #26): clearing it frees every node, so a reload does not leak the config.
        defer { root.clear() }

        var validator = ConfigValidator(
            path: path,
            sourceMap: sourceMap,
            checkFilesystem: checkFilesystem,
            environment: environment,
            configDirectory: directoryOfFile(path)
        )
        let config = validator.validate(root)
        guard let config, validator.problems.isEmpty else {
            if validator.problems.isEmpty {  // not expected: every incomplete part reports why
                throw ConfigError(problems: [ConfigProblem(path: path, line: 1, message: "incomplete configuration")])
            }
            // Stable, so problems on one line keep the order in which they were found.
            let sorted = validator.problems.enumerated().sorted {
                ($0.element.line ?? 0, $0.offset) < ($1.element.line ?? 0, $1.offset)
            }.map(\.element)
            throw ConfigError(problems: sorted)
        }
        return config
    }

    /// TOMLKit's parse, with its error as a problem at its line.
    @discardableResult
    private static func parseSyntax(_ text: String, path: String) throws(ConfigError) -> TOMLTable {
        do {
            return try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            let position = error.source.begin
            let message = "\(error.description) (column \(position.column))"
            throw ConfigError(problems: [ConfigProblem(path: path, line: max(position.line, 1), message: message)])
        } catch {
            throw ConfigError(problems: [ConfigProblem(path: path, line: nil, message: "cannot parse: \(error)")])
        }
    }

    // MARK: Reading

    private static func readFile(_ path: String) -> Result<[UInt8], ConfigProblem> {
        func failure(_ error: Int32) -> Result<[UInt8], ConfigProblem> {
            .failure(ConfigProblem(path: path, line: nil, message: "cannot read: \(errorText(error))"))
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return failure(errno) }
        defer { close(fd) }

        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return failure(errno)  // EISDIR for a directory
            }
            if count == 0 { return .success(bytes) }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > maximumFileSize {
                return .failure(ConfigProblem(path: path, line: nil, message: "cannot read: larger than \(maximumFileSize / 1024 / 1024) MiB"))
            }
        }
    }

    private static func firstInvalidUTF8Line(_ bytes: [UInt8]) -> Int {
        var line = 1
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): if scalar == "\n" { line += 1 }
            case .emptyInput, .error: return line
            }
        }
    }

    /// The directory of the configuration file, absolute (relative to the current directory
    /// now, since graced's working directory may differ when the worker is spawned).
    static func directoryOfFile(_ path: String) -> String {
        var directory: String
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            directory = "."
        }
        if !directory.hasPrefix("/"), let cwd = getcwd(nil, 0) {
            defer { free(cwd) }
            let base = String(cString: cwd)
            directory = directory == "." ? base : joinPath(base, directory)
        }
        return directory
    }

    /// `strerror(3)` text, e.g. "No such file or directory".
    static func errorText(_ error: Int32) -> String {
        guard let text = strerror(error) else { return "error \(error)" }
        return String(cString: text)
    }

    /// `base/relative`, without a doubled slash or a leading `./` in the result.
    static func joinPath(_ base: String, _ relative: String) -> String {
        var relative = Substring(relative)
        while relative.hasPrefix("./") {
            relative = relative.dropFirst(2)
            while relative.hasPrefix("/") { relative = relative.dropFirst() }
        }
        if relative.isEmpty || relative == "." { return base }
        return base.hasSuffix("/") ? base + relative : base + "/" + relative
    }
}
