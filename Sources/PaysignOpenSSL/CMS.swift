public import Foundation
internal import CLibCrypto
internal import CPaysignShims
import SwiftASN1

/// A detached CMS SignedData (RFC 5652 5.1) in the CAdES-BES profile (ETSI EN 319 122-1): the
/// signatures of one payment order, kept apart from the order's content (a `.p7s` file).
///
/// ```
/// ContentInfo ::= SEQUENCE {
///     contentType  ContentType,             -- id-signedData
///     content      [0] EXPLICIT ANY DEFINED BY contentType }
/// SignedData ::= SEQUENCE {
///     version           CMSVersion,
///     digestAlgorithms  DigestAlgorithmIdentifiers,
///     encapContentInfo  EncapsulatedContentInfo,  -- id-data, eContent absent (detached)
///     certificates      [0] IMPLICIT CertificateSet OPTIONAL,
///     crls              [1] IMPLICIT RevocationInfoChoices OPTIONAL,
///     signerInfos       SignerInfos }
/// ```
/// Owns its `CMS_ContentInfo*` and frees it in `deinit`. The DER it was made from or parsed from is
/// kept (`derEncoded`): the signatures cover bytes inside it, and a later signer adds to a fresh
/// parse of those bytes, never to this object.
public final class SignedDocument: @unchecked Sendable {
    // @unchecked Sendable: the CMS_ContentInfo is only touched while `lock` is held (OpenSSL's
    // verification caches signer keys in it); everything else is immutable after init.
    private let cms: OpaquePointer
    private let lock = NSLock()
    /// The DER encoding, as written to a `.p7s` file.
    public let derEncoded: [UInt8]
    /// Every SignerInfo, in the file's order. DER sorts a SET OF, so OpenSSL writes SignerInfos
    /// sorted by their encoding: this order says nothing about who signed first (`signingOrder` does).
    public let signers: [SignerSummary]
    /// The signers from first to last, as the preceding-signature attributes prove it (rule D2):
    /// one signer without the attribute, then each one bound to the signature before it. Nil when
    /// the signers do not form one such chain (a second unbound signer, a binding to a signature
    /// that is not in the file, two signers bound to the same one).
    public let signingOrder: [SignerSummary]?

    /// Parses a `.p7s` file. Throws `OpenSSLError` (`.malformedSignature`) with a sentence that says
    /// what is wrong, never crashes on bad bytes: not DER, trailing bytes, not SignedData, content
    /// embedded instead of detached, or no signer at all.
    public convenience init(derEncoded: [UInt8]) throws {
        let cms = try CMSHandle.parse(derEncoded)
        try self.init(owning: cms, der: derEncoded)
    }

    /// Takes ownership of `cms` (freed here even when this throws).
    init(owning cms: OpaquePointer, der: [UInt8]) throws {
        do {
            // Matches each SignerInfo to its certificate inside the SignedData (issuer and serial).
            _ = CMS_set1_signers_certs(cms, nil, 0)
            OpenSSLError.clearQueue()
            let infos = CMSHandle.signerInfos(cms)
            var summaries: [SignerSummary] = []
            for (index, info) in infos.enumerated() {
                summaries.append(try SignerSummary(index: index, info: info))
            }
            // Resolve each binding to the signer it names, by the hash of that signer's signature.
            for index in summaries.indices {
                guard let bound = summaries[index].precedingSignatureDigest else { continue }
                summaries[index].precededBy = summaries.first { $0.index != index && $0.signatureDigest == bound }?.index
            }
            self.signers = summaries
            self.signingOrder = Self.chain(summaries)
        } catch {
            CMS_ContentInfo_free(cms)
            throw error
        }
        self.cms = cms
        self.derEncoded = der
    }

    deinit { CMS_ContentInfo_free(cms) }

    /// The one chain of bindings through every signer, from the unbound first one; nil if none.
    static func chain(_ signers: [SignerSummary]) -> [SignerSummary]? {
        let unbound = signers.filter { $0.precedingSignatureDigest == nil }
        guard unbound.count == 1 else { return nil }
        var order = unbound
        while order.count < signers.count {
            let next = signers.filter { $0.precededBy == order[order.count - 1].index }
            guard next.count == 1 else { return nil }
            order.append(next[0])
        }
        return order
    }

    /// Runs `body` with exclusive use of the `CMS_ContentInfo`.
    func withCMS<Result>(_ body: (OpaquePointer) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(cms)
    }
}

