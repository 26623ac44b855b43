import Foundation
internal import CLibCrypto
import SwiftASN1

/// A PKCS #10 certification request (RFC 2986), parsed by OpenSSL.
///
/// ```
/// CertificationRequest ::= SEQUENCE {
///     certificationRequestInfo  CertificationRequestInfo,   -- version 0, subject, SPKI, [0] attributes
///     signatureAlgorithm        AlgorithmIdentifier,
///     signature                 BIT STRING }
/// ```
/// The request is signed by the key it carries: that is how the certification authority knows
/// the holder has the private key (on the holder's token, rule D5) before it certifies it.
/// Owns its `X509_REQ*`; the original DER is kept, and the subject and key are copied from it
/// byte for byte.
public final class CertificateRequest: @unchecked Sendable, CustomStringConvertible {
    // Immutable after init: the X509_REQ is only read.
    let request: OpaquePointer
    public let derEncoded: [UInt8]
    /// Subject in RFC 2253 form, like `Certificate.subject`.
    public let subject: String
    /// The subject's `serialNumber` attribute (2.5.4.5): the holder's national ID in paysign's PKI.
    public let subjectSerialNumber: String?
    public let commonName: String?
    /// The exact DER of the subject `Name`.
    public let subjectDER: [UInt8]
    /// The exact DER of the SubjectPublicKeyInfo.
    public let subjectPublicKeyInfo: [UInt8]
    public let keyAlgorithm: Certificate.KeyAlgorithm
    public let keyBits: Int

    /// Parses DER (`d2i_X509_REQ`); throws `OpenSSLError` (`.malformedRequest`) on anything else.
    public init(derEncoded der: [UInt8]) throws {
        OpenSSLError.clearQueue()
        guard !der.isEmpty else {
            throw OpenSSLError(.malformedRequest, "the certification request is empty; DER PKCS #10 was expected")
        }
        var consumed = 0
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            let request = d2i_X509_REQ(nil, &cursor, buffer.count)
            if let cursor, let base = buffer.baseAddress { consumed = cursor - base }
            return request
        }
        guard let request = parsed else {
            throw OpenSSLError(.malformedRequest, "the bytes are not a DER PKCS #10 certification request")
        }
        guard consumed == der.count else {
            X509_REQ_free(request)
            throw OpenSSLError(.malformedRequest, "the certification request is followed by \(der.count - consumed) bytes that belong to no request")
        }
        let fields: (subject: [UInt8], spki: [UInt8])
        do {
            let outer = try DERReader.children(try DER.parse(der))
            let info = try DERReader.children(outer[0])
            guard info.count == 4 else { throw ASN1Error.invalidASN1Object(reason: "CertificationRequestInfo") }
            fields = (Array(info[1].encodedBytes), Array(info[2].encodedBytes))
        } catch {
            X509_REQ_free(request)
            throw OpenSSLError(.malformedRequest, "the certification request is BER, not DER, so its subject and key cannot be copied exactly")
        }
        self.request = request
        derEncoded = der
        subjectDER = fields.subject
        subjectPublicKeyInfo = fields.spki
        let name = X509_REQ_get_subject_name(request)
        subject = X509Text.name(name)
        subjectSerialNumber = X509Text.entry(name, nid: NID_serialNumber)
        commonName = X509Text.entry(name, nid: NID_commonName)
        if let key = X509_REQ_get0_pubkey(request) {
            keyAlgorithm = X509Support.keyAlgorithm(key)
            keyBits = Int(EVP_PKEY_get_bits(key))
        } else {
            keyAlgorithm = .other
            keyBits = 0
        }
        OpenSSLError.clearQueue()
    }

    /// Parses the first `CERTIFICATE REQUEST` (or `NEW CERTIFICATE REQUEST`) PEM block.
    public convenience init(pemEncoded pem: String) throws {
        guard let der = X509Text.pemBlock(pem, labels: ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]) else {
            throw OpenSSLError(.malformedRequest, "the text holds no PEM certification request")
        }
        try self.init(derEncoded: der)
    }

    deinit { X509_REQ_free(request) }

    /// True when the request's signature verifies with the key it carries (`X509_REQ_verify`).
    public func verifySelfSignature() -> Bool {
        OpenSSLError.clearQueue()
        defer { OpenSSLError.clearQueue() }
        guard let key = X509_REQ_get0_pubkey(request) else { return false }
        return X509_REQ_verify(request, key) == 1
    }

    public var pemEncoded: String { X509Text.pem(derEncoded, label: "CERTIFICATE REQUEST") }

    public var description: String { "certification request for \(subject)" }

    /// Builds a request for `subject` and the public key `spki`, signed by `sign`.
    ///
    /// - Parameters:
    ///   - spki: the DER SubjectPublicKeyInfo of the key that signs (from the token:
    ///     `PKCS11Session.subjectPublicKeyInfo(of:)`); it is copied into the request unchanged.
    ///   - scheme: how `sign` signs; it must fit the key (RSA schemes for RSA, ECDSA for EC).
    ///   - sign: signs the DER of the CertificationRequestInfo (a SEQUENCE) with `scheme`, hashing
    ///     it as the scheme requires, as `CMSBuilder.signDetached`'s closure does, and returns
    ///     PKCS #1 / PSS bytes or a DER ECDSA-Sig-Value.
    /// - Returns: the parsed request, whose signature has been verified with `spki`.
    public static func make(subject: DistinguishedName, subjectPublicKeyInfo spki: [UInt8], scheme: SignatureScheme,
                            sign: @Sendable ([UInt8]) async throws -> [UInt8]) async throws -> CertificateRequest {
        guard !subject.isEmpty else {
            throw X509BuildError(.invalidName, "a certification request needs a subject; the name given is empty")
        }
        try X509Support.checkKey(spki, scheme: scheme, whose: "key of the request")
        _ = try X509Support.keyIdentifier(spki: spki)  // the key is DER, so it is copied as it will be read
        // CertificationRequestInfo: version 0, subject, key, and an empty [0] attributes SET.
        let info = DERWriter.sequence(DERWriter.integer(0), try subject.derEncoded, spki, [0xA0, 0x00])
        let der = try await X509Support.signed(info, scheme: scheme, what: "certification request", sign: sign)
        let request = try CertificateRequest(derEncoded: der)
        guard request.verifySelfSignature() else {
            throw X509BuildError(.signatureRejected, "the signature returned for the certification request does not verify with the request's key; the signer used another key, or signed other bytes")
        }
        return request
    }
}
