public import Foundation
import SwiftASN1
#if canImport(Glibc)
import Glibc
#endif

/// What a signed order's `.p7s` proves about a document, gathered for the payment center's
/// verification (issue 6): every SignerInfo read, its signature checked over its signed
/// attributes with the certificate's public key, its message digest compared with the document's
/// SHA-256, its certificate's chain and revocation looked up in a `TrustContext`. Nothing is
/// judged here (that is `PaysignDomain.OrderVerification`); a file that cannot be read gives a
/// `structureProblem`, never a crash or a throw.
///
/// Unlike `SignedDocument` (OpenSSL's `d2i_CMS_ContentInfo`, which decodes every certificate and
/// its key on each parse), the SignedData is walked here with swift-asn1 in strict DER, and the
/// certificates are parsed by OpenSSL once per `TrustContext`, keyed by their SHA-256: a batch
/// pays per order one DER walk, the SHA-256 of the document, of the certificates and of the signed
/// attributes, and one public-key verification per signature.
///
/// What is read (RFC 5652 5, the CAdES-BES attributes of `CMSBuilder`):
/// ```
/// ContentInfo { id-signedData, [0] SignedData {
///     version, digestAlgorithms, encapContentInfo { id-data }  -- no eContent: detached
///     certificates [0] OPTIONAL, crls [1] OPTIONAL,
///     signerInfos SET OF SignerInfo { version, sid, digestAlgorithm (sha256),
///         signedAttrs [0]  -- verified as the DER SET (tag 0x31) they encode, in DER order
///         signatureAlgorithm, signature, unsignedAttrs [1] OPTIONAL } } }
/// ```
public struct OrderEvidence: Sendable {
    /// SHA-256 of the document given.
    public var documentSHA256: [UInt8]
    /// Why the `.p7s` is not a detached CMS SignedData paysign can read; nil when it is.
    public var structureProblem: String?
    /// Every SignerInfo in the file's order (empty with a structure problem).
    public var signers: [SignerEvidence]

    /// The largest `.p7s` read: two signatures with their certificates take a few kilobytes.
    public static let maximumSignatureBytes = 1 << 20

    /// Reads `signature` (the `.p7s` DER) against `document` (the exact signed bytes).
    public static func gather(document: [UInt8], signature: [UInt8], trust: TrustContext) -> OrderEvidence {
        let digest = SHA256.hash(document)
        guard signature.count <= maximumSignatureBytes else {
            return OrderEvidence(documentSHA256: digest, structureProblem: "the signature file is \(signature.count) bytes, more than the \(maximumSignatureBytes) a signed order's .p7s can be", signers: [])
        }
        let parsed: ParsedSignedData
        do {
            parsed = try ParsedSignedData(signature)
        } catch let error as StructureError {
            return OrderEvidence(documentSHA256: digest, structureProblem: error.message, signers: [])
        } catch {
            return OrderEvidence(documentSHA256: digest, structureProblem: "the signature file is not DER: truncated, damaged or something else (\(error))", signers: [])
        }
        let certificates = parsed.certificates.compactMap { trust.certificate(der: $0) }
        let authorities = certificates.filter(\.isAuthority)
        var signers: [SignerEvidence] = []
        for (index, info) in parsed.signerInfos.enumerated() {
            signers.append(SignerEvidence(index: index, info: info, digest: digest, certificates: certificates,
                                          authorities: authorities, trust: trust))
        }
        // Resolve each binding to the signer whose signature it names (rule D2).
        for index in signers.indices where signers[index].precedingSignatureDigest != nil {
            signers[index].precededBy = signers.first {
                $0.index != index && $0.signatureDigest == signers[index].precedingSignatureDigest
            }?.index
        }
        return OrderEvidence(documentSHA256: digest, structureProblem: nil, signers: signers)
    }
}

