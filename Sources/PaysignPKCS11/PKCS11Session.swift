import Foundation
internal import CP11Kit
public import PaysignSecrets

/// The PIN state before and after one login attempt.
/// The PIN presented again for one signature with a key that has `CKA_ALWAYS_AUTHENTICATE` (a
/// context-specific login, `C_Login` with `CKU_CONTEXT_SPECIFIC`): nil `pin` uses the PIN pad.
public struct ContextLogin: Sendable {
    public var pin: PIN?
    public var confirmFinalTry: Bool

    public init(pin: PIN?, confirmFinalTry: Bool) {
        self.pin = pin
        self.confirmFinalTry = confirmFinalTry
    }
}

public struct LoginReport: Sendable, Hashable {
    public var before: PINState
    public var after: PINState
    /// True when the PIN was entered on the reader's PIN pad (`CKF_PROTECTED_AUTHENTICATION_PATH`).
    public var onPINPad: Bool
}

/// An open session with one token. All calls run on the token's thread.
///
/// A session becomes invalid when its card leaves the reader or the token reports it removed;
/// every later call then throws `.tokenRemoved` (open a new session once the token is back).
public final class PKCS11Session: @unchecked Sendable {
    public let slot: PKCS11Slot
    let handle: UInt
    /// `CK_TOKEN_INFO` when the session was opened.
    public let token: TokenInfo
    private let lock = NSLock()
    private var invalidation: Invalidation?  // guarded by lock
    private var released = false  // guarded by lock: the handle was closed or handed to C_CloseAllSessions

    /// Why a session stopped being usable.
    enum Invalidation: Sendable {
        /// The card left its reader, or the token could no longer be read.
        case removed(String)
        /// The module was re-initialized (`C_Finalize` + `C_Initialize`, module named): the
        /// session and any login on it ended although the token may still be there.
        case moduleReinitialized(String)
    }

    /// The slot's `C_CloseAllSessions` count when this session was opened.
    let epoch: UInt64
    /// The module's re-initialization count when this session was opened.
    let generation: UInt64

    init(slot: PKCS11Slot, handle: UInt, token: TokenInfo, epoch: UInt64, generation: UInt64) {
        self.slot = slot
        self.handle = handle
        self.token = token
        self.epoch = epoch
        self.generation = generation
    }

    private var context: String { "token '\(token.label)'" }
    private var functions: FunctionList { slot.module.functions }

    /// Why the session is no longer usable, or nil while it is.
    public var invalidated: String? {
        switch lock.withLock({ invalidation }) {
        case nil: return nil
        case .removed(let reason): return reason
        case .moduleReinitialized(let module): return "the PKCS#11 module \(module) was re-initialized"
        }
    }

    func invalidate(reason: String) { invalidate(reason: .removed(reason)) }

    func invalidate(reason: Invalidation) {
        lock.lock()
        if invalidation == nil { invalidation = reason }
        released = true
        lock.unlock()
    }

    private func checkValid(function: String) throws {
        switch lock.withLock({ invalidation }) {
        case nil: return
        case .removed(let reason):
            throw PKCS11Error(.tokenRemoved, "\(context) is no longer available (\(reason)); insert it again and retry", function: function)
        case .moduleReinitialized(let module):
            // The code never logs in again by itself (rule D5): the holder gives the PIN again.
            throw PKCS11Error(
                .sessionInvalid,
                "the session with \(context) and any login on it ended when the PKCS#11 module \(module) was re-initialized to find a token that had gone away; give the PIN again",
                function: function)
        }
    }

    /// Marks the session dead when the token says it is gone. A token that answers an error
    /// that names no removal (SoftHSM answers `CKR_OBJECT_HANDLE_INVALID`, or finds no object,
    /// once its token's folder has vanished) is asked for its `CK_TOKEN_INFO`: when it cannot
    /// give that either, the token is gone, and the error says so (`.tokenRemoved`).
    /// Runs on the token's thread.
    private func failure(_ rv: ReturnValue, _ function: String, pinState: PINState? = nil) -> PKCS11Error {
        var error = PKCS11Error.from(rv, function: function, context: context)
        error.pinState = pinState
        if error.code == .tokenRemoved || error.code == .sessionInvalid {
            invalidate(reason: "\(function) answered \(rv.name)")
        } else if error.code == .tokenMalfunction || error.code == .keyUnusable, let gone = vanished(after: function, answered: rv) {
            return gone
        }
        return error
    }

    /// Nil while the token still answers `C_GetTokenInfo`; else the error to throw instead, with
    /// every session on the token cut off. Runs on the token's thread.
    private func vanished(after function: String, answered rv: ReturnValue? = nil) -> PKCS11Error? {
        var raw = CK_TOKEN_INFO()
        let slotID = slot.id
        let functions = self.functions
        let probe = ReturnValue(FaultSeam.call("C_GetTokenInfo") { functions.table.C_GetTokenInfo(slotID, &raw) })
        guard Self.meansTokenGone(probe) else { return nil }
        return vanishedError(function: function, answered: rv, probe: probe)
    }

