import Foundation
internal import CP11Kit
public import Logging

/// The PKCS#11 function list of one initialized module.
///
/// Modules are initialized with `CKF_OS_LOCKING_OK` (p11-kit passes it), so a function list may be
/// called from any thread; paysign still keeps each token's calls on that token's own thread.
struct FunctionList: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<CK_FUNCTION_LIST>
    var table: CK_FUNCTION_LIST { pointer.pointee }
}

/// The PKCS#11 modules paysign talks to: every module registered with p11-kit, or one module
/// named in configuration. Owns the modules and finalizes them on `close()`.
public final class PKCS11Library: @unchecked Sendable {
    /// The modules that initialized, in p11-kit's order. Immutable after init.
    public let modules: [PKCS11Module]
    private enum Ownership { case registered(UnsafeMutablePointer<UnsafeMutablePointer<CK_FUNCTION_LIST>?>), single(UnsafeMutablePointer<CK_FUNCTION_LIST>) }
    private let ownership: Ownership
    private let lock = NSLock()
    private var closed = false  // guarded by lock
    /// A module is re-initialized to find a lost token at most this often (`token(matching:)`).
    public let reinitializationInterval: Duration
    /// The default `reinitializationInterval`.
    public static let defaultReinitializationInterval: Duration = .seconds(2)

    private init(modules: [PKCS11Module], ownership: Ownership, reinitializationInterval: Duration) {
        self.modules = modules
        self.ownership = ownership
        self.reinitializationInterval = reinitializationInterval
    }

    /// Loads and initializes every module registered with p11-kit (`/usr/share/p11-kit/modules`).
    /// Modules that fail to initialize are skipped by p11-kit (they are not critical).
    public static func loadRegistered(
        logger: Logger = Logger(label: "paysign.pkcs11"), reinitializationInterval: Duration = defaultReinitializationInterval
    ) throws -> PKCS11Library {
        guard let list = p11_kit_modules_load_and_initialize(0) else {
            let reason = p11_kit_message().map { String(cString: $0) } ?? "no reason given"
            throw PKCS11Error(.moduleFailed, "p11-kit could not load the registered PKCS#11 modules: \(reason)")
        }
        var modules: [PKCS11Module] = []
        var index = 0
        while let pointer = list[index] {
            if let module = PKCS11Module(functions: FunctionList(pointer: pointer), logger: logger) {
                modules.append(module)
            }
            index += 1
        }
        logger.debug("loaded PKCS#11 modules", metadata: ["modules": "\(modules.map(\.info.name))"])
        return PKCS11Library(modules: modules, ownership: .registered(list), reinitializationInterval: reinitializationInterval)
    }

    /// Loads and initializes one module by file path (or a name p11-kit resolves in its module
    /// directory, e.g. `libsofthsm2.so`).
    public static func load(
        module path: String, logger: Logger = Logger(label: "paysign.pkcs11"),
        reinitializationInterval: Duration = defaultReinitializationInterval
    ) throws -> PKCS11Library {
        if path.contains("/") && !FileManager.default.fileExists(atPath: path) {
            throw PKCS11Error(.moduleNotFound, "the PKCS#11 module \(path) does not exist")
        }
        guard let pointer = p11_kit_module_load(path, 0) else {
            let reason = p11_kit_message().map { String(cString: $0) } ?? "no reason given"
            throw PKCS11Error(.moduleNotFound, "the PKCS#11 module \(path) could not be loaded: \(reason)")
        }
        let rv = ReturnValue(p11_kit_module_initialize(pointer))
        guard rv == .ok else {
            p11_kit_module_release(pointer)
            throw PKCS11Error(
                .moduleFailed, "the PKCS#11 module \(path) failed to initialize (\(rv.name)); check its configuration",
                function: "C_Initialize", returnValue: rv)
        }
        guard let module = PKCS11Module(functions: FunctionList(pointer: pointer), logger: logger, fallbackPath: path)
        else {
            p11_kit_module_finalize(pointer)
            p11_kit_module_release(pointer)
            throw PKCS11Error(.moduleFailed, "the PKCS#11 module \(path) did not answer C_GetInfo")
        }
        return PKCS11Library(modules: [module], ownership: .single(pointer), reinitializationInterval: reinitializationInterval)
    }

    /// Every slot with a token, across modules.
    public func slotsWithTokens() async throws -> [PKCS11Slot] {
        var all: [PKCS11Slot] = []
        for module in modules { all += try await module.slots(tokenPresent: true) }
        return all
    }