/// One SignerInfo of a `SignedDocument`, as read from the file (nothing here is verified yet; see
/// `SignedDocument.verify`).
///
/// ```
/// SignerInfo ::= SEQUENCE {
///     version             CMSVersion,
///     sid                 SignerIdentifier,       -- issuerAndSerialNumber
///     digestAlgorithm     DigestAlgorithmIdentifier,
///     signedAttrs         [0] IMPLICIT SignedAttributes OPTIONAL,
///     signatureAlgorithm  SignatureAlgorithmIdentifier,
///     signature           SignatureValue,
///     unsignedAttrs       [1] IMPLICIT UnsignedAttributes OPTIONAL }
/// ```
public struct SignerSummary: Sendable, Hashable {
    /// Position in the file's SignerInfos, from 0 (DER order, not signing order).
    public var index: Int
    /// The signer's certificate, when the SignedData carries it (paysign always includes it).
    public var certificate: Certificate?
    /// The SignerIdentifier: issuer (RFC 2253) and serial (upper-case hex) of the signer's certificate.
    public var issuer: String
    public var serialNumber: String
    /// The signature scheme, when it is one paysign makes (SHA-256 digest and a known algorithm).
    public var scheme: SignatureScheme?
    /// The claimed signing time (signing-time attribute); not proof of time without a time-stamp.
    public var signingTime: Date?
    /// The role the signer claims (signer-attributes-v2, id-at-role): "first" or "second" in paysign.
    public var role: String?
    /// The commitment-type-indication.
    public var commitment: CommitmentType?
    /// The message-digest attribute: SHA-256 of the content the signer signed.
    public var messageDigest: [UInt8]?
    /// The signature value (PKCS #1 v1.5 or PSS bytes, or a DER ECDSA-Sig-Value).
    public var signature: [UInt8]
    /// SHA-256 of `signature`: what a later signer's preceding-signature attribute holds.
    public var signatureDigest: [UInt8]
    /// This signer's preceding-signature attribute (`CMSObjectIdentifiers.precedingSignature`).
    public var precedingSignatureDigest: [UInt8]?
    /// The `index` of the earlier signer whose signature `precedingSignatureDigest` names; nil when
    /// the attribute is absent or names no signer in this file.
    public var precededBy: Int?

    init(index: Int, info: OpaquePointer) throws {
        self.index = index
        var signer: OpaquePointer?
        var digestAlgorithm: UnsafeMutablePointer<X509_ALGOR>?
        var signatureAlgorithm: UnsafeMutablePointer<X509_ALGOR>?
        CMS_SignerInfo_get0_algs(info, nil, &signer, &digestAlgorithm, &signatureAlgorithm)
        if let signer {
            certificate = try CMSHandle.certificate(signer)
        }
        var keyID: UnsafeMutablePointer<ASN1_OCTET_STRING>?
        var issuerName: OpaquePointer?
        var serial: UnsafeMutablePointer<ASN1_INTEGER>?
        if CMS_SignerInfo_get0_signer_id(info, &keyID, &issuerName, &serial) == 1, let issuerName, let serial {
            issuer = CMSHandle.name(issuerName)
            serialNumber = CMSHandle.serial(serial)
        } else {
            issuer = certificate?.issuer ?? ""
            serialNumber = certificate?.serialNumber ?? ""
        }
        scheme = CMSHandle.scheme(digest: digestAlgorithm, signature: signatureAlgorithm)
        signingTime = CMSHandle.signingTime(info)
        messageDigest = CMSHandle.octets(info, oid: OBJ_nid2obj(NID_pkcs9_messageDigest))
        precedingSignatureDigest = CMSHandle.withObject(CMSObjectIdentifiers.precedingSignature) {
            CMSHandle.octets(info, oid: $0)
        }
        role = CMSHandle.withObject(CMSObjectIdentifiers.signerAttributesV2) { oid in
            CMSHandle.sequence(info, oid: oid).flatMap { try? SignerAttributeV2(derEncoded: $0).claimedRole }
        }
        commitment = CMSHandle.withObject(CMSObjectIdentifiers.commitmentType) { oid in
            CMSHandle.sequence(info, oid: oid)
                .flatMap { try? CommitmentTypeIndication(derEncoded: $0) }
                .flatMap { CommitmentType(oid: $0.commitmentTypeID) }
        }
        signature = CMSHandle.bytes(CMS_SignerInfo_get0_signature(info)) ?? []
        signatureDigest = SHA256.hash(signature)
        OpenSSLError.clearQueue()
    }
}

/// A refusal by paysign's own CMS checks (as opposed to OpenSSL failing, `OpenSSLError`).
public struct CMSError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case contentMismatch = "content-mismatch"
            case sameSigner = "same-signer"
            case signatureRejected = "signature-rejected"
            case previousSignatureInvalid = "previous-signature-invalid"
            case orderUnproven = "order-unproven"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        public var description: String { base.rawValue }

        /// A later signature would cover other content than the earlier one (rule D2).
        public static let contentMismatch = Code(.contentMismatch)
        /// The same certificate or the same person (national ID) would sign twice (rule D2).
        public static let sameSigner = Code(.sameSigner)
        /// The signature the token returned does not verify over the signed attributes.
        public static let signatureRejected = Code(.signatureRejected)
        /// An earlier signature in the file does not verify; paysign does not sign after it.
        public static let previousSignatureInvalid = Code(.previousSignatureInvalid)
        /// The earlier signatures do not form one chain of bindings, so there is no last one to
        /// bind the next signature to (rule D2).
        public static let orderUnproven = Code(.orderUnproven)
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

