/// A PKCS#11 return value (`CK_RV`) with its standard name.
///
/// `CK_RV ::= CK_ULONG`; the names are those of PKCS#11 v2.40, section 5.1.
public struct ReturnValue: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt

    public init(_ rawValue: UInt) { self.rawValue = rawValue }

    /// `CKR_OK`, `CKR_PIN_INCORRECT`, … or `CKR_VENDOR_DEFINED+0x…` / `CK_RV 0x…` for others.
    public var name: String {
        if let name = Self.names[rawValue] { return name }
        if rawValue >= 0x8000_0000 { return "CKR_VENDOR_DEFINED+0x" + String(rawValue - 0x8000_0000, radix: 16) }
        return "CK_RV 0x" + String(rawValue, radix: 16)
    }

    public var description: String { name }

    /// Looks a return value up by its standard name (used by the fault seam's configuration).
    public init?(name: String) {
        guard let entry = Self.names.first(where: { $0.value == name }) else { return nil }
        self.rawValue = entry.key
    }

    public static let ok = ReturnValue(0x00)
    public static let cancel = ReturnValue(0x01)
    public static let hostMemory = ReturnValue(0x02)
    public static let slotIDInvalid = ReturnValue(0x03)
    public static let generalError = ReturnValue(0x05)
    public static let functionFailed = ReturnValue(0x06)
    public static let argumentsBad = ReturnValue(0x07)
    public static let cantLock = ReturnValue(0x0A)
    public static let attributeSensitive = ReturnValue(0x11)
    public static let attributeTypeInvalid = ReturnValue(0x12)
    public static let dataLenRange = ReturnValue(0x21)
    public static let encryptedDataInvalid = ReturnValue(0x40)
    public static let encryptedDataLenRange = ReturnValue(0x41)
    public static let deviceError = ReturnValue(0x30)
    public static let deviceMemory = ReturnValue(0x31)
    public static let deviceRemoved = ReturnValue(0x32)
    public static let functionCanceled = ReturnValue(0x50)
    public static let functionNotSupported = ReturnValue(0x54)
    public static let keyHandleInvalid = ReturnValue(0x60)
    public static let keyTypeInconsistent = ReturnValue(0x63)
    public static let keyFunctionNotPermitted = ReturnValue(0x68)
    public static let mechanismInvalid = ReturnValue(0x70)
    public static let mechanismParamInvalid = ReturnValue(0x71)
    public static let objectHandleInvalid = ReturnValue(0x82)
    public static let operationActive = ReturnValue(0x90)
    public static let operationNotInitialized = ReturnValue(0x91)
    public static let pinIncorrect = ReturnValue(0xA0)
    public static let pinInvalid = ReturnValue(0xA1)
    public static let pinLenRange = ReturnValue(0xA2)
    public static let pinExpired = ReturnValue(0xA3)
    public static let pinLocked = ReturnValue(0xA4)
    public static let sessionClosed = ReturnValue(0xB0)
    public static let sessionCount = ReturnValue(0xB1)
    public static let sessionHandleInvalid = ReturnValue(0xB3)
    public static let sessionReadOnly = ReturnValue(0xB5)
    public static let sessionReadOnlyExists = ReturnValue(0xB7)
    public static let tokenNotPresent = ReturnValue(0xE0)
    public static let tokenNotRecognized = ReturnValue(0xE1)
    public static let tokenWriteProtected = ReturnValue(0xE2)
    public static let userAlreadyLoggedIn = ReturnValue(0x100)
    public static let userNotLoggedIn = ReturnValue(0x101)
    public static let userPINNotInitialized = ReturnValue(0x102)
    public static let userTypeInvalid = ReturnValue(0x103)
    public static let bufferTooSmall = ReturnValue(0x150)
    public static let cryptokiNotInitialized = ReturnValue(0x190)
    public static let cryptokiAlreadyInitialized = ReturnValue(0x191)

    static let names: [UInt: String] = [
        0x00: "CKR_OK", 0x01: "CKR_CANCEL", 0x02: "CKR_HOST_MEMORY", 0x03: "CKR_SLOT_ID_INVALID",
        0x05: "CKR_GENERAL_ERROR", 0x06: "CKR_FUNCTION_FAILED", 0x07: "CKR_ARGUMENTS_BAD",
        0x08: "CKR_NO_EVENT", 0x09: "CKR_NEED_TO_CREATE_THREADS", 0x0A: "CKR_CANT_LOCK",
        0x10: "CKR_ATTRIBUTE_READ_ONLY", 0x11: "CKR_ATTRIBUTE_SENSITIVE", 0x12: "CKR_ATTRIBUTE_TYPE_INVALID",
        0x13: "CKR_ATTRIBUTE_VALUE_INVALID", 0x1B: "CKR_ACTION_PROHIBITED", 0x20: "CKR_DATA_INVALID",
        0x21: "CKR_DATA_LEN_RANGE", 0x30: "CKR_DEVICE_ERROR", 0x31: "CKR_DEVICE_MEMORY",
        0x32: "CKR_DEVICE_REMOVED", 0x40: "CKR_ENCRYPTED_DATA_INVALID", 0x41: "CKR_ENCRYPTED_DATA_LEN_RANGE",
        0x50: "CKR_FUNCTION_CANCELED", 0x51: "CKR_FUNCTION_NOT_PARALLEL", 0x54: "CKR_FUNCTION_NOT_SUPPORTED",
        0x60: "CKR_KEY_HANDLE_INVALID", 0x62: "CKR_KEY_SIZE_RANGE", 0x63: "CKR_KEY_TYPE_INCONSISTENT",
        0x64: "CKR_KEY_NOT_NEEDED", 0x65: "CKR_KEY_CHANGED", 0x66: "CKR_KEY_NEEDED",
        0x67: "CKR_KEY_INDIGESTIBLE", 0x68: "CKR_KEY_FUNCTION_NOT_PERMITTED", 0x69: "CKR_KEY_NOT_WRAPPABLE",
        0x6A: "CKR_KEY_UNEXTRACTABLE", 0x70: "CKR_MECHANISM_INVALID", 0x71: "CKR_MECHANISM_PARAM_INVALID",
        0x82: "CKR_OBJECT_HANDLE_INVALID", 0x90: "CKR_OPERATION_ACTIVE", 0x91: "CKR_OPERATION_NOT_INITIALIZED",
        0xA0: "CKR_PIN_INCORRECT", 0xA1: "CKR_PIN_INVALID", 0xA2: "CKR_PIN_LEN_RANGE", 0xA3: "CKR_PIN_EXPIRED",
        0xA4: "CKR_PIN_LOCKED", 0xB0: "CKR_SESSION_CLOSED", 0xB1: "CKR_SESSION_COUNT",
        0xB3: "CKR_SESSION_HANDLE_INVALID", 0xB4: "CKR_SESSION_PARALLEL_NOT_SUPPORTED",
        0xB5: "CKR_SESSION_READ_ONLY", 0xB6: "CKR_SESSION_EXISTS", 0xB7: "CKR_SESSION_READ_ONLY_EXISTS",
        0xB8: "CKR_SESSION_READ_WRITE_SO_EXISTS", 0xC0: "CKR_SIGNATURE_INVALID", 0xC1: "CKR_SIGNATURE_LEN_RANGE",
        0xD0: "CKR_TEMPLATE_INCOMPLETE", 0xD1: "CKR_TEMPLATE_INCONSISTENT", 0xE0: "CKR_TOKEN_NOT_PRESENT",
        0xE1: "CKR_TOKEN_NOT_RECOGNIZED", 0xE2: "CKR_TOKEN_WRITE_PROTECTED", 0x100: "CKR_USER_ALREADY_LOGGED_IN",
        0x101: "CKR_USER_NOT_LOGGED_IN", 0x102: "CKR_USER_PIN_NOT_INITIALIZED", 0x103: "CKR_USER_TYPE_INVALID",
        0x104: "CKR_USER_ANOTHER_ALREADY_LOGGED_IN", 0x105: "CKR_USER_TOO_MANY_TYPES",
        0x120: "CKR_RANDOM_SEED_NOT_SUPPORTED", 0x121: "CKR_RANDOM_NO_RNG", 0x130: "CKR_DOMAIN_PARAMS_INVALID",
        0x140: "CKR_CURVE_NOT_SUPPORTED", 0x150: "CKR_BUFFER_TOO_SMALL", 0x160: "CKR_SAVED_STATE_INVALID",
        0x170: "CKR_INFORMATION_SENSITIVE", 0x180: "CKR_STATE_UNSAVEABLE",
        0x190: "CKR_CRYPTOKI_NOT_INITIALIZED", 0x191: "CKR_CRYPTOKI_ALREADY_INITIALIZED",
        0x1A0: "CKR_MUTEX_BAD", 0x1A1: "CKR_MUTEX_NOT_LOCKED", 0x200: "CKR_FUNCTION_REJECTED",
    ]
}
