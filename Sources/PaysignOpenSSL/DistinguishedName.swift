internal import CLibCrypto

/// A distinguished name (RFC 5280 4.1.2.4), in order, as (attribute OID in dotted form, value)
/// pairs, one attribute per RDN.
///
/// Values are written as UTF8String, except where X.520 / RFC 5280 want another string type:
/// countryName (2.5.4.6), serialNumber (2.5.4.5) and dnQualifier (2.5.4.46) as PrintableString,
/// emailAddress (1.2.840.113549.1.9.1) and domainComponent (0.9.2342.19200300.100.1.25) as
/// IA5String. In paysign's PKI the subject's serialNumber is the holder's national ID (14 digits),
/// which is how two certificates of the same person are recognised (rule D2: the second signer is
/// a different person).
///
/// ```swift
/// let subject = DistinguishedName([
///     DistinguishedName.country("EG"), DistinguishedName.organization("Test Entity EG-0101"),
///     DistinguishedName.commonName("Officer One"), DistinguishedName.serialNumber("28001010100011"),
/// ])
/// ```
public struct DistinguishedName: Sendable, Hashable, CustomStringConvertible {
    private struct Attribute: Sendable, Hashable {
        var oid: String
        var value: String
    }

    private let storage: [Attribute]

    public init(_ attributes: [(oid: String, value: String)]) {
        storage = attributes.map { Attribute(oid: $0.oid, value: $0.value) }
    }

    /// The usual subject of paysign's certificates, in the order the test PKI writes it:
    /// C, O, organizationIdentifier, OU, CN, serialNumber (each left out when nil).
    public init(country: String? = nil, organization: String? = nil, organizationIdentifier: String? = nil,
                organizationalUnit: String? = nil, commonName: String? = nil, serialNumber: String? = nil) {
        var attributes: [(oid: String, value: String)] = []
        if let country { attributes.append(Self.country(country)) }
        if let organization { attributes.append(Self.organization(organization)) }
        if let organizationIdentifier { attributes.append(Self.organizationIdentifier(organizationIdentifier)) }
        if let organizationalUnit { attributes.append(Self.organizationalUnit(organizationalUnit)) }
        if let commonName { attributes.append(Self.commonName(commonName)) }
        if let serialNumber { attributes.append(Self.serialNumber(serialNumber)) }
        self.init(attributes)
    }

    public var attributes: [(oid: String, value: String)] { storage.map { ($0.oid, $0.value) } }
    public var isEmpty: Bool { storage.isEmpty }

    /// countryName (2.5.4.6): two letters, ISO 3166 (`EG`), PrintableString.
    public static func country(_ value: String) -> (oid: String, value: String) { ("2.5.4.6", value) }
    /// organizationName (2.5.4.10).
    public static func organization(_ value: String) -> (oid: String, value: String) { ("2.5.4.10", value) }
    /// organizationIdentifier (2.5.4.97, X.520): in paysign's PKI the entity's code (`EG-0101`), so
    /// the payment center matches a signer to the order's entity by code, not by the entity's name
    /// in O (rule D3).
    public static func organizationIdentifier(_ value: String) -> (oid: String, value: String) { ("2.5.4.97", value) }
    /// organizationalUnitName (2.5.4.11).
    public static func organizationalUnit(_ value: String) -> (oid: String, value: String) { ("2.5.4.11", value) }
    /// commonName (2.5.4.3).
    public static func commonName(_ value: String) -> (oid: String, value: String) { ("2.5.4.3", value) }
    /// serialNumber (2.5.4.5), PrintableString: the holder's national ID in paysign's PKI.
    public static func serialNumber(_ value: String) -> (oid: String, value: String) { ("2.5.4.5", value) }

