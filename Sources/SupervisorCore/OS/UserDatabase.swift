#if canImport(Glibc)
import Glibc
#endif

/// The credentials a worker runs with, resolved in graced (NSS lookups are not
/// async-signal-safe, so the forked child must not make them).
public struct WorkerCredentials: Equatable, Sendable {
    public var uid: uid_t
    public var gid: gid_t
    /// Exactly the target user's groups: none of root's survive (initgroups semantics).
    public var groups: [gid_t]
    public var home: String?
    public var userName: String?
}

public enum UserDatabase {
    public struct LookupError: Error, CustomStringConvertible {
        public var description: String
    }

    /// nil when neither user nor group is configured.
    public static func credentials(user: String?, group: String?) throws(LookupError) -> WorkerCredentials? {
        guard user != nil || group != nil else { return nil }
        var result = WorkerCredentials(uid: getuid(), gid: getgid(), groups: [], home: nil, userName: nil)
        if let user {
            guard let entry = passwd(named: user) else { throw LookupError(description: "user '\(user)' does not exist") }
            result.uid = entry.uid
            result.gid = entry.gid
            result.home = entry.home
            result.userName = user
        }
        if let group {
            guard let gid = groupID(named: group) else { throw LookupError(description: "group '\(group)' does not exist") }
            result.gid = gid
        }
        if let user {
            result.groups = supplementaryGroups(user: user, primary: result.gid)
        } else {
            result.groups = [result.gid]
        }
        return result
    }

    /// The user's uid, primary gid and home directory; nil when there is no such user (or
    /// the lookup failed).
    static func passwd(named name: String) -> (uid: uid_t, gid: gid_t, home: String)? {
        withGrowingBuffer(sysconf(Int32(_SC_GETPW_R_SIZE_MAX))) { buffer in
            var entry = Glibc.passwd()
            var result: UnsafeMutablePointer<Glibc.passwd>?
            let status = getpwnam_r(name, &entry, buffer.baseAddress!, buffer.count, &result)
            guard status == 0, result != nil else { return (status, nil) }
            return (status, (entry.pw_uid, entry.pw_gid, String(cString: entry.pw_dir)))
        }
    }

    /// The group's gid; nil when there is no such group (or the lookup failed).
    static func groupID(named name: String) -> gid_t? {
        withGrowingBuffer(sysconf(Int32(_SC_GETGR_R_SIZE_MAX))) { buffer in
            var entry = group()
            var result: UnsafeMutablePointer<group>?
            let status = getgrnam_r(name, &entry, buffer.baseAddress!, buffer.count, &result)
            guard status == 0, result != nil else { return (status, nil) }
            return (status, entry.gr_gid)
        }
    }

    /// Runs a get*nam_r lookup with a buffer of the suggested size, retrying with one twice
    /// as large on ERANGE (a group with many members, or a long home path, needs more);
    /// gives up at 16 MiB. `call` copies what it needs out of the buffer before returning.
    static func withGrowingBuffer<Value>(
        _ suggested: Int, _ call: (UnsafeMutableBufferPointer<CChar>) -> (status: Int32, value: Value?)
    ) -> Value? {
        var size = max(suggested, 1024)
        while true {
            var buffer = [CChar](repeating: 0, count: size)
            let (status, value) = buffer.withUnsafeMutableBufferPointer { call($0) }
            if status == ERANGE, size < 16 * 1024 * 1024 {
                size *= 2
                continue
            }
            return value
        }
    }

    static func supplementaryGroups(user: String, primary: gid_t) -> [gid_t] {
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(user, primary, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(user, primary, &groups, &count)
        }
        return Array(groups.prefix(Int(max(count, 0))))
    }
}