/// The OpenSSL calls behind `SignedDocument`, `CMSBuilder` and verification, kept in one place.
enum CMSHandle {
    /// Parses DER into a new `CMS_ContentInfo` that the caller frees.
    static func parse(_ der: [UInt8], attached: Bool = false) throws -> OpaquePointer {
        OpenSSLError.clearQueue()
        guard !der.isEmpty else {
            throw OpenSSLError(.malformedSignature, "the signature file is empty; a DER CMS SignedData (.p7s) was expected")
        }
        var consumed = 0
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            let cms = d2i_CMS_ContentInfo(nil, &cursor, buffer.count)
            if let cursor, let base = buffer.baseAddress { consumed = cursor - base }
            return cms
        }
        guard let cms = parsed else {
            throw OpenSSLError(.malformedSignature, "the \(bytes(der.count)) are not a DER CMS SignedData (.p7s): truncated, damaged or something else")
        }
        guard consumed == der.count else {
            CMS_ContentInfo_free(cms)
            throw OpenSSLError(.malformedSignature, "the CMS SignedData is followed by \(der.count - consumed) unexpected \(der.count - consumed == 1 ? "byte" : "bytes"); the file is damaged")
        }
        let type = OBJ_obj2nid(CMS_get0_type(cms))
        guard type == NID_pkcs7_signed else {
            CMS_ContentInfo_free(cms)
            let name = OBJ_nid2sn(type).map { String(cString: $0) } ?? "unknown"
            throw OpenSSLError(.malformedSignature, "the CMS file holds \(name), not SignedData; it is not a signature")
        }
        guard CMS_is_detached(cms) == (attached ? 0 : 1) else {
            CMS_ContentInfo_free(cms)
            throw OpenSSLError(.malformedSignature, attached
                ? "the SignedData does not carry its content; a receipt carries what it proves"
                : "the SignedData carries its content inside; paysign uses detached signatures, with the content in a file of its own")
        }
        guard !signerInfos(cms).isEmpty else {
            CMS_ContentInfo_free(cms)
            throw OpenSSLError(.malformedSignature, "the SignedData holds no signature (no SignerInfo)")
        }
        OpenSSLError.clearQueue()
        return cms
    }

    private static func bytes(_ count: Int) -> String { count == 1 ? "1 byte" : "\(count) bytes" }

    /// DER of a `CMS_ContentInfo`.
    static func encode(_ cms: OpaquePointer) throws -> [UInt8] {
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_CMS_ContentInfo(cms, &der)
        guard length > 0, let der else {
            throw OpenSSLError(.internalError, "the CMS SignedData could not be DER-encoded")
        }
        defer { CPaysignShims_OPENSSL_free(der) }
        return Array(UnsafeBufferPointer(start: der, count: Int(length)))
    }

    /// The SignerInfos, in order (`sk_CMS_SignerInfo_*` are macros; the generic stack calls are not).
    static func signerInfos(_ cms: OpaquePointer) -> [OpaquePointer] {
        guard let stack = CMS_get0_SignerInfos(cms) else { return [] }
        let count = OPENSSL_sk_num(stack)
        guard count > 0 else { return [] }
        return (0..<count).compactMap { OPENSSL_sk_value(stack, $0).map(OpaquePointer.init) }
    }

    /// A copy of an `X509*` the CMS owns, as a `Certificate`.
    static func certificate(_ x509: OpaquePointer) throws -> Certificate {
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(x509, &der)
        guard length > 0, let der else {
            throw OpenSSLError(.malformedCertificate, "a certificate inside the SignedData could not be re-encoded")
        }
        defer { CPaysignShims_OPENSSL_free(der) }
        return try Certificate.parsed(derEncoded: Array(UnsafeBufferPointer(start: der, count: Int(length))))
    }

    static func name(_ name: OpaquePointer) -> String {
        guard let text = CPaysignShims_X509_NAME_to_rfc2253(name) else { return "" }
        defer { CPaysignShims_OPENSSL_free(text) }
        return String(cString: text)
    }

    static func serial(_ integer: UnsafePointer<ASN1_INTEGER>) -> String {
        guard let bn = ASN1_INTEGER_to_BN(integer, nil) else { return "" }
        defer { BN_free(bn) }
        guard let hex = BN_bn2hex(bn) else { return "" }
        defer { CPaysignShims_OPENSSL_free(hex) }
        return String(cString: hex)
    }

    /// The bytes of an ASN1_STRING (OCTET STRING, or the whole DER of an ANY holding a SEQUENCE).
    static func bytes(_ string: UnsafePointer<ASN1_STRING>?) -> [UInt8]? {
        guard let string else { return nil }
        let length = Int(ASN1_STRING_length(string))
        guard length > 0, let data = ASN1_STRING_get0_data(string) else { return length == 0 ? [] : nil }
        return Array(UnsafeBufferPointer(start: data, count: length))
    }

    /// Runs `body` with an `ASN1_OBJECT` for `oid`, freed afterwards.
    static func withObject<Result>(_ oid: some CustomStringConvertible, _ body: (OpaquePointer) throws -> Result?) rethrows -> Result? {
        guard let object = OBJ_txt2obj(oid.description, 1) else { return nil }
        defer { ASN1_OBJECT_free(object) }
        return try body(object)
    }

    /// The single value of a unique signed attribute, if it is an OCTET STRING.
    static func octets(_ info: OpaquePointer, oid: OpaquePointer?) -> [UInt8]? {
        guard let oid, let attribute = uniqueAttribute(info, oid: oid) else { return nil }
        guard let type = X509_ATTRIBUTE_get0_type(attribute, 0), ASN1_TYPE_get(type) == V_ASN1_OCTET_STRING,
            let value = X509_ATTRIBUTE_get0_data(attribute, 0, V_ASN1_OCTET_STRING, nil)
        else { return nil }
        return bytes(value.assumingMemoryBound(to: ASN1_STRING.self))
    }

    /// The DER of the single value of a unique signed attribute, if it is a SEQUENCE.
    static func sequence(_ info: OpaquePointer, oid: OpaquePointer) -> [UInt8]? {
        guard let attribute = uniqueAttribute(info, oid: oid) else { return nil }
        guard let type = X509_ATTRIBUTE_get0_type(attribute, 0), ASN1_TYPE_get(type) == V_ASN1_SEQUENCE,
            let value = X509_ATTRIBUTE_get0_data(attribute, 0, V_ASN1_SEQUENCE, nil)
        else { return nil }
        return bytes(value.assumingMemoryBound(to: ASN1_STRING.self))
    }

    /// The signed attribute of type `oid` when there is exactly one, with exactly one value.
    static func uniqueAttribute(_ info: OpaquePointer, oid: OpaquePointer) -> OpaquePointer? {
        let first = CMS_signed_get_attr_by_OBJ(info, oid, -1)
        guard first >= 0, CMS_signed_get_attr_by_OBJ(info, oid, first) < 0,
            let attribute = CMS_signed_get_attr(info, first), X509_ATTRIBUTE_count(attribute) == 1
        else { return nil }
        return attribute
    }

    /// The signing-time attribute (UTCTime or GeneralizedTime).
    static func signingTime(_ info: OpaquePointer) -> Date? {
        guard let attribute = uniqueAttribute(info, oid: OBJ_nid2obj(NID_pkcs9_signingTime)),
            let type = X509_ATTRIBUTE_get0_type(attribute, 0)
        else { return nil }
        let kind = ASN1_TYPE_get(type)
        guard kind == V_ASN1_UTCTIME || kind == V_ASN1_GENERALIZEDTIME,
            let value = X509_ATTRIBUTE_get0_data(attribute, 0, kind, nil)
        else { return nil }
        var time = tm()
        guard ASN1_TIME_to_tm(value.assumingMemoryBound(to: ASN1_TIME.self), &time) == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&time)))
    }

    /// The paysign scheme an algorithm pair names: SHA-256 with rsaEncryption or
    /// sha256WithRSAEncryption, RSASSA-PSS, or ecdsa-with-SHA256.
    static func scheme(digest: UnsafeMutablePointer<X509_ALGOR>?, signature: UnsafeMutablePointer<X509_ALGOR>?) -> SignatureScheme? {
        guard let digest, let signature else { return nil }
        var digestOID: OpaquePointer?
        X509_ALGOR_get0(&digestOID, nil, nil, digest)
        guard OBJ_obj2nid(digestOID) == NID_sha256 else { return nil }
        var signatureOID: OpaquePointer?
        X509_ALGOR_get0(&signatureOID, nil, nil, signature)
        switch OBJ_obj2nid(signatureOID) {
        case NID_rsaEncryption, NID_sha256WithRSAEncryption: return .rsaPKCS1SHA256
        case NID_rsassaPss: return .rsaPSSSHA256
        case NID_ecdsa_with_SHA256: return .ecdsaSHA256
        default: return nil
        }
    }
}
