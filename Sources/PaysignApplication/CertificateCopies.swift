public import Foundation
import PaysignDomain
import PaysignOpenSSL
import PaysignStore

// MARK: - A registered token's certificate, fetched again (issue 15)

/// Issuing a certificate is irreversible: the token is registered to its holder as `issued` with
/// the new certificate, and issuing again on the same token is refused (one token, one
/// certificate, one holder, D5, D6). So the registry's copy is the authority's copy: when the file
/// `paysign token issue --out` was to write is lost, `GET /v1/registered-tokens/{serial}/certificate`
/// gives the same DER bytes back, and the token is never stranded without its certificate.
extension AuthorityDesk {
    /// The answer of `GET /v1/registered-tokens/{serial}/certificate` (JSON): the certificate with
    /// its PEM, and the token it was registered with.
    public struct TokenCertificate: Encodable, Sendable {
        /// The token, its serial, label and state now.
        public var token: IssuedToken
        /// The holder's Unix user; nil when the token has no holder any more.
        public var holder: String?
        public var subject: String
        /// The certificate's serial number, upper-case hex.
        public var serial: String
        public var sha256: String
        public var notBefore: Date
        public var notAfter: Date
        public var pem: String
        /// The DER the registry holds, byte for byte (not encoded into the JSON answer).
        public var derEncoded: [UInt8]

        enum CodingKeys: String, CodingKey {
            case token, holder, subject, serial, sha256, notBefore, notAfter, pem
        }

        init(token: IssuedToken, holder: String?, certificate: RegisteredCertificate) throws {
            self.token = token
            self.holder = holder
            subject = certificate.subject
            serial = certificate.serialHex
            sha256 = certificate.sha256.hex
            notBefore = certificate.notBefore
            notAfter = certificate.notAfter
            derEncoded = certificate.derEncoded
            // The same PEM `POST /v1/certificates` answered: PaysignOpenSSL's, from the same DER.
            pem = try Certificate(derEncoded: certificate.derEncoded).pemEncoded
        }
    }

    /// The certificate registered with the token of this serial: the only one, or the one whose
    /// SHA-256 is `sha256` when the token was registered with several (a token certified
    /// elsewhere). A read: nothing is journaled.
    ///
    /// Refused with `not-found` (no such token, no such certificate on it), `invalid-field` (a
    /// `sha256` that is not 64 hex digits) or `conflict` (several certificates and none named).
    public func registeredCertificate(tokenSerial serial: String, sha256: String?) async throws -> TokenCertificate {
        guard let token = try await registry.token(serial: serial) else {
            throw UseCaseError(.notFound, "no registered token has the serial \(serial); see paysign token list")
        }
        let certificate: RegisteredCertificate
        if let sha256 {
            guard let wanted = SHA256Hex(sha256) else {
                throw UseCaseError(.invalidField, "sha256 must be 64 hex digits, not '\(sha256.prefix(80))'")
            }
            guard let found = token.certificates.first(where: { $0.sha256 == wanted }) else {
                throw UseCaseError(.notFound, "token \(serial) was registered with no certificate of SHA-256 \(wanted.hex)")
            }
            certificate = found
        } else {
            guard let only = token.certificates.first else {
                throw UseCaseError(.notFound, "token \(serial) was registered with no certificate")
            }
            guard token.certificates.count == 1 else {
                let list = token.certificates.map(\.sha256.hex).joined(separator: ", ")
                throw UseCaseError(.conflict, "token \(serial) was registered with \(token.certificates.count) certificates (SHA-256 \(list)); name one with sha256=")
            }
            certificate = only
        }
        var holder: String?
        if let id = token.holder { holder = try await registry.operator(id: id)?.unixUser }
        do {
            return try TokenCertificate(
                token: IssuedToken(serial: token.serial, label: token.label, state: token.state.rawValue), holder: holder,
                certificate: certificate)
        } catch {
            throw UseCaseError(.internalError, "the registry's copy of certificate \(certificate.sha256.hex) cannot be read: \(error)")
        }
    }
}
