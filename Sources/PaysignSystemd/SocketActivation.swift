import Glibc

/// One socket systemd passed to the daemon, with the name its socket unit gave it
/// (`FileDescriptorName=`, default: the socket unit's name, e.g. `paysignd.socket`).
public struct ListeningSocket: Sendable, Hashable {
    /// The file descriptor, 3 or above; `FD_CLOEXEC` is set on it.
    public var descriptor: Int32
    /// Its entry in `LISTEN_FDNAMES`, or "unknown" when systemd set no names (as `sd_listen_fds_with_names`).
    public var name: String

    public init(descriptor: Int32, name: String) {
        self.descriptor = descriptor
        self.name = name
    }
}

/// Socket activation without libsystemd: what `sd_listen_fds(3)` and `sd_listen_fds_with_names(3)`
/// do, plus the checks of `sd_is_socket(3)` for the one kind of socket paysignd takes (a listening
/// stream socket, `Accept=no`).
///
/// The protocol (systemd's `sd_listen_fds(3)`): systemd sets `LISTEN_PID` to the daemon's process
/// id, `LISTEN_FDS` to the number of sockets it passes, and `LISTEN_FDNAMES` to their names,
/// colon-separated; the sockets are descriptors 3, 4, … (`SD_LISTEN_FDS_START`). When `LISTEN_PID`
/// names another process (the variables were inherited from a parent), none of it is meant for us.
public enum SocketActivation {
    /// `SD_LISTEN_FDS_START`: the first descriptor systemd passes.
    public static let firstDescriptor: Int32 = 3

    /// The variables of the protocol, which `unsetEnvironment` clears.
    static let variables = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]

    /// The listening sockets systemd passed to this process: `[]` when it passed none (the daemon
    /// then binds its socket itself).
    ///
    /// Sets `FD_CLOEXEC` on each descriptor, then checks that each is a socket that listens; throws
    /// a `SystemdError` with one sentence when a variable does not parse or a descriptor is not a
    /// listening socket.
    ///
    /// - Parameter unsetEnvironment: clear `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES`
    ///   afterwards (also when throwing), so no child process inherits them. Call this once, at
    ///   start-up, before other threads run: `unsetenv` is not thread-safe.
    public static func listeningSockets(unsetEnvironment: Bool = true) throws(SystemdError) -> [Int32] {
        try namedListeningSockets(unsetEnvironment: unsetEnvironment).map(\.descriptor)
    }

    /// `listeningSockets(unsetEnvironment:)` with each socket's name from `LISTEN_FDNAMES`.
    public static func namedListeningSockets(unsetEnvironment: Bool = true) throws(SystemdError) -> [ListeningSocket] {
        let environment = Environment.read(variables)
        defer { if unsetEnvironment { Environment.unset(variables) } }
        return try listeningSockets(environment: environment, processID: getpid())
    }

    /// The same protocol over an environment and a process id given by the caller, and
    /// descriptors starting at `firstDescriptor`: for tests, and for callers that captured the
    /// environment earlier. Touches no environment variable.
    public static func listeningSockets(
        environment: [String: String], processID: Int32, firstDescriptor: Int32 = firstDescriptor
    ) throws(SystemdError) -> [ListeningSocket] {
        guard let pidText = environment["LISTEN_PID"] else { return [] }
        guard let pid = Environment.processID(pidText) else {
            throw SystemdError(.malformedEnvironment, "LISTEN_PID='\(pidText)' is not a process id")
        }
        guard pid == processID else { return [] }
        guard let countText = environment["LISTEN_FDS"] else { return [] }
        guard let count = Environment.decimal(countText), count <= UInt64(Int32.max - firstDescriptor) else {
            throw SystemdError(.malformedEnvironment, "LISTEN_FDS='\(countText)' is not a number of descriptors")
        }
        guard count > 0 else { return [] }
        let descriptors = (0..<Int32(count)).map { firstDescriptor + $0 }

        let names: [String]
        if let list = environment["LISTEN_FDNAMES"] {
            names = list.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard names.count == descriptors.count else {
                throw SystemdError(
                    .malformedEnvironment,
                    "LISTEN_FDNAMES='\(list)' names \(names.count) sockets but LISTEN_FDS says \(count)")
            }
        } else {
            names = Array(repeating: "unknown", count: descriptors.count)
        }

        // What sd_listen_fds does: close-on-exec on every passed descriptor, so no child inherits them.
        for fd in descriptors {
            let flags = fcntl(fd, F_GETFD)
            guard flags >= 0, fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == 0 else {
                let cause = errno
                throw SystemdError(
                    .badDescriptor,
                    "systemd announced \(count) sockets (LISTEN_FDS) but descriptor \(fd) is not open"
                        + " (\(describe(cause)))",
                    systemCall: "fcntl", errno: cause)
            }
        }
        // What sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM-or-any, listening: 1) checks.
        for fd in descriptors {
            var status = stat()
            guard fstat(fd, &status) == 0 else {
                let cause = errno
                throw SystemdError(
                    .badDescriptor, "descriptor \(fd) passed by systemd cannot be examined (\(describe(cause)))",
                    systemCall: "fstat", errno: cause)
            }
            guard status.st_mode & S_IFMT == S_IFSOCK else {
                throw SystemdError(
                    .notASocket,
                    "descriptor \(fd) passed by systemd (LISTEN_FDS) is not a socket but \(kind(of: status.st_mode));"
                        + " check ListenStream= in the socket unit")
            }
            var accepting: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &size) == 0 else {
                let cause = errno
                throw SystemdError(
                    .notListening,
                    "descriptor \(fd) passed by systemd cannot say whether it listens (\(describe(cause)))",
                    systemCall: "getsockopt", errno: cause)
            }
            guard accepting != 0 else {
                throw SystemdError(
                    .notListening,
                    "descriptor \(fd) passed by systemd is a socket that does not listen;"
                        + " the socket unit must use ListenStream= with Accept=no")
            }
        }
        return zip(descriptors, names).map { ListeningSocket(descriptor: $0, name: $1) }
    }

    /// True when `fd` is an `AF_UNIX` socket (what `sd_is_socket_unix(3)` checks, any type).
    public static func isUnixSocket(_ fd: Int32) -> Bool {
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK else { return false }
        return UnixAddress.local(of: fd) != nil
    }

    /// The address a Unix socket is bound to, for the log: its path, "@name" for Linux's abstract
    /// namespace, "" when unbound; nil when `fd` is not an `AF_UNIX` socket.
    public static func boundPath(of fd: Int32) -> String? {
        guard isUnixSocket(fd) else { return nil }
        return UnixAddress.local(of: fd)
    }

    /// What a non-socket descriptor is, for the error sentence.
    private static func kind(of mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "a regular file"
        case S_IFDIR: "a directory"
        case S_IFIFO: "a pipe"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFLNK: "a symbolic link"
        case 0: "an anonymous kernel object (epoll, eventfd, timerfd, …)"
        default: "something else"
        }
    }
}

/// `strerror` text and the errno number, e.g. "Bad file descriptor, errno 9".
func describe(_ code: Int32) -> String {
    "\(String(cString: strerror(code))), errno \(code)"
}
