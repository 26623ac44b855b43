public import Foundation
public import PaysignOpenSSL
import PaysignPKCS11

extension TokenSigner {
    /// Signs `content` as a detached CAdES-BES SignedData with this token's key, the signature
    /// computed on the token (`C_Sign` over the DER of the signed attributes). With `previous`, the
    /// new SignerInfo joins the earlier signer's SignedData over the same content and is bound to
    /// the earlier signature (rule D2; see `CMSBuilder.signDetached`).
    ///
    /// Needs a login first. The certificate is checked before anything is built (rule D6).
    ///
    /// - Parameters:
    ///   - role: the signer's role in the order: "first" (the entity's finance officer) or
    ///     "second" (the Ministry of Finance representative).
    ///   - algorithm: nil picks the key's default (`SignatureAlgorithm.default(for:)`: PKCS #1 v1.5
    ///     for RSA, ECDSA for EC); `.rsaPSSSHA256` makes an RSASSA-PSS SignerInfo.
    public func signCMS(
        content: [UInt8], role: String, algorithm: SignatureAlgorithm? = nil,
        commitment: CommitmentType = .proofOfApproval, bindTo previous: SignedDocument? = nil,
        signingTime: Date = Date()
    ) async throws -> SignedDocument {
        guard let algorithm = algorithm ?? SignatureAlgorithm.default(for: keyType) else {
            throw TokenError(.algorithmMismatch, "the key \(keyURI) is neither RSA nor EC; paysign cannot sign with it")
        }
        guard algorithm.fits(keyType) else {
            throw TokenError(.algorithmMismatch, "\(algorithm.rawValue) does not fit the \(keyType.rawValue.uppercased()) key \(keyURI)")
        }
        try checkCertificate(at: signingTime)
        return try await CMSBuilder.signDetached(
            content: content, certificate: certificate, scheme: algorithm.scheme, role: role, commitment: commitment,
            bindTo: previous, signingTime: signingTime
        ) { signedAttributes in
            try await self.sign(signedAttributes, algorithm: algorithm).bytes
        }
    }
}

extension SignatureAlgorithm {
    /// The same algorithm as PaysignOpenSSL names it.
    public var scheme: SignatureScheme {
        switch self {
        case .rsaPKCS1SHA256: return .rsaPKCS1SHA256
        case .rsaPSSSHA256: return .rsaPSSSHA256
        case .ecdsaSHA256: return .ecdsaSHA256
        }
    }
}
