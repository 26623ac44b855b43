import Foundation
public import Logging
public import PaysignPKCS11
public import PaysignPCSC

/// Ties a token to the PC/SC reader it sits in, for modules that do not name the reader in the
/// slot description (SoftHSM standing in for a smart card in tests and demos).
public struct PresenceBinding: Sendable, Hashable, Codable {
    /// The token, by PKCS#11 URI.
    public var token: PKCS11URI
    /// The reader's name as pcscd reports it, e.g. `Virtual PCD 00 00`.
    public var reader: String

    public init(token: PKCS11URI, reader: String) {
        self.token = token
        self.reader = reader
    }
}

/// Watches readers and cards, and the moment a card leaves its reader (or the reader goes away)
/// invalidates every open session on the tokens in that reader: a signature in flight is thrown
/// away and later calls say the token was removed.
///
/// Tokens are matched to readers by slot description (OpenSC names the reader there) or by a
/// `PresenceBinding`. The map from reader to slots is rebuilt when a card or reader arrives, so
/// that a removal needs no PKCS#11 call before the sessions are cut off.
public final class PresenceWatcher: Sendable {
    private let library: PKCS11Library
    private let bindings: [PresenceBinding]
    private let logger: Logger
    private let state = LockedState()

    private final class LockedState: @unchecked Sendable {
        // Guarded by `lock`.
        let lock = NSLock()
        var slotsByReader: [String: [PKCS11Slot]] = [:]
        var readers: Set<String> = []
    }

    public init(library: PKCS11Library, bindings: [PresenceBinding] = [], logger: Logger = Logger(label: "paysign.presence")) {
        self.library = library
        self.bindings = bindings
        self.logger = logger
    }

    /// Consumes `events` until the stream ends; call it from the task that owns the watcher.
    public func run(_ events: AsyncStream<ReaderEvent>) async {
        for await event in events { await handle(event) }
    }

    /// The slots currently tied to `reader`.
    public func slots(in reader: String) -> [PKCS11Slot] {
        state.lock.withLock { state.slotsByReader[reader] ?? [] }
    }

    func handle(_ event: ReaderEvent) async {
        switch event {
        case .cardRemoved(let reader):
            cutOff(reader: reader, because: "card removed from reader '\(reader)'")
        case .readerRemoved(let reader):
            cutOff(reader: reader, because: "reader '\(reader)' disconnected")
            _ = state.lock.withLock { state.readers.remove(reader) }
        case .readerAdded(let reader):
            _ = state.lock.withLock { state.readers.insert(reader) }
            await refresh()
        case .cardInserted:
            await refresh()
        case .serviceUnavailable(let why):
            logger.warning("PC/SC unavailable, card presence unknown: \(why)")
        case .serviceAvailable:
            logger.info("PC/SC available again")
        }
    }

    private func cutOff(reader: String, because reason: String) {
        let slots = state.lock.withLock { state.slotsByReader[reader] ?? [] }
        for slot in slots { slot.invalidateSessions(reason: reason) }
        if !slots.isEmpty { logger.notice("\(reason): sessions on \(slots.count) token(s) invalidated") }
    }

    /// Rebuilds the reader → slots map from the modules' slots.
    public func refresh() async {
        let readers = state.lock.withLock { Array(state.readers) }
        var map: [String: [PKCS11Slot]] = [:]
        for module in library.modules {
            guard let slots = try? await module.slots(tokenPresent: true) else { continue }
            for slot in slots {
                if let reader = ReaderMatching.reader(forSlotDescription: slot.info.slotDescription, among: readers) {
                    map[reader, default: []].append(slot)
                    continue
                }
                guard !bindings.isEmpty, let info = try? await slot.tokenInfo() else { continue }
                for binding in bindings where binding.token.matches(token: info) && binding.token.matches(module: module.info) {
                    map[binding.reader, default: []].append(slot)
                }
            }
        }
        state.lock.withLock { state.slotsByReader = map }
    }
}