/// One SignerInfo, read and checked.
public struct SignerEvidence: Sendable {
    public var index: Int
    public var claimedRole: String?
    public var signingTime: Date?
    public var scheme: SignatureScheme?
    public var signatureVerifies: Bool
    public var messageDigestMatches: Bool
    public var contentTypeIsData: Bool
    /// nil: no signing-certificate-v2 attribute.
    public var signingCertificateMatches: Bool?
    public var precedingSignatureDigest: [UInt8]?
    public var precededBy: Int?
    public var signatureDigest: [UInt8]
    public var hasTimeStampToken: Bool
    /// The RFC 3161 signature time-stamp token, read and checked (`TimeStampToken`); nil without
    /// one. More than one, or one that cannot be read, is a `problem` in it.
    public var timeStamp: TimeStampEvidence?
    /// The signer's certificate with its chain and revocation, nil when the file does not carry it.
    public var certificate: CertificateProfile?
    public var chain: ChainVerdict?

    init(index: Int, info: ParsedSignerInfo, digest: [UInt8], certificates: [CachedCertificate],
         authorities: [CachedCertificate], trust: TrustContext) {
        self.index = index
        claimedRole = info.claimedRole
        signingTime = info.signingTime
        scheme = info.scheme
        messageDigestMatches = info.messageDigest == digest
        contentTypeIsData = info.contentTypeIsData
        precedingSignatureDigest = info.precedingSignature
        signatureDigest = SHA256.hash(info.signature)
        hasTimeStampToken = info.hasTimeStampToken
        if let token = info.timeStampToken {  // only then: a batch without tokens pays nothing here
            timeStamp = info.timeStampTokenCount == 1
                ? TimeStampToken.check(token: token, signature: info.signature, trust: trust, authorities: authorities)
                : TimeStampEvidence(problem: "the SignerInfo carries \(info.timeStampTokenCount) time-stamp tokens; paysign reads one per signature")
        }
        let cached = certificates.first { info.identifies($0) }
        if let cached {
            let verdict = trust.chain(for: cached, authorities: authorities)
            certificate = cached.profile
            chain = verdict
            if let expected = info.signingCertificateHash {
                signingCertificateMatches = expected == cached.certificate.sha256Fingerprint
            }
            if let scheme = info.scheme {
                signatureVerifies = cached.certificate.verifyReusingContext(signature: info.signature, over: info.signedAttributes, scheme: scheme)
            } else {
                signatureVerifies = false
            }
        } else {
            signatureVerifies = false
        }
    }
}

/// Why a `.p7s` cannot be read, in one sentence.
struct StructureError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

// MARK: The DER walk

/// Object identifiers as the content octets of their DER encoding, computed once.
enum CMSOID {
    static let signedData = bytes("1.2.840.113549.1.7.2")
    static let data = bytes("1.2.840.113549.1.7.1")
    static let contentType = bytes("1.2.840.113549.1.9.3")
    static let messageDigest = bytes("1.2.840.113549.1.9.4")
    static let signingTime = bytes("1.2.840.113549.1.9.5")
    static let timeStampToken = bytes("1.2.840.113549.1.9.16.2.14")
    static let sha256 = bytes("2.16.840.1.101.3.4.2.1")
    static let rsaEncryption = bytes("1.2.840.113549.1.1.1")
    static let sha256WithRSA = bytes("1.2.840.113549.1.1.11")
    static let rsassaPSS = bytes("1.2.840.113549.1.1.10")
    static let ecdsaWithSHA256 = bytes("1.2.840.10045.4.3.2")
    static let signingCertificateV2 = bytes(CMSObjectIdentifiers.signingCertificateV2.description)
    static let signerAttributesV2 = bytes(CMSObjectIdentifiers.signerAttributesV2.description)
    static let precedingSignature = bytes(CMSObjectIdentifiers.precedingSignature.description)
    static let role = bytes(CMSObjectIdentifiers.role.description)

    private static func bytes(_ dotted: String) -> [UInt8] {
        var coder = DER.Serializer()
        // The identifiers above are constants: they always encode.
        try! coder.serialize(try! ASN1ObjectIdentifier(elements: dotted.split(separator: ".").map { UInt($0)! }))
        return Array(coder.serializedBytes.dropFirst(2))  // tag 06 and a one-byte length
    }
}

