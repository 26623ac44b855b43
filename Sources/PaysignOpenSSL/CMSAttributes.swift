public import SwiftASN1

/// The object identifiers of the signed attributes paysign puts into a payment order's SignerInfo,
/// besides the three CMS requires (content-type, message-digest, signing-time, RFC 5652 11).
public enum CMSObjectIdentifiers {
    /// id-aa-signingCertificateV2 (RFC 5035): the signer's certificate hash. OpenSSL adds it
    /// (`CMS_CADES`); CAdES-BES requires it and `openssl cms -verify -cades` checks it.
    public static let signingCertificateV2: ASN1ObjectIdentifier = "1.2.840.113549.1.9.16.2.47"

    /// id-aa-ets-commitmentType (ETSI EN 319 122-1 5.2.3, RFC 5126 5.11.1): what the signer
    /// commits to by signing.
    public static let commitmentType: ASN1ObjectIdentifier = "1.2.840.113549.1.9.16.2.16"

    /// id-aa-ets-signerAttrV2 (ETSI EN 319 122-1 5.2.6.1): the signer's claimed attributes; paysign
    /// claims the signer's role in the order's review chain there ("first", "second").
    public static let signerAttributesV2: ASN1ObjectIdentifier = "0.4.0.19122.1.1"

    /// id-at-role (ITU-T X.520 6.4.4), with a DirectoryString value: the attribute type paysign
    /// uses for the role inside `claimedAttributes`.
    public static let role: ASN1ObjectIdentifier = "2.5.4.72"

    /// paysign's preceding-signature attribute: the SHA-256 of the signature value of the SignerInfo
    /// signed just before this one, so that the order of the signatures can be proven from the file
    /// (rule D2: the second signature comes after the first, over the same content).
    ///
    /// ```
    /// PrecedingSignature ::= OCTET STRING  -- SHA-256 of the contents of the preceding
    ///                                      -- SignerInfo's signature OCTET STRING
    /// ```
    /// The signature value covers everything the earlier signer signed (content digest, signing
    /// time, certificate, role), so a later signer who signs its hash provably signed after it.
    ///
    /// **Placeholder arc.** 1.3.6.1.4.1.99999 is not a registered enterprise number; replace it with
    /// the Ministry's (or the project's) registered arc before any signed order leaves a test bed.
    /// Files signed under the placeholder will then no longer be recognised as bound.
    public static let precedingSignature: ASN1ObjectIdentifier = "1.3.6.1.4.1.99999.1.1"
}

/// The commitment a signer makes (ETSI EN 319 122-1 5.2.3; OIDs under
/// id-cti 1.2.840.113549.1.9.16.6, from RFC 5126 5.11.1).
public enum CommitmentType: String, Sendable, Hashable, Codable, CaseIterable {
    case proofOfOrigin = "proof-of-origin"
    case proofOfReceipt = "proof-of-receipt"
    case proofOfDelivery = "proof-of-delivery"
    case proofOfSender = "proof-of-sender"
    /// The signer approves the content: what both signatures of a payment order mean (rule D2:
    /// both signers answer for the order matching the disbursement forms).
    case proofOfApproval = "proof-of-approval"
    case proofOfCreation = "proof-of-creation"

    public var oid: ASN1ObjectIdentifier {
        switch self {
        case .proofOfOrigin: return "1.2.840.113549.1.9.16.6.1"
        case .proofOfReceipt: return "1.2.840.113549.1.9.16.6.2"
        case .proofOfDelivery: return "1.2.840.113549.1.9.16.6.3"
        case .proofOfSender: return "1.2.840.113549.1.9.16.6.4"
        case .proofOfApproval: return "1.2.840.113549.1.9.16.6.5"
        case .proofOfCreation: return "1.2.840.113549.1.9.16.6.6"
        }
    }

    public init?(oid: ASN1ObjectIdentifier) {
        guard let match = Self.allCases.first(where: { $0.oid == oid }) else { return nil }
        self = match
    }
}