    private func vanishedError(function: String, answered rv: ReturnValue?, probe: ReturnValue) -> PKCS11Error {
        let what = rv.map { "\(function) answered \($0.name), and " } ?? ""
        let reason = "\(what)C_GetTokenInfo answered \(probe.name)"
        slot.tokenVanished(reason: "it could no longer be read: \(reason)")
        return PKCS11Error(
            .tokenRemoved,
            "\(context) can no longer be read (\(reason)): it was removed, or the storage it lives in became unreadable; once it is back, retry",
            function: function, returnValue: rv ?? probe)
    }

    /// `C_GetTokenInfo` for a session call; a token that no longer answers it is gone.
    private func readTokenInfo(function: String) throws -> TokenInfo {
        do {
            return try PKCS11Slot.readTokenInfo(functions, slot.id, context: context)
        } catch let error as PKCS11Error {
            guard let probe = error.returnValue, Self.meansTokenGone(probe) else { throw error }
            throw vanishedError(function: function, answered: nil, probe: probe)
        }
    }

    /// What `C_GetTokenInfo` answers about a slot whose token the module lost (SoftHSM 2.6 answers
    /// `CKR_GENERAL_ERROR` once the token's folder vanished).
    static func meansTokenGone(_ rv: ReturnValue) -> Bool {
        [.generalError, .deviceError, .functionFailed, .deviceRemoved, .tokenNotPresent, .tokenNotRecognized, .slotIDInvalid]
            .contains(rv)
    }

    // MARK: Login

    /// Logs the user in with `pin`, or on the reader's PIN pad when `pin` is nil and the token has
    /// one. Reads the PIN state before and after. A wrong PIN is never retried here (rule D5): the
    /// error carries the state after the attempt, and its message says how close the token is to
    /// locking. On the token's final try the login is refused unless `confirmFinalTry` is true.
    @discardableResult
    public func login(pin: PIN?, confirmFinalTry: Bool = false) async throws -> LoginReport {
        let transfer = UnsafeTransfer(pin)
        return try await slot.worker.run { [self] in
            try checkValid(function: "C_Login")
            return try authenticate(.user, pin: transfer.value, confirmFinalTry: confirmFinalTry)
        }
    }

    /// Who a `C_Login` logs in: the user for the session, or the user again for the one operation
    /// just initialized on a key with `CKA_ALWAYS_AUTHENTICATE` (`CKU_CONTEXT_SPECIFIC`).
    enum LoginKind {
        case user
        case contextSpecific
    }

