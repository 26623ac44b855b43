public import Foundation
internal import CLibCrypto
internal import CPaysignShims

/// The outcome of checking a `SignedDocument` against its content and trust anchors. A value, not
/// an error: a signature that does not verify is a finding to report, per signer.
public struct CMSVerification: Sendable, Hashable {
    /// OpenSSL's own verdict on the whole file (`CMS_verify` with `CMS_CADES`, purpose any), the
    /// same as `openssl cms -verify -cades -binary -purpose any`: every signer, chain and
    /// signing-certificate-v2.
    public var openSSLVerified: Bool
    /// OpenSSL's reasons when it refused (its error queue), oldest first.
    public var openSSLReasons: [String]
    /// One check per SignerInfo, in the file's order.
    public var signers: [SignerCheck]

    /// OpenSSL accepts the file and every signer passes each of paysign's checks.
    public var isValid: Bool { openSSLVerified && !signers.isEmpty && signers.allSatisfy(\.isValid) }
}

/// What was checked for one SignerInfo.
public struct SignerCheck: Sendable, Hashable {
    public var signer: SignerSummary
    /// The signature verifies over the signed attributes with the certificate's key.
    public var signatureValid: Bool
    /// The message-digest attribute is the SHA-256 of the content given.
    public var contentMatches: Bool
    /// The certificate chains to one of the trust anchors at the verification time.
    public var certificateTrusted: Bool
    /// signing-certificate-v2 names this signer's certificate (CAdES-BES).
    public var signingCertificateMatches: Bool
    /// The preceding-signature attribute, when present, names an earlier signature in the file.
    public var bindingResolved: Bool
    /// One sentence per failed check; empty when the signer is valid.
    public var problems: [String]

    public var isValid: Bool { problems.isEmpty }
}

extension SignedDocument {
    /// Checks every signature over `content`, with `trustAnchors` as the only trusted roots (no
    /// system store), at `time` (now when nil). Purpose "any": the payment PKI's certificates need
    /// no S/MIME extended key usage. Throws only when OpenSSL cannot run the checks at all.
    public func verify(content: [UInt8], trustAnchors: [Certificate], at time: Date? = nil) throws -> CMSVerification {
        try withCMS { cms in
            OpenSSLError.clearQueue()
            guard let store = X509_STORE_new() else { throw OpenSSLError(.internalError, "X509_STORE_new failed") }
            defer { X509_STORE_free(store) }
            for anchor in trustAnchors {
                guard X509_STORE_add_cert(store, anchor.x509) == 1 else {
                    throw OpenSSLError(.internalError, "the trust anchor \(anchor.subject) could not be added to the store")
                }
            }
            _ = X509_STORE_set_purpose(store, X509_PURPOSE_ANY)
            if let time, let parameters = X509_STORE_get0_param(store) {
                X509_VERIFY_PARAM_set_time(parameters, time_t(time.timeIntervalSince1970.rounded(.down)))
            }

            // OpenSSL's verdict on the whole file.
            let verified = Self.withMemoryBIO(content) { bio in
                CMS_verify(cms, nil, store, bio, nil, UInt32(CMS_BINARY | CMS_CADES)) == 1
            }
            let reasons = verified ? [] : OpenSSLError.drainQueue()
            OpenSSLError.clearQueue()

            // paysign's per-signer view of the same checks.
            let digest = SHA256.hash(content)
            let untrusted = CMS_get1_certs(cms)
            defer { OPENSSL_sk_pop_free(untrusted, { X509_free(OpaquePointer($0)) }) }
            var checks: [SignerCheck] = []
            for (index, info) in CMSHandle.signerInfos(cms).enumerated() where index < signers.count {
                checks.append(Self.check(info, summary: signers[index], digest: digest, store: store, untrusted: untrusted))
            }
            OpenSSLError.clearQueue()
            return CMSVerification(openSSLVerified: verified, openSSLReasons: reasons, signers: checks)
        }
    }

    private static func check(_ info: OpaquePointer, summary: SignerSummary, digest: [UInt8], store: OpaquePointer,
                              untrusted: OpaquePointer?) -> SignerCheck {
        var problems: [String] = []
        let who = "SignerInfo \(summary.index + 1)" + (summary.certificate?.commonName.map { " (\($0))" } ?? "")
        var signer: OpaquePointer?
        CMS_SignerInfo_get0_algs(info, nil, &signer, nil, nil)

        let signatureValid = signer != nil && CMS_SignerInfo_verify(info) == 1
        if signer == nil {
            problems.append("\(who): the file does not carry the signer's certificate (issuer \(summary.issuer), serial \(summary.serialNumber))")
        } else if !signatureValid {
            problems.append("\(who): the signature does not verify with the certificate's key" + reason())
        }
        OpenSSLError.clearQueue()

        let contentMatches = summary.scheme != nil && summary.messageDigest == digest
        if summary.scheme == nil {
            problems.append("\(who): the algorithms are not SHA-256 with RSA, RSASSA-PSS or ECDSA")
        } else if !contentMatches {
            problems.append("\(who): it was made over other content (the message digest differs)")
        }

        var trusted = false
        var signingCertificateMatches = false
        if let signer {
            if let context = X509_STORE_CTX_new() {
                if X509_STORE_CTX_init(context, store, signer, untrusted) == 1 {
                    _ = X509_STORE_CTX_set_default(context, "smime_sign")
                    trusted = X509_verify_cert(context) == 1
                    if !trusted {
                        let error = X509_STORE_CTX_get_error(context)
                        let text = X509_verify_cert_error_string(Int(error)).map { String(cString: $0) } ?? "error \(error)"
                        problems.append("\(who): the certificate is not trusted: \(text)")
                    }
                }
                X509_STORE_CTX_free(context)
            }
            OpenSSLError.clearQueue()
            switch CPaysignShims_CMS_SignerInfo_check_signing_certificate(info, signer) {
            case 1: signingCertificateMatches = true
            case -1: problems.append("\(who): no signing-certificate-v2 attribute (required by CAdES-BES)")
            default: problems.append("\(who): signing-certificate-v2 names another certificate" + reason())
            }
            OpenSSLError.clearQueue()
        }

        let bindingResolved = summary.precedingSignatureDigest == nil || summary.precededBy != nil
        if !bindingResolved {
            problems.append("\(who): its preceding-signature attribute names a signature that is not in this file")
        }
        return SignerCheck(
            signer: summary, signatureValid: signatureValid, contentMatches: contentMatches, certificateTrusted: trusted,
            signingCertificateMatches: signingCertificateMatches, bindingResolved: bindingResolved, problems: problems)
    }

    /// OpenSSL's reasons, if any, as a parenthesis.
    private static func reason() -> String {
        let reasons = OpenSSLError.drainQueue()
        return reasons.isEmpty ? "" : " (" + reasons.joined(separator: "; ") + ")"
    }

    /// A read-only memory BIO over `bytes` for the duration of `body`.
    private static func withMemoryBIO<Result>(_ bytes: [UInt8], _ body: (OpaquePointer?) -> Result) -> Result {
        // BIO_new_mem_buf refuses a NULL buffer, which an empty array may give.
        let backing = bytes.isEmpty ? [0] : bytes
        return backing.withUnsafeBytes { buffer in
            let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(bytes.count))
            defer { BIO_free(bio) }
            return body(bio)
        }
    }
}
