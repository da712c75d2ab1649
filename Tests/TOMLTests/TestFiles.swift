#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files for the tests, read without Foundation.
enum TestFiles {
    /// The package root: this file is Tests/TOMLTests/TestFiles.swift.
    static let packageRoot: String = {
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)
        return components.joined(separator: "/")
    }()

    /// The toml-test corpus, `../shared/toml-test` relative to the package root.
    static var corpus: String { packageRoot + "/../shared/toml-test" }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }

    static func write(_ path: String, _ bytes: [UInt8]) -> Bool {
        guard let file = fopen(path, "wb") else { return false }
        defer { fclose(file) }
        return fwrite(bytes, 1, bytes.count, file) == bytes.count
    }

    /// Runs a shell command; its standard output, or nil when it could not run.
    static func run(_ command: String) -> (output: String, status: Int32)? {
        guard let pipe = popen(command, "r") else { return nil }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&chunk, 1, chunk.count, pipe)
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        let status = pclose(pipe)
        return (String(decoding: bytes, as: UTF8.self), status)
    }
}