    /// One `C_Login`, on the token's worker, with every rule of a login (D5): the PIN state read
    /// before and after, a locked token and an unconfirmed final try refused before the PIN is
    /// sent, a PIN outside the token's `ulMinPinLen`…`ulMaxPinLen` refused without costing a try,
    /// the PIN pad used when the token has one and no PIN is given, never a retry.
    private func authenticate(_ kind: LoginKind, pin: PIN?, confirmFinalTry: Bool) throws -> LoginReport {
        let functions = self.functions
        let slotID = slot.id
        let before = try readTokenInfo(function: "C_Login")
        let purpose = kind == .user ? "" : " for this signature (the key asks for its PIN at every use)"
        if before.pinState.contains(.locked) {
            throw PKCS11Error(
                .pinLocked, "the PIN of \(context) is locked; the certification authority must unblock or replace the token",
                function: "C_Login", pinState: before.pinState)
        }
        if before.pinState.contains(.finalTry) && !confirmFinalTry {
            throw PKCS11Error(
                .pinFinalTry,
                "\(context) is on its final PIN try: a wrong PIN now locks it; confirm explicitly to use this try",
                function: "C_Login", pinState: before.pinState)
        }
        if let pin, let sentence = Self.outsideLimits(pin.count, min: before.minPINLength, max: before.maxPINLength, context: context) {
            throw PKCS11Error(.pinInvalid, sentence, function: "C_Login", pinState: before.pinState)
        }
        if kind == .user {
            // Login state is shared by every session of this process on the token. So that each
            // login proves its own PIN (a clerk must not ride on an officer's login, rule D5/D13),
            // end any login first.
            var sessionInfo = CK_SESSION_INFO()
            if FaultSeam.call("C_GetSessionInfo", { functions.table.C_GetSessionInfo(handle, &sessionInfo) }) == 0,
                sessionInfo.state == UInt(CKS_RO_USER_FUNCTIONS) || sessionInfo.state == UInt(CKS_RW_USER_FUNCTIONS)
            {
                _ = FaultSeam.call("C_Logout") { functions.table.C_Logout(handle) }
            }
        }
        let usePad = before.protectedAuthenticationPath && pin == nil
        if pin == nil && !usePad {
            throw PKCS11Error(.pinRequired, "\(context) needs its user PIN\(purpose)", function: "C_Login")
        }
        let userType = kind == .user ? UInt(CKU_USER) : UInt(CKU_CONTEXT_SPECIFIC)
        // The fault seam counts (and can fail) context-specific logins apart: `C_Login/context`.
        func login(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> UInt {
            kind == .user
                ? FaultSeam.call("C_Login") { functions.table.C_Login(handle, userType, UnsafeMutablePointer(mutating: bytes), UInt(count)) }
                : FaultSeam.call("C_Login/context") { functions.table.C_Login(handle, userType, UnsafeMutablePointer(mutating: bytes), UInt(count)) }
        }
        let rv: ReturnValue
        if let pin {
            rv = ReturnValue(pin.withBytes { bytes, count in login(bytes, count) })
        } else {
            rv = ReturnValue(login(nil, 0))
        }
        let after = (try? PKCS11Slot.readTokenInfo(functions, slotID, context: context))?.pinState
        switch rv {
        case .ok:
            return LoginReport(before: before.pinState, after: after ?? before.pinState, onPINPad: usePad)
        case .pinIncorrect:
            let state = after ?? before.pinState
            var error = failure(rv, "C_Login", pinState: state)
            if let consequence = state.consequence { error.message += ": " + consequence }
            throw error
        default:
            throw failure(rv, "C_Login", pinState: after)
        }
    }

    /// The sentence refusing a PIN of `count` characters outside the token's limits, or nil. A
    /// limit of 0, or a maximum below the minimum, is a token that states none.
    static func outsideLimits(_ count: Int, min: UInt?, max: UInt?, context: String) -> String? {
        // CK_UNAVAILABLE_INFORMATION (all bits set) and other values past any PIN: no limit.
        let low = min.flatMap { Int(exactly: $0) }.flatMap { $0 <= 1024 ? $0 : nil } ?? 0
        let high = max.flatMap { Int(exactly: $0) }.flatMap { $0 > 0 && $0 >= low && $0 <= 1024 ? $0 : nil }
        if count < low || high.map({ count > $0 }) == true {
            let range = high.map { "\(low) to \($0)" } ?? "at least \(low)"
            return "the PIN has \(count) characters and \(context) takes \(range); it was not sent to the token and cost no try"
        }
        return nil
    }

    /// Logs out (other sessions of this application on the token are logged out too).
    public func logout() async throws {
        let functions = self.functions
        try await slot.worker.run { [self] in
            try checkValid(function: "C_Logout")
            let rv = ReturnValue(FaultSeam.call("C_Logout") { functions.table.C_Logout(handle) })
            guard rv == .ok || rv == .userNotLoggedIn else { throw failure(rv, "C_Logout") }
        }
    }

    /// Changes the user PIN (`C_SetPIN`; needs a read-write session). Neither PIN is kept.
    public func changePIN(old: PIN, new: PIN) async throws {
        let functions = self.functions
        let transfer = UnsafeTransfer((old, new))
        try await slot.worker.run { [self] in
            try checkValid(function: "C_SetPIN")
            let (old, new) = transfer.value
            let rv = ReturnValue(old.withBytes { o, oc in
                new.withBytes { n, nc in
                    FaultSeam.call("C_SetPIN") { functions.table.C_SetPIN(handle, o, UInt(oc), n, UInt(nc)) }
                }
            })
            guard rv == .ok else {
                if rv == .sessionReadOnly {
                    throw PKCS11Error(.tokenWriteProtected, "changing the PIN of \(context) needs a read-write session", function: "C_SetPIN", returnValue: rv)
                }
                throw failure(rv, "C_SetPIN")
            }
        }
    }

    // MARK: Objects

    /// Certificates, public keys and (after login) private keys on the token, optionally only those
    /// of one class or matching a URI's object attributes (`id`, `object`, `type`).
    public func objects(_ objectClass: ObjectClass? = nil, matching uri: PKCS11URI? = nil) async throws -> [ObjectInfo] {
        let functions = self.functions
        return try await slot.worker.run { [self] in
            try checkValid(function: "C_FindObjects")
            var result: [ObjectInfo] = []
            let classes: [ObjectClass] = objectClass.map { [$0] } ?? uri?.type.map { [$0] } ?? [.certificate, .publicKey, .privateKey]
            for cls in classes {
                for handle in try findObjects(functions, cls) {
                    let info = try readObject(functions, handle: handle, objectClass: cls)
                    if uri?.matches(object: info) ?? true { result.append(info) }
                }
            }
            // SoftHSM shows an empty token, without an error, once the token's folder vanished.
            if result.isEmpty, let gone = vanished(after: "C_FindObjects") { throw gone }
            return result
        }
    }

    private func findObjects(_ functions: FunctionList, _ cls: ObjectClass) throws -> [UInt] {
        var classValue = CK_OBJECT_CLASS(cls.ckValue)
        var rv = withUnsafeMutableBytes(of: &classValue) { classBytes -> ReturnValue in
            var template = CK_ATTRIBUTE(type: UInt(CKA_CLASS), pValue: classBytes.baseAddress, ulValueLen: UInt(classBytes.count))
            return ReturnValue(FaultSeam.call("C_FindObjectsInit") { functions.table.C_FindObjectsInit(handle, &template, 1) })
        }
        guard rv == .ok else { throw failure(rv, "C_FindObjectsInit") }
        var handles: [UInt] = []
        var batch = [CK_OBJECT_HANDLE](repeating: 0, count: 64)
        while true {
            var count: UInt = 0
            rv = ReturnValue(FaultSeam.call("C_FindObjects") { functions.table.C_FindObjects(handle, &batch, UInt(batch.count), &count) })
            guard rv == .ok else {
                _ = functions.table.C_FindObjectsFinal(handle)
                throw failure(rv, "C_FindObjects")
            }
            handles += batch.prefix(Int(count))
            if count < UInt(batch.count) { break }
        }
        rv = ReturnValue(FaultSeam.call("C_FindObjectsFinal") { functions.table.C_FindObjectsFinal(handle) })
        guard rv == .ok else { throw failure(rv, "C_FindObjectsFinal") }
        return handles
    }

    private func readObject(_ functions: FunctionList, handle object: UInt, objectClass: ObjectClass) throws -> ObjectInfo {
        var types: [UInt] = [UInt(CKA_ID), UInt(CKA_LABEL)]
        switch objectClass {
        case .certificate: types.append(UInt(CKA_VALUE))
        case .publicKey: types += [UInt(CKA_KEY_TYPE), UInt(CKA_MODULUS_BITS), UInt(CKA_MODULUS), UInt(CKA_EC_PARAMS), UInt(CKA_EC_POINT)]
        case .privateKey: types += [UInt(CKA_KEY_TYPE), UInt(CKA_MODULUS), UInt(CKA_EC_PARAMS), UInt(CKA_ALWAYS_AUTHENTICATE)]
        }
        let values = try attributes(functions, object: object, types: types)
        var info = ObjectInfo(
            handle: object, objectClass: objectClass, id: values[UInt(CKA_ID)] ?? [],
            label: values[UInt(CKA_LABEL)].map { String(decoding: $0, as: UTF8.self) } ?? "")
        info.value = values[UInt(CKA_VALUE)]
        if let keyType = values[UInt(CKA_KEY_TYPE)].flatMap(Self.ulong) {
            switch keyType {
            case UInt(CKK_RSA): info.keyType = .rsa
            case UInt(CKK_EC): info.keyType = .ec
            default: info.keyType = .other
            }
        }
        if let modulus = values[UInt(CKA_MODULUS)] {
            info.publicValue = modulus
            info.modulusBits = modulus.drop(while: { $0 == 0 }).count * 8
        } else if let bits = values[UInt(CKA_MODULUS_BITS)].flatMap(Self.ulong) {
            info.modulusBits = Int(bits)
        }
        info.ecParameters = values[UInt(CKA_EC_PARAMS)]
        info.alwaysAuthenticate = values[UInt(CKA_ALWAYS_AUTHENTICATE)]?.first.map { $0 != 0 } ?? false
        if let point = values[UInt(CKA_EC_POINT)] { info.publicValue = point }
        return info
    }

    private static func ulong(_ bytes: [UInt8]) -> UInt? {
        guard bytes.count == MemoryLayout<UInt>.size else { return nil }
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt.self) }
    }

    /// `C_GetAttributeValue` in two passes (lengths, then values). Attributes the token does not
    /// have or will not reveal are left out of the result.
    fileprivate func attributes(_ functions: FunctionList, object: UInt, types: [UInt]) throws -> [UInt: [UInt8]] {
        var template = types.map { CK_ATTRIBUTE(type: $0, pValue: nil, ulValueLen: 0) }
        var rv = ReturnValue(FaultSeam.call("C_GetAttributeValue") {
            functions.table.C_GetAttributeValue(handle, object, &template, UInt(template.count))
        })
        guard rv == .ok || rv == .attributeSensitive || rv == .attributeTypeInvalid else {
            throw failure(rv, "C_GetAttributeValue")
        }
        let unavailable = CPaysignShims_CK_UNAVAILABLE_INFORMATION_value
        let wanted = template.filter { $0.ulValueLen != unavailable }
        guard !wanted.isEmpty else { return [:] }
        // One allocation for every value, pinned while the token writes into it.
        let total = wanted.reduce(0) { $0 + Int($1.ulValueLen) }
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(total, 1), alignment: 8)
        defer { storage.deallocate() }
        var offsets: [Int] = []
        var second: [CK_ATTRIBUTE] = []
        var offset = 0
        for attribute in wanted {
            offsets.append(offset)
            second.append(CK_ATTRIBUTE(type: attribute.type, pValue: storage.baseAddress! + offset, ulValueLen: attribute.ulValueLen))
            offset += Int(attribute.ulValueLen)
        }
        rv = ReturnValue(FaultSeam.call("C_GetAttributeValue") {
            functions.table.C_GetAttributeValue(handle, object, &second, UInt(second.count))
        })
        guard rv == .ok || rv == .attributeSensitive || rv == .attributeTypeInvalid else {
            throw failure(rv, "C_GetAttributeValue")
        }
        var result: [UInt: [UInt8]] = [:]
        for (i, attribute) in second.enumerated() where attribute.ulValueLen != unavailable {
            let length = min(Int(attribute.ulValueLen), Int(wanted[i].ulValueLen))
            result[attribute.type] = Array(UnsafeRawBufferPointer(rebasing: storage[offsets[i]..<offsets[i] + length]))
        }
        return result
    }

    // MARK: Signing

    /// Signs with a private key of this token. For `.sha256RSAPKCS` pass the message; for
    /// `.rsaPSSSHA256` and `.ecdsa` pass its SHA-256 digest. ECDSA comes back as raw r‖s.
    ///
    /// If the card leaves its reader while the token computes, the signature is thrown away and
    /// `.tokenRemoved` is thrown.
    ///
    /// A key with `CKA_ALWAYS_AUTHENTICATE` (`ObjectInfo.alwaysAuthenticate`) needs its PIN again for
    /// this one signature: `again` is presented with `CKU_CONTEXT_SPECIFIC` after `C_SignInit`, by
    /// the same rules as every login (`authenticate`), never from an earlier login. Without it
    /// (nil) such a key is refused before `C_SignInit`.
    public func sign(_ data: [UInt8], mechanism: SigningMechanism, key: ObjectInfo, again: ContextLogin? = nil) async throws -> [UInt8] {
        try await slot.worker.run { [self] in
            try signOnWorker(data, mechanism: mechanism, key: key.handle, again: key.alwaysAuthenticate ? .some(again) : nil)
        }
    }

    /// `sign` for callers that run many signatures back to back on a thread of their own
    /// (the raw-throughput benchmark): blocks the calling thread, never the cooperative pool.
    public func signBlocking(_ data: [UInt8], mechanism: SigningMechanism, key: ObjectInfo) throws -> [UInt8] {
        try slot.worker.runBlocking { [self] in try signOnWorker(data, mechanism: mechanism, key: key.handle, again: nil) }
    }

    /// - Parameter again: nil for a key that needs no login per use; `.some(nil)` for one that does
    ///   but was given no PIN (refused, unless the token has a PIN pad); `.some(login)` otherwise.
    private func signOnWorker(_ data: [UInt8], mechanism: SigningMechanism, key: UInt, again: ContextLogin??) throws -> [UInt8] {
        let functions = self.functions
        try checkValid(function: "C_SignInit")
        if case .some(.none) = again, !(try readTokenInfo(function: "C_SignInit").protectedAuthenticationPath) {
            throw PKCS11Error(
                .pinRequired,
                "the key on \(context) asks for its PIN at every signature (CKA_ALWAYS_AUTHENTICATE); give the PIN with the request: a login kept from before cannot sign with it",
                function: "C_SignInit")
        }
        var pss = CK_RSA_PKCS_PSS_PARAMS(hashAlg: UInt(CKM_SHA256), mgf: UInt(CKG_MGF1_SHA256), sLen: 32)
        let rv = withUnsafeMutableBytes(of: &pss) { pssBytes -> ReturnValue in
            var ckMechanism = CK_MECHANISM(mechanism: mechanism.ckMechanism, pParameter: nil, ulParameterLen: 0)
            if mechanism == .rsaPSSSHA256 {
                ckMechanism.pParameter = pssBytes.baseAddress
                ckMechanism.ulParameterLen = UInt(pssBytes.count)
            }
            return ReturnValue(FaultSeam.call("C_SignInit") { functions.table.C_SignInit(handle, &ckMechanism, key) })
        }
        guard rv == .ok else { throw failure(rv, "C_SignInit") }
        if case .some(let login) = again {
            // A failed login ends here: the operation C_SignInit began ends with the session,
            // which the caller closes after a failed login; a wrong PIN is never retried.
            _ = try authenticate(.contextSpecific, pin: login?.pin, confirmFinalTry: login?.confirmFinalTry ?? false)
        }
        // One call with a buffer large enough for RSA-8192 (the token rarely needs a size query).
        var signature = [UInt8](repeating: 0, count: 1024)
        var length = UInt(signature.count)
        var input = data
        var signRV = ReturnValue(FaultSeam.call("C_Sign") {
            functions.table.C_Sign(handle, &input, UInt(input.count), &signature, &length)
        })
        if signRV == .bufferTooSmall {
            // The operation stays active after CKR_BUFFER_TOO_SMALL (PKCS#11 5.2); length holds the size.
            signature = [UInt8](repeating: 0, count: Int(length))
            signRV = ReturnValue(FaultSeam.call("C_Sign") {
                functions.table.C_Sign(handle, &input, UInt(input.count), &signature, &length)
            })
        }
        guard signRV == .ok else { throw failure(signRV, "C_Sign") }
        if let reason = invalidated {
            throw PKCS11Error(.tokenRemoved, "\(context) was removed during signing (\(reason)); the signature was discarded", function: "C_Sign")
        }
        return Array(signature.prefix(Int(length)))
    }

    // MARK: Decrypting

    /// Decrypts `data` with the private key `key` on the token (`C_DecryptInit` + `C_Decrypt`):
    /// the payment center's key transport (RSAES-OAEP, RFC 8017 7.1) never takes the key off its
    /// HSM. Returns the plaintext (for CMS, the content-encryption key).
    ///
    /// A key with `CKA_ALWAYS_AUTHENTICATE` is refused: the center decrypts unattended.
    public func decrypt(_ data: [UInt8], mechanism: DecryptionMechanism, key: ObjectInfo) async throws -> [UInt8] {
        guard !key.alwaysAuthenticate else {
            throw PKCS11Error(
                .pinRequired,
                "the key on \(context) asks for its PIN at every use (CKA_ALWAYS_AUTHENTICATE); an unattended center cannot decrypt with it",
                function: "C_DecryptInit")
        }
        return try await slot.worker.run { [self] in try decryptOnWorker(data, mechanism: mechanism, key: key.handle) }
    }

    private func decryptOnWorker(_ data: [UInt8], mechanism: DecryptionMechanism, key: UInt) throws -> [UInt8] {
        let functions = self.functions
        try checkValid(function: "C_DecryptInit")
        var oaep = CK_RSA_PKCS_OAEP_PARAMS(
            hashAlg: mechanism.hash.ckMechanism, mgf: mechanism.hash.ckMGF, source: UInt(CKZ_DATA_SPECIFIED),
            pSourceData: nil, ulSourceDataLen: 0)
        let rv = withUnsafeMutableBytes(of: &oaep) { params -> ReturnValue in
            var ckMechanism = CK_MECHANISM(
                mechanism: UInt(CKM_RSA_PKCS_OAEP), pParameter: params.baseAddress, ulParameterLen: UInt(params.count))
            return ReturnValue(FaultSeam.call("C_DecryptInit") { functions.table.C_DecryptInit(handle, &ckMechanism, key) })
        }
        guard rv == .ok else { throw failure(rv, "C_DecryptInit") }
        var plain = [UInt8](repeating: 0, count: max(data.count, 16))
        var length = UInt(plain.count)
        var input = data
        var decryptRV = ReturnValue(FaultSeam.call("C_Decrypt") {
            functions.table.C_Decrypt(handle, &input, UInt(input.count), &plain, &length)
        })
        if decryptRV == .bufferTooSmall {
            plain = [UInt8](repeating: 0, count: Int(length))
            decryptRV = ReturnValue(FaultSeam.call("C_Decrypt") {
                functions.table.C_Decrypt(handle, &input, UInt(input.count), &plain, &length)
            })
        }
        guard decryptRV == .ok else { throw failure(decryptRV, "C_Decrypt") }
        return Array(plain.prefix(Int(length)))
    }

    /// The reference for benchmarks: `count` rounds of `C_DecryptInit` + `C_Decrypt` straight on
    /// the token's thread. Returns the seconds they took.
    @_spi(Benchmark)
    public func rawDecryptLoop(_ data: [UInt8], mechanism: DecryptionMechanism, key: ObjectInfo, count: Int) throws -> Double {
        try slot.worker.runBlocking { [self] in
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<count { _ = try decryptOnWorker(data, mechanism: mechanism, key: key.handle) }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
    }

    // MARK: Closing

    /// Closes the session. Idempotent.
    public func close() async {
        guard takeHandle() else { return }
        let job = closeJob()
        _ = try? await slot.worker.run { job() }
    }

    /// Closes the handle on the worker, unless a C_CloseAllSessions closed it already.
    private func closeJob() -> @Sendable () -> Void {
        let functions = self.functions
        let handle = self.handle
        let epoch = self.epoch
        let generation = self.generation
        let slot = self.slot
        return {
            // On the worker, under the module's gate: the generation cannot move meanwhile.
            guard slot.currentEpochOnWorker() == epoch, slot.module.generation == generation else { return }
            _ = FaultSeam.call("C_CloseSession") { functions.table.C_CloseSession(handle) }
        }
    }

    private func takeHandle() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if released { return false }
        released = true
        return true
    }

    deinit {
        slot.forget(self)
        if takeHandle() { slot.worker.post(closeJob()) }
    }
}

