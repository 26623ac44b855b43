import Foundation
internal import CLibCrypto
internal import CPaysignShims
import SwiftASN1

/// Why paysign refused to build a certificate, a request or a revocation list.
///
/// The certification authority's key never leaves its token, so every structure here is built as
/// DER by paysign and only its to-be-signed bytes go to the token; these are the checks made
/// before those bytes are handed over, and after the signature comes back.
public struct X509BuildError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidName = "invalid-name"
            case invalidKey = "invalid-key"
            case schemeMismatch = "scheme-mismatch"
            case invalidSerial = "invalid-serial"
            case invalidValidity = "invalid-validity"
            case invalidEntry = "invalid-entry"
            case requestSignatureInvalid = "request-signature-invalid"
            case issuerNotAuthority = "issuer-not-authority"
            case signatureRejected = "signature-rejected"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        public var description: String { base.rawValue }

        /// A distinguished name that X.520 / RFC 5280 does not allow (empty, bad OID, a country
        /// that is not two letters, a character a PrintableString cannot hold, over the upper bound).
        public static let invalidName = Code(.invalidName)
        /// The SubjectPublicKeyInfo is not a key OpenSSL can read.
        public static let invalidKey = Code(.invalidKey)
        /// The signature scheme does not fit the signing key (RSA schemes need RSA, ECDSA needs EC).
        public static let schemeMismatch = Code(.schemeMismatch)
        /// A serial number that is not positive or longer than 20 octets (RFC 5280 4.1.2.2).
        public static let invalidSerial = Code(.invalidSerial)
        /// A validity period or update interval that ends before it starts.
        public static let invalidValidity = Code(.invalidValidity)
        /// An entry the builder was given that cannot be encoded: a revocation entry that cannot go
        /// in a complete CRL (reason code, duplicate serial), or a certificate policy that is no OID.
        public static let invalidEntry = Code(.invalidEntry)
        /// The certification request is not signed by the key it carries (proof of possession).
        public static let requestSignatureInvalid = Code(.requestSignatureInvalid)
        /// The issuer's certificate does not allow it to sign certificates or CRLs.
        public static let issuerNotAuthority = Code(.issuerNotAuthority)
        /// What the signer returned does not verify over the to-be-signed bytes with the key it
        /// should belong to, or is not in the encoding the scheme needs.
        public static let signatureRejected = Code(.signatureRejected)
    }

    public var code: Code
    public var message: String
    /// The domain rule or RFC section behind the refusal, if any.
    public var rule: String?
    public var file: String
    public var line: Int

    public init(_ code: Code, _ message: String, rule: String? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.rule = rule
        self.file = file
        self.line = line
    }

    public var description: String { message }
}

// MARK: - DER writing