/// One DER element in a buffer: its tag (single byte: CMS uses no high tag numbers) and where its
/// content lies. Walking a signature file with these costs no allocation per element, which is
/// what makes a batch fast; the rules are strict DER (definite, minimal lengths).
struct DERTLV {
    var tag: UInt8
    var start: Int
    var contentStart: Int
    var end: Int
    var isConstructed: Bool { tag & 0x20 != 0 }

    static let sequence: UInt8 = 0x30, set: UInt8 = 0x31, integer: UInt8 = 0x02, octetString: UInt8 = 0x04,
        null: UInt8 = 0x05, oid: UInt8 = 0x06, utf8String: UInt8 = 0x0C, printableString: UInt8 = 0x13,
        ia5String: UInt8 = 0x16, utcTime: UInt8 = 0x17, generalizedTime: UInt8 = 0x18
    static func context(_ number: UInt8, constructed: Bool = true) -> UInt8 { 0x80 | (constructed ? 0x20 : 0) | number }
}

/// The elements inside one constructed element: the first eight held inline, without an
/// allocation (a signature file's walk lists some sixty of them per order, nearly all shorter).
struct DERChildren: RandomAccessCollection {
    static let inlineCount = 8
    private var inline = InlineArray<8, DERTLV>(repeating: DERTLV(tag: 0, start: 0, contentStart: 0, end: 0))
    private var overflow: [DERTLV]? = nil
    private(set) var count = 0

    var startIndex: Int { 0 }
    var endIndex: Int { count }

    subscript(position: Int) -> DERTLV {
        precondition(position >= 0 && position < count, "DER child index out of range")
        return position < Self.inlineCount ? inline[position] : overflow![position - Self.inlineCount]
    }

    mutating func append(_ element: DERTLV) {
        if count < Self.inlineCount {
            inline[count] = element
        } else {
            if overflow == nil { overflow = [] }
            overflow!.append(element)
        }
        count += 1
    }
}

struct DERWalker {
    let bytes: [UInt8]

    /// The element at `offset`, which must end by `limit`.
    func element(at offset: Int, limit: Int) throws -> DERTLV {
        guard offset + 2 <= limit else { throw StructureError("the file ends inside an element: it is truncated") }
        let tag = bytes[offset]
        guard tag & 0x1F != 0x1F else { throw StructureError("the file uses a tag CMS does not: it is not a signature") }
        let first = bytes[offset + 1]
        var length = 0
        var header = 2
        if first < 0x80 {
            length = Int(first)
        } else {
            let count = Int(first & 0x7F)
            guard count >= 1, count <= 4, offset + 2 + count <= limit else {
                throw StructureError("the file has an indefinite or impossible length: it is not DER")
            }
            for index in 0..<count { length = length << 8 | Int(bytes[offset + 2 + index]) }
            guard bytes[offset + 2] != 0, length >= 0x80 else { throw StructureError("the file has a length that is not minimal: it is not DER") }
            header += count
        }
        guard length <= limit - offset - header else { throw StructureError("the file ends inside an element: it is truncated") }
        return DERTLV(tag: tag, start: offset, contentStart: offset + header, end: offset + header + length)
    }

    /// The whole buffer as one element.
    func root() throws -> DERTLV {
        let element = try element(at: 0, limit: bytes.count)
        guard element.end == bytes.count else {
            throw StructureError("the CMS SignedData is followed by \(bytes.count - element.end) unexpected bytes; the file is damaged")
        }
        return element
    }

    /// The elements inside a constructed element of tag `tag`, which must fill it exactly.
    /// `what` names the element in the error, and is only worked out for one.
    func children(_ element: DERTLV, _ tag: UInt8, _ what: @autoclosure () -> String) throws -> DERChildren {
        guard element.tag == tag, element.isConstructed else { throw StructureError("the \(what()) is not where a CMS SignedData has it") }
        var out = DERChildren()
        var offset = element.contentStart
        while offset < element.end {
            let child = try self.element(at: offset, limit: element.end)
            out.append(child)
            offset = child.end
        }
        return out
    }

