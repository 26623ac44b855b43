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

    private init(modules: [PKCS11Module], ownership: Ownership) {
        self.modules = modules
        self.ownership = ownership
    }

    /// Loads and initializes every module registered with p11-kit (`/usr/share/p11-kit/modules`).
    /// Modules that fail to initialize are skipped by p11-kit (they are not critical).
    public static func loadRegistered(logger: Logger = Logger(label: "paysign.pkcs11")) throws -> PKCS11Library {
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
        return PKCS11Library(modules: modules, ownership: .registered(list))
    }

    /// Loads and initializes one module by file path (or a name p11-kit resolves in its module
    /// directory, e.g. `libsofthsm2.so`).
    public static func load(module path: String, logger: Logger = Logger(label: "paysign.pkcs11")) throws -> PKCS11Library {
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
        return PKCS11Library(modules: [module], ownership: .single(pointer))
    }

    /// Every slot with a token, across modules.
    public func slotsWithTokens() async throws -> [PKCS11Slot] {
        var all: [PKCS11Slot] = []
        for module in modules { all += try await module.slots(tokenPresent: true) }
        return all
    }

    /// The one token a URI names. Throws `.tokenNotFound` or `.ambiguousToken` with the candidates.
    public func token(matching uri: PKCS11URI) async throws -> PKCS11Slot {
        if uri.slotID != nil {
            throw PKCS11Error(
                .invalidURI,
                "slot-id changes whenever a token is initialized or replugged; name the token by token=, serial= or model= instead")
        }
        var found: [(PKCS11Slot, TokenInfo)] = []
        for module in modules where uri.matches(module: module.info) {
            for slot in try await module.slots(tokenPresent: true) where uri.matches(slot: slot.info) {
                guard let info = try? await slot.tokenInfo() else { continue }
                if uri.matches(token: info) { found.append((slot, info)) }
            }
        }
        if found.isEmpty {
            throw PKCS11Error(.tokenNotFound, "no token matches \(uri); run 'paysign tokens' to see the tokens present")
        }
        if found.count > 1 {
            let names = found.map { "'\($0.1.label)' (serial \($0.1.serialNumber))" }.joined(separator: ", ")
            throw PKCS11Error(.ambiguousToken, "\(found.count) tokens match \(uri): \(names); add serial= to the URI")
        }
        return found[0].0
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
    /// Module-wide calls (`C_GetSlotList`, `C_GetSlotInfo`) run here; token calls on the slot's thread.
    private let worker: WorkerThread
    private let lock = NSLock()
    private var slotCache: [UInt: PKCS11Slot] = [:]  // guarded by lock

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
