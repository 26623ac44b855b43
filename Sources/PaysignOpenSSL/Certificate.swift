public import Foundation
internal import CLibCrypto
internal import CPaysignShims
import Synchronization

/// An X.509 certificate (RFC 5280), parsed by OpenSSL.
///
/// ```
/// Certificate ::= SEQUENCE {
///     tbsCertificate       TBSCertificate,
///     signatureAlgorithm   AlgorithmIdentifier,
///     signatureValue       BIT STRING }
/// ```
/// Owns its `X509*` and frees it in `deinit`. The original DER is kept (`derEncoded`), because
/// signatures and certificate hashes (signing-certificate-v2) cover those exact bytes.
public final class Certificate: @unchecked Sendable, Hashable, CustomStringConvertible {
    // Immutable after init: the X509 is only read, and OpenSSL's getters are thread-safe.
    let x509: OpaquePointer
    public let derEncoded: [UInt8]
    /// Subject in RFC 2253 form (`CN=…,OU=…,O=…,C=EG`).
    public let subject: String
    public let issuer: String
    /// Serial number as upper-case hex, as `openssl x509 -serial` prints it.
    public let serialNumber: String
    public let notBefore: Date
    public let notAfter: Date
    public let keyAlgorithm: KeyAlgorithm
    public let keyBits: Int
    /// The subject's `serialNumber` attribute (2.5.4.5): the holder's national ID in paysign's PKI.
    public let subjectSerialNumber: String?
    public let commonName: String?
    public let keyUsage: KeyUsage
    /// SHA-256 of the DER: the fingerprint people compare.
    public let sha256Fingerprint: [UInt8]

    public enum KeyAlgorithm: String, Sendable, Codable, Hashable {
        case rsa, ec, other
    }

    /// The key usage bits paysign cares about (RFC 5280 4.2.1.3).
    public struct KeyUsage: OptionSet, Sendable, Hashable, Codable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let digitalSignature = KeyUsage(rawValue: 0x80)  // KU_DIGITAL_SIGNATURE
        public static let nonRepudiation = KeyUsage(rawValue: 0x40)  // KU_NON_REPUDIATION
        public static let keyEncipherment = KeyUsage(rawValue: 0x20)  // KU_KEY_ENCIPHERMENT
        public static let keyAgreement = KeyUsage(rawValue: 0x08)  // KU_KEY_AGREEMENT
        public static let keyCertSign = KeyUsage(rawValue: 0x04)  // KU_KEY_CERT_SIGN
        public static let cRLSign = KeyUsage(rawValue: 0x02)  // KU_CRL_SIGN
    }

    /// Parses DER; throws `.malformedCertificate` with OpenSSL's reason, never crashes on bad bytes.
    public convenience init(derEncoded: [UInt8]) throws {
        OpenSSLError.clearQueue()
        let (parsed, consumed): (OpaquePointer?, Int) = derEncoded.withUnsafeBufferPointer { buffer in
            guard let start = buffer.baseAddress else { return (nil, 0) }
            var cursor: UnsafePointer<UInt8>? = start
            let x509 = d2i_X509(nil, &cursor, buffer.count)
            return (x509, cursor.map { $0 - start } ?? 0)
        }
        guard let x509 = parsed else {
            throw OpenSSLError(.malformedCertificate, "the bytes are not a DER X.509 certificate")
        }
        // Bytes after the certificate would be kept in derEncoded and the fingerprint: refused,
        // as RevocationList, CertificateRequest and the CMS readers refuse them.
        guard consumed == derEncoded.count else {
            X509_free(x509)
            throw OpenSSLError(.malformedCertificate, "\(derEncoded.count - consumed) bytes follow the DER X.509 certificate")
        }
        try self.init(owning: x509, der: derEncoded)
    }

    /// Parses the first PEM certificate in `pem`.
    public convenience init(pemEncoded pem: String) throws {
        OpenSSLError.clearQueue()
        let parsed: OpaquePointer? = pem.utf8CString.withUnsafeBufferPointer { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count - 1)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_X509(bio, nil, nil, nil)
        }
        guard let x509 = parsed else {
            throw OpenSSLError(.malformedCertificate, "the text holds no PEM certificate")
        }
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(x509, &der)
        guard length > 0, let der else {
            X509_free(x509)
            throw OpenSSLError(.malformedCertificate, "the PEM certificate could not be re-encoded")
        }
        let bytes = Array(UnsafeBufferPointer(start: der, count: Int(length)))
        CPaysignShims_OPENSSL_free(der)
        try self.init(owning: x509, der: bytes)
    }

    private init(owning x509: OpaquePointer, der: [UInt8]) throws {
        self.x509 = x509
        self.derEncoded = der
        subject = Self.name(X509_get_subject_name(x509))
        issuer = Self.name(X509_get_issuer_name(x509))
        serialNumber = Self.serial(X509_get0_serialNumber(x509))
        notBefore = Self.date(X509_get0_notBefore(x509))
        notAfter = Self.date(X509_get0_notAfter(x509))
        if let key = X509_get0_pubkey(x509) {
            switch EVP_PKEY_get_base_id(key) {
            case EVP_PKEY_RSA, EVP_PKEY_RSA_PSS: keyAlgorithm = .rsa
            case EVP_PKEY_EC: keyAlgorithm = .ec
            default: keyAlgorithm = .other
            }
            keyBits = Int(EVP_PKEY_get_bits(key))
        } else {
            keyAlgorithm = .other
            keyBits = 0
        }
        subjectSerialNumber = Self.entry(X509_get_subject_name(x509), nid: NID_serialNumber)
        commonName = Self.entry(X509_get_subject_name(x509), nid: NID_commonName)
        let usage = X509_get_key_usage(x509)
        keyUsage = usage == UInt32.max ? [] : KeyUsage(rawValue: usage & 0xFF)
        sha256Fingerprint = SHA256.hash(der)
    }

    deinit { X509_free(x509) }

    /// Certificates parsed by `parsed(derEncoded:)`, by their DER (at most `recentLimit`).
    private static let recent = Mutex<[[UInt8]: Certificate]>([:])
    private static let recentLimit = 64

    /// `Certificate(derEncoded:)`, or the certificate parsed from the same bytes before: every read
    /// of a SignedData brings back the same few certificates, and each parse has OpenSSL decode the
    /// public key again (`OSSL_DECODER`, the costly part). A certificate is immutable, so one
    /// object serves every reader.
    static func parsed(derEncoded der: [UInt8]) throws -> Certificate {
        if let known = recent.withLock({ $0[der] }) { return known }
        let certificate = try Certificate(derEncoded: der)
        recent.withLock { entries in
            if entries.count >= recentLimit { entries.removeAll(keepingCapacity: true) }
            entries[der] = certificate
        }
        return certificate
    }

    /// Where `date` falls in the validity period.
    public enum Validity: Sendable, Hashable {
        case valid, notYetValid, expired
    }

    public func validity(at date: Date) -> Validity {
        if date < notBefore { return .notYetValid }
        if date > notAfter { return .expired }
        return .valid
    }

    /// The certificate as PEM text.
    public var pemEncoded: String {
        let base64 = Data(derEncoded).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN CERTIFICATE-----\n" + base64 + "\n-----END CERTIFICATE-----\n"
    }

    public var description: String { "\(subject) (serial \(serialNumber))" }

    public static func == (a: Certificate, b: Certificate) -> Bool { a.derEncoded == b.derEncoded }
    public func hash(into hasher: inout Hasher) { hasher.combine(sha256Fingerprint) }

    // MARK: Helpers

    private static func name(_ name: OpaquePointer?) -> String {
        guard let name, let text = CPaysignShims_X509_NAME_to_rfc2253(name) else { return "" }
        defer { CPaysignShims_OPENSSL_free(text) }
        return String(cString: text)
    }

    private static func entry(_ name: OpaquePointer?, nid: Int32) -> String? {
        guard let name else { return nil }
        let index = X509_NAME_get_index_by_NID(name, nid, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index), let data = X509_NAME_ENTRY_get_data(entry)
        else { return nil }
        var utf8: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&utf8, data)
        guard length >= 0, let utf8 else { return nil }
        defer { CPaysignShims_OPENSSL_free(utf8) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
    }

    private static func serial(_ integer: UnsafePointer<ASN1_INTEGER>?) -> String {
        guard let integer, let bn = ASN1_INTEGER_to_BN(integer, nil) else { return "" }
        defer { BN_free(bn) }
        guard let hex = BN_bn2hex(bn) else { return "" }
        defer { CPaysignShims_OPENSSL_free(hex) }
        return String(cString: hex)
    }

    private static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date {
        guard let time else { return .distantPast }
        var tm = tm()
        guard ASN1_TIME_to_tm(time, &tm) == 1 else { return .distantPast }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&tm)))
    }
}