    func content(of element: DERTLV) -> ArraySlice<UInt8> { bytes[element.contentStart..<element.end] }
    func encoded(_ element: DERTLV) -> ArraySlice<UInt8> { bytes[element.start..<element.end] }

    func isOID(_ element: DERTLV?, _ oid: [UInt8]) -> Bool {
        guard let element, element.tag == DERTLV.oid else { return false }
        return Self.same(content(of: element), oid)
    }

    /// Byte-wise equality with `memcmp` (the generic `elementsEqual` walks an iterator per byte).
    static func same(_ a: ArraySlice<UInt8>, _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in x.isEmpty || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 }
        }
    }

    static func same(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in x.isEmpty || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 }
        }
    }

    /// `a` sorts strictly before `b`, bytewise (shorter first on a common prefix), with `memcmp`.
    static func precedes(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Bool {
        a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in
                let common = min(x.count, y.count)
                let order = common == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, common)
                return order != 0 ? order < 0 : x.count < y.count
            }
        }
    }

    /// A small non-negative INTEGER (a version).
    func smallInteger(_ element: DERTLV) -> Int? {
        guard element.tag == DERTLV.integer, element.end - element.contentStart == 1 else { return nil }
        return Int(bytes[element.contentStart])
    }

    func octets(_ element: DERTLV) -> [UInt8]? {
        element.tag == DERTLV.octetString ? Array(content(of: element)) : nil
    }
}

struct ParsedSignedData {
    var certificates: [ArraySlice<UInt8>] = []
    var signerInfos: [ParsedSignerInfo] = []

    init(_ der: [UInt8]) throws {
        guard !der.isEmpty else { throw StructureError("the signature file is empty; a DER CMS SignedData (.p7s) was expected") }
        let walk = DERWalker(bytes: der)
        let root = try walk.root()
        let top = try walk.children(root, DERTLV.sequence, "ContentInfo")
        guard top.count == 2, top[0].tag == DERTLV.oid else { throw StructureError("the file is not a CMS ContentInfo") }
        guard walk.isOID(top[0], CMSOID.signedData) else {
            throw StructureError("the CMS file holds something other than SignedData; it is not a signature")
        }
        let wrapped = try walk.children(top[1], DERTLV.context(0), "SignedData")
        guard wrapped.count == 1 else { throw StructureError("the SignedData is not one value") }
        let fields = try walk.children(wrapped[0], DERTLV.sequence, "SignedData")
        guard fields.count >= 4, let version = walk.smallInteger(fields[0]), [1, 3].contains(version) else {
            throw StructureError("the SignedData's version is not 1 or 3")
        }
        // digestAlgorithms: SHA-256 only, as every SignerInfo paysign reads uses it.
        for algorithm in try walk.children(fields[1], DERTLV.set, "digest algorithms") {
            let parts = try walk.children(algorithm, DERTLV.sequence, "digest algorithm")
            guard walk.isOID(parts.first, CMSOID.sha256),
                parts.count == 1 || (parts.count == 2 && parts[1].tag == DERTLV.null && parts[1].end == parts[1].contentStart)
            else { throw StructureError("the SignedData names a digest algorithm other than SHA-256") }
        }
        let encapsulated = try walk.children(fields[2], DERTLV.sequence, "encapsulated content info")
        guard walk.isOID(encapsulated.first, CMSOID.data) else { throw StructureError("the signed content is not of type id-data") }
        guard encapsulated.count == 1 else {
            throw StructureError("the SignedData carries its content inside; paysign uses detached signatures, with the content in a file of its own")
        }
        var rest = fields[3...]
        if let node = rest.first, node.tag == DERTLV.context(0) {
            // CertificateChoices: plain certificates only (the tagged alternatives are not used).
            certificates = try walk.children(node, DERTLV.context(0), "certificates")
                .filter { $0.tag == DERTLV.sequence }.map { walk.encoded($0) }
            rest = rest.dropFirst()
        }
        if let node = rest.first, node.tag == DERTLV.context(1) { rest = rest.dropFirst() }
        guard rest.count == 1, let infos = rest.first else {
            throw StructureError("the SignedData does not end with its SignerInfos")
        }
        signerInfos = try walk.children(infos, DERTLV.set, "SignerInfos").enumerated().map {
            try ParsedSignerInfo($1, number: $0 + 1, walk: walk)
        }
        guard !signerInfos.isEmpty else { throw StructureError("the SignedData holds no signature (no SignerInfo)") }
    }
}