/// The few DER encodings the builders need, written by hand so every byte that is signed is
/// known (X.690). Lengths use `SignerDraft.derLength`.
enum DERWriter {
    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        [tag] + SignerDraft.derLength(content.count) + content
    }

    static func sequence(_ parts: [UInt8]...) -> [UInt8] { tlv(0x30, parts.flatMap { $0 }) }
    static func sequence(of parts: [[UInt8]]) -> [UInt8] { tlv(0x30, parts.flatMap { $0 }) }

    /// A context-specific constructed tag `[number]` around `content` (EXPLICIT, or IMPLICIT on a constructed type).
    static func contextConstructed(_ number: UInt8, _ content: [UInt8]) -> [UInt8] { tlv(0xA0 | number, content) }

    /// A non-negative INTEGER from big-endian magnitude bytes (leading zeros dropped, a 0x00 put
    /// back when the high bit is set).
    static func integer(magnitude: [UInt8]) -> [UInt8] { tlv(0x02, integerContent(magnitude)) }

    static func integerContent(_ magnitude: [UInt8]) -> [UInt8] {
        let trimmed = Array(magnitude.drop(while: { $0 == 0 }))
        if trimmed.isEmpty { return [0] }
        return trimmed[0] & 0x80 != 0 ? [0] + trimmed : trimmed
    }

    static func integer(_ value: UInt64) -> [UInt8] {
        integer(magnitude: withUnsafeBytes(of: value.bigEndian) { Array($0) })
    }

    static func octetString(_ bytes: [UInt8]) -> [UInt8] { tlv(0x04, bytes) }

    /// A BIT STRING of whole bytes (no unused bits): signatures and keys.
    static func bitString(_ bytes: [UInt8]) -> [UInt8] { tlv(0x03, [0] + bytes) }

    static let booleanTrue: [UInt8] = [0x01, 0x01, 0xFF]

    static func oid(_ dotted: String) throws -> [UInt8] {
        let identifier = try ASN1ObjectIdentifier(dotRepresentation: dotted)
        var serializer = DER.Serializer()
        try serializer.serialize(identifier)
        return serializer.serializedBytes
    }

    /// `Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }`
    /// (DER leaves `critical` out when it is FALSE).
    static func `extension`(_ oid: String, critical: Bool, value: [UInt8]) throws -> [UInt8] {
        sequence(try self.oid(oid), critical ? booleanTrue : [], octetString(value))
    }

    /// A `Time` (RFC 5280 4.1.2.5): UTCTime for 1950 through 2049, GeneralizedTime otherwise,
    /// always in UTC with whole seconds.
    static func time(_ date: Date) throws -> [UInt8] {
        let parts = try utcParts(date)
        if (1950...2049).contains(parts.year) {
            return tlv(0x17, Array(String(format: "%02d%02d%02d%02d%02d%02dZ", parts.year % 100, parts.month, parts.day,
                                          parts.hour, parts.minute, parts.second).utf8))
        }
        return generalizedTime(date, parts)
    }

    /// GeneralizedTime (RFC 5280 4.1.2.5.2: `YYYYMMDDHHMMSSZ`, no fraction), as invalidityDate needs.
    static func generalizedTime(_ date: Date) throws -> [UInt8] { generalizedTime(date, try utcParts(date)) }

    private static func generalizedTime(_ date: Date, _ parts: (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int)) -> [UInt8] {
        tlv(0x18, Array(String(format: "%04d%02d%02d%02d%02d%02dZ", parts.year, parts.month, parts.day,
                               parts.hour, parts.minute, parts.second).utf8))
    }

    private static func utcParts(_ date: Date) throws -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var broken = tm()
        guard gmtime_r(&seconds, &broken) != nil, (0...9999).contains(Int(broken.tm_year) + 1900) else {
            throw X509BuildError(.invalidValidity, "the date \(date) cannot be written as an X.509 time (years 0000 to 9999)")
        }
        return (Int(broken.tm_year) + 1900, Int(broken.tm_mon) + 1, Int(broken.tm_mday), Int(broken.tm_hour),
                Int(broken.tm_min), Int(broken.tm_sec))
    }
}

// MARK: - DER reading

/// Reads the raw pieces of DER that must be copied exactly (names, keys) with swift-asn1.
enum DERReader {
    static func children(_ node: ASN1Node) throws -> [ASN1Node] {
        guard case .constructed(let nodes) = node.content else {
            throw ASN1Error.unexpectedFieldType(node.identifier)
        }
        return Array(nodes)
    }

    static func primitive(_ node: ASN1Node) throws -> ArraySlice<UInt8> {
        guard case .primitive(let bytes) = node.content else {
            throw ASN1Error.unexpectedFieldType(node.identifier)
        }
        return bytes
    }

