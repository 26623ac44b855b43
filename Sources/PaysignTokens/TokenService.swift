public import Foundation
public import Logging
public import PaysignPKCS11
import PaysignOpenSSL
import Synchronization

/// The tokens paysign can reach: the PKCS#11 modules (all of p11-kit's, or one configured module),
/// and the way to a signer for a key named by URI.
public final class TokenService: Sendable {
    public let library: PKCS11Library
    let logger: Logger
    let clock: @Sendable () -> Date
    /// `keptSigner(for:)`'s signers, by the text of the URI they were asked for.
    private let kept = Mutex<[String: KeptSigner]>([:])

    private struct KeptSigner: Sendable {
        var signer: TokenSigner
        var opened: ContinuousClock.Instant
    }

    /// Which PKCS#11 modules to load.
    public enum Modules: Sendable, Hashable {
        /// Every module registered with p11-kit.
        case registered
        /// One module, by path (or a name p11-kit resolves, e.g. `libsofthsm2.so`).
        case path(String)
    }

    public init(modules: Modules = .registered, logger: Logger = Logger(label: "paysign.tokens"),
                clock: @escaping @Sendable () -> Date = { Date() }) throws {
        switch modules {
        case .registered: library = try PKCS11Library.loadRegistered(logger: logger)
        case .path(let path): library = try PKCS11Library.load(module: path, logger: logger)
        }
        self.logger = logger
        self.clock = clock
    }

    /// Closes every session and finalizes the modules.
    public func close() { library.close() }

    // MARK: Signers kept between requests

    /// How long `keptSigner(for:)` hands out the same signer before reading the token again (so that
    /// a certificate written onto a token that never left its reader is seen within this time).
    public static let keptSignerLifetime: Duration = .seconds(60)
    /// At most this many URIs have a kept signer; the oldest goes first.
    static let keptSignerLimit = 32

    /// A signer for the key a URI names that stays open between calls (the daemon's): the first
    /// call opens a session, finds the key and reads its certificate, as `signer(for:)` does, and
    /// later calls get the same signer, without a session, an object search or a certificate parse.
    /// The certificate's validity is still checked at every signature (`TokenSigner.sign`).
    ///
    /// The session belongs to this service: callers never close it, and they log in, sign and log
    /// out only while they hold the token (PKCS#11 login state is the whole process's, per token).
    /// After a failure with the signer, `discard(_:)` it. A kept signer is also opened again once
    /// its session is invalid (the token was removed or could no longer be read, or its module
    /// was re-initialized to find a lost token: `PKCS11Library.token(matching:)`), and after
    /// `keptSignerLifetime`. A signer
    /// that is no longer kept closes its session when its last user lets it go.
    ///
    /// - Parameter fresh: read the token again even when a kept signer is usable, and keep the
    ///   new signer instead.
    public func keptSigner(for uri: PKCS11URI, fresh: Bool = false) async throws -> TokenSigner {
        try Self.refusePIN(in: uri)
        if !fresh, let signer = keptSignerIfHeld(for: uri) { return signer }
        let name = uri.description
        let opened = try await signer(for: uri)
        let spare = kept.withLock { entries -> TokenSigner? in
            // Another call may have opened one meanwhile: keep a single signer per URI.
            if !fresh, let other = Self.usable(name, in: &entries) { return other }
            if entries[name] == nil, entries.count >= Self.keptSignerLimit,
                let oldest = entries.min(by: { $0.value.opened < $1.value.opened })?.key
            {
                entries[oldest] = nil
            }
            entries[name] = KeptSigner(signer: opened, opened: .now)
            return nil
        }
        guard let spare else { return opened }
        await opened.session.close()  // never logged in, never handed out
        return spare
    }

    /// The kept signer for `uri` when one is held and usable, without touching the token (nil
    /// otherwise: `keptSigner(for:)` then reads the token, or refuses a URI that carries a PIN).
    public func keptSignerIfHeld(for uri: PKCS11URI) -> TokenSigner? {
        guard (try? Self.refusePIN(in: uri)) != nil else { return nil }
        let name = uri.description
        return kept.withLock { Self.usable(name, in: &$0) }
    }

    /// Stops handing out `signer` (after a failure with it: a wrong PIN closed its session, the
    /// token answered an error, the certificate was refused); the next `keptSigner(for:)` reads the
    /// token again. Callers that still hold it see `isUsable` false.
    public func discard(_ signer: TokenSigner) {
        signer.retire()
        kept.withLock { entries in
            for (name, entry) in entries where entry.signer === signer { entries[name] = nil }
        }
    }

