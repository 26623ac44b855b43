#if canImport(Glibc)
import Glibc
#endif

/// Connecting a stream socket to a Unix socket path: the one place paysign builds a `sockaddr_un`
/// (the client, the daemon's check for a live socket, the tests).
public enum UnixSocket {
    /// A connected, close-on-exec descriptor, or the `errno` of the failure (`ENAMETOOLONG` for a
    /// path that does not fit `sun_path`).
    public static func connect(_ path: String) -> Result<Int32, UnixSocketError> {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(UnixSocketError(code: errno)) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            return .failure(UnixSocketError(code: ENAMETOOLONG))
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            return .failure(UnixSocketError(code: code))
        }
        return .success(fd)
    }

    /// True when something accepts connections at `path`.
    public static func answers(_ path: String) -> Bool {
        guard case .success(let fd) = connect(path) else { return false }
        close(fd)
        return true
    }
}

/// Why a connection to a Unix socket failed: the `errno` value.
public struct UnixSocketError: Error, Sendable, Hashable {
    public var code: Int32
    public var text: String { String(cString: strerror(code)) }
}