// The references `make bench` measures the daemon against, behind the `Benchmark` SPI: a loop that
// calls C_Login with a PIN over and over is no API the product may call (`paysign` and `paysignd`
// do not import the SPI; only Benchmarks/paysign-bench does, with `@_spi(Benchmark) import`).
extension PKCS11Session {
    /// The reference for benchmarks: `count` rounds of `C_SignInit` + `C_Sign` straight on the
    /// token's thread, with nothing of paysign's around them. Returns the seconds they took.
    @_spi(Benchmark)
    public func rawSignLoop(_ data: [UInt8], mechanism: SigningMechanism, key: ObjectInfo, count: Int) throws -> Double {
        try rawLoop(data, mechanism: mechanism, key: key, count: count, pin: nil)
    }

    /// The reference for a signature that brings its PIN: `count` rounds of `C_Login`, a search
    /// for the private key by class and `CKA_ID` (a token may hand out new handles for private
    /// objects after each login), `C_SignInit`, `C_Sign` and `C_Logout`, straight on the token's
    /// thread (the session starts logged out). Returns the seconds they took.
    @_spi(Benchmark)
    public func rawLoginSignLogoutLoop(
        _ data: [UInt8], mechanism: SigningMechanism, key: ObjectInfo, pin: [UInt8], count: Int
    ) throws -> Double {
        try rawLoop(data, mechanism: mechanism, key: key, count: count, pin: pin)
    }

