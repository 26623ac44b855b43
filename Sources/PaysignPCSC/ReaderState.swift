/// One smart card reader as pcscd reports it.
public struct ReaderState: Hashable, Sendable, Codable {
    /// The reader's name as pcscd gives it, e.g. `Virtual PCD 00 00`; unique while pcscd runs.
    public var name: String
    /// A card sits in the reader (`SCARD_STATE_PRESENT`).
    public var cardPresent: Bool
    /// The card's answer to reset, when a card is present and pcscd has powered it.
    public var atr: [UInt8]?
    /// Another application holds the card exclusively (`SCARD_STATE_EXCLUSIVE`).
    public var exclusive: Bool
    /// At least one application is connected to the card (`SCARD_STATE_INUSE`).
    public var inUse: Bool
    /// The card does not answer (`SCARD_STATE_MUTE`), e.g. inserted the wrong way round.
    public var mute: Bool

    public init(
        name: String, cardPresent: Bool, atr: [UInt8]? = nil, exclusive: Bool = false, inUse: Bool = false,
        mute: Bool = false
    ) {
        self.name = name
        self.cardPresent = cardPresent
        self.atr = atr
        self.exclusive = exclusive
        self.inUse = inUse
        self.mute = mute
    }
}

/// A change seen by `ReaderMonitor`.
public enum ReaderEvent: Hashable, Sendable {
    /// A reader appeared (plugged in, pcscd started, or part of the first picture).
    case readerAdded(String)
    /// A reader went away (unplugged, or pcscd stopped). A present card is reported removed first.
    case readerRemoved(String)
    /// A card is in the reader, with its answer to reset (empty when pcscd could not power it).
    case cardInserted(reader: String, atr: [UInt8])
    /// The card left the reader.
    case cardRemoved(reader: String)
    /// pcscd cannot be reached; the sentence says why and what to do. Sent once per outage.
    case serviceUnavailable(String)
    /// pcscd answers again after `serviceUnavailable`; readers and cards follow as added and inserted.
    case serviceAvailable
}
