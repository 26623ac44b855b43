import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file the client creates *before* it sends a request whose answer it cannot ask for twice
/// (`paysign token issue`: issuing is irreversible, the token is registered as issued), so that
/// nothing about the output can fail once the request has gone: the folder exists and this user may
/// write in it, nothing is at the path yet (paysign never overwrites a file and never follows a
/// symbolic link), and the file is created with `O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0644. What is
/// left after the answer is `commit`: write every byte, `fsync`, close, `fsync` the folder. A
/// request refused or never answered leaves no file behind (`discard`).
final class ExclusiveOutput {
    let path: String
    private let folder: String
    private var fd: Int32
    private let device: UInt64
    private let inode: UInt64
    /// Committed or discarded: the file is what it will stay.
    private var settled = false

    private init(path: String, folder: String, fd: Int32, device: UInt64, inode: UInt64) {
        self.path = path
        self.folder = folder
        self.fd = fd
        self.device = device
        self.inode = inode
    }

    deinit { if fd >= 0 { close(fd) } }

    private static func reason() -> String { String(cString: strerror(errno)) }

    /// Checks `path` and creates it, empty. Throws `Failure.usage` with one sentence naming what is
    /// wrong (folder missing, not a folder, not writable; a file or a symbolic link already there).
    static func create(_ path: String) throws -> ExclusiveOutput {
        guard !path.isEmpty else { throw Failure.usage("give the name of a new file to --out") }
        let parent = (path as NSString).deletingLastPathComponent
        let folder = parent.isEmpty ? "." : parent
        var info = stat()
        guard stat(folder, &info) == 0 else {
            if errno == ENOENT { throw Failure.usage("cannot write \(path): the folder \(folder) does not exist") }
            throw Failure.usage("cannot write \(path): the folder \(folder) cannot be reached (\(reason()))")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw Failure.usage("cannot write \(path): \(folder) is not a folder") }
        guard access(folder, W_OK | X_OK) == 0 else {
            throw Failure.usage("cannot write \(path): this user may not create files in \(folder) (\(reason()))")
        }
        if lstat(path, &info) == 0 {
            if info.st_mode & S_IFMT == S_IFLNK {
                throw Failure.usage("\(path) is a symbolic link, which paysign does not write through; give the name of a new file")
            }
            throw Failure.usage("\(path) already exists and paysign never overwrites a file; give the name of a new file or move the old one away")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            switch errno {
            case EEXIST: throw Failure.usage("\(path) already exists and paysign never overwrites a file; give the name of a new file")
            case ELOOP: throw Failure.usage("\(path) is a symbolic link, which paysign does not write through; give the name of a new file")
            default: throw Failure.usage("cannot create \(path): \(reason())")
            }
        }
        // 0644 whatever the umask: a certificate is public, and its holder installs it from there.
        _ = fchmod(fd, 0o644)
        guard fstat(fd, &info) == 0 else {
            let failure = Failure.usage("cannot create \(path): \(reason())")
            close(fd)
            unlink(path)
            throw failure
        }
        return ExclusiveOutput(path: path, folder: folder, fd: fd, device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// Writes `data` in full, `fsync`s the file, closes it and `fsync`s its folder. On failure the
    /// partial file is removed (so the same name can be used again) and the reason returned as
    /// one phrase (`No space left on device`).
    func commit(_ data: Data) throws(WriteError) {
        precondition(!settled, "an ExclusiveOutput is written once")
        settled = true
        var failed: String?
        data.withUnsafeBytes { buffer in
            var written = 0
            while written < buffer.count {
                let n = write(fd, buffer.baseAddress! + written, buffer.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    failed = Self.reason()
                    return
                }
                written += n
            }
        }
        if failed == nil, fsync(fd) != 0 { failed = Self.reason() }
        let closed = close(fd)
        fd = -1
        if failed == nil, closed != 0 { failed = Self.reason() }
        if let failed {
            removeIfStillOurs()
            throw WriteError(reason: failed)
        }
        let dir = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            _ = fsync(dir)
            close(dir)
        }
    }

    struct WriteError: Error {
        var reason: String
    }

    /// Nothing will be written (the request was refused, or never sent): the empty file goes.
    /// Does nothing once `commit` ran.
    func discard() {
        guard !settled else { return }
        settled = true
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        removeIfStillOurs()
    }

    /// Removes the path only while it is still the file created here (not one put in its place).
    private func removeIfStillOurs() {
        var info = stat()
        if lstat(path, &info) == 0, UInt64(info.st_dev) == device, UInt64(info.st_ino) == inode {
            unlink(path)
        }
    }
}