    private func rawLoop(_ data: [UInt8], mechanism: SigningMechanism, key: ObjectInfo, count: Int, pin: [UInt8]?) throws -> Double {
        let functions = slot.module.functions
        let handle = self.handle
        return try slot.worker.runBlocking {
            var pss = CK_RSA_PKCS_PSS_PARAMS(hashAlg: UInt(CKM_SHA256), mgf: UInt(CKG_MGF1_SHA256), sLen: 32)
            return try withUnsafeMutableBytes(of: &pss) { pssBytes in
                var ckMechanism = CK_MECHANISM(mechanism: mechanism.ckMechanism, pParameter: nil, ulParameterLen: 0)
                if mechanism == .rsaPSSSHA256 {
                    ckMechanism.pParameter = pssBytes.baseAddress
                    ckMechanism.ulParameterLen = UInt(pssBytes.count)
                }
                var input = data
                var signature = [UInt8](repeating: 0, count: 1024)
                let start = DispatchTime.now().uptimeNanoseconds
                var secret = pin ?? []
                var keyClass = CK_OBJECT_CLASS(CKO_PRIVATE_KEY)
                var keyID = key.id
                let context = "token '\(self.token.label)'"
                // C_FindObjectsInit, C_FindObjects, C_FindObjectsFinal: the private key with key.id.
                func findKey() throws -> UInt {
                    try withUnsafeMutableBytes(of: &keyClass) { classBytes in
                        try keyID.withUnsafeMutableBytes { idBytes in
                            var template = [
                                CK_ATTRIBUTE(type: UInt(CKA_CLASS), pValue: classBytes.baseAddress, ulValueLen: UInt(classBytes.count)),
                                CK_ATTRIBUTE(type: UInt(CKA_ID), pValue: idBytes.baseAddress, ulValueLen: UInt(idBytes.count)),
                            ]
                            var rv = functions.table.C_FindObjectsInit(handle, &template, UInt(template.count))
                            guard rv == 0 else { throw PKCS11Error.from(ReturnValue(rv), function: "C_FindObjectsInit", context: context) }
                            var found: UInt = 0
                            var foundCount: UInt = 0
                            rv = functions.table.C_FindObjects(handle, &found, 1, &foundCount)
                            _ = functions.table.C_FindObjectsFinal(handle)
                            guard rv == 0, foundCount == 1 else {
                                throw PKCS11Error.from(ReturnValue(rv == 0 ? UInt(CKR_OBJECT_HANDLE_INVALID) : rv), function: "C_FindObjects", context: context)
                            }
                            return found
                        }
                    }
                }
                for _ in 0..<count {
                    var length = UInt(signature.count)
                    var keyHandle = key.handle
                    if pin != nil {
                        let rv = functions.table.C_Login(handle, UInt(CKU_USER), &secret, UInt(secret.count))
                        guard rv == 0 else { throw PKCS11Error.from(ReturnValue(rv), function: "C_Login", context: context) }
                        keyHandle = try findKey()
                    }
                    var rv = functions.table.C_SignInit(handle, &ckMechanism, keyHandle)
                    if rv == 0 { rv = functions.table.C_Sign(handle, &input, UInt(input.count), &signature, &length) }
                    guard rv == 0 else { throw PKCS11Error.from(ReturnValue(rv), function: "C_Sign", context: context) }
                    if pin != nil {
                        let rv = functions.table.C_Logout(handle)
                        guard rv == 0 else { throw PKCS11Error.from(ReturnValue(rv), function: "C_Logout", context: context) }
                    }
                }
                secret.withUnsafeMutableBytes { bytes in
                    for index in bytes.indices { bytes[index] = 0 }
                }
                return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            }
        }
    }
}

