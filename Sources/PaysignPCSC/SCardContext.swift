internal import CPCSCLite
import Foundation

/// Owns one `SCARDCONTEXT`: a connection to pcscd.
///
/// Not Sendable: one thread makes every call on it. Only `handle` (a plain integer) may be handed
/// to another thread, for `SCard.cancel(_:)`, which pcsclite allows from any thread.
final class SCardContext {
    let handle: SCARDCONTEXT
    private var released = false

    /// `SCardEstablishContext`. Without pcscd this fails at once with `SCARD_E_NO_SERVICE`.
    init() throws(PCSCError) {
        var handle: SCARDCONTEXT = 0
        let rv = SCardEstablishContext(SCard.scopeSystem, nil, nil, &handle)
        guard rv == ReturnCode.success else { throw PCSCError.from(rv, function: "SCardEstablishContext") }
        self.handle = handle
    }

    deinit { release() }

    /// `SCardReleaseContext`; idempotent.
    func release() {
        guard !released else { return }
        released = true
        _ = SCardReleaseContext(handle)
    }

    /// `SCardListReaders`: the readers' names; empty when pcscd has none (`SCARD_E_NO_READERS_AVAILABLE`).
    func listReaders() throws(PCSCError) -> [String] {
        // The list can grow between the length query and the copy: then ask again.
        for _ in 0..<4 {
            var length: DWORD = 0
            var rv = SCardListReaders(handle, nil, nil, &length)
            if rv == ReturnCode.noReadersAvailable { return [] }
            guard rv == ReturnCode.success else { throw PCSCError.from(rv, function: "SCardListReaders") }
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            rv = buffer.withUnsafeMutableBufferPointer { SCardListReaders(handle, nil, $0.baseAddress, &length) }
            if rv == ReturnCode.insufficientBuffer { continue }
            if rv == ReturnCode.noReadersAvailable { return [] }
            guard rv == ReturnCode.success else { throw PCSCError.from(rv, function: "SCardListReaders") }
            // A multi-string: names separated by NUL, ended by an empty name.
            return buffer.prefix(Int(length)).split(separator: 0).map {
                String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
        }
        throw PCSCError(.other, "the reader list kept changing while it was read", function: "SCardListReaders")
    }

    /// `SCardGetStatusChange` over `states`; returns pcsclite's return code.
    func getStatusChange(_ states: ReaderStateArray, timeoutMilliseconds: DWORD) -> Int {
        SCardGetStatusChange(handle, timeoutMilliseconds, states.pointer, DWORD(states.count))
    }
}

extension SCard {
    /// `SCardCancel`: makes a `SCardGetStatusChange` blocked on `context` in another thread return
    /// `SCARD_E_CANCELLED`. pcsclite ignores it when no wait is in progress (and answers
    /// `SCARD_E_INVALID_HANDLE` for a released context), so callers repeat it until the waiter is gone.
    @discardableResult
    static func cancel(_ context: Int) -> Int {
        SCardCancel(SCARDCONTEXT(context))
    }
}

/// The C array `SCardGetStatusChange` takes, with its own copies of the reader names:
/// `SCARD_READERSTATE.szReader` is a borrowed `const char *` that must outlive the call.
final class ReaderStateArray {
    let pointer: UnsafeMutablePointer<SCARD_READERSTATE>
    let count: Int
    let names: [String]

    /// One entry per name, each starting from the matching `dwCurrentState`.
    init(names: [String], currentStates: [DWORD]) {
        precondition(names.count == currentStates.count)
        self.names = names
        self.count = names.count
        pointer = .allocate(capacity: max(count, 1))
        for (index, name) in names.enumerated() {
            guard let copy = strdup(name) else { fatalError("out of memory copying a reader name") }
            var state = SCARD_READERSTATE()
            state.szReader = UnsafePointer(copy)
            state.dwCurrentState = currentStates[index]
            (pointer + index).initialize(to: state)
        }
    }

    deinit {
        for index in 0..<count {
            free(UnsafeMutableRawPointer(mutating: pointer[index].szReader))
        }
        pointer.deinitialize(count: count)
        pointer.deallocate()
    }

    /// `dwEventState` of entry `index` (flags in the low word, pcsclite's event counter in the high word).
    func eventState(_ index: Int) -> DWORD { pointer[index].dwEventState }

    /// The ATR pcscd reported for entry `index` (empty when there is none).
    func atr(_ index: Int) -> [UInt8] {
        let length = min(Int(pointer[index].cbAtr), SCard.maxATRSize)
        return withUnsafeBytes(of: pointer[index].rgbAtr) { Array($0.prefix(length)) }
    }

    /// The reader as pcscd reported entry `index` in `dwEventState`.
    func readerState(_ index: Int) -> ReaderState {
        let flags = SCardStateFlags(event: eventState(index))
        let present = flags.contains(.present)
        let atr = present ? atr(index) : []
        return ReaderState(
            name: names[index], cardPresent: present, atr: atr.isEmpty ? nil : atr,
            exclusive: flags.contains(.exclusive), inUse: flags.contains(.inUse), mute: flags.contains(.mute))
    }
}
