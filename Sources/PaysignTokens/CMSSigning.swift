public import Foundation
public import PaysignOpenSSL
public import PaysignPKCS11

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
        signingTime: Date = Date(), again: ContextLogin? = nil
    ) async throws -> SignedDocument {
        let prepared = try prepareCMS(
            content: content, role: role, algorithm: algorithm, commitment: commitment, bindTo: previous,
            signingTime: signingTime)
        return try prepared.draft.finish(signature: try await sign(prepared, again: again))
    }

    /// `signCMS` in three steps, for a caller that holds the token only while the token signs (the
    /// daemon's per-token lock, with the login): this builds the SignerInfo and its signed
    /// attributes, with no token call; `sign(_:)` has the token sign them (login first); the
    /// draft's `finishDetached(signature:)` (or `finish(signature:)`) completes and checks the
    /// SignedData. The certificate is checked here, at `signingTime`, and again by `sign(_:)`.
    public func prepareCMS(
        content: [UInt8], role: String, algorithm: SignatureAlgorithm? = nil,
        commitment: CommitmentType = .proofOfApproval, bindTo previous: SignedDocument? = nil,
        signingTime: Date = Date()
    ) throws -> PreparedCMSSignature {
        guard let algorithm = algorithm ?? SignatureAlgorithm.default(for: keyType) else {
            throw TokenError(.algorithmMismatch, "the key \(keyURI) is neither RSA nor EC; paysign cannot sign with it")
        }
        guard algorithm.fits(keyType) else {
            throw TokenError(.algorithmMismatch, "\(algorithm.rawValue) does not fit the \(keyType.rawValue.uppercased()) key \(keyURI)")
        }
        try checkCertificate(at: signingTime)
        let draft = try CMSBuilder.prepare(
            content: content, certificate: certificate, scheme: algorithm.scheme, role: role, commitment: commitment,
            bindTo: previous, signingTime: signingTime)
        return PreparedCMSSignature(draft: draft, algorithm: algorithm)
    }

    /// The token's signature over a prepared SignerInfo's signed attributes (`prepareCMS`). Needs a
    /// login first; the certificate is checked again now (rule D6).
    public func sign(_ prepared: PreparedCMSSignature, again: ContextLogin? = nil) async throws -> [UInt8] {
        try await sign(prepared.draft.signedAttributes, algorithm: prepared.algorithm, again: again).bytes
    }
}

/// A CMS signature under way on a token (`TokenSigner.prepareCMS`): the SignerInfo is built, the
/// token's signature over its signed attributes is still to come.
public struct PreparedCMSSignature {
    /// The SignedData with the new SignerInfo, whose signature is missing.
    public let draft: SignerDraft
    /// How the token signs: the key's default, or the algorithm asked for.
    public let algorithm: SignatureAlgorithm
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