extension PKCS11Session {
    /// Raw attribute values of one object, read on the token's thread; attributes the token does
    /// not have or will not reveal are left out. (For `subjectPublicKeyInfo(of:)` in PublicKeyInfo.swift.)
    func attributeValues(of object: UInt, types: [UInt]) async throws -> [UInt: [UInt8]] {
        let functions = self.functions
        return try await slot.worker.run { [self] in
            try checkValid(function: "C_GetAttributeValue")
            return try attributes(functions, object: object, types: types)
        }
    }

    /// The context for messages: `token 'officer1'`.
    var errorContext: String { context }
}

extension PKCS11Session {
    /// Stores an X.509 certificate on the token, as a token object with the `CKA_ID` of the key it
    /// certifies (`C_CreateObject`). Needs a read-write session logged in as the user. The
    /// certificate issued for a key made on the token goes back onto that token this way.
    public func storeCertificate(der: [UInt8], subjectDER: [UInt8], id: [UInt8], label: String) async throws {
        let functions = self.functions
        try await slot.worker.run { [self] in
            try checkValid(function: "C_CreateObject")
            // Every value in memory of its own for the length of the call.
            var buffers: [UnsafeMutableRawBufferPointer] = []
            defer { for buffer in buffers { buffer.deallocate() } }
            func value(_ bytes: [UInt8]) -> (UnsafeMutableRawPointer?, UInt) {
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 8)
                buffer.copyBytes(from: bytes)
                buffers.append(buffer)
                return (buffer.baseAddress, UInt(bytes.count))
            }
            func scalar<T>(_ value: T) -> (UnsafeMutableRawPointer?, UInt) {
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: MemoryLayout<T>.size, alignment: 8)
                buffer.storeBytes(of: value, as: T.self)
                buffers.append(buffer)
                return (buffer.baseAddress, UInt(MemoryLayout<T>.size))
            }
            let fields: [(UInt, (UnsafeMutableRawPointer?, UInt))] = [
                (UInt(CKA_CLASS), scalar(CK_OBJECT_CLASS(CKO_CERTIFICATE))),
                (UInt(CKA_CERTIFICATE_TYPE), scalar(CK_CERTIFICATE_TYPE(CKC_X_509))),
                (UInt(CKA_TOKEN), scalar(CK_BBOOL(CK_TRUE))),
                (UInt(CKA_PRIVATE), scalar(CK_BBOOL(CK_FALSE))),
                (UInt(CKA_VALUE), value(der)),
                (UInt(CKA_SUBJECT), value(subjectDER)),
                (UInt(CKA_ID), value(id)),
                (UInt(CKA_LABEL), value(Array(label.utf8))),
            ]
            var template = fields.map { CK_ATTRIBUTE(type: $0.0, pValue: $0.1.0, ulValueLen: $0.1.1) }
            var object: CK_OBJECT_HANDLE = 0
            let rv = ReturnValue(FaultSeam.call("C_CreateObject") {
                functions.table.C_CreateObject(handle, &template, UInt(template.count), &object)
            })
            guard rv == .ok else { throw failure(rv, "C_CreateObject") }
        }
    }
}

