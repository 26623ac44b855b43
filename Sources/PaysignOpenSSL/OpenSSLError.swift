internal import CLibCrypto

/// An OpenSSL failure: what paysign was doing, and OpenSSL's own reason from its error queue.
public struct OpenSSLError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case malformedCertificate = "malformed-certificate"
            case malformedSignature = "malformed-signature"
            case unsupportedKey = "unsupported-key"
            case malformedRequest = "malformed-request"
            case malformedRevocationList = "malformed-crl"
            case internalError = "openssl-error"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        public var description: String { base.rawValue }

        public static let malformedCertificate = Code(.malformedCertificate)
        public static let malformedSignature = Code(.malformedSignature)
        public static let unsupportedKey = Code(.unsupportedKey)
        /// Bytes that are not a PKCS #10 certification request (`CertificateRequest`).
        public static let malformedRequest = Code(.malformedRequest)
        /// Bytes that are not an X.509 CRL (`RevocationList`).
        public static let malformedRevocationList = Code(.malformedRevocationList)
        public static let internalError = Code(.internalError)
    }

    public var code: Code
    public var message: String
    /// OpenSSL's error strings, oldest first (`error:…:lib:func:reason`).
    public var reasons: [String]
    public var file: String
    public var line: Int

    public var description: String {
        reasons.isEmpty ? message : message + " (" + reasons.joined(separator: "; ") + ")"
    }

    /// Builds the error and drains OpenSSL's per-thread error queue into it.
    init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.reasons = OpenSSLError.drainQueue()
        self.file = file
        self.line = line
    }

    static func drainQueue() -> [String] {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return reasons
    }

    /// Empties the queue before a new operation. PKCS#11 modules (SoftHSM's C_Initialize) leave
    /// errors in OpenSSL's process-wide queue; they must not be read as ours.
    static func clearQueue() { ERR_clear_error() }
}