// MARK: Extensions a profile is judged by

extension Certificate {
    /// The extended key usage purposes (dotted OIDs, RFC 5280 4.2.1.12); empty when the extension
    /// is absent.
    public var extendedKeyUsages: [String] {
        OpenSSLError.clearQueue()
        defer { OpenSSLError.clearQueue() }
        guard let raw = X509_get_ext_d2i(x509, NID_ext_key_usage, nil, nil) else { return [] }
        let stack = OpaquePointer(raw)
        defer { EXTENDED_KEY_USAGE_free(stack) }
        return (0..<max(0, OPENSSL_sk_num(stack))).compactMap { index in
            OPENSSL_sk_value(stack, index).map { X509Text.oid(OpaquePointer($0)) }
        }
    }

    /// The certificate policy identifiers (dotted OIDs, RFC 5280 4.2.1.4); empty when absent.
    public var policies: [String] {
        OpenSSLError.clearQueue()
        defer { OpenSSLError.clearQueue() }
        guard let raw = X509_get_ext_d2i(x509, NID_certificate_policies, nil, nil) else { return [] }
        let stack = OpaquePointer(raw)
        defer { CERTIFICATEPOLICIES_free(stack) }
        return (0..<max(0, OPENSSL_sk_num(stack))).compactMap { index in
            OPENSSL_sk_value(stack, index).map { info in
                X509Text.oid(info.assumingMemoryBound(to: POLICYINFO.self).pointee.policyid)
            }
        }
    }

    /// The subject's organizationIdentifier (2.5.4.97): the entity's code in paysign's PKI.
    public var organizationIdentifier: String? { X509Text.entry(X509_get_subject_name(x509), nid: NID_organizationIdentifier) }

    /// The subject's organizational unit (2.5.4.11).
    public var organizationalUnit: String? { X509Text.entry(X509_get_subject_name(x509), nid: NID_organizationalUnitName) }

    /// The subjectPublicKeyInfo's DER.
    public var subjectPublicKeyInfoDER: [UInt8] {
        guard let key = X509_get0_pubkey(x509) else { return [] }
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(key, &der)
        guard length > 0, let der else { return [] }
        defer { CPaysignShims_OPENSSL_free(der) }
        return Array(UnsafeBufferPointer(start: der, count: Int(length)))
    }
}
