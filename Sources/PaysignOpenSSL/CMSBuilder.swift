public import Foundation
internal import CLibCrypto
internal import CPaysignShims
import SwiftASN1

/// Makes detached CMS SignedData in the CAdES-BES profile whose signatures are computed elsewhere
/// (on a PKCS#11 token), so no private key ever passes through OpenSSL.
///
/// OpenSSL builds the SignerInfo (`CMS_add1_signer` with the certificate's *public* key and
/// `CMS_PARTIAL`, so it never signs), paysign adds the signed attributes, DER-encodes them as the
/// SET that RFC 5652 5.4 says is signed, hands those bytes to `sign`, and stores what comes back as
/// the SignerInfo's signature. `CMS_SignerInfo_sign`, which would need the private key, is never
/// called. Every signature in the result is verified, over the signed attributes exactly as the
/// file carries them, before it is returned (`SignerDraft.finish(signature:)`).
///
/// Signed attributes of every SignerInfo paysign makes:
///
/// | attribute | OID | value |
/// | --- | --- | --- |
/// | content-type | 1.2.840.113549.1.9.3 | id-data |
/// | message-digest | 1.2.840.113549.1.9.4 | SHA-256 of the content |
/// | signing-time | 1.2.840.113549.1.9.5 | `signingTime` (UTCTime until 2049) |
/// | signing-certificate-v2 | 1.2.840.113549.1.9.16.2.47 | SHA-256 of the certificate, issuer and serial (OpenSSL's `CMS_CADES`) |
/// | signer-attributes-v2 | 0.4.0.19122.1.1 | claimed id-at-role (2.5.4.72) = `role` |
/// | commitment-type-indication | 1.2.840.113549.1.9.16.2.16 | `commitment` (proof-of-approval) |
/// | paysign preceding-signature | 1.3.6.1.4.1.99999.1.1 (placeholder arc) | SHA-256 of the previous signer's signature (only with `bindTo`) |
public enum CMSBuilder {
    /// Signs `content` (detached), as the first signer, or as the next signer of `previous`.
    ///
    /// - Parameters:
    ///   - certificate: the signer's certificate; its public key must match the key `sign` uses.
    ///   - scheme: how `sign` signs: `rsaPKCS1SHA256` (SignerInfo algorithm rsaEncryption),
    ///     `rsaPSSSHA256` (RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32) or `ecdsaSHA256`.
    ///   - role: the signer's claimed role in the order ("first", "second").
    ///   - previous: the SignedData the earlier signer made over the same content. The new
    ///     SignerInfo is added to a copy of it and names the last earlier signature (the end of
    ///     `previous.signingOrder`) by its SHA-256 (rule D2). Refused when the content differs, an
    ///     earlier signature does not verify, the earlier signatures form no chain, or the same
    ///     certificate or national ID already signed. The earlier signers' certificate chains are
    ///     not checked here: verify `previous` against the trust anchors first (`verify(content:…)`).
    ///   - sign: signs the DER of the signed attributes (a SET, tag 0x31) with `scheme`, hashing
    ///     them as the scheme requires, and returns PKCS #1 / PSS bytes or a DER ECDSA-Sig-Value.
    public static func signDetached(
        content: [UInt8], certificate: Certificate, scheme: SignatureScheme, role: String,
        commitment: CommitmentType = .proofOfApproval, bindTo previous: SignedDocument? = nil,
        signingTime: Date, sign: @Sendable (_ signedAttributesDER: [UInt8]) async throws -> [UInt8]
    ) async throws -> SignedDocument {
        let draft = try prepare(
            content: content, certificate: certificate, scheme: scheme, role: role, commitment: commitment,
            bindTo: previous, signingTime: signingTime)
        let signature = try await sign(draft.signedAttributes)
        return try draft.finish(signature: signature)
    }

    /// `signDetached` in two steps, for a caller that holds the token only while it signs: this
    /// builds the SignerInfo (every check on `previous` included) and the bytes to sign
    /// (`SignerDraft.signedAttributes`); `SignerDraft.finishDetached(signature:)` or
    /// `finish(signature:)` stores the signature and checks it.
    public static func prepare(
        content: [UInt8], certificate: Certificate, scheme: SignatureScheme, role: String,
        commitment: CommitmentType = .proofOfApproval, bindTo previous: SignedDocument? = nil, signingTime: Date
    ) throws -> SignerDraft {
        try SignerDraft(
            content: content, certificate: certificate, scheme: scheme, role: role, commitment: commitment,
            previous: previous, signingTime: signingTime)
    }
}