    /// The one token a URI names. Throws `.tokenNotFound` or `.ambiguousToken` with the candidates.
    ///
    /// When no token matches and a module has lost one the URI names (it listed it before and no
    /// longer does), or lists a token it can no longer read, that module is re-initialized
    /// (`PKCS11Module.reinitialize`, at most once per `reinitializationInterval`) and searched
    /// again: SoftHSM sees a token whose folder vanished and came back only after that.
    public func token(matching uri: PKCS11URI) async throws -> PKCS11Slot {
        if uri.slotID != nil {
            throw PKCS11Error(
                .invalidURI,
                "slot-id changes whenever a token is initialized or replugged; name the token by token=, serial= or model= instead")
        }
        var search = try await self.search(uri)
        var losses: [PKCS11Module.Loss] = []
        if search.found.isEmpty {
            var again = false
            for seen in search.modules {
                guard let loss = seen.module.loss(for: uri, present: seen.present, unreadable: seen.unreadable) else { continue }
                losses.append(loss)
                if await seen.module.reinitialize(minimumInterval: reinitializationInterval, because: "no token matches \(uri)") {
                    again = true
                }
            }
            if again { search = try await self.search(uri) }
        }
        let found = search.found
        if found.isEmpty, let failure = search.listingFailure { throw failure }
        if found.isEmpty {
            if losses.contains(.namedToken) {
                throw PKCS11Error(
                    .tokenNotFound,
                    "no token matches \(uri): it was there before and is gone, or can no longer be read (removed, or the storage it lives in became unreadable); once it is back, retry")
            }
            if !losses.isEmpty {
                throw PKCS11Error(
                    .tokenNotFound,
                    "no token matches \(uri), and a token that is listed can no longer be read (removed, or the storage it lives in became unreadable); if it is that one, once it is back, retry; run 'paysign tokens' to see the tokens present")
            }
            throw PKCS11Error(.tokenNotFound, "no token matches \(uri); run 'paysign tokens' to see the tokens present")
        }
        if found.count > 1 {
            let names = found.map { "'\($0.1.label)' (serial \($0.1.serialNumber))" }.joined(separator: ", ")
            throw PKCS11Error(.ambiguousToken, "\(found.count) tokens match \(uri): \(names); add serial= to the URI")
        }
        return found[0].0
    }

    private struct Search {
        var found: [(PKCS11Slot, TokenInfo)] = []
        /// Per module the URI may name: the tokens it lists, and whether one could not be read.
        var modules: [(module: PKCS11Module, present: [TokenInfo], unreadable: Bool)] = []
        /// A module that could not list its slots (one whose re-initialization failed answers
        /// `CKR_CRYPTOKI_NOT_INITIALIZED`): thrown when no other module has the token.
        var listingFailure: (any Error)?
    }

    private func search(_ uri: PKCS11URI) async throws -> Search {
        var search = Search()
        for module in modules where uri.matches(module: module.info) {
            var present: [TokenInfo] = []
            var unreadable = false
            let slots: [PKCS11Slot]
            do {
                slots = try await module.slots(tokenPresent: true)
            } catch {
                search.listingFailure = search.listingFailure ?? error
                search.modules.append((module, [], true))
                continue
            }
            for slot in slots {
                // A slot that says it holds a token whose CK_TOKEN_INFO cannot be read: SoftHSM's
                // slot for a token whose folder vanished.
                guard let info = try? await slot.tokenInfo() else {
                    // Only a fixed slot: a reader with a card it does not recognize (a blank
                    // card, CKR_TOKEN_NOT_RECOGNIZED) is no reason to end every other session.
                    if !slot.info.removableDevice { unreadable = true }
                    continue
                }
                present.append(info)
                module.noteSeen(info, in: slot.info)
                if uri.matches(slot: slot.info) && uri.matches(token: info) { search.found.append((slot, info)) }
            }
            search.modules.append((module, present, unreadable))
        }
        return search
    }

    /// Closes every session and finalizes the modules. Idempotent.
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        guard !closed else { return }
        closed = true
        for module in modules { module.shutdown() }
        switch ownership {
        case .registered(let list):
            p11_kit_modules_finalize_and_release(list)
        case .single(let pointer):
            _ = p11_kit_module_finalize(pointer)
            p11_kit_module_release(pointer)
        }
    }

    deinit { close() }
}

/// One initialized PKCS#11 module and the slots it offers.
public final class PKCS11Module: @unchecked Sendable {
    public let info: ModuleInfo
    let functions: FunctionList
    let logger: Logger
    /// Module-wide calls (`C_GetSlotList`, `C_GetSlotInfo`) and the re-initialization run here;
    /// token calls on the slot's thread.
    private let worker: WorkerThread
    /// Every job on a slot's thread holds it shared; `reinitialize` holds it alone.
    let gate = ModuleGate()
    private let lock = NSLock()
    private var slotCache: [UInt: PKCS11Slot] = [:]  // guarded by lock
    // Guarded by lock:
    private var _generation: UInt64 = 0
    private var lastReinitialization: ContinuousClock.Instant?
    private var vanishedSinceReinitialization = false
    /// The last `C_Initialize` of a re-initialization failed: the next search tries again.
    private var lastInitializationFailed = false
    private var closing = false
    /// Tokens seen in this module's non-removable slots (SoftHSM's): one that is no longer listed
    /// may come back only through a re-initialization. Removable slots' modules see their tokens
    /// come back by themselves.
    private var seen: [TokenInfo] = []

