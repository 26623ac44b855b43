internal import CLibCrypto

/// The signature schemes paysign makes and checks, named as `TokenSigner` names them.
public enum SignatureScheme: String, Sendable, Hashable, Codable, CaseIterable {
    case rsaPKCS1SHA256 = "rsa-pkcs1-sha256"
    case rsaPSSSHA256 = "rsa-pss-sha256"
    case ecdsaSHA256 = "ecdsa-sha256"
}

extension Certificate {
    /// Checks `signature` over `message` with this certificate's public key (EVP_DigestVerify),
    /// SHA-256 in every scheme; PSS with MGF1-SHA-256 and a 32-byte salt. ECDSA signatures are DER.
    /// Returns false for a signature that does not verify, throws only when OpenSSL cannot try.
    public func verify(signature: [UInt8], over message: [UInt8], scheme: SignatureScheme) throws -> Bool {
        OpenSSLError.clearQueue()
        guard let key = X509_get0_pubkey(x509) else {
            throw OpenSSLError(.unsupportedKey, "the certificate \(serialNumber) has no usable public key")
        }
        guard let context = EVP_MD_CTX_new() else { throw OpenSSLError(.internalError, "EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        guard EVP_DigestVerifyInit(context, &keyContext, EVP_sha256(), nil, key) == 1 else {
            throw OpenSSLError(.unsupportedKey, "the key of certificate \(serialNumber) cannot verify \(scheme.rawValue)")
        }
        switch scheme {
        case .rsaPSSSHA256:
            guard keyAlgorithm == .rsa,
                EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1,
                EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, 32) == 1,
                EVP_PKEY_CTX_set_rsa_mgf1_md(keyContext, EVP_sha256()) == 1
            else { throw OpenSSLError(.unsupportedKey, "PSS needs an RSA key") }
        case .rsaPKCS1SHA256:
            guard keyAlgorithm == .rsa else { return false }
        case .ecdsaSHA256:
            guard keyAlgorithm == .ec else { return false }
        }
        let result = signature.withUnsafeBufferPointer { sig in
            message.withUnsafeBufferPointer { msg in
                EVP_DigestVerify(context, sig.baseAddress, sig.count, msg.baseAddress, msg.count)
            }
        }
        OpenSSLError.clearQueue()
        return result == 1
    }
}

extension Certificate {
    /// `verify(signature:over:scheme:)` for a batch: the same check (SHA-256 of `message`, then the
    /// public-key operation with the same padding and digest), on the calling thread's reusable
    /// context for this certificate and scheme (`ThreadCrypto`) instead of a context made and
    /// fetched anew per signature. False for a signature that does not verify, a key of another
    /// algorithm than the scheme's, or anything OpenSSL refuses.
    public func verifyReusingContext(signature: [UInt8], over message: [UInt8], scheme: SignatureScheme) -> Bool {
        switch scheme {
        case .rsaPKCS1SHA256, .rsaPSSSHA256: guard keyAlgorithm == .rsa else { return false }
        case .ecdsaSHA256: guard keyAlgorithm == .ec else { return false }
        }
        let crypto = ThreadCrypto.current
        guard let context = crypto.verifier(for: self, scheme: scheme) else {
            return (try? verify(signature: signature, over: message, scheme: scheme)) ?? false
        }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { digest in
            guard message.withUnsafeBytes({ crypto.sha256($0, into: digest.baseAddress!) }) else { return false }
            let result = signature.withUnsafeBufferPointer { sig in
                EVP_PKEY_verify(context, sig.baseAddress, sig.count, digest.baseAddress, 32)
            }
            if result != 1 { OpenSSLError.clearQueue() }
            return result == 1
        }
    }
}
