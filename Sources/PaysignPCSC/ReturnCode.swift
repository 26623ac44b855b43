/// pcsclite's return codes (`LONG`), as named in `pcsclite.h`.
///
/// The C macros are casts (`((LONG)0x8010001D)`), so the values are kept here once. On 64-bit
/// Linux `LONG` is 64 bits wide and the codes are positive; `PCSC.name(of:)` also accepts the
/// 32-bit (negative) form.
enum ReturnCode {
    static let success = 0
    static let cancelled = 0x8010_0002
    static let invalidHandle = 0x8010_0003
    static let insufficientBuffer = 0x8010_0008
    static let unknownReader = 0x8010_0009
    static let timeout = 0x8010_000A
    static let commError = 0x8010_0013
    static let readerUnavailable = 0x8010_0017
    static let noService = 0x8010_001D
    static let serviceStopped = 0x8010_001E
    static let noReadersAvailable = 0x8010_002E

    /// Every `SCARD_S_*`, `SCARD_F_*`, `SCARD_E_*`, `SCARD_P_*` and `SCARD_W_*` code of pcsclite 1.9.
    /// `0x8010001F` is both `SCARD_E_UNEXPECTED` and `SCARD_E_UNSUPPORTED_FEATURE` in pcsclite;
    /// pcsclite returns it for the latter, so that is its name here.
    static let names: [Int: String] = [
        0x0000_0000: "SCARD_S_SUCCESS",
        0x8010_0001: "SCARD_F_INTERNAL_ERROR",
        0x8010_0002: "SCARD_E_CANCELLED",
        0x8010_0003: "SCARD_E_INVALID_HANDLE",
        0x8010_0004: "SCARD_E_INVALID_PARAMETER",
        0x8010_0005: "SCARD_E_INVALID_TARGET",
        0x8010_0006: "SCARD_E_NO_MEMORY",
        0x8010_0007: "SCARD_F_WAITED_TOO_LONG",
        0x8010_0008: "SCARD_E_INSUFFICIENT_BUFFER",
        0x8010_0009: "SCARD_E_UNKNOWN_READER",
        0x8010_000A: "SCARD_E_TIMEOUT",
        0x8010_000B: "SCARD_E_SHARING_VIOLATION",
        0x8010_000C: "SCARD_E_NO_SMARTCARD",
        0x8010_000D: "SCARD_E_UNKNOWN_CARD",
        0x8010_000E: "SCARD_E_CANT_DISPOSE",
        0x8010_000F: "SCARD_E_PROTO_MISMATCH",
        0x8010_0010: "SCARD_E_NOT_READY",
        0x8010_0011: "SCARD_E_INVALID_VALUE",
        0x8010_0012: "SCARD_E_SYSTEM_CANCELLED",
        0x8010_0013: "SCARD_F_COMM_ERROR",
        0x8010_0014: "SCARD_F_UNKNOWN_ERROR",
        0x8010_0015: "SCARD_E_INVALID_ATR",
        0x8010_0016: "SCARD_E_NOT_TRANSACTED",
        0x8010_0017: "SCARD_E_READER_UNAVAILABLE",
        0x8010_0018: "SCARD_P_SHUTDOWN",
        0x8010_0019: "SCARD_E_PCI_TOO_SMALL",
        0x8010_001A: "SCARD_E_READER_UNSUPPORTED",
        0x8010_001B: "SCARD_E_DUPLICATE_READER",
        0x8010_001C: "SCARD_E_CARD_UNSUPPORTED",
        0x8010_001D: "SCARD_E_NO_SERVICE",
        0x8010_001E: "SCARD_E_SERVICE_STOPPED",
        0x8010_001F: "SCARD_E_UNSUPPORTED_FEATURE",
        0x8010_0020: "SCARD_E_ICC_INSTALLATION",
        0x8010_0021: "SCARD_E_ICC_CREATEORDER",
        0x8010_0023: "SCARD_E_DIR_NOT_FOUND",
        0x8010_0024: "SCARD_E_FILE_NOT_FOUND",
        0x8010_0025: "SCARD_E_NO_DIR",
        0x8010_0026: "SCARD_E_NO_FILE",
        0x8010_0027: "SCARD_E_NO_ACCESS",
        0x8010_0028: "SCARD_E_WRITE_TOO_MANY",
        0x8010_0029: "SCARD_E_BAD_SEEK",
        0x8010_002A: "SCARD_E_INVALID_CHV",
        0x8010_002B: "SCARD_E_UNKNOWN_RES_MNG",
        0x8010_002C: "SCARD_E_NO_SUCH_CERTIFICATE",
        0x8010_002D: "SCARD_E_CERTIFICATE_UNAVAILABLE",
        0x8010_002E: "SCARD_E_NO_READERS_AVAILABLE",
        0x8010_002F: "SCARD_E_COMM_DATA_LOST",
        0x8010_0030: "SCARD_E_NO_KEY_CONTAINER",
        0x8010_0031: "SCARD_E_SERVER_TOO_BUSY",
        0x8010_0065: "SCARD_W_UNSUPPORTED_CARD",
        0x8010_0066: "SCARD_W_UNRESPONSIVE_CARD",
        0x8010_0067: "SCARD_W_UNPOWERED_CARD",
        0x8010_0068: "SCARD_W_RESET_CARD",
        0x8010_0069: "SCARD_W_REMOVED_CARD",
        0x8010_006A: "SCARD_W_SECURITY_VIOLATION",
        0x8010_006B: "SCARD_W_WRONG_CHV",
        0x8010_006C: "SCARD_W_CHV_BLOCKED",
        0x8010_006D: "SCARD_W_EOF",
        0x8010_006E: "SCARD_W_CANCELLED_BY_USER",
        0x8010_006F: "SCARD_W_CARD_NOT_AUTHENTICATED",
    ]

    /// The code as pcsclite's 32-bit value, whatever width `LONG` had where it came from.
    static func normalized(_ code: Int) -> Int { code & 0xFFFF_FFFF }
}
