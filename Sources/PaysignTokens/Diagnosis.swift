public import Foundation
public import PaysignPKCS11
import PaysignOpenSSL

/// What a helpdesk needs to know about the tokens of a machine (`paysign tokens --local
/// --diagnose`, issue 21): the modules p11-kit loaded and the registered ones it did not, each
/// slot and token with their flags and PIN limits, the mechanisms with their key sizes and flags,
/// the objects visible without a login (certificates, public keys: never a secret, and no login is
/// made), and the mechanism paysign would use for each key and why.
public struct Diagnosis: Codable, Sendable {
    public var generatedAt: Date
    public var modules: [ModuleInfo]
    /// Modules registered with p11-kit (its `.module` files) that are not among `modules`.
    public var notLoaded: [NotLoaded]
    public var slots: [Slot]

    public struct NotLoaded: Codable, Sendable, Hashable {
        /// The p11-kit configuration file that registers it.
        public var file: String
        public var module: String
        public var reason: String
    }

    public struct Slot: Codable, Sendable {
        public var module: String
        public var slotID: UInt
        public var description: String
        public var manufacturer: String
        /// `token-present`, `removable-device`, `hardware-slot`.
        public var flags: [String]
        public var token: Token?
        public var mechanisms: [Mechanism]
        public var mechanismsError: String?
        public var objects: [Object]
        public var objectsError: String?
        public var keys: [Key]
    }

    public struct Token: Codable, Sendable {
        public var label: String
        public var manufacturer: String
        public var model: String
        public var serial: String
        public var uri: PKCS11URI
        /// `token-initialized`, `login-required`, `protected-authentication-path`,
        /// `write-protected`, and the PIN's state.
        public var flags: [String]
        public var pinState: String
        public var minPINLength: UInt?
        public var maxPINLength: UInt?
    }

    public struct Mechanism: Codable, Sendable, Hashable {
        public var name: String
        public var type: String
        public var minKeySize: UInt
        public var maxKeySize: UInt
        /// `sign`, `verify`, `encrypt`, `decrypt`, `digest`, `derive`, `wrap`, `unwrap`,
        /// `generate`, `generate-key-pair`, `hardware`, `ec-named-curve`, …
        public var flags: [String]
    }

    public struct Object: Codable, Sendable {
        /// `certificate` or `public-key` (private keys are seen only after a login).
        public var objectClass: String
        public var id: String
        public var label: String
        public var keyType: String?
        public var bits: Int?
        public var subject: String?
        public var issuer: String?
        public var serial: String?
        public var notAfter: Date?
    }

    public struct Key: Codable, Sendable {
        public var id: String
        public var label: String
        public var algorithm: String?
        public var mechanism: String?
        public var reason: String
    }
}

extension TokenService {
    /// The support report; `token` limits it to the slots whose token matches.
    public func diagnosis(token uri: PKCS11URI? = nil) async -> Diagnosis {
        var slots: [Diagnosis.Slot] = []
        for module in library.modules {
            if let uri, !uri.matches(module: module.info) { continue }
            guard let found = try? await module.slots(tokenPresent: false) else { continue }
            for slot in found {
                let info = try? await slot.tokenInfo()
                if let uri {
                    guard let info, uri.matches(slot: slot.info), uri.matches(token: info) else { continue }
                }
                slots.append(await diagnose(slot, info: info))
            }
        }
        return Diagnosis(
            generatedAt: clock(), modules: library.modules.map(\.info),
            notLoaded: uri == nil ? Self.registeredButNotLoaded(loaded: library.modules.map(\.info)) : [], slots: slots)
    }