extension PKCS11Session {
    /// ECDH on the token (`C_DeriveKey`, `CKM_ECDH1_DERIVE`, no KDF): the shared secret of the EC
    /// private key `key` and the other party's public point (`04‖X‖Y`), as a session object that
    /// is read once (`CKA_VALUE`) and destroyed. The private key never leaves the token; the
    /// secret is the per-message one of RFC 5753's key agreement, which the caller turns into a
    /// key-encryption key with the X9.63 KDF.
    public func deriveECDH(publicPoint: [UInt8], key: ObjectInfo, secretLength: Int) async throws -> [UInt8] {
        let functions = self.functions
        return try await slot.worker.run { [self] in
            try checkValid(function: "C_DeriveKey")
            var point = publicPoint
            var derived: CK_OBJECT_HANDLE = 0
            let rv = point.withUnsafeMutableBufferPointer { pointBuffer -> ReturnValue in
                var params = CK_ECDH1_DERIVE_PARAMS(
                    kdf: UInt(CKD_NULL), ulSharedDataLen: 0, pSharedData: nil, ulPublicDataLen: UInt(pointBuffer.count),
                    pPublicData: pointBuffer.baseAddress)
                return withUnsafeMutableBytes(of: &params) { paramBytes in
                    var mechanism = CK_MECHANISM(
                        mechanism: UInt(CKM_ECDH1_DERIVE), pParameter: paramBytes.baseAddress, ulParameterLen: UInt(paramBytes.count))
                    var objectClass = CK_OBJECT_CLASS(CKO_SECRET_KEY)
                    var keyType = CK_KEY_TYPE(CKK_GENERIC_SECRET)
                    var no = CK_BBOOL(CK_FALSE)
                    var yes = CK_BBOOL(CK_TRUE)
                    var length = CK_ULONG(secretLength)
                    return withUnsafeMutableBytes(of: &objectClass) { c in
                        withUnsafeMutableBytes(of: &keyType) { k in
                            withUnsafeMutableBytes(of: &no) { n in
                                withUnsafeMutableBytes(of: &yes) { y in
                                    withUnsafeMutableBytes(of: &length) { l in
                                        var template = [
                                            CK_ATTRIBUTE(type: UInt(CKA_CLASS), pValue: c.baseAddress, ulValueLen: UInt(c.count)),
                                            CK_ATTRIBUTE(type: UInt(CKA_KEY_TYPE), pValue: k.baseAddress, ulValueLen: UInt(k.count)),
                                            CK_ATTRIBUTE(type: UInt(CKA_TOKEN), pValue: n.baseAddress, ulValueLen: UInt(n.count)),
                                            CK_ATTRIBUTE(type: UInt(CKA_SENSITIVE), pValue: n.baseAddress, ulValueLen: UInt(n.count)),
                                            CK_ATTRIBUTE(type: UInt(CKA_EXTRACTABLE), pValue: y.baseAddress, ulValueLen: UInt(y.count)),
                                            CK_ATTRIBUTE(type: UInt(CKA_VALUE_LEN), pValue: l.baseAddress, ulValueLen: UInt(l.count)),
                                        ]
                                        return ReturnValue(FaultSeam.call("C_DeriveKey") {
                                            functions.table.C_DeriveKey(handle, &mechanism, key.handle, &template, UInt(template.count), &derived)
                                        })
                                    }
                                }
                            }
                        }
                    }
                }
            }
            guard rv == .ok else { throw failure(rv, "C_DeriveKey") }
            defer { _ = FaultSeam.call("C_DestroyObject") { functions.table.C_DestroyObject(handle, derived) } }
            let values = try attributes(functions, object: derived, types: [UInt(CKA_VALUE)])
            guard let secret = values[UInt(CKA_VALUE)], !secret.isEmpty else {
                throw PKCS11Error(.tokenMalfunction, "\(context) derived an ECDH secret it does not show (CKA_VALUE)", function: "C_GetAttributeValue")
            }
            return secret
        }
    }
}
