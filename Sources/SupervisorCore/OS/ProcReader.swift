#if canImport(Glibc)
import Glibc
#endif

/// Cheap reads of /proc for probes called many times a second: small files into a reused
/// buffer, directory listings as numbers, fd links. No Strings on the hot path.
///
/// `root` is "/proc" in production; tests point it at a fake tree.
final class ProcReader {
    let root: String
    private var buffer: UnsafeMutableRawBufferPointer

    init(root: String = "/proc", capacity: Int = 64 * 1024) {
        self.root = root
        buffer = .allocate(byteCount: capacity, alignment: 8)
    }

    deinit { buffer.deallocate() }

    /// Reads the whole file (at most the buffer's capacity) and hands its bytes to `body`;
    /// nil when it cannot be opened or read (the process or thread is gone, no permission).
    func withFile<R>(_ path: String, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { _ = close(fd) }
        var count = 0
        while count < buffer.count {
            let n = read(fd, buffer.baseAddress! + count, buffer.count - count)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return nil }
            if n == 0 { break }
            count += n
        }
        return body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
    }

    /// The numeric entries of a directory (pids, tids, fd numbers), unsorted.
    func numericEntries(_ path: String) -> [Int32] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var result: [Int32] = []
        while let entry = readdir(dir) {
            let value = withUnsafeBytes(of: entry.pointee.d_name) { ProcReader.decimal($0) }
            if let value { result.append(value) }
        }
        return result
    }

    /// Calls `body(fd, socketInode)` for each fd of `pid` that is a socket, and
    /// `epoll(fd)` for each that is an epoll instance. False when the fd directory
    /// cannot be read (the process is gone or not ours to inspect).
    @discardableResult
    func forEachFD(of pid: pid_t, socket: (Int32, UInt64) -> Void, epoll: (Int32) -> Void) -> Bool {
        guard let dir = opendir("\(root)/\(pid)/fd") else { return false }
        defer { closedir(dir) }
        let dirFD = dirfd(dir)
        var link = [CChar](repeating: 0, count: 64)
        while let entry = readdir(dir) {
            guard let fd = withUnsafeBytes(of: entry.pointee.d_name, { ProcReader.decimal($0) }) else { continue }
            let n = withUnsafeBytes(of: entry.pointee.d_name) { name in
                readlinkat(dirFD, name.baseAddress!.assumingMemoryBound(to: CChar.self), &link, link.count)
            }
            guard n > 0 else { continue }
            link.withUnsafeBytes { raw in
                let target = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                if let inode = ProcReader.socketInode(target) {
                    socket(fd, inode)
                } else if ProcReader.isEpoll(target) {
                    epoll(fd)
                }
            }
        }
        return true
    }

    // MARK: parsing helpers

    /// A NUL- or end-terminated decimal number, nil for anything else ("." or "..").
    static func decimal(_ bytes: UnsafeRawBufferPointer) -> Int32? {
        var value: Int64 = 0
        var digits = 0
        for byte in bytes {
            if byte == 0 { break }
            guard byte >= 0x30, byte <= 0x39, digits < 10 else { return nil }
            value = value * 10 + Int64(byte - 0x30)
            digits += 1
        }
        guard digits > 0, value <= Int64(Int32.max) else { return nil }
        return Int32(value)
    }

    private static let socketPrefix = Array("socket:[".utf8)
    private static let epollLink = Array("anon_inode:[eventpoll]".utf8)

    /// The inode of a "socket:[12345]" link target.
    static func socketInode(_ target: UnsafeRawBufferPointer) -> UInt64? {
        guard target.count > socketPrefix.count + 1, target.starts(with: socketPrefix),
              target[target.count - 1] == UInt8(ascii: "]") else { return nil }
        var value: UInt64 = 0
        for byte in target[socketPrefix.count..<(target.count - 1)] {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            value = value &* 10 &+ UInt64(byte - 0x30)
        }
        return value
    }

    static func isEpoll(_ target: UnsafeRawBufferPointer) -> Bool {
        target.elementsEqual(epollLink)
    }
}
