public import Foundation
import Logging
public import PaysignPKCS11
import PaysignOpenSSL
public import PaysignPCSC

/// What `paysign tokens` shows: tokens with their certificates, keys, URIs and PIN state, and
/// PC/SC readers with their cards. Stable JSON field names (documented in the README).
public struct Inventory: Codable, Sendable {
    public var modules: [ModuleInfo]
    public var tokens: [Token]
    /// Nil when PC/SC was not asked for or could not be reached (then `readersError` says why).
    public var readers: [Reader]?
    public var readersError: String?

    public struct Token: Codable, Sendable {
        public var module: String
        public var slotDescription: String
        public var label: String
        public var manufacturer: String
        public var model: String
        public var serial: String
        public var uri: PKCS11URI
        public var pinState: PINState
        public var pinPad: Bool
        public var loginRequired: Bool
        /// The PC/SC reader this token sits in, when the module names it in the slot description.
        public var reader: String?
        public var certificates: [CertificateEntry]
        public var keys: [KeyEntry]
        /// Set when the token could not be read completely.
        public var error: String?
    }

    public struct CertificateEntry: Codable, Sendable {
        public var uri: PKCS11URI
        public var id: String
        public var subject: String
        public var issuer: String
        public var serial: String
        public var notBefore: Date
        public var notAfter: Date
        /// `valid`, `expired` or `not-yet-valid` at the time of listing.
        public var validity: String
        public var keyAlgorithm: String
        public var keyBits: Int
        public var sha256: String
    }

    public struct KeyEntry: Codable, Sendable {
        /// URI of the private key (`type=private`), the one to sign with.
        public var uri: PKCS11URI
        public var id: String
        public var label: String
        public var type: String
        public var bits: Int?
        /// True when a certificate with the same `CKA_ID` is on the token.
        public var hasCertificate: Bool
        /// The signature paysign makes with this key by default (`rsa-pkcs1-sha256`,
        /// `ecdsa-sha256`), the token's mechanism for it (`CKM_SHA256_RSA_PKCS`, or nil when the
        /// token offers none), and why (issue 21).
        public var algorithm: String?
        public var mechanism: String?
        public var mechanismReason: String?
    }

    public struct Reader: Codable, Sendable {
        public var name: String
        public var cardPresent: Bool
        public var atr: String?
        /// Labels of the PKCS#11 tokens matched to this reader.
        public var tokens: [String]

        public init(name: String, cardPresent: Bool, atr: String?, tokens: [String]) {
            self.name = name
            self.cardPresent = cardPresent
            self.atr = atr
            self.tokens = tokens
        }
    }
}

extension TokenService {
    /// Builds the inventory. Tokens whose `CK_TOKEN_INFO` says they are not initialized are left
    /// out, and so is p11-kit's trust store (its "tokens" are CA lists, not signing tokens) unless
    /// `includeTrustModules` is set. PC/SC is read when `readers` is true; a missing pcscd is
    /// reported in `readersError`, never as a crash or a hang.
    public func inventory(readers wantReaders: Bool = true, includeTrustModules: Bool = false) async -> Inventory {
        var tokens: [Inventory.Token] = []
        let now = clock()
        for module in library.modules {
            if !includeTrustModules && module.info.name == "p11-kit-trust" { continue }
            let slots: [PKCS11Slot]
            do { slots = try await module.slots(tokenPresent: true) } catch {
                logger.warning("module \(module.info.name) did not list its slots: \(error)")
                continue
            }
            for slot in slots {
                guard let info = try? await slot.tokenInfo(), info.initialized else { continue }
                tokens.append(await describe(slot: slot, info: info, module: module.info, now: now))
            }
        }
        var inventory = Inventory(modules: library.modules.map(\.info), tokens: tokens)
        guard wantReaders else { return inventory }
        do {
            inventory.attach(readers: try PCSC.readers())
        } catch {
            inventory.readersError = "\(error)"
        }
        return inventory
    }

    private func describe(slot: PKCS11Slot, info: TokenInfo, module: ModuleInfo, now: Date) async -> Inventory.Token {
        let tokenURI = PKCS11URI.token(info)
        var token = Inventory.Token(
            module: module.name, slotDescription: slot.info.slotDescription, label: info.label,
            manufacturer: info.manufacturer, model: info.model, serial: info.serialNumber, uri: tokenURI,
            pinState: info.pinState, pinPad: info.protectedAuthenticationPath, loginRequired: info.loginRequired,
            reader: nil, certificates: [], keys: [])
        let session: PKCS11Session
        do { session = try await slot.openSession() } catch {
            token.error = "\(error)"
            return token
        }
        let mechanisms = try? await slot.mechanisms()
        do {
            let certs = try await session.objects(.certificate)
            let keys = try await session.objects(.publicKey)
            for object in certs {
                guard let der = object.value, let cert = try? Certificate(derEncoded: der) else { continue }
                let validity: String
                switch cert.validity(at: now) {
                case .valid: validity = "valid"
                case .expired: validity = "expired"
                case .notYetValid: validity = "not-yet-valid"
                }
                token.certificates.append(
                    Inventory.CertificateEntry(
                        uri: tokenURI.object(object), id: Hex.string(object.id), subject: cert.subject,
                        issuer: cert.issuer, serial: cert.serialNumber, notBefore: cert.notBefore,
                        notAfter: cert.notAfter, validity: validity, keyAlgorithm: cert.keyAlgorithm.rawValue,
                        keyBits: cert.keyBits, sha256: Hex.string(cert.sha256Fingerprint)))
            }
            for key in keys {
                var uri = tokenURI.object(key)
                uri.type = .privateKey
                let bits = keyBits(key)
                let algorithm = key.keyType.flatMap(SignatureAlgorithm.default(for:))
                let choice = algorithm.map { MechanismChoice.choose($0, keyBits: bits, offered: mechanisms) }
                token.keys.append(
                    Inventory.KeyEntry(
                        uri: uri, id: Hex.string(key.id), label: key.label,
                        type: key.keyType?.rawValue ?? "other", bits: bits,
                        hasCertificate: certs.contains { $0.id == key.id }, algorithm: algorithm?.rawValue,
                        mechanism: choice?.mechanism?.ckName, mechanismReason: choice?.reason))
            }
        } catch {
            token.error = "\(error)"
        }
        await session.close()
        return token
    }
}

extension Inventory {
    /// Adds the PC/SC readers: a token whose slot description names a reader is tied to it, and
    /// each reader lists the tokens tied to it.
    public mutating func attach(readers states: [ReaderState]) {
        let names = states.map(\.name)
        for i in tokens.indices where tokens[i].reader == nil {
            tokens[i].reader = ReaderMatching.reader(forSlotDescription: tokens[i].slotDescription, among: names)
        }
        let tokens = self.tokens
        readers = states.map { state in
            Reader(name: state.name, cardPresent: state.cardPresent, atr: state.atr.map(Hex.string),
                   tokens: tokens.filter { $0.reader == state.name }.map(\.label))
        }
    }
}

/// Matches PC/SC readers to PKCS#11 slots. Modules for smart cards (OpenSC) put the reader's name
/// in the slot description; other tokens (SoftHSM standing in for a card) are bound to a reader by
/// configuration.
public enum ReaderMatching {
    /// The reader whose name the slot description carries, if exactly one does.
    public static func reader(forSlotDescription description: String, among readers: [String]) -> String? {
        let hits = readers.filter { !$0.isEmpty && description.hasPrefix($0) }
        return hits.max(by: { $0.count < $1.count })
    }
}