struct ParsedSignerInfo {
    var issuer: ArraySlice<UInt8>?
    var serial: ArraySlice<UInt8>?
    var subjectKeyIdentifier: ArraySlice<UInt8>?
    var scheme: SignatureScheme?
    /// The DER of the signed attributes as signed: a SET (0x31), not the [0] of the file.
    var signedAttributes: [UInt8]
    var signature: [UInt8]
    var messageDigest: [UInt8]?
    var contentTypeIsData = false
    var signingTime: Date?
    var claimedRole: String?
    var signingCertificateHash: [UInt8]?
    var precedingSignature: [UInt8]?
    var hasTimeStampToken = false
    /// The first id-aa-signatureTimeStampToken value (its DER; the raw bytes of the value SET when
    /// they are not DER), and how many values all such attributes hold.
    var timeStampToken: ArraySlice<UInt8>?
    var timeStampTokenCount = 0

    init(_ node: DERTLV, number: Int, walk: DERWalker) throws {
        // Named only in an error: a batch reads thousands of SignerInfos that have none.
        var what: String { "SignerInfo \(number)" }
        let fields = try walk.children(node, DERTLV.sequence, what)
        guard fields.count >= 5, let version = walk.smallInteger(fields[0]), [1, 3].contains(version) else {
            throw StructureError("\(what) lacks fields, or its version is not 1 or 3")
        }
        // sid: issuerAndSerialNumber, or [0] subjectKeyIdentifier.
        if fields[1].tag == DERTLV.sequence {
            let sid = try walk.children(fields[1], DERTLV.sequence, "\(what)'s signer identifier")
            guard sid.count == 2, sid[0].tag == DERTLV.sequence, sid[1].tag == DERTLV.integer else {
                throw StructureError("\(what)'s issuer and serial number cannot be read")
            }
            issuer = walk.encoded(sid[0])
            serial = walk.content(of: sid[1])
        } else if fields[1].tag == DERTLV.context(0, constructed: false) {
            subjectKeyIdentifier = walk.content(of: fields[1])
        } else {
            throw StructureError("\(what) names its signer in a way CMS does not define")
        }
        let digestAlgorithm = try walk.children(fields[2], DERTLV.sequence, "\(what)'s digest algorithm")
        let digestIsSHA256 = walk.isOID(digestAlgorithm.first, CMSOID.sha256)
            && (digestAlgorithm.count == 1 || (digestAlgorithm.count == 2 && digestAlgorithm[1].tag == DERTLV.null))

        guard fields[3].tag == DERTLV.context(0) else {
            throw StructureError("\(what) has no signed attributes; CAdES-BES signs its attributes, not the bare content")
        }
        let attributes = fields[3]
        var setBytes = Array(walk.encoded(attributes))
        setBytes[0] = DERTLV.set  // IMPLICIT [0] → SET OF, the bytes the signature covers (RFC 5652 5.4)
        signedAttributes = setBytes

        guard fields.count >= 6 else { throw StructureError("\(what) lacks its signature") }
        let signatureAlgorithm = try walk.children(fields[4], DERTLV.sequence, "\(what)'s signature algorithm")
        guard let algorithm = signatureAlgorithm.first, algorithm.tag == DERTLV.oid else {
            throw StructureError("\(what)'s signature algorithm is not an object identifier")
        }
        let parameters = signatureAlgorithm.count > 1 ? Array(walk.encoded(signatureAlgorithm[1])) : nil
        guard signatureAlgorithm.count <= 2, let value = walk.octets(fields[5]) else {
            throw StructureError("\(what)'s signature is not an OCTET STRING")
        }
        signature = value
        if fields.count > 6 {
            guard fields.count == 7, fields[6].tag == DERTLV.context(1) else {
                throw StructureError("\(what) has unexpected fields after its signature")
            }
            for attribute in try walk.children(fields[6], DERTLV.context(1), "\(what)'s unsigned attributes") {
                let parts = try walk.children(attribute, DERTLV.sequence, "\(what)'s unsigned attribute")
                if walk.isOID(parts.first, CMSOID.timeStampToken) {
                    hasTimeStampToken = true
                    // A value that is not DER is the token's failure, not the file's (RFC 3161 Appendix A).
                    guard parts.count == 2, parts[1].tag == DERTLV.set,
                        let values = try? walk.children(parts[1], DERTLV.set, "time-stamp token values")
                    else {
                        timeStampTokenCount += 1
                        timeStampToken = timeStampToken ?? (parts.count > 1 ? walk.content(of: parts[1]) : [])
                        continue
                    }
                    timeStampTokenCount += max(values.count, 1)
                    timeStampToken = timeStampToken ?? (values.first.map { walk.encoded($0) } ?? [])
                }
            }
        }

        if digestIsSHA256 {
            if walk.isOID(algorithm, CMSOID.rsaEncryption) || walk.isOID(algorithm, CMSOID.sha256WithRSA) {
                if parameters == nil || parameters == [0x05, 0x00] { scheme = .rsaPKCS1SHA256 }
            } else if walk.isOID(algorithm, CMSOID.rsassaPSS) {
                if parameters == SignerDraft.pssParameters { scheme = .rsaPSSSHA256 }
            } else if walk.isOID(algorithm, CMSOID.ecdsaWithSHA256) {
                if parameters == nil { scheme = .ecdsaSHA256 }
            }
        }
        try readAttributes(attributes, named: what, walk: walk)
    }

