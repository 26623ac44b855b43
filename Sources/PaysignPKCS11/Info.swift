/// The PIN state a token reports in its flags (`CK_TOKEN_INFO.flags`), read before and after
/// every login so the caller knows how close the token is to locking (rule D5).
///
/// PKCS#11 gives no count of tries left: only "count low", "final try" and "locked".
public struct PINState: OptionSet, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }

    /// `CKF_USER_PIN_INITIALIZED`
    public static let initialized = PINState(rawValue: 1 << 0)
    /// `CKF_USER_PIN_COUNT_LOW`: at least one wrong PIN since the last success.
    public static let countLow = PINState(rawValue: 1 << 1)
    /// `CKF_USER_PIN_FINAL_TRY`: one more wrong PIN locks the token.
    public static let finalTry = PINState(rawValue: 1 << 2)
    /// `CKF_USER_PIN_LOCKED`
    public static let locked = PINState(rawValue: 1 << 3)
    /// `CKF_USER_PIN_TO_BE_CHANGED`: the PIN must be changed before use.
    public static let toBeChanged = PINState(rawValue: 1 << 4)

    /// One word for people and JSON: `locked`, `final-try`, `count-low`, `to-be-changed`, `ok`, `not-initialized`.
    public var summary: String {
        if contains(.locked) { return "locked" }
        if contains(.finalTry) { return "final-try" }
        if contains(.countLow) { return "count-low" }
        if contains(.toBeChanged) { return "to-be-changed" }
        if !contains(.initialized) { return "not-initialized" }
        return "ok"
    }

    /// What the state means for whoever holds the token, as the end of a sentence.
    public var consequence: String? {
        if contains(.locked) { return "the token is now locked; the certification authority must unblock or replace it" }
        if contains(.finalTry) { return "one more wrong PIN locks the token" }
        if contains(.countLow) { return "the token reports that wrong PINs were entered; few tries are left before it locks" }
        return nil
    }

    public var description: String { summary }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(summary)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        switch try container.decode(String.self) {
        case "locked": self = [.initialized, .locked]
        case "final-try": self = [.initialized, .countLow, .finalTry]
        case "count-low": self = [.initialized, .countLow]
        case "to-be-changed": self = [.initialized, .toBeChanged]
        case "not-initialized": self = []
        default: self = [.initialized]
        }
    }
}

/// `CK_INFO` of one module, plus where p11-kit found it.
public struct ModuleInfo: Hashable, Sendable, Codable {
    /// p11-kit's name for the module (`softhsm2`, `opensc-pkcs11`), or the file name.
    public var name: String
    public var path: String
    public var libraryDescription: String
    public var libraryManufacturer: String
    public var libraryVersion: String
}

/// `CK_SLOT_INFO`: a reader or a virtual slot.
public struct SlotInfo: Hashable, Sendable, Codable {
    public var slotDescription: String
    public var manufacturer: String
    public var tokenPresent: Bool
    public var removableDevice: Bool
    public var hardwareSlot: Bool
}

/// `CK_TOKEN_INFO`: the token in a slot.
public struct TokenInfo: Hashable, Sendable, Codable {
    public var label: String
    public var manufacturer: String
    public var model: String
    public var serialNumber: String
    public var pinState: PINState
    /// `CKF_LOGIN_REQUIRED`
    public var loginRequired: Bool
    /// `CKF_PROTECTED_AUTHENTICATION_PATH`: the PIN is entered on the reader's PIN pad.
    public var protectedAuthenticationPath: Bool
    /// `CKF_WRITE_PROTECTED`
    public var writeProtected: Bool
    /// `CKF_TOKEN_INITIALIZED`
    public var initialized: Bool
    public var minPINLength: UInt?
    public var maxPINLength: UInt?

    public init(
        label: String, manufacturer: String, model: String, serialNumber: String, pinState: PINState,
        loginRequired: Bool, protectedAuthenticationPath: Bool, writeProtected: Bool, initialized: Bool,
        minPINLength: UInt?, maxPINLength: UInt?
    ) {
        self.label = label
        self.manufacturer = manufacturer
        self.model = model
        self.serialNumber = serialNumber
        self.pinState = pinState
        self.loginRequired = loginRequired
        self.protectedAuthenticationPath = protectedAuthenticationPath
        self.writeProtected = writeProtected
        self.initialized = initialized
        self.minPINLength = minPINLength
        self.maxPINLength = maxPINLength
    }
}

/// The PKCS#11 object classes paysign deals with (`CKO_*`).
public enum ObjectClass: String, Hashable, Sendable, Codable {
    case certificate = "cert"
    case publicKey = "public"
    case privateKey = "private"

