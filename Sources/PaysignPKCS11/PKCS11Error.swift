/// Everything that can go wrong talking to a PKCS#11 token, as one named error.
///
/// `code` is what happened, in words a caller can branch on; `message` is one sentence a
/// finance officer can act on; `returnValue` is the raw `CK_RV` from the token (the cause),
/// and `function` the PKCS#11 call that returned it. No message ever holds a PIN.
public struct PKCS11Error: Error, Sendable, CustomStringConvertible {
    /// A stable code: a struct over a private enum, so codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case moduleNotFound = "module-not-found"
            case moduleFailed = "module-failed"
            case invalidURI = "invalid-uri"
            case tokenNotFound = "token-not-found"
            case ambiguousToken = "ambiguous-token"
            case objectNotFound = "object-not-found"
            case pinIncorrect = "pin-incorrect"
            case pinLocked = "pin-locked"
            case pinExpired = "pin-expired"
            case pinInvalid = "pin-invalid"
            case pinRequired = "pin-required"
            case pinFinalTry = "pin-final-try"
            case notLoggedIn = "not-logged-in"
            case tokenRemoved = "token-removed"
            case sessionInvalid = "session-invalid"
            case tokenMalfunction = "token-malfunction"
            case mechanismUnsupported = "mechanism-unsupported"
            case keyUnusable = "key-unusable"
            case tokenWriteProtected = "token-write-protected"
            case cancelled = "cancelled"
            case other = "pkcs11-error"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        public var description: String { base.rawValue }

        /// The PKCS#11 module could not be found or loaded.
        public static let moduleNotFound = Code(.moduleNotFound)
        /// The module loaded but failed to initialize or answer.
        public static let moduleFailed = Code(.moduleFailed)
        /// A PKCS#11 URI (RFC 7512) that does not parse or cannot be used.
        public static let invalidURI = Code(.invalidURI)
        /// No token matches the URI.
        public static let tokenNotFound = Code(.tokenNotFound)
        /// More than one token matches the URI.
        public static let ambiguousToken = Code(.ambiguousToken)
        /// The token has no key or certificate that matches.
        public static let objectNotFound = Code(.objectNotFound)
        /// `CKR_PIN_INCORRECT`: the PIN was wrong. Never retried by the code.
        public static let pinIncorrect = Code(.pinIncorrect)
        /// `CKR_PIN_LOCKED`: too many wrong PINs; the security officer must unblock the token.
        public static let pinLocked = Code(.pinLocked)
        /// `CKR_PIN_EXPIRED`: the PIN must be changed before use.
        public static let pinExpired = Code(.pinExpired)
        /// `CKR_PIN_INVALID` / `CKR_PIN_LEN_RANGE`: the new PIN is not acceptable to the token.
        public static let pinInvalid = Code(.pinInvalid)
        /// The token needs a PIN and none was given.
        public static let pinRequired = Code(.pinRequired)
        /// The token is on its final PIN try and the caller did not confirm using it.
        public static let pinFinalTry = Code(.pinFinalTry)
        /// An operation that needs a login was tried without one.
        public static let notLoggedIn = Code(.notLoggedIn)
        /// `CKR_DEVICE_REMOVED` / `CKR_TOKEN_NOT_PRESENT`, or the card left its reader.
        public static let tokenRemoved = Code(.tokenRemoved)
        /// `CKR_SESSION_HANDLE_INVALID` / `CKR_SESSION_CLOSED`: the session is gone.
        public static let sessionInvalid = Code(.sessionInvalid)
        /// `CKR_GENERAL_ERROR`, `CKR_DEVICE_ERROR`, `CKR_FUNCTION_FAILED`, …: the token misbehaved.
        public static let tokenMalfunction = Code(.tokenMalfunction)
        /// The token does not offer the signing mechanism.
        public static let mechanismUnsupported = Code(.mechanismUnsupported)
        /// The key exists but cannot sign with this mechanism.
        public static let keyUnusable = Code(.keyUnusable)
        /// The token refuses writes (`CKR_TOKEN_WRITE_PROTECTED`, `CKR_SESSION_READ_ONLY`).
        public static let tokenWriteProtected = Code(.tokenWriteProtected)
        /// The operation was cancelled (shutdown, or the PIN pad's cancel key).
        public static let cancelled = Code(.cancelled)
        /// Any other `CK_RV`.
        public static let other = Code(.other)
    }

    public var code: Code
    /// One sentence saying what happened and what to do.
    public var message: String
    /// The PKCS#11 call that failed, e.g. `C_Login`; empty when no call was made.
    public var function: String
    /// The token's own return value, when a call failed.
    public var returnValue: ReturnValue?
    /// The token's PIN state read after the failure, when it matters (wrong PIN, locked).
    public var pinState: PINState?
    public var file: String
    public var line: Int

    public init(
        _ code: Code, _ message: String, function: String = "", returnValue: ReturnValue? = nil,
        pinState: PINState? = nil, file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.function = function
        self.returnValue = returnValue
        self.pinState = pinState
        self.file = file
        self.line = line
    }

    public var description: String {
        guard let returnValue else { return message }
        return "\(message) (\(function): \(returnValue.name))"
    }

    /// Names a failed call: the code and a sentence from the return value, with context
    /// such as the token's label ("token 'officer1'").
    static func from(_ rv: ReturnValue, function: String, context: String, file: String = #fileID, line: Int = #line)
        -> PKCS11Error
    {
        let (code, sentence) = describe(rv, context: context)
        return PKCS11Error(code, sentence, function: function, returnValue: rv, file: file, line: line)
    }

    static func describe(_ rv: ReturnValue, context: String) -> (Code, String) {
        switch rv {
        case .pinIncorrect:
            return (.pinIncorrect, "wrong PIN for \(context)")
        case .pinLocked:
            return (.pinLocked, "the PIN of \(context) is locked after too many wrong tries; the certification authority must unblock or replace the token")
        case .pinExpired:
            return (.pinExpired, "the PIN of \(context) has expired; change it before signing")
        case .pinInvalid, .pinLenRange:
            return (.pinInvalid, "\(context) does not accept that PIN (wrong length or characters)")
        case .deviceRemoved, .tokenNotPresent:
            return (.tokenRemoved, "\(context) was removed; insert it again and retry")
        case .sessionHandleInvalid, .sessionClosed:
            return (.sessionInvalid, "the session with \(context) was closed (token removed or reset); retry")
        case .userNotLoggedIn:
            return (.notLoggedIn, "\(context) needs a login with the user PIN first")
        case .mechanismInvalid, .mechanismParamInvalid:
            return (.mechanismUnsupported, "\(context) does not offer this signing mechanism")
        case .keyTypeInconsistent, .keyFunctionNotPermitted, .keyHandleInvalid, .objectHandleInvalid:
            return (.keyUnusable, "the key on \(context) cannot sign with this mechanism")
        case .tokenWriteProtected, .sessionReadOnly:
            return (.tokenWriteProtected, "\(context) is write-protected")
        case .functionCanceled, .cancel:
            return (.cancelled, "the operation on \(context) was cancelled")
        case .generalError, .deviceError, .functionFailed, .deviceMemory, .hostMemory, .cantLock,
            .tokenNotRecognized:
            return (.tokenMalfunction, "\(context) failed (\(rv.name)); remove and reinsert it, and if it keeps failing have it replaced")
        case .cryptokiNotInitialized:
            return (.moduleFailed, "the PKCS#11 module for \(context) is not initialized")
        default:
            return (.other, "\(context) answered \(rv.name)")
        }
    }
}
