#if canImport(Glibc)
import Glibc
#endif

/// Facts about an open socket, for `status` and for matching inherited sockets.
enum SocketInfo {
    /// The inode that /proc/PID/fd shows as `socket:[inode]`.
    static func inode(_ fd: Int32) -> UInt64? {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        return UInt64(info.st_ino)
    }
}
