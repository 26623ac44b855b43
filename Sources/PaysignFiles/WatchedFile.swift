import Glibc

/// A file the daemon reads because it appeared in a folder others may write to (`crl-watch`),
/// opened as an attacker would arrange it: never through a symbolic link (`O_NOFOLLOW`), only a
/// regular file (`fstat` on the descriptor, not the path), and never larger than a cap, read from
/// the same descriptor it was judged on.
public enum WatchedFile {
    /// What identifies a version of the file: its inode, size and modification time.
    public struct Stamp: Hashable, Sendable {
        var inode: UInt64
        var size: Int64
        var modified: Int64
        var modifiedNanoseconds: Int64
    }

    public enum Read: Sendable {
        case unchanged
        case changed([UInt8], Stamp)
    }

    /// The file is not one the daemon reads: one sentence.
    public struct Refusal: Error, Sendable {
        public var message: String
    }

    /// Reads `path` unless it still carries `stamp`.
    public static func read(_ path: String, unlessStamped stamp: Stamp?, maximumBytes: Int) throws -> Read {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ELOOP { throw Refusal(message: "a symbolic link; crl-watch reads regular files only, never through a link") }
            throw Refusal(message: "cannot be opened: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Refusal(message: "cannot be examined: \(String(cString: strerror(errno)))") }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw Refusal(message: "not a regular file; crl-watch reads regular files only")
        }
        guard info.st_size <= maximumBytes else {
            throw Refusal(message: "\(info.st_size) bytes, more than the \(maximumBytes) a revocation list may have here; not read")
        }
        let now = Stamp(
            inode: UInt64(info.st_ino), size: Int64(info.st_size), modified: Int64(info.st_mtim.tv_sec),
            modifiedNanoseconds: Int64(info.st_mtim.tv_nsec))
        if now == stamp { return .unchanged }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(info.st_size))
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard n >= 0 else { throw Refusal(message: "cannot be read: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            // The file grew while it was read: the cap holds whatever the first size said.
            guard bytes.count + n <= maximumBytes else {
                throw Refusal(message: "grew past the \(maximumBytes) bytes a revocation list may have here while it was read; not read")
            }
            bytes += buffer[0..<n]
        }
        return .changed(bytes, now)
    }
}
