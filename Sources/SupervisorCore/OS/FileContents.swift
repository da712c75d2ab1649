#if canImport(Glibc)
import Glibc
#endif

/// Reads a whole file with plain read(2) calls: /proc files have no size to stat, and
/// graced must not pull in Foundation to read them.
enum FileContents {
    /// The file's text, at most `limit` bytes; nil when it cannot be opened.
    static func text(_ path: String, limit: Int = 1 << 20) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { FileDescriptor.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while bytes.count < limit {
            let n = retryingOnInterrupt { read(fd, &chunk, chunk.count) }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes.prefix(limit), as: UTF8.self)
    }
}