    /// The fields of a `TBSCertificate` after the optional `[0] version`: serialNumber, signature,
    /// issuer, validity, subject, subjectPublicKeyInfo, ….
    static func certificateFields(_ der: [UInt8]) throws -> [ASN1Node] {
        let certificate = try children(try DER.parse(der))
        guard let tbs = certificate.first else { throw ASN1Error.invalidASN1Object(reason: "empty Certificate") }
        var fields = try children(tbs)
        if let first = fields.first, first.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) {
            fields.removeFirst()
        }
        guard fields.count >= 6 else { throw ASN1Error.invalidASN1Object(reason: "short TBSCertificate") }
        return fields
    }

    /// The subjectPublicKey bits of a SubjectPublicKeyInfo (the BIT STRING's content after its
    /// unused-bits octet): what RFC 5280 4.2.1.2 method 1 hashes.
    static func publicKeyBits(_ spki: [UInt8]) throws -> [UInt8] {
        let fields = try children(try DER.parse(spki))
        guard fields.count == 2, fields[1].identifier == .bitString else {
            throw ASN1Error.invalidASN1Object(reason: "not a SubjectPublicKeyInfo")
        }
        let bits = try primitive(fields[1])
        guard let unused = bits.first, unused == 0 else { throw ASN1Error.invalidASN1Object(reason: "key bits not whole octets") }
        return Array(bits.dropFirst())
    }
}

// MARK: - Shared pieces of the builders

enum X509Support {
    /// `AlgorithmIdentifier` for the signature `scheme` makes (RFC 4055 / RFC 5758):
    /// sha256WithRSAEncryption with NULL parameters, RSASSA-PSS with SHA-256 / MGF1-SHA-256 /
    /// salt 32 (the same parameters as `CMSBuilder`), ecdsa-with-SHA256 with parameters absent.
    static func algorithmIdentifier(_ scheme: SignatureScheme) -> [UInt8] {
        switch scheme {
        case .rsaPKCS1SHA256:
            return [0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B, 0x05, 0x00]
        case .rsaPSSSHA256:
            return DERWriter.sequence([0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A], SignerDraft.pssParameters)
        case .ecdsaSHA256:
            return [0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]
        }
    }

    /// Hands `toBeSigned` to the signer and wraps the result as X.509 signs everything:
    /// `SEQUENCE { toBeSigned, signatureAlgorithm, signatureValue BIT STRING }`.
    static func signed(_ toBeSigned: [UInt8], scheme: SignatureScheme, what: String,
                       sign: @Sendable ([UInt8]) async throws -> [UInt8]) async throws -> [UInt8] {
        let signature = try checkedSignature(try await sign(toBeSigned), scheme: scheme, what: what)
        return DERWriter.sequence(toBeSigned, algorithmIdentifier(scheme), DERWriter.bitString(signature))
    }

    /// The signer's bytes in the form the scheme needs: non-empty, and for ECDSA a DER
    /// `Ecdsa-Sig-Value` (a token's `CKM_ECDSA` answers raw r‖s, which must be converted first).
    static func checkedSignature(_ signature: [UInt8], scheme: SignatureScheme, what: String) throws -> [UInt8] {
        guard !signature.isEmpty else {
            throw X509BuildError(.signatureRejected, "the signer returned an empty signature for the \(what)")
        }
        guard scheme == .ecdsaSHA256 else { return signature }
        if let parsed = try? ECDSASignature(derEncoded: signature), parsed.derEncoded == signature { return signature }
        throw X509BuildError(.signatureRejected, "the signer returned \(signature.count) bytes for the \(what) that are not a DER ECDSA-Sig-Value; a token's raw r‖s must be converted with ECDSASignature(rawRepresentation:) first")
    }

    /// The serial number as a positive INTEGER of at most 20 content octets (RFC 5280 4.1.2.2).
    static func serialInteger(_ serial: [UInt8], what: String) throws -> [UInt8] {
        let magnitude = Array(serial.drop(while: { $0 == 0 }))
        guard !magnitude.isEmpty else {
            throw X509BuildError(.invalidSerial, "the serial number of the \(what) is zero; RFC 5280 wants a positive integer", rule: "RFC 5280 4.1.2.2")
        }
        let content = DERWriter.integerContent(magnitude)
        guard content.count <= 20 else {
            throw X509BuildError(.invalidSerial, "the serial number of the \(what) takes \(content.count) octets once DER-encoded; RFC 5280 allows at most 20 (a 20-byte serial needs its top bit clear)", rule: "RFC 5280 4.1.2.2")
        }
        return DERWriter.tlv(0x02, content)
    }