    var ckValue: UInt {
        switch self {
        case .certificate: return 1  // CKO_CERTIFICATE
        case .publicKey: return 2  // CKO_PUBLIC_KEY
        case .privateKey: return 3  // CKO_PRIVATE_KEY
        }
    }
}

/// Key types paysign can sign with (`CKK_*`).
public enum KeyType: String, Hashable, Sendable, Codable {
    case rsa
    case ec
    case other
}

/// An object on a token: a certificate, a public or a private key.
public struct ObjectInfo: Hashable, Sendable {
    /// The session-scoped handle; valid only in the session that found it.
    public var handle: UInt
    public var objectClass: ObjectClass
    /// `CKA_ID`: ties a private key to its certificate.
    public var id: [UInt8]
    /// `CKA_LABEL`
    public var label: String
    public var keyType: KeyType?
    /// `CKA_VALUE` of a certificate (DER).
    public var value: [UInt8]?
    /// `CKA_MODULUS_BITS` for RSA keys, when readable.
    public var modulusBits: Int?
    /// `CKA_EC_PARAMS` (DER OID or parameters) for EC keys.
    public var ecParameters: [UInt8]?
    /// `CKA_EC_POINT` of an EC public key (DER OCTET STRING) or `CKA_MODULUS` of an RSA key.
    public var publicValue: [UInt8]?
    /// `CKA_ALWAYS_AUTHENTICATE` of a private key: the PIN is presented again, with a
    /// context-specific login, for every signature (usual for qualified-signature keys).
    public var alwaysAuthenticate = false

    public init(handle: UInt, objectClass: ObjectClass, id: [UInt8], label: String) {
        self.handle = handle
        self.objectClass = objectClass
        self.id = id
        self.label = label
    }
}

/// What `C_GetMechanismInfo` says of a mechanism: key sizes (bits for RSA and EC) and flags.
public struct MechanismInfo: Sendable, Hashable {
    public var type: UInt
    public var minKeySize: UInt
    public var maxKeySize: UInt
    public var flags: UInt

    public init(type: UInt, minKeySize: UInt, maxKeySize: UInt, flags: UInt) {
        self.type = type
        self.minKeySize = minKeySize
        self.maxKeySize = maxKeySize
        self.flags = flags
    }

    /// `CKF_SIGN`: the mechanism signs.
    public var signs: Bool { flags & 0x800 != 0 }

    /// Whether a key of `bits` is within the mechanism's sizes (a size of 0, or sizes the token
    /// leaves unset, limit nothing).
    public func fits(bits: Int?) -> Bool {
        guard let bits, maxKeySize > 0, maxKeySize >= minKeySize else { return true }
        return UInt(bits) >= minKeySize && UInt(bits) <= maxKeySize
    }
}

/// The signing mechanisms paysign uses.
public enum SigningMechanism: String, Hashable, Sendable, Codable, CaseIterable {
    /// `CKM_SHA256_RSA_PKCS`: the token hashes the data and signs with PKCS #1 v1.5.
    case sha256RSAPKCS = "rsa-pkcs1-sha256"
    /// `CKM_RSA_PKCS_PSS` with SHA-256, MGF1-SHA-256 and a 32-byte salt: the caller passes the digest.
    case rsaPSSSHA256 = "rsa-pss-sha256"
    /// `CKM_ECDSA`: the caller passes the digest; the token returns raw r‖s.
    case ecdsa = "ecdsa"
    /// `CKM_RSA_PKCS` over a DER DigestInfo (SHA-256) the caller makes: the same PKCS #1 v1.5
    /// signature as `sha256RSAPKCS`, for tokens that do not hash.
    case rsaPKCSDigestInfo = "rsa-pkcs1-digestinfo"

    /// True when the token expects a digest rather than the message (for `rsaPKCSDigestInfo`, the
    /// digest inside a DigestInfo: `input(for:)`).
    public var takesDigest: Bool { self != .sha256RSAPKCS }

    /// The PKCS#11 name, as `pkcs11-tool -M` and the standard print it.
    public var ckName: String { MechanismNames.name(ckMechanism) }

    /// The mechanism's CK_MECHANISM_TYPE.
    public var type: UInt { ckMechanism }

    /// What the token is given to sign for a message whose SHA-256 is `digest` (`message` itself
    /// for a mechanism that hashes on the token).
    public func input(message: [UInt8], digest: @autoclosure () -> [UInt8]) -> [UInt8] {
        switch self {
        case .sha256RSAPKCS: return message
        case .rsaPKCSDigestInfo: return Self.sha256DigestInfoPrefix + digest()
        case .rsaPSSSHA256, .ecdsa: return digest()
        }
    }