    /// The signed attributes, each once, in DER order (OpenSSL re-sorts them before it verifies,
    /// so a file with another order would verify here and not there).
    private mutating func readAttributes(_ node: DERTLV, named name: @autoclosure () -> String, walk: DERWalker) throws {
        var what: String { name() }
        var previous: ArraySlice<UInt8>?
        var seen: [ArraySlice<UInt8>] = []
        for attribute in try walk.children(node, DERTLV.context(0), "\(what)'s signed attributes") {
            let encoded = walk.encoded(attribute)
            if let previous, !DERWalker.precedes(previous, encoded) {
                throw StructureError("\(what)'s signed attributes are not in DER order (or one is repeated)")
            }
            previous = encoded
            let parts = try walk.children(attribute, DERTLV.sequence, "\(what)'s signed attribute")
            guard parts.count == 2, parts[0].tag == DERTLV.oid else {
                throw StructureError("\(what) has a signed attribute that is not a type and its values")
            }
            let type = walk.content(of: parts[0])
            guard !seen.contains(where: { DERWalker.same($0, type) }) else {
                throw StructureError("\(what) has the same signed attribute twice")
            }
            seen.append(type)
            let values = try walk.children(parts[1], DERTLV.set, "\(what)'s attribute values")
            guard values.count == 1 else { continue }  // only single-valued attributes are read
            let value = values[0]
            if DERWalker.same(type, CMSOID.contentType) {
                contentTypeIsData = walk.isOID(value, CMSOID.data)
            } else if DERWalker.same(type, CMSOID.messageDigest) {
                messageDigest = walk.octets(value)
            } else if DERWalker.same(type, CMSOID.signingTime) {
                signingTime = Self.date(value, walk: walk)
            } else if DERWalker.same(type, CMSOID.signerAttributesV2) {
                claimedRole = Self.claimedRole(value, walk: walk)
            } else if DERWalker.same(type, CMSOID.precedingSignature) {
                precedingSignature = walk.octets(value)
            } else if DERWalker.same(type, CMSOID.signingCertificateV2) {
                signingCertificateHash = Self.firstCertificateHash(value, walk: walk)
            }
        }
    }

