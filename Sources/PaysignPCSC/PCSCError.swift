/// Everything that can go wrong talking to pcscd, as one named error.
///
/// `code` is what happened, in words a caller can branch on; `message` is one sentence an
/// operator can act on; `returnCode` is pcsclite's raw `LONG` (the cause), `returnValue` its name
/// (`SCARD_E_NO_SERVICE`), and `function` the PC/SC call that returned it.
public struct PCSCError: Error, Sendable, CustomStringConvertible {
    /// A stable code: a struct over a private enum, so codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case noService = "no-service"
            case noReaders = "no-readers"
            case readerUnavailable = "reader-unavailable"
            case cancelled = "cancelled"
            case timedOut = "timed-out"
            case other = "pcsc-error"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        public var description: String { base.rawValue }

        /// pcscd is not running, stopped, or the connection to it broke (`SCARD_E_NO_SERVICE`,
        /// `SCARD_E_SERVICE_STOPPED`, `SCARD_F_COMM_ERROR`).
        public static let noService = Code(.noService)
        /// pcscd runs but knows no reader (`SCARD_E_NO_READERS_AVAILABLE`).
        public static let noReaders = Code(.noReaders)
        /// The reader went away (`SCARD_E_READER_UNAVAILABLE`, `SCARD_E_UNKNOWN_READER`).
        public static let readerUnavailable = Code(.readerUnavailable)
        /// The wait was cancelled (`SCARD_E_CANCELLED`), normally by a shutdown.
        public static let cancelled = Code(.cancelled)
        /// pcscd did not answer in time (`SCARD_E_TIMEOUT`, or it seems hung).
        public static let timedOut = Code(.timedOut)
        /// Any other return code.
        public static let other = Code(.other)
    }

    public var code: Code
    /// One sentence saying what happened and what to do.
    public var message: String
    /// The PC/SC call that failed, e.g. `SCardEstablishContext`; empty when no call failed.
    public var function: String
    /// pcsclite's return code (`LONG`), when a call failed.
    public var returnCode: Int?
    public var file: String
    public var line: Int

    /// The name of `returnCode`, e.g. `SCARD_E_NO_SERVICE`.
    public var returnValue: String? { returnCode.map(PCSC.name(of:)) }

    public init(
        _ code: Code, _ message: String, function: String = "", returnCode: Int? = nil,
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.function = function
        self.returnCode = returnCode
        self.file = file
        self.line = line
    }

    public var description: String {
        guard !function.isEmpty else { return message }
        return "\(message) (in \(function))"
    }

    /// Names a failed call: the code and a sentence from the return code.
    static func from(_ rv: Int, function: String, file: String = #fileID, line: Int = #line) -> PCSCError {
        let (code, sentence) = describe(rv)
        return PCSCError(code, sentence, function: function, returnCode: rv, file: file, line: line)
    }

    static func describe(_ rv: Int) -> (Code, String) {
        let name = PCSC.name(of: rv)
        switch ReturnCode.normalized(rv) {
        case ReturnCode.noService:
            return (.noService, "pcscd is not running (\(name)): start it with 'systemctl start pcscd' or 'pcscd'")
        case ReturnCode.serviceStopped:
            return (.noService, "pcscd has stopped (\(name)): start it again with 'systemctl start pcscd' or 'pcscd'")
        case ReturnCode.commError:
            return (.noService, "the connection to pcscd broke (\(name)): pcscd probably stopped or restarted; check it with 'systemctl status pcscd'")
        case ReturnCode.noReadersAvailable:
            return (.noReaders, "pcscd sees no smart card reader (\(name)): plug the reader in")
        case ReturnCode.readerUnavailable, ReturnCode.unknownReader:
            return (.readerUnavailable, "the smart card reader went away (\(name)): plug it in again")
        case ReturnCode.cancelled:
            return (.cancelled, "the wait for smart card events was cancelled (\(name))")
        case ReturnCode.timeout:
            return (.timedOut, "pcscd did not answer in time (\(name))")
        default:
            return (.other, "pcscd answered \(name)")
        }
    }

    /// True for the codes that mean pcscd itself is gone (not a reader or a card).
    static func isServiceGone(_ rv: Int) -> Bool {
        switch ReturnCode.normalized(rv) {
        case ReturnCode.noService, ReturnCode.serviceStopped, ReturnCode.commError: true
        default: false
        }
    }
}