    /// DER of DigestInfo { AlgorithmIdentifier { id-sha256, NULL }, OCTET STRING (32) } up to the
    /// digest (RFC 8017, 9.2, note 1).
    public static let sha256DigestInfoPrefix: [UInt8] = [
        0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
    ]

    var ckMechanism: UInt {
        switch self {
        case .sha256RSAPKCS: return 0x40  // CKM_SHA256_RSA_PKCS
        case .rsaPSSSHA256: return 0x0D  // CKM_RSA_PKCS_PSS
        case .ecdsa: return 0x1041  // CKM_ECDSA
        case .rsaPKCSDigestInfo: return 0x01  // CKM_RSA_PKCS
        }
    }
}

/// Names and flags of PKCS#11 mechanisms as the standard prints them.
public enum MechanismNames {
    public static let names: [UInt: String] = [
        0x00: "CKM_RSA_PKCS_KEY_PAIR_GEN", 0x01: "CKM_RSA_PKCS", 0x03: "CKM_RSA_X_509", 0x05: "CKM_SHA1_RSA_PKCS",
        0x09: "CKM_RSA_PKCS_OAEP", 0x0D: "CKM_RSA_PKCS_PSS", 0x0E: "CKM_SHA1_RSA_PKCS_PSS", 0x40: "CKM_SHA256_RSA_PKCS",
        0x41: "CKM_SHA384_RSA_PKCS", 0x42: "CKM_SHA512_RSA_PKCS", 0x43: "CKM_SHA256_RSA_PKCS_PSS",
        0x44: "CKM_SHA384_RSA_PKCS_PSS", 0x45: "CKM_SHA512_RSA_PKCS_PSS", 0x46: "CKM_SHA224_RSA_PKCS",
        0x220: "CKM_SHA_1", 0x250: "CKM_SHA256", 0x260: "CKM_SHA384", 0x270: "CKM_SHA512", 0x1040: "CKM_EC_KEY_PAIR_GEN",
        0x1041: "CKM_ECDSA", 0x1042: "CKM_ECDSA_SHA1", 0x1044: "CKM_ECDSA_SHA256", 0x1045: "CKM_ECDSA_SHA384",
        0x1046: "CKM_ECDSA_SHA512", 0x1050: "CKM_ECDH1_DERIVE", 0x1080: "CKM_AES_KEY_GEN", 0x1081: "CKM_AES_ECB",
        0x1082: "CKM_AES_CBC", 0x1085: "CKM_AES_CBC_PAD", 0x1087: "CKM_AES_GCM",
    ]

    /// A mechanism's type by its name (`CKM_RSA_PKCS` → 0x1), for the fault seam's rules.
    public static func type(named name: String) -> UInt? {
        names.first { $0.value == name }?.key
    }

    public static func name(_ type: UInt) -> String {
        names[type] ?? "0x" + String(type, radix: 16, uppercase: true)
    }

    static let flagNames: [(UInt, String)] = [
        (0x1, "hardware"), (0x100, "encrypt"), (0x200, "decrypt"), (0x400, "digest"), (0x800, "sign"),
        (0x1000, "sign-recover"), (0x2000, "verify"), (0x4000, "verify-recover"), (0x8000, "generate"),
        (0x10000, "generate-key-pair"), (0x20000, "wrap"), (0x40000, "unwrap"), (0x80000, "derive"),
        (0x100000, "ec-f-p"), (0x200000, "ec-f-2m"), (0x400000, "ec-parameters"), (0x800000, "ec-named-curve"),
        (0x1000000, "ec-uncompress"), (0x2000000, "ec-compress"),
    ]

    public static func flags(_ value: UInt) -> [String] {
        flagNames.filter { value & $0.0 != 0 }.map(\.1)
    }
}

/// How the center's key decrypts a key transported to it: `CKM_RSA_PKCS_OAEP` with the hash of
/// the OAEP parameters (RFC 8017 A.2.1; the MGF1 hash is the same). SoftHSM 2.6.1 decrypts only
/// with SHA-1 (RFC 4055's default parameters); hardware HSMs usually offer SHA-256 too.
public struct DecryptionMechanism: Sendable, Hashable {
    public enum Hash: String, Sendable, Hashable, CaseIterable {
        case sha1, sha256

        var ckMechanism: UInt { self == .sha1 ? 0x220 : 0x250 }  // CKM_SHA_1, CKM_SHA256
        var ckMGF: UInt { self == .sha1 ? 1 : 2 }  // CKG_MGF1_SHA1, CKG_MGF1_SHA256
    }

    public var hash: Hash
    public init(oaep hash: Hash) { self.hash = hash }
    public var ckName: String { "CKM_RSA_PKCS_OAEP (\(hash.rawValue.uppercased()), MGF1-\(hash.rawValue.uppercased()))" }
}
