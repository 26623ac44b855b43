#if canImport(Glibc)
import Glibc
#endif

/// Who is at the other end of a connection, from the kernel (`SO_PEERCRED`), read once when the
/// connection is accepted. The Unix user is the caller's identity: there are no passwords or
/// bearer tokens on this socket.
public struct PeerCredentials: Sendable, Hashable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    /// The user name of `uid` (from the password database), or nil when it has none.
    public var userName: String?

    public init(pid: Int32, uid: UInt32, gid: UInt32, userName: String?) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.userName = userName
    }

    public var description: String { "\(userName ?? "uid \(uid)") (uid \(uid), pid \(pid))" }

    /// The name of a uid through `getpwuid_r`.
    public static func userName(of uid: UInt32) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else {
            return nil
        }
        return String(cString: name)
    }

    /// The gid of a group name through `getgrnam_r`.
    public static func groupID(of name: String) -> UInt32? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getgrnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.gr_gid
    }
}
