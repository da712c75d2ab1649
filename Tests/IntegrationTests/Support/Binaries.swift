// Where the tests find what they run: the built graced executable, the repository
// (for examples/), python3 and systemd-socket-activate.

import Foundation

enum Binaries {
    /// True if `path` is a regular file that the test runner may execute.
    static func isExecutableFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }

    /// The built `graced` executable: `$GRACED_BIN` if set, otherwise the first directory
    /// at or above the test runner (/proc/self/exe resolved) that holds an executable
    /// named `graced`. SwiftPM puts `.build/debug/gracedPackageTests.xctest` next to
    /// `.build/debug/graced`.
    static var graced: String {
        get throws {
            if let override = ProcessInfo.processInfo.environment["GRACED_BIN"], !override.isEmpty {
                guard isExecutableFile(override) else { throw TestSupportError("GRACED_BIN=\(override) is not executable") }
                return override
            }
            guard let runner = readLink("/proc/self/exe") else { throw TestSupportError("cannot read /proc/self/exe") }
            var directory = (runner as NSString).deletingLastPathComponent
            while directory != "/" && !directory.isEmpty {
                let candidate = directory + "/graced"
                if isExecutableFile(candidate) { return candidate }
                directory = (directory as NSString).deletingLastPathComponent
            }
            throw TestSupportError("no executable named graced at or above \(runner): build it first (swift build)")
        }
    }

    /// The repository root: the first directory above this source file that holds Package.swift.
    static let repositoryRoot: String = {
        var directory = (#filePath as NSString).deletingLastPathComponent
        while directory != "/" && !directory.isEmpty {
            if FileManager.default.fileExists(atPath: directory + "/Package.swift") { return directory }
            directory = (directory as NSString).deletingLastPathComponent
        }
        preconditionFailure("no Package.swift above \(#filePath)")
    }()

    /// `examples/` in the repository.
    static var examplesDirectory: String { repositoryRoot + "/examples" }

    /// `examples/worker.py`, the socket-activated example worker.
    static var workerScript: String { examplesDirectory + "/worker.py" }

    /// `examples/app.py`, the WSGI app for gunicorn.
    static var appScript: String { examplesDirectory + "/app.py" }

    /// The first executable `name` on the test runner's PATH (as /usr/bin/env would run it).
    static func onPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if isExecutableFile(candidate) { return candidate }
        }
        return nil
    }

    /// The real python3 interpreter: `$GRACED_TEST_PYTHON` if set, otherwise python3 from
    /// PATH, resolved to its `sys.executable` (a pyenv shim is a shell script that
    /// needs its own environment; the interpreter behind it does not), else
    /// /usr/bin/python3.
    static let python3: String = {
        if let override = ProcessInfo.processInfo.environment["GRACED_TEST_PYTHON"], !override.isEmpty {
            return override
        }
        if let found = onPath("python3") {
            let result = runCommand(found, ["-c", "import sys; print(sys.executable)"], timeout: .seconds(30))
            let resolved = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            if result.status == 0 && isExecutableFile(resolved) { return resolved }
        }
        return "/usr/bin/python3"
    }()

    /// True if `python3` can import `module` (e.g. "gunicorn").
    static func pythonHasModule(_ module: String) -> Bool {
        runCommand(python3, ["-c", "import \(module)"], timeout: .seconds(30)).status == 0
    }

    /// systemd-socket-activate, if installed.
    static var systemdSocketActivate: String? {
        isExecutableFile("/usr/bin/systemd-socket-activate") ? "/usr/bin/systemd-socket-activate"
            : onPath("systemd-socket-activate")
    }

    /// argv that runs examples/worker.py with `arguments`, for a `[worker] command`.
    static func workerCommand(_ arguments: [String] = []) -> [String] {
        [python3, workerScript] + arguments
    }
}