    /// What OpenSSL makes of a SubjectPublicKeyInfo: its algorithm and size, or nil.
    static func keyInfo(_ spki: [UInt8]) -> (algorithm: Certificate.KeyAlgorithm, bits: Int)? {
        OpenSSLError.clearQueue()
        let key: OpaquePointer? = spki.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            let parsed = d2i_PUBKEY(nil, &cursor, buffer.count)
            // Trailing bytes after the key are not a SubjectPublicKeyInfo.
            if let parsed, cursor != buffer.baseAddress.map({ $0 + buffer.count }) {
                EVP_PKEY_free(parsed)
                return nil
            }
            return parsed
        }
        OpenSSLError.clearQueue()
        guard let key else { return nil }
        defer { EVP_PKEY_free(key) }
        return (keyAlgorithm(key), Int(EVP_PKEY_get_bits(key)))
    }

    static func keyAlgorithm(_ key: OpaquePointer) -> Certificate.KeyAlgorithm {
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA, EVP_PKEY_RSA_PSS: return .rsa
        case EVP_PKEY_EC: return .ec
        default: return .other
        }
    }

    /// A SubjectPublicKeyInfo checked for use with `scheme`.
    static func checkKey(_ spki: [UInt8], scheme: SignatureScheme, whose: String) throws {
        guard let info = keyInfo(spki) else {
            throw X509BuildError(.invalidKey, "the \(whose) is not a DER SubjectPublicKeyInfo OpenSSL can read")
        }
        guard scheme.fits(info.algorithm) else {
            throw X509BuildError(.schemeMismatch, "\(scheme.rawValue) does not fit the \(info.algorithm.rawValue.uppercased()) \(whose)")
        }
    }

    /// SHA-1 of the key bits: the key identifier of RFC 5280 4.2.1.2, method 1.
    static func keyIdentifier(spki: [UInt8]) throws -> [UInt8] {
        let bits: [UInt8]
        do {
            bits = try DERReader.publicKeyBits(spki)
        } catch {
            throw X509BuildError(.invalidKey, "the SubjectPublicKeyInfo is not DER: \(error)")
        }
        var digest = [UInt8](repeating: 0, count: 20)
        var length: UInt32 = 0
        let ok = bits.withUnsafeBufferPointer { EVP_Digest($0.baseAddress, $0.count, &digest, &length, EVP_sha1(), nil) }
        guard ok == 1, length == 20 else { throw OpenSSLError(.internalError, "OpenSSL could not compute SHA-1") }
        return digest
    }

    /// The exact DER of a certificate's subject and its SubjectPublicKeyInfo.
    static func subjectAndKey(of certificate: Certificate) throws -> (subject: [UInt8], spki: [UInt8]) {
        do {
            let fields = try DERReader.certificateFields(certificate.derEncoded)
            return (Array(fields[4].encodedBytes), Array(fields[5].encodedBytes))
        } catch {
            throw OpenSSLError(.malformedCertificate, "the certificate \(certificate.serialNumber) is not DER that paysign can copy its subject from")
        }
    }

    /// The issuer's key identifier: its subjectKeyIdentifier, or SHA-1 of its key bits.
    static func authorityKeyIdentifier(of issuer: Certificate) throws -> [UInt8] {
        if let ski = X509_get0_subject_key_id(issuer.x509), ASN1_STRING_length(ski) > 0, let data = ASN1_STRING_get0_data(ski) {
            return Array(UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(ski))))
        }
        return try keyIdentifier(spki: try subjectAndKey(of: issuer).spki)
    }

    /// `AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING }`
    static func authorityKeyIdentifierExtension(_ keyID: [UInt8]) throws -> [UInt8] {
        try DERWriter.extension("2.5.29.35", critical: false, value: DERWriter.sequence(DERWriter.tlv(0x80, keyID)))
    }

    static func checkScheme(_ scheme: SignatureScheme, issuer: Certificate) throws {
        guard scheme.fits(issuer.keyAlgorithm) else {
            throw X509BuildError(.schemeMismatch, "\(scheme.rawValue) does not fit the \(issuer.keyAlgorithm.rawValue.uppercased()) key of issuer certificate \(issuer.serialNumber)")
        }
    }
}

