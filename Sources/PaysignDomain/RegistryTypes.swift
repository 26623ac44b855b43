public import Foundation

/// A government entity (a ministry, an authority, a directorate) whose payments go out as signed
/// payment orders (D1). Its first-signature holders are counted per entity (D3).
public struct Entity: Sendable, Hashable, Codable, Identifiable {
    /// The entity's stable code, the registry's key for it.
    public var code: String
    public var name: String
    public var addedAt: Date

    public var id: String { code }

    public init(code: String, name: String, addedAt: Date) {
        self.code = code
        self.name = name
        self.addedAt = addedAt
    }
}

/// A person the daemon knows: a Unix user mapped to one or more roles. The socket's peer
/// credentials name the Unix user; the registry says who that is and what they may do.
public struct Operator: Sendable, Hashable, Codable, Identifiable {
    public typealias ID = Int64

    public var id: ID
    /// The Unix account this person logs in with. When responsibility moves, the user name
    /// changes (D13): a new mapping, never a reused one.
    public var unixUser: String
    /// 14 digits; the same number the holder's certificate carries as subject `serialNumber`.
    public var nationalID: String
    public var name: String
    /// The entity this operator works for, when the role is tied to one (first signers, D3).
    public var entityCode: String?
    public var roles: Set<Role>
    /// A first-signature holder permanently present at the workplace (D3: each entity has at
    /// least one among its first signers).
    public var onSite: Bool
    public var addedAt: Date
    /// Retirement date, clearance and death notice (D6).
    public var service: HolderService

    public init(
        id: ID, unixUser: String, nationalID: String, name: String, entityCode: String?, roles: Set<Role>,
        onSite: Bool = false, addedAt: Date, service: HolderService = HolderService()
    ) {
        self.onSite = onSite
        self.service = service
        self.id = id
        self.unixUser = unixUser
        self.nationalID = nationalID
        self.name = name
        self.entityCode = entityCode
        self.roles = roles
        self.addedAt = addedAt
    }
}

/// A PKCS#11 token the registry knows, with the certificates read from it when it was registered.
public struct TokenRecord: Sendable, Hashable, Codable, Identifiable {
    public typealias ID = Int64

    public var id: ID
    /// `CK_TOKEN_INFO.serialNumber`: how the daemon recognises the token when it is inserted.
    public var serial: String
    /// `CK_TOKEN_INFO.label`.
    public var label: String
    /// The operator the token was issued to; nil for a token not (or no longer) issued to anyone.
    public var holder: Operator.ID?
    public var certificates: [RegisteredCertificate]
    public var registeredAt: Date
    /// When the holder last changed the user PIN through the daemon (D5: PINs are changed
    /// periodically); nil: never, and the PIN's age counts from `registeredAt`.
    public var pinChangedAt: Date?
    /// Where the token stands with the certification authority; only `active` signs (D6).
    public var state: TokenState
    /// Set when the token was revoked or surrendered: why, and the RFC 5280 reason of its
    /// certificates' CRL entries.
    public var revocation: TokenRevocation?

    public init(
        id: ID, serial: String, label: String, holder: Operator.ID?, certificates: [RegisteredCertificate],
        registeredAt: Date, pinChangedAt: Date? = nil, state: TokenState = .active, revocation: TokenRevocation? = nil
    ) {
        self.pinChangedAt = pinChangedAt
        self.state = state
        self.revocation = revocation
        self.id = id
        self.serial = serial
        self.label = label
        self.holder = holder
        self.certificates = certificates
        self.registeredAt = registeredAt
    }
}

/// A certificate found on a registered token. The DER is kept as it was read: a signature's
/// signing-certificate-v2 attribute and the fingerprint cover those exact bytes.
public struct RegisteredCertificate: Sendable, Hashable, Codable {
    public var tokenID: TokenRecord.ID
    public var derEncoded: [UInt8]
    /// The certificate's serial number, upper-case hex (as `openssl x509 -serial` prints it).
    public var serialHex: String
    /// Subject in RFC 2253 form.
    public var subject: String
    public var notBefore: Date
    public var notAfter: Date
    /// SHA-256 of the DER, lowercase hex: the fingerprint people compare, unique in the registry.
    public var sha256: SHA256Hex

    public init(
        tokenID: TokenRecord.ID, derEncoded: [UInt8], serialHex: String, subject: String, notBefore: Date,
        notAfter: Date, sha256: SHA256Hex
    ) {
        self.tokenID = tokenID
        self.derEncoded = derEncoded
        self.serialHex = serialHex
        self.subject = subject
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.sha256 = sha256
    }
}

/// A SHA-256 digest written as 64 lowercase hex digits. A field of this type holds a digest and
/// nothing else: it cannot be built from arbitrary text, so no PIN or key can hide in it.
public struct SHA256Hex: Sendable, Hashable, Codable, CustomStringConvertible, Comparable {
    public let hex: String

    /// Accepts 64 hex digits in either case; stores them lowercase. Nil for anything else.
    public init?(_ text: String) {
        let lower = text.lowercased()
        guard lower.utf8.count == 64,
            lower.utf8.allSatisfy({ ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f")) })
        else { return nil }
        hex = lower
    }

    /// The hex form of 32 digest bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        hex = String(decoding: out, as: UTF8.self)
    }

    /// 64 zeros: the `previousHash` of the journal's first entry.
    public static let zero = SHA256Hex(String(repeating: "0", count: 64))!

    public var description: String { hex }

    public static func < (a: SHA256Hex, b: SHA256Hex) -> Bool { a.hex < b.hex }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = SHA256Hex(text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "not a SHA-256 digest in hex (64 hex digits)")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}

/// How a token left service: revoked or surrendered, when, why, and since when its key is no
/// longer to be trusted (the invalidity date, RFC 5280 5.3.2).
public struct TokenRevocation: Sendable, Hashable, Codable {
    public var at: Date
    public var cause: RevocationCause
    public var reason: RevocationReason
    public var invalidityDate: Date?

    public init(at: Date, cause: RevocationCause, reason: RevocationReason, invalidityDate: Date?) {
        self.at = at
        self.cause = cause
        self.reason = reason
        self.invalidityDate = invalidityDate
    }
}

/// What the registry knows of a holder's service (D6): the retirement date, the clearance, a death.
public struct HolderService: Sendable, Hashable, Codable {
    public var retirementDate: CalendarDay?
    /// When the holder was cleared to leave (after every token was surrendered or revoked, D6).
    public var clearedAt: Date?
    public var deathNotice: DeathNotice?

    public init(retirementDate: CalendarDay? = nil, clearedAt: Date? = nil, deathNotice: DeathNotice? = nil) {
        self.retirementDate = retirementDate
        self.clearedAt = clearedAt
        self.deathNotice = deathNotice
    }
}