    init?(functions: FunctionList, logger: Logger, fallbackPath: String? = nil) {
        var ckInfo = CK_INFO()
        guard FaultSeam.call("C_GetInfo", { functions.table.C_GetInfo(&ckInfo) }) == ReturnValue.ok.rawValue else {
            return nil
        }
        let name = p11_kit_module_get_name(functions.pointer).map { p -> String in
            defer { free(p) }
            return String(cString: p)
        }
        let path = p11_kit_module_get_filename(functions.pointer).map { p -> String in
            defer { free(p) }
            return String(cString: p)
        } ?? fallbackPath ?? ""
        self.info = ModuleInfo(
            name: name ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent,
            path: path,
            libraryDescription: fixedString(ckInfo.libraryDescription),
            libraryManufacturer: fixedString(ckInfo.manufacturerID),
            libraryVersion: "\(ckInfo.libraryVersion.major).\(ckInfo.libraryVersion.minor)")
        self.functions = functions
        self.logger = logger
        self.worker = WorkerThread(name: "pkcs11-\(name ?? "module")")
    }

    /// How many times the module was re-initialized. Sessions opened before the last time are gone.
    var generation: UInt64 { lock.withLock { _generation } }

    /// A session found its token unreadable: the next search that finds no token may
    /// re-initialize the module.
    func noteTokenVanished() {
        lock.withLock { vanishedSinceReinitialization = true }
    }

    /// Remembers the tokens a search read, to notice one that is no longer listed.
    func noteSeen(_ token: TokenInfo, in slot: SlotInfo) {
        guard !slot.removableDevice else { return }
        lock.withLock {
            if !seen.contains(where: { Self.same($0, token) }) { seen.append(token) }
        }
    }

    /// The same token (its PIN state and flags change from call to call; these do not).
    static func same(_ a: TokenInfo, _ b: TokenInfo) -> Bool {
        a.serialNumber == b.serialNumber && a.manufacturer == b.manufacturer && a.model == b.model && a.label == b.label
    }

    /// What a module may have lost that a re-initialization could bring back.
    enum Loss {
        /// A token `uri` names was listed before and is no longer.
        case namedToken
        /// A slot lists a token that cannot be read, the module could not list its slots, or a
        /// session found its token unreadable: perhaps the one `uri` names.
        case unreadableToken
    }

    /// Whether the module has lost a token that `uri` names, or one it can no longer read
    /// (`unreadable`: a slot whose `C_GetTokenInfo` fails, or slots it could not list).
    func loss(for uri: PKCS11URI, present: [TokenInfo], unreadable: Bool) -> Loss? {
        lock.withLock {
            if seen.contains(where: { token in uri.matches(token: token) && !present.contains { Self.same($0, token) } }) { return .namedToken }
            // Only a module with fixed slots (a software token such as SoftHSM) loses a token this
            // way; one whose tokens are all in readers sees them come back by itself, and its
            // re-initialization would end every other officer's session for nothing.
            guard !seen.isEmpty || lastInitializationFailed else { return nil }
            return unreadable || vanishedSinceReinitialization ? .unreadableToken : nil
        }
    }