// MARK: - Reading what OpenSSL parsed

enum X509Text {
    /// An ASN1_OBJECT as a dotted OID.
    static func oid(_ object: OpaquePointer?) -> String {
        var buffer = [CChar](repeating: 0, count: 128)
        let length = OBJ_obj2txt(&buffer, Int32(buffer.count), object, 1)
        guard length > 0, length < Int32(buffer.count) else { return "" }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A name as RFC 2253 text (`CN=…,O=…,C=EG`), as `Certificate.subject` prints it.
    static func name(_ name: OpaquePointer?) -> String {
        guard let name, let text = CPaysignShims_X509_NAME_to_rfc2253(name) else { return "" }
        defer { CPaysignShims_OPENSSL_free(text) }
        return String(cString: text)
    }

    /// The first value of attribute `nid` in a name, as UTF-8.
    static func entry(_ name: OpaquePointer?, nid: Int32) -> String? {
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

    static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date? {
        guard let time else { return nil }
        var tm = tm()
        guard ASN1_TIME_to_tm(time, &tm) == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&tm)))
    }

    /// The magnitude of an INTEGER, big-endian, without leading zeros (OpenSSL keeps the sign apart).
    static func magnitude(_ integer: UnsafePointer<ASN1_INTEGER>?) -> [UInt8] {
        guard let integer, let data = ASN1_STRING_get0_data(integer) else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(integer))).drop(while: { $0 == 0 }))
    }

    static func octets(_ string: UnsafePointer<ASN1_OCTET_STRING>?) -> [UInt8]? {
        guard let string, let data = ASN1_STRING_get0_data(string) else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(string))))
    }

    /// Upper-case hex of a big-endian magnitude, as `BN_bn2hex` (and `Certificate.serialNumber`) prints it.
    static func hex(_ magnitude: [UInt8]) -> String {
        let trimmed = magnitude.drop(while: { $0 == 0 })
        return trimmed.isEmpty ? "0" : Hex.string(trimmed).uppercased()
    }

    /// The bytes of the first PEM block whose label is one of `labels` (OpenSSL's PEM reader:
    /// the base64 is decoded exactly, nothing is re-encoded).
    static func pemBlock(_ pem: String, labels: Set<String>) -> [UInt8]? {
        OpenSSLError.clearQueue()
        defer { OpenSSLError.clearQueue() }
        return pem.utf8CString.withUnsafeBufferPointer { buffer -> [UInt8]? in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count - 1)) else { return nil }
            defer { BIO_free(bio) }
            while true {
                var name: UnsafeMutablePointer<CChar>?
                var header: UnsafeMutablePointer<CChar>?
                var data: UnsafeMutablePointer<UInt8>?
                var length = 0
                guard PEM_read_bio(bio, &name, &header, &data, &length) == 1 else { return nil }
                defer {
                    CPaysignShims_OPENSSL_free(name)
                    CPaysignShims_OPENSSL_free(header)
                    CPaysignShims_OPENSSL_free(data)
                }
                if let name, labels.contains(String(cString: name)), let data, length > 0 {
                    return Array(UnsafeBufferPointer(start: data, count: length))
                }
            }
        }
    }

    static func pem(_ der: [UInt8], label: String) -> String {
        let base64 = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN \(label)-----\n" + base64 + "\n-----END \(label)-----\n"
    }
}

/// Compares two big-endian magnitudes as integers (leading zeros ignored).
func compareMagnitudes(_ a: [UInt8], _ b: [UInt8]) -> Int {
    let x = a.drop(while: { $0 == 0 }), y = b.drop(while: { $0 == 0 })
    if x.count != y.count { return x.count < y.count ? -1 : 1 }
    for (p, q) in zip(x, y) where p != q { return p < q ? -1 : 1 }
    return 0
}