/// A new signature in its SignedData as `SignerDraft.finishDetached(signature:)` returns it: the DER
/// to store and the new SignerInfo's signature, checked but not parsed into a `SignedDocument`
/// (`SignedDocument(derEncoded:)` reads the file when its signers are wanted).
public struct DetachedSignature: Sendable, Hashable {
    /// The SignedData (DER) with every SignerInfo, the new one included.
    public let derEncoded: [UInt8]
    /// The new SignerInfo's signature value.
    public let signature: [UInt8]
    /// SHA-256 of `signature`: what the next signer's preceding-signature attribute holds (D2).
    public let signatureDigest: [UInt8]
}

/// A SignedData with one new SignerInfo whose signature is still missing (`CMSBuilder.prepare`).
/// Owns its `CMS_ContentInfo`; one task uses it, from `prepare` to a `finish`.
public final class SignerDraft {
    private let cms: OpaquePointer
    /// The new SignerInfo (owned by `cms`).
    private let info: OpaquePointer
    private let contentDigest: [UInt8]
    private let certificate: Certificate
    private let scheme: SignatureScheme
    /// Whether the SignedData holds earlier signers (`bindTo`).
    private let followsEarlierSigners: Bool
    /// DER of the signed attributes as a SET OF Attribute: the bytes the signature covers.
    public let signedAttributes: [UInt8]

    init(content: [UInt8], certificate: Certificate, scheme: SignatureScheme, role: String, commitment: CommitmentType,
         previous: SignedDocument?, signingTime: Date) throws {
        OpenSSLError.clearQueue()
        guard scheme.fits(certificate.keyAlgorithm) else {
            throw OpenSSLError(.unsupportedKey, "\(scheme.rawValue) does not fit the \(certificate.keyAlgorithm.rawValue.uppercased()) key of certificate \(certificate.serialNumber)")
        }
        guard !role.isEmpty else {
            throw OpenSSLError(.internalError, "a signer's role is empty; paysign names it (\"first\", \"second\")")
        }
        self.certificate = certificate
        self.scheme = scheme
        followsEarlierSigners = previous != nil
        contentDigest = SHA256.hash(content)

        var preceding: [UInt8]?
        let cms: OpaquePointer
        if let previous {
            try Self.checkPrevious(previous, contentDigest: contentDigest, certificate: certificate)
            guard let last = previous.signingOrder?.last else {
                throw CMSError(.orderUnproven, "the \(previous.signers.count) earlier signatures do not form one chain of preceding-signature bindings; paysign cannot tell which one is the last to sign after")
            }
            preceding = last.signatureDigest
            cms = try CMSHandle.parse(previous.derEncoded)
        } else {
            guard let made = CMS_sign(nil, nil, nil, nil, UInt32(CMS_PARTIAL | CMS_DETACHED | CMS_BINARY)) else {
                throw OpenSSLError(.internalError, "OpenSSL could not start a CMS SignedData")
            }
            cms = made
        }
        var built = false
        defer { if !built { CMS_ContentInfo_free(cms) } }
        guard let key = X509_get0_pubkey(certificate.x509) else {
            throw OpenSSLError(.unsupportedKey, "the certificate \(certificate.serialNumber) has no usable public key")
        }
        // The public key stands in for the private one: CMS_add1_signer only compares it with the
        // certificate's, and CMS_PARTIAL keeps it from signing. CMS_CADES adds signing-certificate-v2.
        let flags = UInt32(CMS_PARTIAL | CMS_BINARY | CMS_NOSMIMECAP | CMS_CADES)
        guard let info = CMS_add1_signer(cms, certificate.x509, key, EVP_sha256(), flags) else {
            throw OpenSSLError(.internalError, "OpenSSL could not add a signer for certificate \(certificate.serialNumber)")
        }
        try Self.addAttributes(
            info, contentDigest: contentDigest, signingTime: signingTime, role: role, commitment: commitment,
            preceding: preceding)
        if scheme == .rsaPSSSHA256 { try Self.setPSSAlgorithm(info) }
        signedAttributes = try Self.encodeSignedAttributes(info)
        self.info = info
        self.cms = cms
        built = true
    }

    deinit { CMS_ContentInfo_free(cms) }

    /// Stores the signature, encodes the SignedData, parses it back and verifies every signature in
    /// it over its signed attributes (so what is returned is what a verifier will read).
    public func finish(signature: [UInt8]) throws -> SignedDocument {
        let der = try encode(signature: signature)
        return try check(SignedDocument(derEncoded: der), signature: signature)
    }

