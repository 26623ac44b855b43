import Foundation
import Testing

/// Real sockets for the tests: made with the same calls a daemon makes, closed by the test.
enum Sockets {
    /// A fresh folder under /tmp (not `$TMPDIR`: a socket path must fit in 108 bytes).
    static func temporaryDirectory() throws -> String {
        let path = "/tmp/paysign-sd-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        return path
    }

    /// An `AF_UNIX` socket of `type`, bound to `path` ("@name" for the abstract namespace, nil
    /// for none), listening when `listen` is true. Created without `SOCK_CLOEXEC`, like a socket
    /// systemd hands over.
    static func unix(_ type: Int32 = Int32(SOCK_STREAM.rawValue), path: String?, listen: Bool) throws -> Int32 {
        let fd = socket(AF_UNIX, type, 0)
        try #require(fd >= 0, "socket failed: \(String(cString: strerror(errno)))")
        if let path {
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            var bytes = Array(path.utf8)
            var length = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + bytes.count
            if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 } else { length += 1 }
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(length)) }
            }
            try #require(rc == 0, "bind \(path) failed: \(String(cString: strerror(errno)))")
        }
        if listen {
            try #require(Glibc.listen(fd, 16) == 0, "listen failed: \(String(cString: strerror(errno)))")
        }
        return fd
    }

    /// A random abstract-namespace name, "@paysign-test-…".
    static func abstractName() -> String { "@paysign-test-\(getpid())-\(UInt64.random(in: 0...UInt64.max))" }

    /// One datagram from `fd`, waiting at most two seconds; nil on timeout.
    static func receive(_ fd: Int32) -> String? {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n >= 0 { return String(decoding: buffer[0..<n], as: UTF8.self) }
            if errno != EINTR { return nil }
        }
    }

    /// `count` free, consecutive descriptor numbers, high enough that nothing else in this test
    /// process takes them meanwhile (and below 1024, a fresh Debian's soft limit).
    /// `count` consecutive descriptor numbers no one holds. Other suites of the same test process
    /// may hold hundreds of connections at once, so the search runs above the usual 1024: the soft
    /// limit is raised to the hard one (at most 65536) first.
    static func freeConsecutiveDescriptors(_ count: Int32) throws -> Int32 {
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = min(limit.rlim_max, 65536)
            _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
        let end = Int32(clamping: min(getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 ? limit.rlim_cur : 1024, 65536))
        var start: Int32 = 700
        while start + count < end {
            if (start..<start + count).allSatisfy({ fcntl($0, F_GETFD) == -1 && errno == EBADF }) { return start }
            start += count
        }
        throw Failure(description: "no \(count) free consecutive descriptors between 700 and \(end)")
    }

    static func isCloseOnExec(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) & FD_CLOEXEC != 0 }

    struct Failure: Error, CustomStringConvertible { var description: String }
}