    /// signer-attributes-v2 (ETSI EN 319 122-1 5.2.6.1): the first id-at-role claimed with a
    /// string value, as `SignerAttributeV2` reads it.
    /// `SEQUENCE { claimedAttributes [0] EXPLICIT SEQUENCE OF Attribute, … }`.
    private static func claimedRole(_ node: DERTLV, walk: DERWalker) -> String? {
        guard let fields = try? walk.children(node, DERTLV.sequence, "signer attributes"),
            let claimed = fields.first(where: { $0.tag == DERTLV.context(0) }),
            let inner = try? walk.children(claimed, DERTLV.context(0), "claimed attributes"), inner.count == 1,
            let attributes = try? walk.children(inner[0], DERTLV.sequence, "claimed attributes")
        else { return nil }
        for attribute in attributes {
            guard let parts = try? walk.children(attribute, DERTLV.sequence, "attribute"), parts.count == 2,
                walk.isOID(parts[0], CMSOID.role), let values = try? walk.children(parts[1], DERTLV.set, "values")
            else { continue }
            for value in values where [DERTLV.utf8String, DERTLV.printableString, DERTLV.ia5String].contains(value.tag) {
                return String(validating: walk.content(of: value), as: UTF8.self)
            }
        }
        return nil
    }

    /// `SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies OPTIONAL }`,
    /// `ESSCertIDv2 ::= SEQUENCE { hashAlgorithm DEFAULT sha256, certHash OCTET STRING, issuerSerial OPTIONAL }`:
    /// the first certHash, when its algorithm is SHA-256.
    private static func firstCertificateHash(_ node: DERTLV, walk: DERWalker) -> [UInt8]? {
        guard let outer = try? walk.children(node, DERTLV.sequence, "signing-certificate-v2"), let certs = outer.first,
            let list = try? walk.children(certs, DERTLV.sequence, "signing-certificate-v2"), let first = list.first,
            let id = try? walk.children(first, DERTLV.sequence, "ESSCertIDv2"), !id.isEmpty
        else { return nil }
        var position = 0
        if id[0].tag == DERTLV.sequence {
            guard let algorithm = try? walk.children(id[0], DERTLV.sequence, "hash algorithm"),
                walk.isOID(algorithm.first, CMSOID.sha256)
            else { return nil }
            position = 1
        }
        guard position < id.count else { return nil }
        return walk.octets(id[position])
    }

    /// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as a date (UTC).
    private static func date(_ node: DERTLV, walk: DERWalker) -> Date? {
        let text = walk.content(of: node)
        let digitCount: Int
        switch node.tag {
        case DERTLV.utcTime: digitCount = 12
        case DERTLV.generalizedTime: digitCount = 14
        default: return nil
        }
        guard text.count == digitCount + 1, text.last == UInt8(ascii: "Z"),
            text.dropLast().allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        let digits = text.dropLast().map { Int($0 - UInt8(ascii: "0")) }
        func number(_ at: Int, _ count: Int) -> Int { digits[at..<(at + count)].reduce(0) { $0 * 10 + $1 } }
        var year: Int
        var at: Int
        if digitCount == 12 {
            year = number(0, 2)
            year += year >= 50 ? 1900 : 2000
            at = 2
        } else {
            year = number(0, 4)
            at = 4
        }
        let month = number(at, 2), day = number(at + 2, 2), hours = number(at + 4, 2), minutes = number(at + 6, 2),
            seconds = number(at + 8, 2)
        guard (1...12).contains(month), (1...31).contains(day), hours < 24, minutes < 60, seconds < 61 else { return nil }
        // Days from the civil date (Howard Hinnant's algorithm), proleptic Gregorian, UTC.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + hours * 3_600 + minutes * 60 + seconds))
    }

    /// The SignerIdentifier names `certificate`.
    func identifies(_ certificate: CachedCertificate) -> Bool {
        if let issuer, let serial { return DERWalker.same(certificate.issuerDER, issuer) && DERWalker.same(certificate.serialDER, serial) }
        if let subjectKeyIdentifier, let key = certificate.certificate.subjectKeyIdentifier {
            return key.elementsEqual(subjectKeyIdentifier)
        }
        return false
    }
}