    /// Stores the signature and encodes the SignedData, checked as `finish(signature:)` checks it
    /// but without building a `SignedDocument` when the caller wants only the file and the new
    /// signature (the daemon stores both).
    ///
    /// A first signer's file is not parsed back: the new signature is verified with the
    /// certificate's key over the signed attributes, and the file must carry those very bytes as
    /// the SignerInfo's `signedAttrs` (what every verifier re-encodes and checks), the signature
    /// and the certificate. After earlier signers the file is parsed back and every SignerInfo
    /// verified, as in `finish(signature:)`: re-encoding them must not have broken one.
    public func finishDetached(signature: [UInt8]) throws -> DetachedSignature {
        let der = try encode(signature: signature)
        if followsEarlierSigners {
            _ = try check(SignedDocument(derEncoded: der), signature: signature)
        } else {
            try checkFirst(der, signature: signature)
        }
        return DetachedSignature(derEncoded: der, signature: signature, signatureDigest: SHA256.hash(signature))
    }

    /// The signature stored in the SignerInfo, and the SignedData's DER.
    private func encode(signature: [UInt8]) throws -> [UInt8] {
        OpenSSLError.clearQueue()  // the token's library may have left errors on this thread
        guard !signature.isEmpty else {
            throw CMSError(.signatureRejected, "the token returned an empty signature for certificate \(certificate.serialNumber)")
        }
        let stored = signature.withUnsafeBufferPointer { buffer in
            ASN1_STRING_set(CMS_SignerInfo_get0_signature(info), buffer.baseAddress, Int32(buffer.count))
        }
        guard stored == 1 else { throw OpenSSLError(.internalError, "OpenSSL could not store the signature") }
        return try CMSHandle.encode(cms)
    }

    /// A first signer's file, unparsed: the signature verifies over `signedAttributes`, and the
    /// file holds them as `[0] IMPLICIT SET OF Attribute`, the signature as an OCTET STRING and
    /// the certificate.
    private func checkFirst(_ der: [UInt8], signature: [UInt8]) throws {
        guard try certificate.verify(signature: signature, over: signedAttributes, scheme: scheme) else {
            throw CMSError(.signatureRejected, "the signature made with the key of certificate \(certificate.serialNumber) does not verify over its signed attributes; the token's key does not match the certificate, or it signed other bytes")
        }
        // signedAttributes is 0x31 (SET), length, contents; the SignerInfo carries the same length
        // and contents under the tag [0] (0xA0).
        var carried = signedAttributes
        carried[0] = 0xA0
        let octetString = [0x04] + Self.derLength(signature.count) + signature
        guard Self.contains(der, carried), Self.contains(der, octetString), Self.contains(der, certificate.derEncoded)
        else {
            throw OpenSSLError(.internalError, "the encoded SignedData does not carry the signed attributes, the signature and the certificate of the new signer as they were signed")
        }
    }

