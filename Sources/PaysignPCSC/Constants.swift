internal import CPCSCLite

/// pcsclite's constants, wrapped once with the types its functions take.
///
/// On 64-bit Linux pcsclite's `DWORD` is `UInt` and `LONG` is `Int`, but the `SCARD_SCOPE_*` and
/// `SCARD_STATE_*` macros import as `Int32` and `INFINITE` as `UInt32`; the return codes are cast
/// macros (`((LONG)0x8010001D)`) that are kept as plain values in `ReturnCode`.
enum SCard {
    /// `SCARD_SCOPE_SYSTEM`: the only scope pcsclite implements.
    static let scopeSystem = DWORD(SCARD_SCOPE_SYSTEM)
    /// `INFINITE`, as the `DWORD` timeout `SCardGetStatusChange` takes.
    static let infinite = DWORD(INFINITE)
    /// The plug-and-play pseudo reader: it signals when readers come or go. In C: `"\\\\?PnP?\\Notification"`.
    static let plugAndPlayReader = "\\\\?PnP?\\Notification"
    /// `PCSCLITE_MAX_READERS_CONTEXTS`: `SCardGetStatusChange` refuses more reader states per call.
    static let maxReaderStates = Int(PCSCLITE_MAX_READERS_CONTEXTS)
    /// `MAX_ATR_SIZE`: the size of `SCARD_READERSTATE.rgbAtr`.
    static let maxATRSize = Int(MAX_ATR_SIZE)
}

/// The `dwCurrentState` / `dwEventState` bits of `SCARD_READERSTATE` (`SCARD_STATE_*`).
///
/// pcsclite keeps an event counter in the high 16 bits (per reader: card insertions and removals;
/// for the plug-and-play reader: reader events), so these bits are the low word only.
struct SCardStateFlags: OptionSet, Hashable, Sendable {
    let rawValue: DWORD

    static let unaware = SCardStateFlags([])
    static let ignore = SCardStateFlags(rawValue: DWORD(SCARD_STATE_IGNORE))
    static let changed = SCardStateFlags(rawValue: DWORD(SCARD_STATE_CHANGED))
    static let unknown = SCardStateFlags(rawValue: DWORD(SCARD_STATE_UNKNOWN))
    static let unavailable = SCardStateFlags(rawValue: DWORD(SCARD_STATE_UNAVAILABLE))
    static let empty = SCardStateFlags(rawValue: DWORD(SCARD_STATE_EMPTY))
    static let present = SCardStateFlags(rawValue: DWORD(SCARD_STATE_PRESENT))
    static let atrMatch = SCardStateFlags(rawValue: DWORD(SCARD_STATE_ATRMATCH))
    static let exclusive = SCardStateFlags(rawValue: DWORD(SCARD_STATE_EXCLUSIVE))
    static let inUse = SCardStateFlags(rawValue: DWORD(SCARD_STATE_INUSE))
    static let mute = SCardStateFlags(rawValue: DWORD(SCARD_STATE_MUTE))
    static let unpowered = SCardStateFlags(rawValue: DWORD(SCARD_STATE_UNPOWERED))

    /// The flags of a raw `dwEventState`, without the event counter.
    init(event: DWORD) { self.rawValue = event & 0xFFFF }
    init(rawValue: DWORD) { self.rawValue = rawValue }

    /// The event counter pcsclite keeps in the high word of `dwEventState`.
    static func counter(of event: DWORD) -> DWORD { (event >> 16) & 0xFFFF }
}
