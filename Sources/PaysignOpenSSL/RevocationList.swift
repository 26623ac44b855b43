public import Foundation
internal import CLibCrypto

/// One revoked certificate in a CRL (RFC 5280 5.1.2.6 and 5.3).
public struct RevokedEntry: Sendable, Hashable, CustomStringConvertible {
    /// The certificate's serial number, big-endian, positive (leading zero bytes are dropped).
    public var serialNumber: [UInt8]
    public var revocationDate: Date
    /// The CRLReason code (RFC 5280 5.3.1): 0 unspecified, 1 keyCompromise, 2 cACompromise,
    /// 3 affiliationChanged, 4 superseded, 5 cessationOfOperation, 6 certificateHold,
    /// 8 removeFromCRL, 9 privilegeWithdrawn, 10 aACompromise (7 is not used). nil: no reasonCode
    /// extension, which is how RFC 5280 wants "unspecified" written (so `make` writes 0 as nil).
    public var reason: Int?
    /// When the key is known or suspected to have been compromised (invalidityDate, 2.5.29.24).
    public var invalidityDate: Date?

    public init(serialNumber: [UInt8], revocationDate: Date, reason: Int?, invalidityDate: Date?) {
        self.serialNumber = Array(serialNumber.drop(while: { $0 == 0 }))
        self.revocationDate = revocationDate
        self.reason = reason
        self.invalidityDate = invalidityDate
    }

    /// Upper-case hex, as `Certificate.serialNumber` and `openssl x509 -serial` print it.
    public var serialHex: String { X509Text.hex(serialNumber) }

    public static let unspecified = 0, keyCompromise = 1, cACompromise = 2, affiliationChanged = 3, superseded = 4,
        cessationOfOperation = 5, certificateHold = 6, removeFromCRL = 8, privilegeWithdrawn = 9, aACompromise = 10

    /// The reason's name as RFC 5280 spells it (`keyCompromise`), nil without a reason.
    public var reasonName: String? { reason.flatMap { Self.reasonNames[$0] } }

    static let reasonNames = [
        0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged", 4: "superseded",
        5: "cessationOfOperation", 6: "certificateHold", 8: "removeFromCRL", 9: "privilegeWithdrawn", 10: "aACompromise",
    ]

    public var description: String {
        "serial \(serialHex) revoked \(revocationDate)" + (reasonName.map { " (\($0))" } ?? "")
    }
}

/// An X.509 v2 certificate revocation list (RFC 5280 section 5), parsed by OpenSSL.
///
/// The certification authority revokes a token's certificate when the token is surrendered or
/// cancelled (rule D6: before its holder leaves, within a week of a death) and publishes the list;
/// the payment center refuses signatures whose certificate is on it. Owns its `X509_CRL*`; the
/// original DER is kept, and every field is read once, when it is parsed.
public final class RevocationList: @unchecked Sendable, CustomStringConvertible {
    // Immutable after init: the X509_CRL is only read (X509_CRL_verify).
    let crl: OpaquePointer
    public let derEncoded: [UInt8]
    /// The issuer in RFC 2253 form, like `Certificate.issuer`.
    public let issuer: String
    /// 1 for a v1 CRL, 2 for v2.
    public let version: Int
    /// The cRLNumber extension (2.5.29.20) as a big-endian magnitude without leading zeros (zero
    /// is `[0]`), so numbers of up to 20 octets (RFC 5280 5.2.3) compare as integers: longer is
    /// larger, then bytewise (`RevocationList.compareNumbers`). nil without the extension.
    public let crlNumber: [UInt8]?
    public let thisUpdate: Date
    public let nextUpdate: Date?
    /// The revoked certificates, in the order of the list (`make` sorts them by serial).
    public let entries: [RevokedEntry]
    /// The keyIdentifier of the authorityKeyIdentifier extension (2.5.29.35).
    public let authorityKeyIdentifier: [UInt8]?

