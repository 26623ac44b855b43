import Glibc

/// The daemon's listening socket file, changed through a descriptor of the file itself, never by
/// its path: a link or another file put in its place between the bind and the change is refused,
/// not changed.
public enum SocketFile {
    public struct Failure: Error, Sendable {
        public var message: String
    }

    /// Gives the socket at `path` the group `group` (nil: leave it) and the mode `mode`, through an
    /// `O_PATH|O_NOFOLLOW` descriptor checked to be a socket owned by this process's user.
    public static func setGroupAndMode(path: String, group: UInt32?, mode: UInt32) throws {
        // O_PATH (<fcntl.h>, visible only with _GNU_SOURCE, so not imported): 010000000.
        let oPath: Int32 = 0o10_000_000
        let fd = open(path, oPath | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            throw Failure(message: "cannot open the socket \(path) to set its mode: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK, info.st_uid == geteuid() else {
            throw Failure(message: "\(path) is no longer the socket paysignd bound (something replaced it); not changing it")
        }
        // The descriptor's own file, through /proc: chown and chmod reach exactly that inode.
        let handle = "/proc/self/fd/\(fd)"
        if let group {
            guard chown(handle, uid_t.max, group) == 0 else {
                throw Failure(message: "cannot give \(path) to its group: \(String(cString: strerror(errno)))")
            }
        }
        guard chmod(handle, mode_t(mode)) == 0 else {
            throw Failure(message: "cannot set the mode of \(path): \(String(cString: strerror(errno)))")
        }
    }
}