    /// Finalizes and initializes the module again (`C_Finalize` + `C_Initialize`), the only way
    /// SoftHSM 2.6 sees a token again whose folder vanished (or became unreadable) and came back.
    ///
    /// It runs on the module's own thread, with the module's gate held alone: no other call is
    /// inside the module meanwhile, and calls that arrive wait. Every session of the module is
    /// marked ended first (calls on it then throw `.sessionInvalid` with a sentence asking for the
    /// PIN again: `C_Finalize` ends every login on every token of the module, and the code never
    /// logs in again by itself, rule D5). At most once per `minimumInterval`, so a token that is
    /// really gone does not cost a re-initialization per request. Returns true when it ran.
    ///
    /// p11-kit shares one initialization of a module between its callers in a process: the
    /// module itself is finalized only when paysign is its only caller there (as in paysignd).
    /// Slots keep their objects when the module lists the same slot id with the same description
    /// again (SoftHSM's ids come from the token's serial), so a presence watcher's map stays valid.
    @discardableResult
    func reinitialize(minimumInterval: Duration, because reason: String) async -> Bool {
        let due = lock.withLock { () -> Bool in
            if closing { return false }
            guard let last = lastReinitialization else { return true }
            return ContinuousClock.now - last >= minimumInterval
        }
        guard due else { return false }
        let outcome: (ran: Bool, finalize: ReturnValue, initialize: ReturnValue)? = try? await worker.run { [self] in
            // Checked again on the module's thread: of requests that raced here, one re-initializes.
            let stillDue = lock.withLock { () -> Bool in
                if closing { return false }
                guard let last = lastReinitialization else { return true }
                return ContinuousClock.now - last >= minimumInterval
            }
            guard stillDue else { return (false, ReturnValue.ok, ReturnValue.ok) }
            return gate.exclusive {
                let slots = lock.withLock { () -> [PKCS11Slot] in
                    _generation &+= 1
                    lastReinitialization = .now
                    vanishedSinceReinitialization = false
                    return Array(slotCache.values)
                }
                for slot in slots { slot.endSessionsForReinitialization(module: info.name) }
                let pointer = functions.pointer
                let finalized = ReturnValue(FaultSeam.call("C_Finalize") { p11_kit_module_finalize(pointer) })
                let initialized = ReturnValue(FaultSeam.call("C_Initialize") { p11_kit_module_initialize(pointer) })
                return (true, finalized, initialized)
            }
        }
        guard let outcome, outcome.ran else { return false }
        lock.withLock { lastInitializationFailed = outcome.initialize != ReturnValue.ok }
        if outcome.initialize == ReturnValue.ok {
            logger.notice(
                "re-initialized the PKCS#11 module to find a token again; its sessions and logins ended",
                metadata: ["module": "\(info.name)", "reason": "\(reason)"])
        } else {
            // Tried again (at most once per interval) on the next search that finds no token.
            logger.error(
                "the PKCS#11 module did not initialize again after C_Finalize",
                metadata: ["module": "\(info.name)", "C_Finalize": "\(outcome.finalize.name)", "C_Initialize": "\(outcome.initialize.name)"])
            lock.withLock { vanishedSinceReinitialization = true }
        }
        return true
    }

    /// The module's slots (only those with a token by default). A slot keeps its identity (and its
    /// thread) across calls, so sessions on it stay serialized.
    public func slots(tokenPresent: Bool = true) async throws -> [PKCS11Slot] {
        let functions = self.functions
        let moduleName = info.name
        let found: [(UInt, SlotInfo)] = try await worker.run {
            var count: UInt = 0
            let present: CK_BBOOL = tokenPresent ? 1 : 0
            var rv = ReturnValue(FaultSeam.call("C_GetSlotList") { functions.table.C_GetSlotList(present, nil, &count) })
            var ids = [CK_SLOT_ID](repeating: 0, count: Int(count))
            if rv == .ok && count > 0 {
                rv = ReturnValue(FaultSeam.call("C_GetSlotList") { functions.table.C_GetSlotList(present, &ids, &count) })
                ids = Array(ids.prefix(Int(count)))
            }
            guard rv == .ok else {
                throw PKCS11Error.from(rv, function: "C_GetSlotList", context: "the PKCS#11 module \(moduleName)")
            }
            return ids.compactMap { id -> (UInt, SlotInfo)? in
                var slotInfo = CK_SLOT_INFO()
                guard FaultSeam.call("C_GetSlotInfo", { functions.table.C_GetSlotInfo(id, &slotInfo) }) == 0 else {
                    return nil
                }
                return (
                    id,
                    SlotInfo(
                        slotDescription: fixedString(slotInfo.slotDescription),
                        manufacturer: fixedString(slotInfo.manufacturerID),
                        tokenPresent: slotInfo.flags & UInt(CKF_TOKEN_PRESENT) != 0,
                        removableDevice: slotInfo.flags & UInt(CKF_REMOVABLE_DEVICE) != 0,
                        hardwareSlot: slotInfo.flags & UInt(CKF_HW_SLOT) != 0)
                )
            }
        }
        var replaced: [PKCS11Slot] = []
        let slots = lock.withLock {
            found.map { id, slotInfo in
                if let cached = slotCache[id] {
                    if cached.info.slotDescription == slotInfo.slotDescription {
                        cached.updateInfo(slotInfo)
                        return cached
                    }
                    replaced.append(cached)
                }
                let slot = PKCS11Slot(module: self, id: id, info: slotInfo)
                slotCache[id] = slot
                return slot
            }
        }
        // A slot id reused for another reader: the old slot's sessions end and its thread stops, so
        // one token is never driven from two threads.
        for slot in replaced { slot.shutdown() }
        return slots
    }

    func shutdown() {
        lock.lock()
        closing = true
        let slots = Array(slotCache.values)
        slotCache.removeAll()
        lock.unlock()
        for slot in slots { slot.shutdown() }
        worker.shutdown()
    }
}

/// Reads a fixed-size, blank-padded `CK_UTF8CHAR` array (a C array imported as a tuple).
func fixedString<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { bytes in
        var end = bytes.count
        while end > 0 && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0) { end -= 1 }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}
