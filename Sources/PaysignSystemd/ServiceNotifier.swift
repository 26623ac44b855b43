import Glibc

/// Tells systemd how the daemon is doing, without libsystemd: what `sd_notify(3)` and
/// `sd_watchdog_enabled(3)` do, for a `Type=notify` service.
///
/// The protocol: systemd sets `NOTIFY_SOCKET` to the address of its notification socket (a path,
/// or `@name` in Linux's abstract namespace); the daemon sends it datagrams of newline-separated
/// `KEY=value` lines over `AF_UNIX`/`SOCK_DGRAM`. With `NotifyAccess=main` only the main process
/// may send.
///
/// Errors never stop the daemon: `ready()`, `stopping()`, `status(_:)`, `reloading()` and
/// `watchdog()` return `true` when the datagram went out and `false` when there is no
/// `NOTIFY_SOCKET` (not started by systemd: every call is a no-op) or sending failed. A caller that
/// wants to log why sending failed calls `notify(_:)`, which throws a `SystemdError` instead.
public struct ServiceNotifier: Sendable {
    /// `NOTIFY_SOCKET` as read at init: a path, or `@name` for the abstract namespace; nil when
    /// the daemon was not started by systemd as `Type=notify`.
    public let socketAddress: String?
    /// How often systemd expects `watchdog()` (`WATCHDOG_USEC`, meant for this process when
    /// `WATCHDOG_PID` is unset or names it); nil when the unit has no `WatchdogSec=`. Send
    /// `watchdog()` at half this interval, as `sd_watchdog_enabled(3)` advises.
    public let watchdogInterval: Duration?

    /// The variables this type reads, which `unsetEnvironment` clears.
    static let variables = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from the process environment.
    ///
    /// - Parameter unsetEnvironment: clear those variables afterwards, so no child process
    ///   inherits them (only this value can notify then). Do it at start-up, before other
    ///   threads run: `unsetenv` is not thread-safe.
    public init(unsetEnvironment: Bool = false) {
        self.init(environment: Environment.read(Self.variables), processID: getpid())
        if unsetEnvironment { Environment.unset(Self.variables) }
    }

    /// The same over an environment and a process id given by the caller (for tests).
    public init(environment: [String: String], processID: Int32) {
        let address = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        var interval: Duration?
        if let usec = Environment.decimal(environment["WATCHDOG_USEC"]), usec > 0, usec <= UInt64(Int64.max) {
            let pidText = environment["WATCHDOG_PID"]
            if pidText == nil || Environment.processID(pidText) == processID {
                interval = .microseconds(Int64(usec))
            }
        }
        self.init(socketAddress: address, watchdogInterval: interval)
    }

    /// A notifier for an explicit address: a path, `@name` for the abstract namespace, or nil
    /// for one whose every call is a no-op.
    public init(socketAddress: String?, watchdogInterval: Duration? = nil) {
        self.socketAddress = socketAddress
        self.watchdogInterval = watchdogInterval
    }

    /// True when there is somewhere to send to.
    public var isEnabled: Bool { socketAddress != nil }

    /// "READY=1" with "MAINPID=<pid>": start-up is done and the socket is served (`Type=notify`
    /// waits for this before the unit counts as started).
    @discardableResult
    public func ready() -> Bool { send("READY=1\nMAINPID=\(getpid())") }

    /// "STOPPING=1": shutdown has begun.
    @discardableResult
    public func stopping() -> Bool { send("STOPPING=1") }

    /// "RELOADING=1" with "MONOTONIC_USEC=<now>" (systemd 253's `Type=notify-reload` wants both):
    /// the configuration is being reloaded; send `ready()` when done.
    @discardableResult
    public func reloading() -> Bool { send("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())") }

    /// "STATUS=<text>": one line that `systemctl status` shows. Line breaks become spaces (a
    /// line break would start a new assignment).
    @discardableResult
    public func status(_ text: String) -> Bool {
        send("STATUS=" + String(text.map { $0.isNewline ? " " : $0 }))
    }

    /// "WATCHDOG=1": the daemon is alive (`WatchdogSec=`).
    @discardableResult
    public func watchdog() -> Bool { send("WATCHDOG=1") }

    /// Sends `state` (newline-separated assignments) and says whether it went out.
    @discardableResult
    public func send(_ state: String) -> Bool {
        (try? notify(state)) ?? false
    }

    /// Sends `state` as one datagram: `false` when there is no `NOTIFY_SOCKET` (a no-op), `true`
    /// when sent; throws a `SystemdError` saying why sending failed. Waits at most a second
    /// when systemd's queue is full, so a stuck manager cannot stall shutdown.
    @discardableResult
    public func notify(_ state: String) throws(SystemdError) -> Bool {
        guard let socketAddress else { return false }
        var (address, length) = try UnixAddress.make(socketAddress)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            let cause = errno
            throw SystemdError(
                .sendFailed, "cannot open a socket to notify systemd (\(describe(cause)))", systemCall: "socket",
                errno: cause)
        }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        let bytes = Array(state.utf8)
        while true {
            let sent = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    bytes.withUnsafeBytes {
                        sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, length)
                    }
                }
            }
            if sent == bytes.count { return true }
            let cause = errno
            if sent < 0 && cause == EINTR { continue }
            throw SystemdError(
                .sendFailed,
                sent < 0
                    ? "cannot notify systemd at '\(socketAddress)' (\(describe(cause)))"
                    : "systemd at '\(socketAddress)' took \(sent) of \(bytes.count) bytes of a notification",
                systemCall: "sendto", errno: sent < 0 ? cause : nil)
        }
    }

    /// `CLOCK_MONOTONIC` in microseconds, as `MONOTONIC_USEC=` wants it.
    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }
}
