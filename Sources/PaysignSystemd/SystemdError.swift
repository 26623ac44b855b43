/// Everything that can go wrong taking sockets from systemd or talking back to it, as one named error.
///
/// `code` is what happened, in words a caller can branch on; `message` is one sentence an operator
/// can act on; `systemCall` and `errno` name the failed call and its cause, when a call failed.
public struct SystemdError: Error, Sendable, CustomStringConvertible {
    /// A stable code: a struct over a private enum, so codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case malformedEnvironment = "malformed-environment"
            case badDescriptor = "bad-descriptor"
            case notASocket = "not-a-socket"
            case notListening = "not-listening"
            case unsupportedAddress = "unsupported-address"
            case sendFailed = "send-failed"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        public var description: String { base.rawValue }

        /// `LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES` (or `NOTIFY_SOCKET`) do not parse.
        public static let malformedEnvironment = Code(.malformedEnvironment)
        /// A descriptor systemd announced is not open.
        public static let badDescriptor = Code(.badDescriptor)
        /// A descriptor systemd passed is open but is not a socket (a file, a pipe, …).
        public static let notASocket = Code(.notASocket)
        /// A descriptor systemd passed is a socket that does not listen (`SO_ACCEPTCONN` is 0).
        public static let notListening = Code(.notListening)
        /// `NOTIFY_SOCKET` is neither a path nor `@abstract`, or does not fit a `sockaddr_un`.
        public static let unsupportedAddress = Code(.unsupportedAddress)
        /// A notification datagram could not be sent.
        public static let sendFailed = Code(.sendFailed)
    }

    public var code: Code
    /// One sentence saying what happened and what to do.
    public var message: String
    /// The system call that failed, e.g. `fstat`; empty when no call failed.
    public var systemCall: String
    /// The `errno` that call left, when a call failed.
    public var errno: Int32?
    public var file: String
    public var line: Int

    public init(
        _ code: Code, _ message: String, systemCall: String = "", errno: Int32? = nil,
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.systemCall = systemCall
        self.errno = errno
        self.file = file
        self.line = line
    }

    public var description: String { message }
}