    /// Whether `needle` occurs in `haystack`.
    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, needle.count <= haystack.count else { return needle.isEmpty }
        return haystack.withUnsafeBufferPointer { hay in
            needle.withUnsafeBufferPointer { pin in
                var start = 0
                let last = hay.count - pin.count
                while start <= last {
                    guard let hit = hay[start...last].firstIndex(of: first) else { return false }
                    if memcmp(hay.baseAddress! + hit, pin.baseAddress!, pin.count) == 0 { return true }
                    start = hit + 1
                }
                return false
            }
        }
    }

    /// `finish(signature:)`'s checks on the parsed file.
    private func check(_ document: SignedDocument, signature: [UInt8]) throws -> SignedDocument {
        // DER sorts the SignerInfos, so the new one is found by its signature, not its position.
        guard let new = document.signers.first(where: { $0.signature == signature }),
            new.messageDigest == contentDigest
        else {
            throw OpenSSLError(.internalError, "the re-read SignedData does not hold the new signature over this content")
        }
        try document.withCMS { parsed in
            for (position, parsedInfo) in CMSHandle.signerInfos(parsed).enumerated() {
                guard CMS_SignerInfo_verify(parsedInfo) != 1 else { continue }
                if position == new.index {
                    throw CMSError(.signatureRejected, "the signature made with the key of certificate \(certificate.serialNumber) does not verify over its signed attributes; the token's key does not match the certificate, or it signed other bytes")
                }
                throw CMSError(.previousSignatureInvalid, "an earlier signature no longer verifies once the SignedData is re-encoded; the earlier file is not DER")
            }
        }
        OpenSSLError.clearQueue()
        guard document.signingOrder?.last?.index == new.index else {
            throw OpenSSLError(.internalError, "the re-read SignedData does not prove the new signature came last")
        }
        return document
    }

    // MARK: Steps

    /// Rule D2: the next signature is over the same content, by someone else, after valid ones.
    private static func checkPrevious(_ previous: SignedDocument, contentDigest: [UInt8], certificate: Certificate) throws {
        for signer in previous.signers {
            let who = signer.certificate?.commonName ?? signer.certificate?.subject ?? "serial \(signer.serialNumber)"
            guard signer.messageDigest == contentDigest else {
                throw CMSError(.contentMismatch, "the earlier signature by \(who) covers other content than the one to be signed now; every signature of an order is over the same content")
            }
            if let earlier = signer.certificate {
                let samePerson = earlier.subjectSerialNumber != nil && earlier.subjectSerialNumber == certificate.subjectSerialNumber
                guard earlier != certificate, !samePerson else {
                    throw CMSError(.sameSigner, "\(who) already signed this order; the next signature must be by a different person")
                }
            }
        }
        try previous.withCMS { cms in
            for (position, info) in CMSHandle.signerInfos(cms).enumerated() {
                guard CMS_SignerInfo_verify(info) != 1 else { continue }
                throw CMSError(.previousSignatureInvalid, "SignerInfo \(position + 1) of the earlier file does not verify (\(OpenSSLError.drainQueue().joined(separator: "; "))); paysign does not sign after it")
            }
        }
        OpenSSLError.clearQueue()
    }

    private static func addAttributes(_ info: OpaquePointer, contentDigest: [UInt8], signingTime: Date, role: String,
                                      commitment: CommitmentType, preceding: [UInt8]?) throws {
        // content-type: id-data (RFC 5652 11.1).
        guard let data = OBJ_nid2obj(NID_pkcs7_data),
            CMS_signed_add1_attr_by_NID(info, NID_pkcs9_contentType, V_ASN1_OBJECT, UnsafeRawPointer(data), -1) == 1
        else { throw OpenSSLError(.internalError, "OpenSSL could not add the content-type attribute") }

        // signing-time (RFC 5652 11.3): UTCTime until 2049, GeneralizedTime after, as RFC 5280 says.
        guard let time = ASN1_TIME_set(nil, time_t(signingTime.timeIntervalSince1970.rounded(.down))) else {
            throw OpenSSLError(.internalError, "OpenSSL could not encode the signing time \(signingTime)")
        }
        defer { ASN1_TIME_free(time) }
        guard CMS_signed_add1_attr_by_NID(info, NID_pkcs9_signingTime, time.pointee.type, UnsafeRawPointer(time), -1) == 1 else {
            throw OpenSSLError(.internalError, "OpenSSL could not add the signing-time attribute")
        }

        // message-digest (RFC 5652 11.2).
        try add(info, nid: NID_pkcs9_messageDigest, type: V_ASN1_OCTET_STRING, value: contentDigest, name: "message-digest")

        // signer-attributes-v2 with the claimed role, and commitment-type-indication.
        try add(info, oid: CMSObjectIdentifiers.signerAttributesV2, type: V_ASN1_SEQUENCE,
                value: derBytes(SignerAttributeV2(claimedRole: role)), name: "signer-attributes-v2")
        try add(info, oid: CMSObjectIdentifiers.commitmentType, type: V_ASN1_SEQUENCE,
                value: derBytes(CommitmentTypeIndication(commitmentTypeID: commitment.oid)), name: "commitment-type-indication")

        // paysign's preceding-signature binding (rule D2).
        if let preceding {
            try add(info, oid: CMSObjectIdentifiers.precedingSignature, type: V_ASN1_OCTET_STRING, value: preceding,
                    name: "preceding-signature")
        }
    }

    /// Adds a signed attribute whose value is `value`: the contents of an OCTET STRING, or the
    /// whole DER of a SEQUENCE (OpenSSL keeps an ANY of type SEQUENCE as its full encoding).
    private static func add(_ info: OpaquePointer, nid: Int32 = NID_undef, oid: ASN1ObjectIdentifier? = nil, type: Int32,
                            value: [UInt8], name: String) throws {
        let added: Int32? = value.withUnsafeBytes { buffer in
            if let oid {
                return CMSHandle.withObject(oid) { object in
                    CMS_signed_add1_attr_by_OBJ(info, object, type, buffer.baseAddress, Int32(buffer.count))
                }
            }
            return CMS_signed_add1_attr_by_NID(info, nid, type, buffer.baseAddress, Int32(buffer.count))
        }
        guard added == 1 else { throw OpenSSLError(.internalError, "OpenSSL could not add the \(name) attribute") }
    }

    /// RSASSA-PSS parameters (RFC 4055 3.1) for SHA-256, MGF1 with SHA-256, a 32-byte salt and the
    /// default trailer, as OpenSSL itself writes them (hash parameters NULL):
    ///
    /// ```
    /// RSASSA-PSS-params ::= SEQUENCE {
    ///     hashAlgorithm     [0] HashAlgorithm DEFAULT sha1,          -- sha256, NULL
    ///     maskGenAlgorithm  [1] MaskGenAlgorithm DEFAULT mgf1SHA1,   -- mgf1, { sha256, NULL }
    ///     saltLength        [2] INTEGER DEFAULT 20,                  -- 32
    ///     trailerField      [3] TrailerField DEFAULT trailerFieldBC }
    /// ```
    static let pssParameters: [UInt8] = [
        0x30, 0x34,
        0xA0, 0x0F, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
        0xA1, 0x1C, 0x30, 0x1A, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x08,
        0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
        0xA2, 0x03, 0x02, 0x01, 0x20,
    ]

    /// OpenSSL names the signature algorithm from the key (rsaEncryption for RSA, since no padding
    /// was set on a key context it never made); PSS has to be written by hand.
    private static func setPSSAlgorithm(_ info: OpaquePointer) throws {
        var algorithm: UnsafeMutablePointer<X509_ALGOR>?
        CMS_SignerInfo_get0_algs(info, nil, nil, nil, &algorithm)
        guard let algorithm, let parameters = ASN1_STRING_new() else {
            throw OpenSSLError(.internalError, "OpenSSL could not set the RSASSA-PSS algorithm")
        }
        guard ASN1_STRING_set(parameters, pssParameters, Int32(pssParameters.count)) == 1,
            X509_ALGOR_set0(algorithm, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE, UnsafeMutableRawPointer(parameters)) == 1
        else {
            ASN1_STRING_free(parameters)
            throw OpenSSLError(.internalError, "OpenSSL could not set the RSASSA-PSS algorithm")
        }
    }

    /// The signed attributes as RFC 5652 5.4 says they are signed: a DER SET OF Attribute, tag 0x31.
    ///
    /// OpenSSL does this with `ASN1_item_i2d(…, ASN1_ITEM_rptr(CMS_Attributes_Sign))`, but
    /// `CMS_Attributes_Sign` is not exported from libcrypto 3.0; so each Attribute is encoded with
    /// `i2d_X509_ATTRIBUTE` and the encodings are sorted as DER sorts a SET OF (X.690 11.6, and
    /// OpenSSL's own order: bytewise, a prefix first), which is also the order OpenSSL writes them
    /// into the SignerInfo and re-encodes them in to verify.
    private static func encodeSignedAttributes(_ info: OpaquePointer) throws -> [UInt8] {
        var encodings: [[UInt8]] = []
        for position in 0..<max(0, CMS_signed_get_attr_count(info)) {
            guard let attribute = CMS_signed_get_attr(info, position) else { continue }
            var der: UnsafeMutablePointer<UInt8>?
            let length = i2d_X509_ATTRIBUTE(attribute, &der)
            guard length > 0, let der else { throw OpenSSLError(.internalError, "a signed attribute could not be DER-encoded") }
            encodings.append(Array(UnsafeBufferPointer(start: der, count: Int(length))))
            CPaysignShims_OPENSSL_free(der)
        }
        guard !encodings.isEmpty else { throw OpenSSLError(.internalError, "the SignerInfo has no signed attributes") }
        encodings.sort { $0.lexicographicallyPrecedes($1) }
        let body = encodings.flatMap { $0 }
        return [0x31] + derLength(body.count) + body
    }

    /// A DER length octet sequence (X.690 8.1.3): short form below 128, else long form.
    static func derLength(_ length: Int) -> [UInt8] {
        guard length >= 0x80 else { return [UInt8(length)] }
        var bytes: [UInt8] = []
        var rest = length
        while rest > 0 {
            bytes.insert(UInt8(rest & 0xFF), at: 0)
            rest >>= 8
        }
        return [0x80 | UInt8(bytes.count)] + bytes
    }
}

extension SignatureScheme {
    func fits(_ key: Certificate.KeyAlgorithm) -> Bool {
        switch self {
        case .rsaPKCS1SHA256, .rsaPSSSHA256: return key == .rsa
        case .ecdsaSHA256: return key == .ec
        }
    }
}
