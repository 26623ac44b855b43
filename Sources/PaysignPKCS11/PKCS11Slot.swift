import Foundation
internal import CP11Kit

/// A slot (reader) of one module, and the token in it.
///
/// Every call for this token runs on the slot's own thread, one at a time: PKCS#11 sessions are
/// not meant to be used concurrently, and a token is a single, slow device. Slots are named to
/// users by PKCS#11 URI; the numeric slot id stays inside this module.
public final class PKCS11Slot: @unchecked Sendable {
    public let module: PKCS11Module
    let id: UInt
    /// The module's `CK_SLOT_ID` for this slot.
    public var slotID: UInt { id }
    let worker: WorkerThread
    private let lock = NSLock()
    private var _info: SlotInfo  // guarded by lock
    private var sessions: [ObjectIdentifier: WeakSession] = [:]  // guarded by lock
    /// Bumped by every `C_CloseAllSessions`; read and written only on `worker`. A session closes
    /// its handle only if no `C_CloseAllSessions` ran since it was opened: the token may have
    /// handed the same number to a newer session.
    private var workerEpoch: UInt64 = 0
    func currentEpochOnWorker() -> UInt64 { workerEpoch }

    private struct WeakSession { weak var session: PKCS11Session? }

    init(module: PKCS11Module, id: UInt, info: SlotInfo) {
        self.module = module
        self.id = id
        self._info = info
        // A thread's name keeps 15 bytes: "p11s-" and a slot id of up to 10 digits.
        self.worker = WorkerThread(name: "p11s-\(id)", gate: module.gate, prioritized: true, logger: module.logger)
    }

    /// `CK_SLOT_INFO` as last read.
    public var info: SlotInfo {
        lock.lock()
        defer { lock.unlock() }
        return _info
    }

    func updateInfo(_ info: SlotInfo) {
        lock.lock()
        _info = info
        lock.unlock()
    }

    /// Reads `CK_TOKEN_INFO` now (PIN flags change after every login).
    public func tokenInfo() async throws -> TokenInfo {
        let functions = module.functions
        let id = self.id
        let description = info.slotDescription
        return try await worker.run { try Self.readTokenInfo(functions, id, context: "the token in slot '\(description)'") }
    }

    static func readTokenInfo(_ functions: FunctionList, _ slot: UInt, context: String) throws -> TokenInfo {
        var raw = CK_TOKEN_INFO()
        let rv = ReturnValue(FaultSeam.call("C_GetTokenInfo") { functions.table.C_GetTokenInfo(slot, &raw) })
        guard rv == .ok else { throw PKCS11Error.from(rv, function: "C_GetTokenInfo", context: context) }
        let flags = raw.flags
        var pin: PINState = []
        if flags & UInt(CKF_USER_PIN_INITIALIZED) != 0 { pin.insert(.initialized) }
        if flags & UInt(CKF_USER_PIN_COUNT_LOW) != 0 { pin.insert(.countLow) }
        if flags & UInt(CKF_USER_PIN_FINAL_TRY) != 0 { pin.insert(.finalTry) }
        if flags & UInt(CKF_USER_PIN_LOCKED) != 0 { pin.insert(.locked) }
        if flags & UInt(CKF_USER_PIN_TO_BE_CHANGED) != 0 { pin.insert(.toBeChanged) }
        pin.formUnion(FaultSeam.extraPINState())
        func length(_ value: UInt) -> UInt? {
            value == CPaysignShims_CK_UNAVAILABLE_INFORMATION_value || value == 0 ? nil : value
        }
        return TokenInfo(
            label: fixedString(raw.label),
            manufacturer: fixedString(raw.manufacturerID),
            model: fixedString(raw.model),
            serialNumber: fixedString(raw.serialNumber),
            pinState: pin,
            loginRequired: flags & UInt(CKF_LOGIN_REQUIRED) != 0,
            protectedAuthenticationPath: flags & UInt(CKF_PROTECTED_AUTHENTICATION_PATH) != 0,
            writeProtected: flags & UInt(CKF_WRITE_PROTECTED) != 0,
            initialized: flags & UInt(CKF_TOKEN_INITIALIZED) != 0,
            minPINLength: length(raw.ulMinPinLen),
            maxPINLength: length(raw.ulMaxPinLen))
    }

