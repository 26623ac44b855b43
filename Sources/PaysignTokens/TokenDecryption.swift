public import PaysignOpenSSL
import PaysignPKCS11

extension TokenSigner {
    /// Opens an envelope sealed to this key's certificate (the payment center's encryption key,
    /// rule D8): the recipient's content key is decrypted on the token (`C_Decrypt`,
    /// `CKM_RSA_PKCS_OAEP` with the hash the envelope names), the content with it here, and the
    /// AES-GCM tag checked. Needs a login first. The certificate must allow key encipherment.
    public func open(_ sealed: AuthEnvelope.Sealed) async throws -> [UInt8] {
        let usage: Certificate.KeyUsage = certificate.keyAlgorithm == .ec ? .keyAgreement : .keyEncipherment
        if !certificate.keyUsage.isEmpty && !certificate.keyUsage.contains(usage) {
            throw TokenError(.certificateUnusable, "the certificate on token '\(session.token.label)' (serial \(certificate.serialNumber)) does not allow \(usage == .keyAgreement ? "key agreement" : "key encipherment"); it is no encryption certificate")
        }
        if certificate.keyAlgorithm == .ec { return try await openAgreement(sealed) }
        let recipient = try sealed.recipient(for: certificate)
        let hash: DecryptionMechanism.Hash = recipient.oaep == .sha256 ? .sha256 : .sha1
        let key = try await privateKey()
        let contentKey: [UInt8]
        do {
            contentKey = try await session.decrypt(recipient.encryptedKey, mechanism: DecryptionMechanism(oaep: hash), key: key)
        } catch let error as PKCS11Error
            where error.function == "C_DecryptInit" && [.argumentsBad, .mechanismParamInvalid, .mechanismInvalid].contains(error.returnValue)
        {
            // SoftHSM 2.6.1 decrypts OAEP with SHA-1 only (RFC 4055's default parameters).
            throw EnvelopeError(.unsupported, "the center's token does not decrypt RSAES-OAEP with \(hash.rawValue.uppercased()) (C_DecryptInit answered \(error.returnValue.map { "\($0)" } ?? "an error")); entities must seal with the OAEP hash the center names (its oaep-hash setting)")
        } catch let error as PKCS11Error where [.encryptedDataInvalid, .encryptedDataLenRange, .generalError, .functionFailed].contains(error.returnValue) {
            throw EnvelopeError(.tampered, "the envelope's encrypted key does not decrypt with the key of certificate \(certificate.serialNumber) (\(error.function) answered \(error.returnValue.map { "\($0)" } ?? "an error")); it was altered, or sealed with other OAEP parameters")
        }
        return try sealed.open(contentEncryptionKey: contentKey)
    }

    /// An envelope to an EC key (RFC 5753): the shared secret derived on the token
    /// (`C_DeriveKey`, `CKM_ECDH1_DERIVE`) from the sender's ephemeral point, then the KDF, the
    /// key unwrap and the content here.
    func openAgreement(_ sealed: AuthEnvelope.Sealed) async throws -> [UInt8] {
        let (agreement, encryptedKey) = try sealed.agreement(for: certificate)
        let key = try await privateKey()
        let secretLength = (certificate.keyBits + 7) / 8
        let secret: [UInt8]
        do {
            secret = try await session.deriveECDH(publicPoint: agreement.originatorPoint, key: key, secretLength: secretLength)
        } catch let error as PKCS11Error where error.function == "C_DeriveKey" {
            throw EnvelopeError(.tampered, "the sender's ephemeral key does not agree with the key of certificate \(certificate.serialNumber) (\(error.message))")
        }
        return try sealed.open(sharedSecret: secret, agreement: agreement, encryptedKey: encryptedKey)
    }
}
