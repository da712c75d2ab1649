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

    static func passwd(named name: String) -> (uid: uid_t, gid: gid_t, home: String)? {
        var entry = Glibc.passwd()
        var found: UnsafeMutablePointer<Glibc.passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &found) == 0, found != nil else { return nil }
        return (entry.pw_uid, entry.pw_gid, String(cString: entry.pw_dir))
    }

    static func groupID(named name: String) -> gid_t? {
        var entry = group()
        var found: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrnam_r(name, &entry, &buffer, buffer.count, &found) == 0, found != nil else { return nil }
        return entry.gr_gid
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