    /// A URI that names exactly this token.
    /// The mechanisms the token offers (`C_GetMechanismList`, then `C_GetMechanismInfo` for each),
    /// by type. The debug fault seam can hide some (`C_GetMechanismList:only=CKM_RSA_PKCS`), to
    /// model tokens that offer less than SoftHSM.
    public func mechanisms() async throws -> [UInt: MechanismInfo] {
        let functions = module.functions
        let id = self.id
        let context = "the token in slot '\(info.slotDescription)'"
        return try await worker.run {
            var count: UInt = 0
            var rv = ReturnValue(FaultSeam.call("C_GetMechanismList") { functions.table.C_GetMechanismList(id, nil, &count) })
            guard rv == .ok else { throw PKCS11Error.from(rv, function: "C_GetMechanismList", context: context) }
            var types = [UInt](repeating: 0, count: Int(count))
            rv = ReturnValue(types.withUnsafeMutableBufferPointer { buffer in
                FaultSeam.call("C_GetMechanismList") { functions.table.C_GetMechanismList(id, buffer.baseAddress, &count) }
            })
            guard rv == .ok else { throw PKCS11Error.from(rv, function: "C_GetMechanismList", context: context) }
            var result: [UInt: MechanismInfo] = [:]
            for type in FaultSeam.offered(Array(types.prefix(Int(count)))) {
                var info = CK_MECHANISM_INFO()
                guard FaultSeam.call("C_GetMechanismInfo", { functions.table.C_GetMechanismInfo(id, type, &info) }) == 0 else { continue }
                result[type] = MechanismInfo(type: type, minKeySize: info.ulMinKeySize, maxKeySize: info.ulMaxKeySize, flags: info.flags)
            }
            return result
        }
    }

    public func uri() async throws -> PKCS11URI { PKCS11URI.token(try await tokenInfo()) }

    /// Opens a session (read-write when the PIN is to be changed).
    public func openSession(readWrite: Bool = false) async throws -> PKCS11Session {
        let functions = module.functions
        let id = self.id
        // Opened and registered on the worker, so a C_CloseAllSessions queued by a card removal
        // either comes before (and the session is new) or after (and the session is invalidated).
        let transfer = try await worker.run { [self] () throws -> UnsafeTransfer<PKCS11Session> in
            let token = try Self.readTokenInfo(functions, id, context: "the token in slot \(id)")
            var handle: CK_SESSION_HANDLE = 0
            var flags = UInt(CKF_SERIAL_SESSION)
            if readWrite { flags |= UInt(CKF_RW_SESSION) }
            let rv = ReturnValue(FaultSeam.call("C_OpenSession") { functions.table.C_OpenSession(id, flags, nil, nil, &handle) })
            guard rv == .ok else {
                throw PKCS11Error.from(rv, function: "C_OpenSession", context: "token '\(token.label)'")
            }
            // Read under the module's gate: no re-initialization runs while this job does.
            let session = PKCS11Session(
                slot: self, handle: handle, token: token, epoch: workerEpoch, generation: module.generation)
            lock.withLock { sessions[ObjectIdentifier(session)] = WeakSession(session: session) }
            return UnsafeTransfer(session)
        }
        return transfer.value
    }

    func forget(_ session: PKCS11Session) {
        lock.lock()
        sessions[ObjectIdentifier(session)] = nil
        lock.unlock()
    }

    /// Invalidates every open session at once (the card left its reader): later calls on them throw
    /// `.tokenRemoved`, and a signature being computed right now is thrown away. The sessions are
    /// then closed on the token's thread.
    public func invalidateSessions(reason: String) {
        lock.lock()
        let open = sessions.values.compactMap(\.session)
        lock.unlock()
        for session in open { session.invalidate(reason: reason) }
        guard !open.isEmpty else { return }
        closeAllOnWorker()
    }

    /// Marks every open session ended by the module's re-initialization (`C_Finalize` closes
    /// them on the token's side, and ends every login). No PKCS#11 call: the caller holds the
    /// module's gate exclusively.
    func endSessionsForReinitialization(module name: String) {
        lock.lock()
        let open = sessions.values.compactMap(\.session)
        sessions.removeAll()
        lock.unlock()
        for session in open { session.invalidate(reason: .moduleReinitialized(name)) }
    }

    /// The token in this slot could no longer be read (`C_GetTokenInfo` failed on a session's
    /// behalf): every session on it is cut off as if the card had left, and the module is told, so
    /// that the next search for a token may re-initialize it (SoftHSM sees a token whose folder
    /// vanished again only after that).
    func tokenVanished(reason: String) {
        // A removable slot's module sees its card come back by itself: no re-initialization.
        if !info.removableDevice { module.noteTokenVanished() }
        lock.lock()
        let open = sessions.values.compactMap(\.session)
        lock.unlock()
        for session in open { session.invalidate(reason: reason) }
        if !open.isEmpty { closeAllOnWorker() }
    }

    /// `C_CloseAllSessions` on the token's thread; sessions opened before it never close their
    /// handle again (the token may hand the same number to a newer session).
    private func closeAllOnWorker() {
        let functions = module.functions
        let id = self.id
        worker.post { [self] in
            workerEpoch &+= 1
            _ = FaultSeam.call("C_CloseAllSessions") { functions.table.C_CloseAllSessions(id) }
        }
    }

    func shutdown() {
        invalidateSessions(reason: "paysign is shutting down")
        worker.shutdown()
    }
}