    private func diagnose(_ slot: PKCS11Slot, info: TokenInfo?) async -> Diagnosis.Slot {
        var flags: [String] = []
        if slot.info.tokenPresent { flags.append("token-present") }
        if slot.info.removableDevice { flags.append("removable-device") }
        if slot.info.hardwareSlot { flags.append("hardware-slot") }
        var report = Diagnosis.Slot(
            module: slot.module.info.name, slotID: slot.slotID, description: slot.info.slotDescription,
            manufacturer: slot.info.manufacturer, flags: flags, token: nil, mechanisms: [], objects: [], keys: [])
        guard let info else { return report }
        var tokenFlags: [String] = []
        if info.initialized { tokenFlags.append("token-initialized") }
        if info.loginRequired { tokenFlags.append("login-required") }
        if info.protectedAuthenticationPath { tokenFlags.append("protected-authentication-path") }
        if info.writeProtected { tokenFlags.append("write-protected") }
        report.token = Diagnosis.Token(
            label: info.label, manufacturer: info.manufacturer, model: info.model, serial: info.serialNumber,
            uri: PKCS11URI.token(info), flags: tokenFlags, pinState: info.pinState.summary,
            minPINLength: info.minPINLength, maxPINLength: info.maxPINLength)
        var offered: [UInt: MechanismInfo]?
        do {
            let mechanisms = try await slot.mechanisms()
            offered = mechanisms
            report.mechanisms = mechanisms.values.sorted { $0.type < $1.type }.map {
                Diagnosis.Mechanism(
                    name: MechanismNames.name($0.type), type: "0x" + String($0.type, radix: 16, uppercase: true),
                    minKeySize: $0.minKeySize, maxKeySize: $0.maxKeySize, flags: MechanismNames.flags($0.flags))
            }
        } catch {
            report.mechanismsError = "\(error)"
        }
        guard info.initialized else { return report }
        let session: PKCS11Session
        do { session = try await slot.openSession() } catch {
            report.objectsError = "\(error)"
            return report
        }
        do {
            for object in try await session.objects(.certificate) {
                var entry = Diagnosis.Object(objectClass: "certificate", id: Hex.string(object.id), label: object.label)
                if let der = object.value, let certificate = try? Certificate(derEncoded: der) {
                    entry.subject = certificate.subject
                    entry.issuer = certificate.issuer
                    entry.serial = certificate.serialNumber
                    entry.notAfter = certificate.notAfter
                    entry.keyType = certificate.keyAlgorithm.rawValue
                    entry.bits = certificate.keyBits
                }
                report.objects.append(entry)
            }
            for key in try await session.objects(.publicKey) {
                let bits = keyBits(key)
                report.objects.append(Diagnosis.Object(
                    objectClass: "public-key", id: Hex.string(key.id), label: key.label, keyType: key.keyType?.rawValue, bits: bits))
                let algorithm = key.keyType.flatMap(SignatureAlgorithm.default(for:))
                let choice = algorithm.map { MechanismChoice.choose($0, keyBits: bits, offered: offered) }
                report.keys.append(Diagnosis.Key(
                    id: Hex.string(key.id), label: key.label, algorithm: algorithm?.rawValue, mechanism: choice?.mechanism?.ckName,
                    reason: choice?.reason ?? "a \(key.keyType?.rawValue ?? "unknown") key: paysign signs with RSA and EC keys only"))
            }
        } catch {
            report.objectsError = "\(error)"
        }
        await session.close()
        return report
    }

    /// The modules p11-kit's configuration registers (`/usr/share/p11-kit/modules`,
    /// `/etc/pkcs11/modules`) that are not loaded, and why as far as can be told without loading.
    static func registeredButNotLoaded(loaded: [ModuleInfo]) -> [Diagnosis.NotLoaded] {
        var result: [Diagnosis.NotLoaded] = []
        let loadedPaths = Set(loaded.map(\.path))
        let loadedNames = Set(loaded.map(\.name))
        for directory in ["/usr/share/p11-kit/modules", "/etc/pkcs11/modules"] {
            guard let files = try? FileManager.default.contentsOfDirectory(atPath: directory) else { continue }
            for file in files.sorted() where file.hasSuffix(".module") {
                let path = directory + "/" + file
                let name = String(file.dropLast(".module".count))
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
                var library: String?
                var disabled = false
                for line in text.split(separator: "\n") {
                    let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    guard parts.count == 2 else { continue }
                    if parts[0] == "module" { library = parts[1] }
                    if parts[0] == "disable-in" || (parts[0] == "enable-in" && !parts[1].contains("paysign")) { disabled = true }
                }
                guard let library, !loadedNames.contains(name) else { continue }
                let full = library.hasPrefix("/") ? library : "/usr/lib/x86_64-linux-gnu/pkcs11/" + library
                if loadedPaths.contains(full) || loadedPaths.contains(library) { continue }
                let reason: String
                if disabled {
                    reason = "its configuration enables it only in some programs (enable-in/disable-in)"
                } else if library.hasPrefix("/") && !FileManager.default.fileExists(atPath: library) {
                    reason = "its library \(library) does not exist"
                } else {
                    reason = "p11-kit skipped it: it failed to load or initialize (p11-kit list-modules shows its message)"
                }
                result.append(Diagnosis.NotLoaded(file: path, module: library, reason: reason))
            }
        }
        return result
    }
}
