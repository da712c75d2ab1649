#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// sockaddr_un construction, shared by listeners, the control socket and its client.
public enum UnixAddress {
    /// nil when the path does not fit sun_path. A leading "@" means the abstract namespace.
    public static func make(_ path: String) -> sockaddr_un? {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        return addr
    }

    /// The socklen to pass for `path`: abstract names must not include trailing zeros.
    public static func length(_ path: String) -> socklen_t {
        socklen_t(MemoryLayout<sa_family_t>.size + path.utf8.count + (path.hasPrefix("@") ? 0 : 1))
    }

    /// Why a path cannot take a new socket.
    enum Occupied {
        /// A file, directory or symlink: never deleted.
        case notASocket
        /// A socket someone still accepts on.
        case inUse
    }

    /// Unlinks a socket file nobody accepts on any more (left by a crash); nil when the
    /// path is free now.
    static func removeStaleSocket(_ path: String) -> Occupied? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else { return .notASocket }
        if isAccepting(path) { return .inUse }
        _ = unlink(path)
        return nil
    }

    /// True when a stream connect to `path` succeeds.
    static func isAccepting(_ path: String) -> Bool {
        guard var addr = make(path) else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { FileDescriptor.close(fd) }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length(path)) }
        }
        return rc == 0
    }
}
