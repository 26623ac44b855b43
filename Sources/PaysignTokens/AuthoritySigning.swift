public import Foundation
public import PaysignOpenSSL
import PaysignPKCS11

extension TokenSigner {
    /// Signs the to-be-signed bytes of a CRL or a certificate with the certification authority's
    /// key. Unlike `sign`, which wants a certificate for digital signatures (a payment order's),
    /// this wants one whose key usage allows `usage` (`cRLSign`, `keyCertSign`) and that is
    /// within its validity. Returns PKCS #1 bytes for RSA, a DER `Ecdsa-Sig-Value` for EC.
    public func signAsAuthority(_ tbs: [UInt8], usage: Certificate.KeyUsage, at date: Date = Date()) async throws -> (signature: [UInt8], algorithm: SignatureAlgorithm) {
        switch certificate.validity(at: date) {
        case .valid: break
        case .expired:
            throw TokenError(.certificateExpired, "the authority's certificate on token '\(session.token.label)' expired on \(Self.day(certificate.notAfter)); it cannot sign")
        case .notYetValid:
            throw TokenError(.certificateNotYetValid, "the authority's certificate on token '\(session.token.label)' is not valid before \(Self.day(certificate.notBefore))")
        }
        if !certificate.keyUsage.isEmpty && !certificate.keyUsage.contains(usage) {
            throw TokenError(.certificateUnusable, "the certificate on token '\(session.token.label)' does not allow \(usage.contains(.cRLSign) ? "signing revocation lists (cRLSign)" : "signing certificates (keyCertSign)"); is it the authority's token?")
        }
        guard let algorithm = SignatureAlgorithm.default(for: keyType) else {
            throw TokenError(.algorithmMismatch, "the key \(keyURI) is neither RSA nor EC; paysign cannot sign with it")
        }
        let key = try await privateKey()
        let input = algorithm.mechanism.takesDigest ? SHA256.hash(tbs) : tbs
        let raw = try await session.sign(input, mechanism: algorithm.mechanism, key: key)
        let bytes = algorithm == .ecdsaSHA256 ? try ECDSASignature(rawRepresentation: raw).derEncoded : raw
        return (bytes, algorithm)
    }
}
