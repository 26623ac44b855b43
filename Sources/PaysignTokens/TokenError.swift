/// Refusals that come from paysign's own checks on a token's contents (the certificate beside a
/// key), as opposed to the token's own return values (`PKCS11Error`).
public struct TokenError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case keyNotFound = "key-not-found"
            case certificateMissing = "certificate-missing"
            case certificateExpired = "certificate-expired"
            case certificateNotYetValid = "certificate-not-yet-valid"
            case certificateUnusable = "certificate-unusable"
            case algorithmMismatch = "algorithm-mismatch"
            case pinInURI = "pin-in-uri"
            case mechanismMissing = "mechanism-missing"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        public var description: String { base.rawValue }

        /// The token has no private key matching the URI.
        public static let keyNotFound = Code(.keyNotFound)
        /// The key has no certificate beside it (same `CKA_ID`).
        public static let certificateMissing = Code(.certificateMissing)
        /// The key's certificate has expired.
        public static let certificateExpired = Code(.certificateExpired)
        /// The key's certificate is not valid yet.
        public static let certificateNotYetValid = Code(.certificateNotYetValid)
        /// The certificate cannot be parsed or does not allow signing.
        public static let certificateUnusable = Code(.certificateUnusable)
        /// The requested algorithm does not fit the key (PSS on an EC key, …).
        public static let algorithmMismatch = Code(.algorithmMismatch)
        /// A URI carried `pin-value` or `pin-source` (rule D5: a PIN never travels in a name).
        public static let pinInURI = Code(.pinInURI)
        /// The token offers no mechanism that makes the signature asked for (issue 21): refused
        /// before any login.
        public static let mechanismMissing = Code(.mechanismMissing)
    }

    public var code: Code
    public var message: String
    public var file: String
    public var line: Int

    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String { message }
}
