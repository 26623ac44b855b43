public import Foundation
public import Logging
public import PaysignPKCS11
import PaysignOpenSSL

/// The tokens paysign can reach: the PKCS#11 modules (all of p11-kit's, or one configured module),
/// and the way to a signer for a key named by URI.
public final class TokenService: Sendable {
    public let library: PKCS11Library
    let logger: Logger
    let clock: @Sendable () -> Date

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

    /// A signer for the private key a URI names (`pkcs11:token=officer1;id=%01`). The URI must name
    /// a token; without an object attribute the token must hold exactly one key with a certificate.
    public func signer(for uri: PKCS11URI) async throws -> TokenSigner {
        if uri.pinValue != nil || uri.pinSource != nil {
            throw TokenError(.pinInURI, "the URI carries a PIN (pin-value or pin-source); paysign takes PINs only from the prompt or a file descriptor (rule D5)")
        }
        let slot = try await library.token(matching: uri)
        let session = try await slot.openSession()
        do {
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
}
