#if canImport(Glibc)
import Glibc
#endif
import TOML

/// One thing wrong with a configuration file, located for the user (and for editors that
/// jump to `PATH:LINE:COLUMN:`).
public struct ConfigProblem: Error, Equatable, Sendable, CustomStringConvertible {
    /// The configuration file, as the user named it.
    public var path: String
    /// 1-based; nil only when the file could not be read at all.
    public var line: Int?
    /// 1-based, in Unicode scalars (a tab counts as one); nil only without a line.
    public var column: Int?
    public var message: String

    public init(path: String, line: Int?, column: Int? = nil, message: String) {
        self.path = path
        self.line = line
        self.column = line == nil ? nil : column
        self.message = message
    }

    public init(path: String, position: TOMLPosition, message: String) {
        self.init(path: path, line: position.line, column: position.column, message: message)
    }

    /// `PATH:LINE:COLUMN: message`, or `PATH: message` when the file could not be read.
    public var description: String {
        guard let line else { return "\(path): \(message)" }
        guard let column else { return "\(path):\(line): \(message)" }
        return "\(path):\(line):\(column): \(message)"
    }
}

/// Every problem found in a configuration file, so that one `graced check` shows them all.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    /// Never empty; sorted by line and column.
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
///
/// The file is parsed by the `TOML` module (all of TOML 1.0, positions for every key and
/// value); a syntax error is one problem, since nothing after it can be trusted; otherwise
/// every semantic problem is reported.
public enum ConfigLoader {
    /// Larger files are refused rather than read: no sensible configuration comes close.
    static let maximumFileSize = 1024 * 1024

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

    /// Reads the file at `path` and validates it; see ``parse(bytes:path:checkFilesystem:environment:)``.
    ///
    /// - Parameter environment: graced's environment; its `PATH` is searched for a
    ///   `command` without a slash (unless `[worker].environment` sets `PATH`).
    public static func load(
        path: String,
        environment: [String: String] = ConfigLoader.processEnvironment
    ) throws(ConfigError) -> GracedConfig {
        switch readFile(path) {
        case .success(let bytes): return try parse(bytes: bytes, path: path, environment: environment)
        case .failure(let problem): throw ConfigError(problems: [problem])
        }
    }

    /// Validates configuration text; see ``parse(bytes:path:checkFilesystem:environment:)``.
    public static func parse(
        text: String,
        path: String,
        checkFilesystem: Bool = true,
        environment: [String: String] = ConfigLoader.processEnvironment
    ) throws(ConfigError) -> GracedConfig {
        try parse(bytes: Array(text.utf8), path: path, checkFilesystem: checkFilesystem, environment: environment)
    }

    /// Validates the bytes of a configuration file; `path` is used in messages and to
    /// resolve relative command paths.
    ///
    /// - Parameters:
    ///   - checkFilesystem: false skips every check that asks the system (the command
    ///     exists and is executable, `directory`, `user`, `group` and `control_group`
    ///     exist), for tests and for checking a file meant for another machine.
    ///   - environment: graced's environment; its `PATH` is searched for a `command`
    ///     without a slash (unless `[worker].environment` sets `PATH`).
    public static func parse(
        bytes: [UInt8],
        path: String,
        checkFilesystem: Bool = true,
        environment: [String: String] = ConfigLoader.processEnvironment
    ) throws(ConfigError) -> GracedConfig {
        let root: TOMLTable
        do {
            root = try parseDocument(bytes)
        } catch {
            throw ConfigError(problems: [ConfigProblem(path: path, position: error.position, message: error.message)])
        }

        var validator = ConfigValidator(
            path: path,
            checkFilesystem: checkFilesystem,
            environment: environment,
            configDirectory: directoryOfFile(path)
        )
        let config = validator.validate(root)
        guard let config, validator.problems.isEmpty else {
            if validator.problems.isEmpty {  // not expected: every incomplete part reports why
                throw ConfigError(problems: [ConfigProblem(path: path, line: 1, column: 1, message: "incomplete configuration")])
            }
            // Stable, so problems at one place keep the order in which they were found.
            let sorted = validator.problems.enumerated().sorted {
                ($0.element.line ?? 0, $0.element.column ?? 0, $0.offset) < ($1.element.line ?? 0, $1.element.column ?? 0, $1.offset)
            }.map(\.element)
            throw ConfigError(problems: sorted)
        }
        return config
    }

    /// The TOML tree of a configuration file, with the loader's size limit.
    static func parseDocument(_ bytes: [UInt8]) throws(TOMLError) -> TOMLTable {
        try TOMLDocument.parse(bytes, limits: TOMLLimits(maximumSize: maximumFileSize))
    }

    /// The TOML tree of the file at `path` for callers that need only part of it and must
    /// tolerate mistakes elsewhere (``ControlSocketLocation/fromConfigFile(_:)``): when the
    /// file has a syntax error, the tree of the lines before it. nil when unreadable.
    static func readDocumentLeniently(path: String) -> TOMLTable? {
        guard case .success(var bytes) = readFile(path) else { return nil }
        // Each retry drops the line with the error and everything after it.
        for _ in 0..<8 {
            do {
                return try parseDocument(bytes)
            } catch {
                var line = 1
                var end = 0
                while end < bytes.count, line < error.position.line {
                    if bytes[end] == UInt8(ascii: "\n") { line += 1 }
                    end += 1
                }
                guard end < bytes.count else { return nil }
                bytes.removeSubrange(end...)
            }
        }
        return nil
    }

    // MARK: Reading

    static func readFile(_ path: String) -> Result<[UInt8], ConfigProblem> {
        func failure(_ error: Int32) -> Result<[UInt8], ConfigProblem> {
            .failure(ConfigProblem(path: path, line: nil, message: "cannot read: \(SystemError.describe(error))"))
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
