public import SwiftASN1

/// An ECDSA signature as X.509 and CMS carry it (RFC 3279 2.2.3):
///
/// ```
/// Ecdsa-Sig-Value ::= SEQUENCE {
///     r   INTEGER,
///     s   INTEGER }
/// ```
/// PKCS#11's `CKM_ECDSA` returns r‖s, each half the length of the output; this converts.
public struct ECDSASignature: DERImplicitlyTaggable, Hashable, Sendable {
    public static var defaultIdentifier: ASN1Identifier { .sequence }

    public var r: ArraySlice<UInt8>
    public var s: ArraySlice<UInt8>

    /// Splits a raw r‖s signature from a token.
    public init(rawRepresentation raw: [UInt8]) throws {
        guard !raw.isEmpty, raw.count % 2 == 0 else {
            throw ASN1Error.invalidASN1Object(reason: "a raw ECDSA signature has an even, non-zero length (got \(raw.count))")
        }
        let half = raw.count / 2
        r = Self.trimmed(raw[..<half])
        s = Self.trimmed(raw[half...])
    }

    public init(derEncoded node: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(node, identifier: identifier) { nodes in
            let r = try ArraySlice<UInt8>(derEncoded: &nodes)
            let s = try ArraySlice<UInt8>(derEncoded: &nodes)
            return ECDSASignature(r: r, s: s)
        }
    }

    private init(r: ArraySlice<UInt8>, s: ArraySlice<UInt8>) {
        self.r = r
        self.s = s
    }

    public func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(r)
            try coder.serialize(s)
        }
    }

    /// The DER bytes.
    public var derEncoded: [UInt8] {
        var serializer = DER.Serializer()
        // Serializing two integers into a sequence cannot fail.
        try! serializer.serialize(self)
        return serializer.serializedBytes
    }

    /// Removes leading zero bytes (INTEGER is minimal; swift-asn1 adds a 0x00 for a set high bit).
    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let trimmed = bytes.drop(while: { $0 == 0 })
        return trimmed.isEmpty ? [0] : trimmed
    }
}
