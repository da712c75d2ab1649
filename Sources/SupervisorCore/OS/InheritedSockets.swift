#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// Sockets passed to graced itself by systemd (socket activation, or the fd store after a
/// restart), read with `sd_listen_fds_with_names` exactly as any socket-activated service.
public enum InheritedSockets {
    /// Takes the passed fds (they are close-on-exec afterwards) and removes `LISTEN_*`
    /// from graced's environment. Returns (name, fd) in the order systemd passed them.
    public static func take() -> [(name: String, fd: Int32)] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil
        let count = sd_listen_fds_with_names(1, &names)
        guard count > 0 else { return [] }
        var result: [(String, Int32)] = []
        for i in 0..<Int(count) {
            let fd = SD_LISTEN_FDS_START + Int32(i)
            var name = "unknown"
            if let names, let entry = names[i] {
                name = String(cString: entry)
                free(entry)
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            result.append((name, fd))
        }
        free(names)
        return result
    }

    /// Checks that an inherited fd is a listening stream socket bound to `address`;
    /// returns why not, or nil when it matches.
    static func mismatch(fd: Int32, address: ListenerAddress) -> String? {
        var type: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 else { return "not a socket" }
        guard type == Int32(SOCK_STREAM.rawValue) else { return "not a stream socket" }
        var accepting: Int32 = 0
        length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0, accepting == 0 {
            return "not a listening socket"
        }
        guard let actual = boundAddress(fd) else { return "its address cannot be read" }
        if actual == address { return nil }
        // 0.0.0.0 vs [::] on the same port both mean "all addresses" to a user.
        return "it is bound to \(actual), not \(address) as configured"
    }

    static func boundAddress(_ fd: Int32) -> ListenerAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer -> ListenerAddress? in
                    var addr = pointer.pointee.sin_addr
                    var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                    guard inet_ntop(AF_INET, &addr, &text, socklen_t(text.count)) != nil else { return nil }
                    return .ipv4(host: String(nulTerminated: text), port: UInt16(bigEndian: pointer.pointee.sin_port))
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer -> ListenerAddress? in
                    var addr = pointer.pointee.sin6_addr
                    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                    guard inet_ntop(AF_INET6, &addr, &text, socklen_t(text.count)) != nil else { return nil }
                    return .ipv6(host: String(nulTerminated: text), port: UInt16(bigEndian: pointer.pointee.sin6_port))
                }
            }
        case AF_UNIX:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { pointer -> ListenerAddress? in
                    let path = withUnsafeBytes(of: pointer.pointee.sun_path) { raw -> String in
                        if raw.first == 0 { return "@" + String(decoding: raw.dropFirst().prefix { $0 != 0 }, as: UTF8.self) }
                        return String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                    }
                    return .unix(path: path)
                }
            }
        default:
            return nil
        }
    }
}