    /// `Name ::= SEQUENCE OF RelativeDistinguishedName`, each RDN a SET of one
    /// `AttributeTypeAndValue`. Throws `X509BuildError.invalidName` for a bad OID, an empty value,
    /// a value over its X.520 upper bound, or a character its string type cannot hold.
    public var derEncoded: [UInt8] {
        get throws {
            var rdns: [[UInt8]] = []
            for attribute in storage {
                let type: [UInt8]
                do {
                    type = try DERWriter.oid(attribute.oid)
                } catch {
                    throw X509BuildError(.invalidName, "'\(attribute.oid)' is not an object identifier in dotted form")
                }
                let value = try Self.encodeValue(attribute)
                rdns.append(DERWriter.tlv(0x31, DERWriter.sequence(type, value)))
            }
            return DERWriter.sequence(of: rdns)
        }
    }

    /// The name as RFC 2253 text, the way `Certificate.subject` prints it (most specific first).
    public var rfc2253: String {
        get throws {
            let der = try derEncoded
            let name: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
                var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
                return d2i_X509_NAME(nil, &cursor, buffer.count)
            }
            guard let name else { throw OpenSSLError(.internalError, "OpenSSL could not read back a distinguished name paysign wrote") }
            defer { X509_NAME_free(name) }
            return X509Text.name(name)
        }
    }

    public var description: String {
        storage.map { "\(Self.shortNames[$0.oid] ?? $0.oid)=\($0.value)" }.joined(separator: ", ")
    }

    // MARK: Encoding rules

    private static let shortNames = [
        "2.5.4.6": "C", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.3": "CN", "2.5.4.5": "serialNumber",
        "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.46": "dnQualifier", "1.2.840.113549.1.9.1": "emailAddress",
        "0.9.2342.19200300.100.1.25": "DC", "2.5.4.97": "organizationIdentifier",
    ]

    /// Upper bounds of RFC 5280 Appendix A (characters).
    private static let upperBounds = [
        "2.5.4.3": 64, "2.5.4.10": 64, "2.5.4.11": 64, "2.5.4.97": 64, "2.5.4.5": 64, "2.5.4.7": 128, "2.5.4.8": 128,
        "1.2.840.113549.1.9.1": 255,
    ]

    private enum StringType { case printable, ia5, utf8 }

    private static func stringType(_ oid: String) -> StringType {
        switch oid {
        case "2.5.4.6", "2.5.4.5", "2.5.4.46": return .printable
        case "1.2.840.113549.1.9.1", "0.9.2342.19200300.100.1.25": return .ia5
        default: return .utf8
        }
    }

    /// X.680 41.4: the PrintableString repertoire.
    private static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "A"..."Z", "a"..."z", "0"..."9", " ", "'", "(", ")", "+", ",", "-", ".", "/", ":", "=", "?": return true
        default: return false
        }
    }

    private static func encodeValue(_ attribute: Attribute) throws -> [UInt8] {
        let name = shortNames[attribute.oid] ?? attribute.oid
        let scalars = attribute.value.unicodeScalars
        guard !scalars.isEmpty else { throw X509BuildError(.invalidName, "the \(name) attribute is empty") }
        if let bound = upperBounds[attribute.oid], scalars.count > bound {
            throw X509BuildError(.invalidName, "the \(name) attribute has \(scalars.count) characters; RFC 5280 allows at most \(bound)")
        }
        if attribute.oid == "2.5.4.6" {
            guard scalars.count == 2, scalars.allSatisfy({ ("A"..."Z").contains($0) || ("a"..."z").contains($0) }) else {
                throw X509BuildError(.invalidName, "the country '\(attribute.value)' is not a two-letter ISO 3166 code")
            }
        }
        let bytes = Array(attribute.value.utf8)
        switch stringType(attribute.oid) {
        case .printable:
            guard scalars.allSatisfy(isPrintable) else {
                throw X509BuildError(.invalidName, "the \(name) attribute '\(attribute.value)' holds a character a PrintableString cannot (letters, digits, space and ' ( ) + , - . / : = ? only)")
            }
            return DERWriter.tlv(0x13, bytes)
        case .ia5:
            guard scalars.allSatisfy(\.isASCII) else {
                throw X509BuildError(.invalidName, "the \(name) attribute '\(attribute.value)' is not ASCII (IA5String)")
            }
            return DERWriter.tlv(0x16, bytes)
        case .utf8:
            return DERWriter.tlv(0x0C, bytes)
        }
    }
}