    /// Parses DER (`d2i_X509_CRL`); throws `OpenSSLError` (`.malformedRevocationList`) with one
    /// sentence for anything else.
    public init(derEncoded der: [UInt8]) throws {
        OpenSSLError.clearQueue()
        guard !der.isEmpty else {
            throw OpenSSLError(.malformedRevocationList, "the revocation list is empty; a DER X.509 CRL was expected")
        }
        var consumed = 0
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            let crl = d2i_X509_CRL(nil, &cursor, buffer.count)
            if let cursor, let base = buffer.baseAddress { consumed = cursor - base }
            return crl
        }
        guard let crl = parsed else {
            throw OpenSSLError(.malformedRevocationList, "the bytes are not a DER X.509 certificate revocation list")
        }
        var owned = true
        defer { if owned { X509_CRL_free(crl) } }
        guard consumed == der.count else {
            throw OpenSSLError(.malformedRevocationList, "the revocation list is followed by \(der.count - consumed) bytes that belong to no CRL")
        }
        guard let thisUpdate = X509Text.date(X509_CRL_get0_lastUpdate(crl)) else {
            throw OpenSSLError(.malformedRevocationList, "the revocation list's thisUpdate is not a valid time")
        }
        let nextUpdate: Date?
        if let next = X509_CRL_get0_nextUpdate(crl) {
            guard let date = X509Text.date(next) else {
                throw OpenSSLError(.malformedRevocationList, "the revocation list's nextUpdate is not a valid time")
            }
            nextUpdate = date
        } else {
            nextUpdate = nil
        }
        try Self.requireComplete(crl)
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        entries = try Self.readEntries(crl)
        crlNumber = try Self.extensionValue(crl, nid: NID_crl_number, name: "cRLNumber") { (number: UnsafeMutablePointer<ASN1_INTEGER>) in
            defer { ASN1_INTEGER_free(number) }
            let magnitude = X509Text.magnitude(number)
            return magnitude.isEmpty ? [0] : magnitude
        }
        authorityKeyIdentifier = try Self.extensionValue(crl, nid: NID_authority_key_identifier, name: "authorityKeyIdentifier") {
            (aki: UnsafeMutablePointer<AUTHORITY_KEYID>) -> [UInt8]? in
            defer { AUTHORITY_KEYID_free(aki) }
            return X509Text.octets(aki.pointee.keyid)
        } ?? nil
        issuer = X509Text.name(X509_CRL_get_issuer(crl))
        version = Int(X509_CRL_get_version(crl)) + 1
        self.crl = crl
        derEncoded = der
        owned = false
        OpenSSLError.clearQueue()
    }

    /// Parses the first `X509 CRL` PEM block.
    public convenience init(pemEncoded pem: String) throws {
        guard let der = X509Text.pemBlock(pem, labels: ["X509 CRL"]) else {
            throw OpenSSLError(.malformedRevocationList, "the text holds no PEM revocation list (-----BEGIN X509 CRL-----)")
        }
        try self.init(derEncoded: der)
    }

    deinit { X509_CRL_free(crl) }

    public var pemEncoded: String { X509Text.pem(derEncoded, label: "X509 CRL") }

    /// Compares two CRL numbers (or serials) as big-endian unsigned integers: -1, 0 or 1.
    public static func compareNumbers(_ a: [UInt8], _ b: [UInt8]) -> Int { compareMagnitudes(a, b) }

    /// The CRL number as an integer, when it fits in 64 bits.
    public var crlNumberValue: UInt64? {
        guard let crlNumber, crlNumber.count <= 8 else { return nil }
        return crlNumber.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// True when `issuer`'s public key verifies the CRL's signature (`X509_CRL_verify`) and the
    /// issuer may sign CRLs (key usage cRLSign, when it has a key usage: RFC 5280 4.2.1.3). The
    /// issuer's name and validity are not checked here.
    public func isSigned(by issuer: Certificate) -> Bool {
        OpenSSLError.clearQueue()
        defer { OpenSSLError.clearQueue() }
        if X509_get_extension_flags(issuer.x509) & UInt32(EXFLAG_KUSAGE) != 0,
            X509_get_key_usage(issuer.x509) & UInt32(KU_CRL_SIGN) == 0 {
            return false
        }
        guard let key = X509_get0_pubkey(issuer.x509) else { return false }
        return X509_CRL_verify(crl, key) == 1
    }

    /// The entry for a certificate serial given as hex (`Certificate.serialNumber`; case, a `0x`
    /// prefix, colons and leading zeros do not matter), if the certificate is listed.
    public func entry(for serialHex: String) -> RevokedEntry? {
        guard let serial = Self.bytes(hex: serialHex) else { return nil }
        return entries.first { compareMagnitudes($0.serialNumber, serial) == 0 }
    }

    /// The entry for `certificate`, if it is listed (by serial only: check the issuer first).
    public func entry(for certificate: Certificate) -> RevokedEntry? { entry(for: certificate.serialNumber) }

    public var description: String {
        "CRL \(crlNumber.map { X509Text.hex($0) } ?? "without number") by \(issuer), \(entries.count) entries"
    }

    /// Builds and signs a complete CRL, its signature computed by `sign` (on the authority's token).
    ///
    /// | field | value |
    /// | --- | --- |
    /// | version | v2 |
    /// | signature | per `scheme` (as `CertificateIssuer`) |
    /// | issuer | the issuer certificate's subject, its DER copied exactly |
    /// | thisUpdate, nextUpdate | UTCTime until 2049, GeneralizedTime after (RFC 5280 5.1.2.4) |
    /// | revokedCertificates | `entries` sorted by serial; left out entirely when empty (RFC 5280 5.1.2.6) |
    /// | entry extensions | reasonCode (non-critical; left out when nil or 0, unspecified), invalidityDate (GeneralizedTime) |
    /// | crlExtensions | authorityKeyIdentifier (the issuer's key id), cRLNumber = `number` (both non-critical) |
    ///
    /// Refused: an issuer whose key usage lacks cRLSign, a scheme that does not fit its key,
    /// `nextUpdate` not after `thisUpdate`, a reason code outside RFC 5280's list or removeFromCRL
    /// (8, which belongs in delta CRLs only), a serial that is zero, too long, or listed twice.
    ///
    /// - Returns: the parsed list, whose signature has been verified with the issuer's key.
    public static func make(issuer: Certificate, number: UInt64, thisUpdate: Date, nextUpdate: Date,
                            entries: [RevokedEntry], scheme: SignatureScheme,
                            sign: @Sendable ([UInt8]) async throws -> [UInt8]) async throws -> RevocationList {
        guard issuer.keyUsage.isEmpty || issuer.keyUsage.contains(.cRLSign) else {
            throw X509BuildError(.issuerNotAuthority, "the key usage of issuer certificate \(issuer.subject) (serial \(issuer.serialNumber)) does not include cRLSign; a CRL it signed would not verify", rule: "RFC 5280 4.2.1.3")
        }
        try X509Support.checkScheme(scheme, issuer: issuer)
        guard thisUpdate.timeIntervalSince1970.rounded(.down) < nextUpdate.timeIntervalSince1970.rounded(.down) else {
            throw X509BuildError(.invalidValidity, "the CRL's nextUpdate (\(nextUpdate)) is not after its thisUpdate (\(thisUpdate))", rule: "RFC 5280 5.1.2.5")
        }
        let sorted = entries.sorted { compareMagnitudes($0.serialNumber, $1.serialNumber) < 0 }
        for (earlier, later) in zip(sorted, sorted.dropFirst()) where compareMagnitudes(earlier.serialNumber, later.serialNumber) == 0 {
            throw X509BuildError(.invalidEntry, "serial \(later.serialHex) is listed twice; a CRL holds one entry per certificate", rule: "RFC 5280 5.1.2.6")
        }
        let revoked = try sorted.map(encodeEntry)

        let (issuerName, _) = try X509Support.subjectAndKey(of: issuer)
        let crlExtensions = [
            try X509Support.authorityKeyIdentifierExtension(try X509Support.authorityKeyIdentifier(of: issuer)),
            try DERWriter.extension("2.5.29.20", critical: false, value: DERWriter.integer(number)),
        ]
        // TBSCertList ::= SEQUENCE { version v2, signature, issuer, thisUpdate, nextUpdate,
        //     revokedCertificates SEQUENCE OF … OPTIONAL, crlExtensions [0] EXPLICIT Extensions }
        let tbs = DERWriter.sequence(
            DERWriter.integer(1),
            X509Support.algorithmIdentifier(scheme),
            issuerName,
            try DERWriter.time(thisUpdate),
            try DERWriter.time(nextUpdate),
            revoked.isEmpty ? [] : DERWriter.sequence(of: revoked),
            DERWriter.contextConstructed(0, DERWriter.sequence(of: crlExtensions)))
        let der = try await X509Support.signed(tbs, scheme: scheme, what: "revocation list", sign: sign)
        let list: RevocationList
        do {
            list = try RevocationList(derEncoded: der)
        } catch {
            throw X509BuildError(.signatureRejected, "OpenSSL cannot read the revocation list once signed: \(error)")
        }
        guard list.isSigned(by: issuer) else {
            throw X509BuildError(.signatureRejected, "the signature returned for the revocation list does not verify with the key of issuer certificate \(issuer.serialNumber); the token's key is not the issuer's, or it signed other bytes")
        }
        return list
    }

    // MARK: Pieces

    /// `SEQUENCE { userCertificate, revocationDate, crlEntryExtensions OPTIONAL }`
    private static func encodeEntry(_ entry: RevokedEntry) throws -> [UInt8] {
        var extensions: [[UInt8]] = []
        if let reason = entry.reason {
            guard reason != 7, RevokedEntry.reasonNames[reason] != nil else {
                throw X509BuildError(.invalidEntry, "\(reason) is not a CRLReason code (0 to 10, without 7) for serial \(entry.serialHex)", rule: "RFC 5280 5.3.1")
            }
            guard reason != RevokedEntry.removeFromCRL else {
                throw X509BuildError(.invalidEntry, "removeFromCRL (8) for serial \(entry.serialHex) belongs in delta CRLs only; leave the serial out of the complete CRL instead", rule: "RFC 5280 5.3.1")
            }
            // RFC 5280 5.3.1: the extension SHOULD be absent rather than say unspecified (0).
            if reason != RevokedEntry.unspecified {
                extensions.append(try DERWriter.extension("2.5.29.21", critical: false, value: DERWriter.tlv(0x0A, [UInt8(reason)])))
            }
        }
        if let invalidity = entry.invalidityDate {
            extensions.append(try DERWriter.extension("2.5.29.24", critical: false, value: try DERWriter.generalizedTime(invalidity)))
        }
        return DERWriter.sequence(
            try X509Support.serialInteger(entry.serialNumber, what: "revoked certificate"),
            try DERWriter.time(entry.revocationDate),
            extensions.isEmpty ? [] : DERWriter.sequence(of: extensions))
    }

    private static func readEntries(_ crl: OpaquePointer) throws -> [RevokedEntry] {
        guard let stack = X509_CRL_get_REVOKED(crl) else { return [] }
        var entries: [RevokedEntry] = []
        for index in 0..<max(0, OPENSSL_sk_num(stack)) {
            guard let raw = OPENSSL_sk_value(stack, index) else { continue }
            let revoked = OpaquePointer(raw)
            guard let date = X509Text.date(X509_REVOKED_get0_revocationDate(revoked)) else {
                throw OpenSSLError(.malformedRevocationList, "entry \(index + 1) of the revocation list has no valid revocation date")
            }
            let serial = X509Text.magnitude(X509_REVOKED_get0_serialNumber(revoked))
            var critical: Int32 = 0
            var reason: Int?
            if let value = X509_REVOKED_get_ext_d2i(revoked, NID_crl_reason, &critical, nil) {
                let enumerated = value.assumingMemoryBound(to: ASN1_ENUMERATED.self)
                reason = ASN1_ENUMERATED_get(enumerated)
                ASN1_ENUMERATED_free(enumerated)
            } else if critical == -2 {
                throw OpenSSLError(.malformedRevocationList, "entry \(index + 1) of the revocation list has more than one reason code")
            } else if critical >= 0 {
                throw OpenSSLError(.malformedRevocationList, "entry \(index + 1) of the revocation list has a reason code that is not an ENUMERATED")
            }
            var invalidity: Date?
            critical = 0
            if let value = X509_REVOKED_get_ext_d2i(revoked, NID_invalidity_date, &critical, nil) {
                let time = value.assumingMemoryBound(to: ASN1_GENERALIZEDTIME.self)
                invalidity = X509Text.date(time)
                ASN1_GENERALIZEDTIME_free(time)
                if invalidity == nil {
                    throw OpenSSLError(.malformedRevocationList, "entry \(index + 1) of the revocation list has an invalidity date that is not a valid time")
                }
            } else if critical != -1 {
                throw OpenSSLError(.malformedRevocationList, "entry \(index + 1) of the revocation list has an invalidity date that cannot be read")
            }
            entries.append(RevokedEntry(serialNumber: serial, revocationDate: date, reason: reason, invalidityDate: invalidity))
        }
        return entries
    }

    /// A CRL extension decoded by OpenSSL, passed to `read` (which frees it); nil when absent.
    /// paysign relies on a list as the complete list of its issuer: a delta CRL (RFC 5280 5.2.4),
    /// a list of part of the issuer's scope (issuingDistributionPoint, 5.2.5: only CA or only user
    /// certificates, some reasons, an indirect CRL) or a critical extension it does not know
    /// (5.2) would have a revoked certificate read as not listed, so each is refused.
    private static func requireComplete(_ crl: OpaquePointer) throws {
        let understood: Set<Int32> = [NID_crl_number, NID_authority_key_identifier, NID_issuer_alt_name]
        for index in 0..<max(0, X509_CRL_get_ext_count(crl)) {
            guard let ext = X509_CRL_get_ext(crl, index) else { continue }
            let nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext))
            switch nid {
            case NID_delta_crl:
                throw OpenSSLError(.malformedRevocationList, "the revocation list is a delta CRL (deltaCRLIndicator); paysign needs its issuer's complete list")
            case NID_issuing_distribution_point:
                throw OpenSSLError(.malformedRevocationList, "the revocation list covers only part of its issuer's certificates (issuingDistributionPoint); paysign needs its issuer's complete list")
            default:
                if X509_EXTENSION_get_critical(ext) != 0 && !understood.contains(nid) {
                    throw OpenSSLError(.malformedRevocationList, "the revocation list has a critical extension paysign does not understand (\(dotted(X509_EXTENSION_get_object(ext)))), so it cannot be relied on (RFC 5280 5.2)")
                }
            }
        }
    }

    /// An object identifier in dotted form (`1.2.3.4`).
    private static func dotted(_ object: OpaquePointer?) -> String {
        var buffer = [CChar](repeating: 0, count: 128)
        let length = OBJ_obj2txt(&buffer, Int32(buffer.count), object, 1)
        return length > 0 ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "an unreadable OID"
    }

    private static func extensionValue<Value, Result>(_ crl: OpaquePointer, nid: Int32, name: String,
                                                      _ read: (UnsafeMutablePointer<Value>) -> Result) throws -> Result? {
        var critical: Int32 = 0
        guard let value = X509_CRL_get_ext_d2i(crl, nid, &critical, nil) else {
            if critical == -1 { return nil }
            throw OpenSSLError(.malformedRevocationList, "the revocation list's \(name) extension cannot be read")
        }
        return read(value.assumingMemoryBound(to: Value.self))
    }

    /// Hex to big-endian bytes; nil when it is not hex.
    static func bytes(hex: String) -> [UInt8]? {
        var text = hex.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: ":", with: "")
        if text.hasPrefix("0x") || text.hasPrefix("0X") { text.removeFirst(2) }
        guard !text.isEmpty, text.allSatisfy(\.isHexDigit) else { return nil }
        if text.count % 2 == 1 { text = "0" + text }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
