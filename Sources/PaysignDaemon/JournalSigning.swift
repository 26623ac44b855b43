import Foundation
import PaysignApplication
import Logging
import PaysignDomain
import PaysignOpenSSL
import PaysignPKCS11
import PaysignStore
import PaysignTokens
import ServiceLifecycle
import Synchronization
import PaysignSecrets

/// Signs the head of the audit journal on a designated token, so that a later rewrite of the
/// whole file is detectable: on demand (`POST /v1/audit/head-signatures`, with the token's PIN),
/// and then every `interval` while that login lasts. The PIN is used for one `C_Login` and let go
/// (rule D5); the logged-in session is what the periodic signatures use.
final class JournalSigner: Service, Sendable {
    let registry: Registry
    let tokens: TokenService
    let interval: Duration?
    let logger: Logger
    let bus: EventBus?
    /// The only token that may sign heads; nil: head signing is off.
    let designated: PKCS11URI?
    /// Fingerprints of the certificates whose head signatures count.
    let pinned: Set<String>
    private let current = Mutex<(signer: TokenSigner, lastSeq: Int64)?>(nil)

    init(registry: Registry, tokens: TokenService, interval: Duration?, logger: Logger, bus: EventBus? = nil,
         designated: PKCS11URI?, pinned: Set<String>) {
        self.bus = bus
        self.designated = designated
        self.pinned = pinned
        self.registry = registry
        self.tokens = tokens
        self.interval = interval
        self.logger = logger
    }

    /// Logs in to the designated token, signs the current head and records the signature. A URI
    /// in the request must name that same token: no other token's PIN tries can be spent here.
    func signNow(uri requested: PKCS11URI?, pin: PIN, confirmFinalTry: Bool, by actor: AuditActor) async throws -> HeadSignature {
        guard let designated else {
            throw Problem(.unavailable, "no token is designated to sign the journal (journal-signing-token in the configuration)")
        }
        if let requested {
            let mine = try await tokens.library.token(matching: designated)
            let theirs = try await tokens.library.token(matching: requested)
            guard mine === theirs else {
                throw Problem(.notAuthorized, "\(requested) is not the journal-signing token; only \(designated) signs the journal", rule: .d5)
            }
        }
        let signer = try await tokens.signer(for: designated)
        try await TokenLogin.login(signer, pin: pin, confirmFinalTry: confirmFinalTry, by: actor, registry: registry, bus: bus)
        let signature = try await sign(with: signer, by: actor)
        let previous = current.withLock { old -> TokenSigner? in
            defer { old = (signer, signature.seq) }
            return old?.signer
        }
        if let previous, previous !== signer { await previous.session.close() }
        return signature
    }

    private func sign(with signer: TokenSigner, by actor: AuditActor) async throws -> HeadSignature {
        let head = try await registry.journalHead()
        let made = try await signer.sign(head.signingInput)
        return try await registry.recordHeadSignature(
            seq: head.seq, hash: head.hash, signature: made.bytes, certificateDER: signer.certificate.derEncoded,
            algorithm: made.algorithm.rawValue, by: actor)
    }

    /// Re-signs the head every `interval` when it moved, while the designated token stays logged in.
    func run() async throws {
        guard let interval else {
            // Nothing periodic to do; a service that returns would end the whole group.
            try? await gracefulShutdown()
            return
        }
        try await untilShutdown {
            while true {
                try await Task.sleep(for: interval)
                guard let (signer, lastSeq) = self.current.withLock({ $0 }) else { continue }
                do {
                    let head = try await self.registry.journalHead()
                    guard head.seq > lastSeq + 1 else { continue }  // only its own head-signed entry since
                    let signature = try await self.sign(with: signer, by: .daemon)
                    self.current.withLock { if $0?.signer === signer { $0?.lastSeq = signature.seq } }
                    self.logger.info("journal head \(signature.seq) signed on token '\(signer.session.token.label)'")
                } catch {
                    self.logger.warning("could not sign the journal head (\(error)); sign it on demand to resume")
                    // Only if no newer designation replaced this signer meanwhile.
                    let dropped = self.current.withLock { current -> Bool in
                        guard current?.signer === signer else { return false }
                        current = nil
                        return true
                    }
                    if dropped { await signer.session.close() }
                }
            }
        }
    }

    /// Checks every stored head signature: its certificate must be pinned in the configuration
    /// (when any is) and its bytes must verify. Returns how many there are, the bad ones, and the
    /// newest good one, so a missing or stale signature shows too.
    func badHeadSignatures() async throws -> (count: Int, bad: [Int64], newest: Int64?) {
        let signatures = try await registry.headSignatures()
        var bad: [Int64] = []
        var newest: Int64?
        for signature in signatures {
            let valid: Bool
            if !pinned.isEmpty && !pinned.contains(signature.certificateSHA256.hex) {
                valid = false
            } else if let certificate = try? Certificate(derEncoded: signature.certificateDER),
                let scheme = SignatureScheme(rawValue: signature.algorithm)
            {
                valid = (try? certificate.verify(signature: signature.signature, over: signature.signingInput, scheme: scheme)) ?? false
            } else {
                valid = false
            }
            if !valid { bad.append(signature.seq) } else { newest = max(newest ?? 0, signature.seq) }
        }
        return (signatures.count, bad, newest)
    }
}