    /// The kept signer for `name` if it may still be handed out; a stale or broken one is dropped.
    private static func usable(_ name: String, in entries: inout [String: KeptSigner]) -> TokenSigner? {
        guard let entry = entries[name] else { return nil }
        if entry.signer.isUsable && ContinuousClock.now - entry.opened < keptSignerLifetime { return entry.signer }
        entries[name] = nil
        return nil
    }

    // MARK: Signers of one's own

    /// A signer for the private key a URI names (`pkcs11:token=officer1;id=%01`). The URI must name
    /// a token; without an object attribute the token must hold exactly one key with a certificate.
    /// The caller owns the signer's session and closes it (`keptSigner(for:)` keeps one open).
    public func signer(for uri: PKCS11URI) async throws -> TokenSigner {
        try Self.refusePIN(in: uri)
        let slot = try await library.token(matching: uri)
        let session = try await slot.openSession()
        do {
            // A module re-initialized between the search and the session may number its slots
            // anew: a PIN must never reach a token the URI does not name.
            guard uri.matches(token: session.token) else {
                throw PKCS11Error(.tokenNotFound, "the token \(uri) names was replaced in its slot while it was being opened; retry")
            }
            var objectFilter = uri
            objectFilter.type = nil
            let certificates = try await session.objects(.certificate, matching: objectFilter)
            let publicKeys = try await session.objects(.publicKey, matching: objectFilter)
            // Keys are tied to their certificate by CKA_ID; a public key object shows the key
            // before login (the private key is a private object).
            let paired = publicKeys.compactMap { key -> (ObjectInfo, ObjectInfo)? in
                guard let cert = certificates.first(where: { $0.id == key.id }) else { return nil }
                return (key, cert)
            }
            let tokenURI = PKCS11URI.token(session.token)
            guard !paired.isEmpty else {
                if publicKeys.isEmpty && certificates.isEmpty {
                    throw TokenError(.keyNotFound, "token '\(session.token.label)' holds no key matching \(uri)")
                }
                throw TokenError(.certificateMissing, "token '\(session.token.label)' has no key with a certificate beside it (same CKA_ID) matching \(uri)")
            }
            guard paired.count == 1 else {
                let ids = paired.map { tokenURI.object($0.0).description }.joined(separator: ", ")
                throw TokenError(.keyNotFound, "token '\(session.token.label)' holds \(paired.count) keys matching \(uri): \(ids); add id= to the URI")
            }
            let (key, certObject) = paired[0]
            let certificate: Certificate
            do {
                certificate = try Certificate(derEncoded: certObject.value ?? [])
            } catch {
                throw TokenError(.certificateUnusable, "the certificate beside key \(Hex.string(key.id)) on token '\(session.token.label)' cannot be read: \(error)")
            }
            var keyURI = tokenURI.object(key)
            keyURI.type = .privateKey
            return TokenSigner(session: session, keyURI: keyURI, certificate: certificate, keyType: key.keyType ?? .other, publicKey: key, clock: clock)
        } catch {
            await session.close()
            throw error
        }
    }

    // MARK: What a token holds, read without a login

    /// A token's serial and label, its certificates (DER) and the SubjectPublicKeyInfo of each of
    /// its public keys: the public objects, read without a login (registering a token, and
    /// checking at issuance that a request's key is on the holder's token).
    public struct Contents: Sendable {
        public var serial: String
        public var label: String
        public var certificates: [[UInt8]]
        public var publicKeys: [[UInt8]]
    }

    public func contents(of uri: PKCS11URI) async throws -> Contents {
        let slot = try await library.token(matching: uri)
        let session = try await slot.openSession()
        defer { Task { await session.close() } }
        let certificates = try await session.objects(.certificate).compactMap(\.value)
        var keys: [[UInt8]] = []
        for key in try await session.objects(.publicKey) {
            if let spki = try? await session.subjectPublicKeyInfo(of: key) { keys.append(spki) }
        }
        return Contents(serial: session.token.serialNumber, label: session.token.label, certificates: certificates, publicKeys: keys)
    }

    private static func refusePIN(in uri: PKCS11URI) throws {
        if uri.pinValue != nil || uri.pinSource != nil {
            throw TokenError(.pinInURI, "the URI carries a PIN (pin-value or pin-source); paysign takes PINs only from the prompt or a file descriptor (rule D5)")
        }
    }
}
