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

    public init(handle: UInt, objectClass: ObjectClass, id: [UInt8], label: String) {
        self.handle = handle
        self.objectClass = objectClass
        self.id = id
        self.label = label
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

    /// True when the token expects a digest rather than the message.
    public var takesDigest: Bool { self != .sha256RSAPKCS }

    var ckMechanism: UInt {
        switch self {
        case .sha256RSAPKCS: return 0x40  // CKM_SHA256_RSA_PKCS
        case .rsaPSSSHA256: return 0x0D  // CKM_RSA_PKCS_PSS
        case .ecdsa: return 0x1041  // CKM_ECDSA
        }
    }
}