/// The value of the commitment-type-indication attribute (ETSI EN 319 122-1 5.2.3), without
/// qualifiers:
///
/// ```
/// CommitmentTypeIndication ::= SEQUENCE {
///     commitmentTypeId         CommitmentTypeIdentifier,
///     commitmentTypeQualifier  SEQUENCE SIZE (1..MAX) OF CommitmentTypeQualifier OPTIONAL }
/// CommitmentTypeIdentifier ::= OBJECT IDENTIFIER
/// ```
struct CommitmentTypeIndication: DERImplicitlyTaggable, Hashable, Sendable {
    static var defaultIdentifier: ASN1Identifier { .sequence }

    var commitmentTypeID: ASN1ObjectIdentifier

    init(commitmentTypeID: ASN1ObjectIdentifier) { self.commitmentTypeID = commitmentTypeID }

    init(derEncoded node: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(node, identifier: identifier) { nodes in
            let id = try ASN1ObjectIdentifier(derEncoded: &nodes)
            // Qualifiers, if any, are read past: paysign neither writes nor interprets them.
            while nodes.next() != nil {}
            return CommitmentTypeIndication(commitmentTypeID: id)
        }
    }

    func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(commitmentTypeID)
        }
    }
}

/// The value of the signer-attributes-v2 attribute (ETSI EN 319 122-1 5.2.6.1, explicit tags as in
/// its ETS-ElectronicSignatureFormats-ExplicitSyntax88 module), with the claimed role only:
///
/// ```
/// SignerAttributeV2 ::= SEQUENCE {
///     claimedAttributes      [0] ClaimedAttributes OPTIONAL,
///     certifiedAttributesV2  [1] CertifiedAttributesV2 OPTIONAL,
///     signedAssertions       [2] SignedAssertions OPTIONAL }
/// ClaimedAttributes ::= SEQUENCE OF Attribute
/// Attribute ::= SEQUENCE { attrType OBJECT IDENTIFIER, attrValues SET OF AttributeValue }
/// ```
/// paysign writes one claimed attribute, id-at-role with a UTF8String, and reads the first
/// id-at-role whose value is a string.
struct SignerAttributeV2: DERImplicitlyTaggable, Hashable, Sendable {
    static var defaultIdentifier: ASN1Identifier { .sequence }

    var claimedRole: String?

    init(claimedRole: String?) { self.claimedRole = claimedRole }

    init(derEncoded node: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(node, identifier: identifier) { nodes in
            var role: String?
            while let child = nodes.next() {
                guard child.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) else { continue }
                role = try DER.explicitlyTagged(child, tagNumber: 0, tagClass: .contextSpecific) { claimed in
                    try DER.sequence(claimed, identifier: .sequence) { attributes in
                        var found: String?
                        while let attribute = attributes.next() {
                            let value = try DER.sequence(attribute, identifier: .sequence) { parts -> String? in
                                let type = try ASN1ObjectIdentifier(derEncoded: &parts)
                                guard let values = parts.next() else { return nil }
                                guard type == CMSObjectIdentifiers.role else { return nil }
                                return try DER.set(values, identifier: .set) { members -> String? in
                                    var text: String?
                                    while let member = members.next() {
                                        if text == nil { text = Self.directoryString(member) }
                                    }
                                    return text
                                }
                            }
                            if found == nil { found = value }
                        }
                        return found
                    }
                }
            }
            return SignerAttributeV2(claimedRole: role)
        }
    }

    func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            guard let claimedRole else { return }
            try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
                try coder.appendConstructedNode(identifier: .sequence) { coder in
                    try coder.appendConstructedNode(identifier: .sequence) { coder in
                        try coder.serialize(CMSObjectIdentifiers.role)
                        try coder.serializeSetOf([ASN1UTF8String(claimedRole)])
                    }
                }
            }
        }
    }

    /// A DirectoryString (UTF8String, PrintableString, BMPString, …) as text; nil for other types.
    private static func directoryString(_ node: ASN1Node) -> String? {
        if let utf8 = try? ASN1UTF8String(derEncoded: node) { return String(utf8) }
        if let printable = try? ASN1PrintableString(derEncoded: node) { return String(printable) }
        if let ia5 = try? ASN1IA5String(derEncoded: node) { return String(ia5) }
        return nil
    }
}

/// DER for one attribute value type (throwing only on impossible input, as swift-asn1 does).
func derBytes<Value: DERSerializable>(_ value: Value) throws -> [UInt8] {
    var coder = DER.Serializer()
    try coder.serialize(value)
    return coder.serializedBytes
}
