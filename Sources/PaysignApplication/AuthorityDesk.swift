public import Foundation
public import Logging
public import PaysignDomain
public import PaysignOpenSSL
public import PaysignPKCS11
public import PaysignStore
public import PaysignTokens
import Synchronization
public import PaysignSecrets

/// The certification authority's side of the daemon (D6): the token lifecycle, holders leaving
/// (clearance, death notices, retirement), revocation lists signed on the authority's own token,
/// and CRLs imported from the authority, verified against the trust anchors and applied at once.
public final class AuthorityDesk: Sendable {
    /// The registry; the edge reads callers and idempotency records from it, never a rule.
    public let registry: Registry
    let tokens: TokenService
    let bus: EventBus
    let logger: Logger
    /// The authority's token; nil: this daemon is not the authority (it only imports CRLs).
    let authorityToken: PKCS11URI?
    public let anchors: [Certificate]
    let nextUpdateDays: Int
    public let clock: @Sendable () -> Date
    /// The zone whose calendar days the holders report counts (the configured one).
    public let timeZone: TimeZone
    /// After how many days without a signature a holder is dormant (D4); how many days before a
    /// retirement date a token is due for surrender (D6).
    public let reportDays: (dormant: Int, retirementWarning: Int)
    /// Called with a token serial whose certificates were just revoked: drop any cached login.
    let onRevoked: @Sendable (String) -> Void
    /// The revocation lists held, parsed once (refreshed when one is issued or imported).
    private let held = Mutex<[RevocationList]>([])
    /// One login-sign-logout at a time on the authority's token (login state is per token for the
    /// whole process), and one CRL number handed out at a time.
    private let authorityLock = KeyedLock()

    public init(
        registry: Registry, tokens: TokenService, bus: EventBus, logger: Logger, authorityToken: PKCS11URI?,
        anchors: [Certificate], nextUpdateDays: Int, timeZone: TimeZone = .gmt, dormantDays: Int = 90,
        retirementWarningDays: Int = 180, clock: @escaping @Sendable () -> Date = { Date() },
        onRevoked: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.timeZone = timeZone
        self.reportDays = (dormantDays, retirementWarningDays)
        self.registry = registry
        self.tokens = tokens
        self.bus = bus
        self.logger = logger
        self.authorityToken = authorityToken
        self.anchors = anchors
        self.nextUpdateDays = nextUpdateDays
        self.clock = clock
        self.onRevoked = onRevoked
    }

    // MARK: Revocation lists held

    /// Loads the newest list of each issuer from the registry (at start-up).
    public func loadHeld() async {
        do {
            let lists = try await registry.latestCRLs().map { try RevocationList(derEncoded: $0.derEncoded) }
            held.withLock { $0 = lists }
        } catch {
            logger.error("cannot load the revocation lists held: \(error)")
        }
    }

    /// The CRL entry revoking `certificate`, if a held list from its issuer names it (D6).
    public func revocation(of certificate: Certificate) -> RevokedEntry? {
        held.withLock { lists in
            for list in lists where list.issuer == certificate.issuer {
                if let entry = list.entry(for: certificate.serialNumber) { return entry }
            }
            return nil
        }
    }

    private func hold(_ list: RevocationList) {
        held.withLock { lists in
            lists.removeAll { $0.issuer == list.issuer && $0.authorityKeyIdentifier == list.authorityKeyIdentifier }
            lists.append(list)
        }
    }

    // MARK: Issuing a CRL on the authority's token

    public struct IssuedCRL: Codable, Sendable {
        public var number: String
        public var issuer: String
        public var thisUpdate: Date
        public var nextUpdate: Date?
        public var entries: Int
        public var sha256: String
    }

    public func issueCRL(pin: PIN, confirmFinalTry: Bool, caller: Caller) async throws -> IssuedCRL {
        guard let authorityToken else {
            throw UseCaseError(.unavailable, "this daemon is not the certification authority: no authority-token in its configuration")
        }
        let signer: TokenSigner
        do { signer = try await tokens.signer(for: authorityToken) } catch {
            throw TokenFailures.error(for: error, otherwise: UseCaseError(.tokenFailed, "\(error)"))
        }
        defer { Task { await signer.session.close() } }
        let authority = signer.certificate
        guard let keyID = authority.subjectKeyIdentifier.map(Hex.string) else {
            throw UseCaseError(.internalError, "the authority's certificate has no subject key identifier")
        }
        return try await authorityLock.withLock("authority") {
            do {
                try await TokenLogin.login(signer, pin: pin, confirmFinalTry: confirmFinalTry, by: caller.actor, registry: registry, bus: bus)
            } catch {
                throw TokenFailures.error(for: error, otherwise: UseCaseError(.tokenFailed, "\(error)"))
            }
            // Logged out inside the lock, never after it: a late logout would end the next login.
            do {
                let issued = try await signCRL(signer: signer, authority: authority, keyID: keyID, caller: caller)
                try? await signer.session.logout()
                return issued
            } catch {
                try? await signer.session.logout()
                throw error
            }
        }
    }

    /// Numbers, builds, signs and records a CRL; runs under `authorityLock`, logged in.
    private func signCRL(signer: TokenSigner, authority: Certificate, keyID: String, caller: Caller) async throws -> IssuedCRL {
        let now = clock()
        let number = try await registry.nextCRLNumber(issuerKeyID: keyID)
        let revoked = try await registry.revokedCertificates()
        let entries = revoked.compactMap { item -> RevokedEntry? in
            guard let serial = Self.bytes(hex: item.serialHex) else { return nil }
            let code = item.revocation.reason.code
            return RevokedEntry(
                serialNumber: serial, revocationDate: item.revocation.at, reason: code == 0 ? nil : code,
                invalidityDate: item.revocation.invalidityDate)
        }
        let list: RevocationList
        do {
            list = try await RevocationList.make(
                issuer: authority, number: number, thisUpdate: now, nextUpdate: now.addingTimeInterval(Double(nextUpdateDays) * 86_400),
                entries: entries, scheme: (SignatureAlgorithm.default(for: signer.keyType) ?? .rsaPKCS1SHA256).scheme
            ) { tbs in
                try await signer.signAsAuthority(tbs, usage: .cRLSign, at: now).signature
            }
        } catch {
            throw TokenFailures.error(for: error, otherwise: UseCaseError(.tokenFailed, "the revocation list could not be signed: \(error)"))
        }
        guard list.isSigned(by: authority) else {
            throw UseCaseError(.tokenFailed, "the token's signature over the revocation list does not verify with the authority's certificate")
        }
        let stored = try await withStore {
            try await registry.recordCRL(
                issuerKeyID: keyID, issuer: list.issuer, number: String(number, radix: 16, uppercase: true), thisUpdate: list.thisUpdate,
                nextUpdate: list.nextUpdate, derEncoded: list.derEncoded, entries: list.entries.count, source: .issued, by: caller.actor)
        }
        hold(list)
        bus.publish(DaemonEvent(type: "crl-issued", detail: ["number": stored.number, "entries": String(list.entries.count)]))
        return IssuedCRL(
            number: stored.number, issuer: list.issuer, thisUpdate: list.thisUpdate, nextUpdate: list.nextUpdate,
            entries: list.entries.count, sha256: stored.sha256.hex)
    }

    static func bytes(hex: String) -> [UInt8]? {
        var text = hex
        if text.count % 2 == 1 { text = "0" + text }
        var out: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            out.append(byte)
            index = next
        }
        return out.isEmpty ? nil : out
    }

    // MARK: Importing a CRL

    /// Verifies a CRL against the trust anchors and applies it: refused (held list unchanged)
    /// when malformed, signed by no anchor, past its nextUpdate, or not newer than the held one.
    func importCRL(_ bytes: [UInt8], by actor: AuditActor) async throws -> IssuedCRL {
        let list: RevocationList
        do {
            if let text = String(validating: bytes, as: UTF8.self), text.contains("-----BEGIN X509 CRL-----") {
                list = try RevocationList(pemEncoded: text)
            } else {
                list = try RevocationList(derEncoded: bytes)
            }
        } catch {
            throw UseCaseError(.invalidField, "this is not an X.509 revocation list (DER or PEM): \(error)")
        }
        guard let anchor = anchors.first(where: { $0.subject == list.issuer && list.isSigned(by: $0) }) else {
            let names = anchors.isEmpty ? "none are configured (trust-anchors)" : anchors.map(\.subject).joined(separator: "; ")
            throw UseCaseError(.invalidField, "the revocation list from \(list.issuer) is not signed by a trusted authority; trust anchors: \(names)", rule: .d6)
        }
        let now = clock()
        if let next = list.nextUpdate, next < now {
            throw UseCaseError(.invalidField, "the revocation list expired: its nextUpdate, \(next.formatted(Date.ISO8601FormatStyle())), has passed; ask the authority for the current one")
        }
        guard let number = list.crlNumber, !number.isEmpty else {
            throw UseCaseError(.invalidField, "the revocation list has no CRL number; paysign cannot tell whether it is newer than the one held")
        }
        let keyID = (list.authorityKeyIdentifier ?? anchor.subjectKeyIdentifier).map(Hex.string) ?? Hex.string(anchor.sha256Fingerprint)
        let stored = try await withStore {
            try await registry.recordCRL(
                issuerKeyID: keyID, issuer: list.issuer, number: Hex.string(number).uppercased(), thisUpdate: list.thisUpdate,
                nextUpdate: list.nextUpdate, derEncoded: list.derEncoded, entries: list.entries.count, source: .imported, by: actor)
        }
        hold(list)
        await applyImported(list, number: stored.number, by: actor)
        bus.publish(DaemonEvent(type: "crl-imported", detail: ["number": stored.number, "entries": String(list.entries.count)]))
        return IssuedCRL(
            number: stored.number, issuer: list.issuer, thisUpdate: list.thisUpdate, nextUpdate: list.nextUpdate,
            entries: list.entries.count, sha256: stored.sha256.hex)
    }

    /// Registered tokens whose certificate the list revokes are revoked in this daemon's registry
    /// too (cause `other`, the list's number, reason and invalidity date in the note), journaled
    /// and announced, and their cached logins dropped: from now on their signatures are refused
    /// (`revocation(of:)`), and the holders report shows them revoked (D6).
    private func applyImported(_ list: RevocationList, number: String, by actor: AuditActor) async {
        guard let tokens = try? await registry.tokens() else { return }
        for token in tokens {
            // An entry names a certificate by its issuer and serial together (RFC 5280, 5.3): a
            // certificate of another issuer with a colliding serial is not revoked by this list.
            guard let entry = token.certificates.lazy.compactMap({ registered -> RevokedEntry? in
                guard let issuer = try? Certificate(derEncoded: registered.derEncoded).issuer, issuer == list.issuer else { return nil }
                return list.entry(for: registered.serialHex)
            }).first else { continue }
            onRevoked(token.serial)
            guard !token.state.isFinal else { continue }
            let note = "revoked on the certification authority's revocation list \(number) (reason \(entry.reasonName ?? "unspecified"))"
            if let changed = try? await registry.transitionToken(
                id: token.id, action: .revoke, cause: .other, invalidityDate: entry.invalidityDate, note: note, by: actor)
            {
                announce(changed)
            }
        }
    }

    /// A token that left the active state: its cached logins go, and /v1/events hears of it.
    public func announce(_ token: TokenRecord) {
        if token.state != .active { onRevoked(token.serial) }
        bus.publish(DaemonEvent(type: "token-state-changed", detail: ["serial": token.serial, "state": token.state.rawValue]))
    }

    // MARK: Token lifecycle and holders

    public func transition(serial: String, action: TokenAction, cause: RevocationCause?, invalidityDate: Date?, note: String?, caller: Caller) async throws -> TokenRecord {
        guard let token = try await registry.token(serial: serial) else {
            throw UseCaseError(.notFound, "no registered token has the serial \(serial)")
        }
        do {
            let changed = try await registry.transitionToken(
                id: token.id, action: action, cause: cause, invalidityDate: invalidityDate, note: note, by: caller.actor,
                decide: caller.decision([.certificationAuthority], doing: "the token's \(action.rawValue)", rule: .d6))
            announce(changed)
            return changed
        } catch let refusal as RuleRefusal {
            throw await refuse(caller, UseCaseError(refusal))
        } catch let error as StoreError where error.code == .wrongState || error.code == .invalidField {
            throw await refuse(caller, UseCaseError(error))
        } catch let error as StoreError {
            throw UseCaseError(error)
        }
    }
}

// MARK: - Issuing certificates (a key made on the holder's token)

extension AuthorityDesk {
    public struct IssuedCertificate: Codable, Sendable {
        public var holder: String
        public var subject: String
        public var serial: String
        public var sha256: String
        public var notBefore: Date
        public var notAfter: Date
        public var pem: String
        /// The holder's token the key is on, now registered to the holder as `issued`.
        public var token: IssuedToken
    }

    public struct IssuedToken: Codable, Sendable {
        public var serial: String
        public var label: String
        public var state: String
    }

    /// The holder's token as the authority sees it at issuance: its serial, label, and the
    /// SubjectPublicKeyInfo of every public key on it (read without a login: public objects).
    private func holderToken(_ uri: PKCS11URI) async throws -> (serial: String, label: String, keys: [[UInt8]]) {
        do {
            let contents = try await tokens.contents(of: uri)
            return (contents.serial, contents.label, contents.publicKeys)
        } catch {
            throw TokenFailures.error(for: error, otherwise: UseCaseError(.tokenFailed, "the holder's token could not be read: \(error)"))
        }
    }

    /// What an issuance starts from, every rule checked: the request, the holder and their role
    /// and entity, the holder's token.
    private struct Issuance {
        var request: CertificateRequest
        var op: Operator
        var role: Role
        var entity: Entity
        var token: (serial: String, label: String, keys: [[UInt8]])
    }

    /// The checks before the authority's token is touched; each refusal is a `UseCaseError` naming its rule.
    private func issuance(request pem: String, holder user: String, holderToken tokenURI: PKCS11URI) async throws -> Issuance {
        let request: CertificateRequest
        do { request = try CertificateRequest(pemEncoded: pem) } catch {
            throw UseCaseError(.invalidField, "csr is not a PEM certification request (PKCS #10): \(error)")
        }
        guard request.verifySelfSignature() else {
            throw UseCaseError(.invalidField, "the certification request is not signed by the key it carries; make it on the holder's token (paysign token request)", rule: .d5)
        }
        guard let op = try await registry.operator(unixUser: user) else { throw UseCaseError(.notFound, "\(user) is not an operator") }
        if op.roles.contains(.dataEntry) { throw UseCaseError(.ruleViolated, "\(user) is data-entry staff, who never hold a signing key", rule: .d13) }
        let role: Role
        if op.roles.contains(.firstSigner) { role = .firstSigner } else if op.roles.contains(.secondSigner) { role = .secondSigner } else {
            throw UseCaseError(.ruleViolated, "\(user) holds no signing role; add them as a holder first (an entity has at most two first signers, D3)", rule: .d3)
        }
        if op.service.clearedAt != nil || op.service.deathNotice != nil {
            throw UseCaseError(.ruleViolated, "\(user) has left (cleared or deceased); no certificate is issued to them", rule: .d6)
        }
        guard let entityCode = op.entityCode, let entity = try await registry.entity(code: entityCode) else {
            throw UseCaseError(.ruleViolated, "\(user) belongs to no entity; a signing certificate names the holder's entity", rule: .d3)
        }
        // The key is on the holder's token, and the token is the holder's to have (D5, D6).
        let holderToken = try await holderToken(tokenURI)
        guard holderToken.keys.contains(request.subjectPublicKeyInfo) else {
            throw UseCaseError(.invalidField, "the certification request's key is not on token \(holderToken.label) (serial \(holderToken.serial)); make the request on the holder's token (paysign token request) and name that token", rule: .d5)
        }
        let registered = try await registry.token(serial: holderToken.serial)
        if let registered {
            // One token, one certificate, one holder: a renewal is a new token, the old one
            // revoked as superseded.
            let mine = registered.holder == op.id
            let refusal =
                !mine ? "token \(holderToken.serial) is registered to another holder; a token is personal"
                : registered.state.isFinal ? "token \(holderToken.serial) is \(registered.state.rawValue); a returned or revoked token gets no new certificate"
                : "token \(holderToken.serial) is already registered to \(user) with its certificate; revoke it as superseded and issue on a new token"
            throw UseCaseError(.conflict, refusal, rule: mine ? .d6 : .d5)
        }
        return Issuance(request: request, op: op, role: role, entity: entity, token: holderToken)
    }

    /// Issues a signing certificate for the key a request proves (made on the holder's token; the
    /// key never leaves it), signed on the authority's token. The subject carries the holder's
    /// national ID (serialNumber), entity (O) and role (OU), taken from the registry, never from
    /// the request. Refused for a holder with no signing role (D3: the registry admits at most
    /// two first signers per entity, so no third first signer gets a certificate), a holder who
    /// left (cleared, or dead), and data-entry staff (D13).
    ///
    /// The holder's token is present at issuance (`holderToken`): the request's key must be one of
    /// its keys (the key never left it), and the token must not be another person's or in a final
    /// state (D5, D6). A token not yet in the registry is registered to the holder as `issued`,
    /// with the new certificate; the authority activates it once handed over.
    public func issueCertificate(request pem: String, holder user: String, holderToken tokenURI: PKCS11URI, validityDays: Int, pin: PIN, confirmFinalTry: Bool, caller: Caller) async throws -> IssuedCertificate {
        guard let authorityToken else {
            throw UseCaseError(.unavailable, "this daemon is not the certification authority: no authority-token in its configuration")
        }
        let checked: Issuance
        do {
            checked = try await issuance(request: pem, holder: user, holderToken: tokenURI)
        } catch let failure as UseCaseError {
            // Every refusal is journaled, with the rule it names.
            throw await refuse(caller, failure)
        }
        let (request, op, role, entity, holderToken) = (checked.request, checked.op, checked.role, checked.entity, checked.token)
        let signer: TokenSigner
        do { signer = try await tokens.signer(for: authorityToken) } catch {
            throw TokenFailures.error(for: error, otherwise: UseCaseError(.tokenFailed, "\(error)"))
        }
        defer { Task { await signer.session.close() } }
        return try await authorityLock.withLock("authority") {
            do {
                try await TokenLogin.login(signer, pin: pin, confirmFinalTry: confirmFinalTry, by: caller.actor, registry: registry, bus: bus)
            } catch {
                throw TokenFailures.error(for: error, otherwise: UseCaseError(.tokenFailed, "\(error)"))
            }
            do {
                let issued = try await signCertificate(signer: signer, request: request, op: op, role: role, entity: entity, validityDays: validityDays, user: user, holderToken: holderToken, caller: caller)
                try? await signer.session.logout()
                return issued
            } catch {
                try? await signer.session.logout()
                throw error
            }
        }
    }

    /// Builds and signs the certificate; runs under `authorityLock`, logged in.
    private func signCertificate(
        signer: TokenSigner, request: CertificateRequest, op: Operator, role: Role, entity: Entity, validityDays: Int, user: String,
        holderToken: (serial: String, label: String, keys: [[UInt8]]), caller: Caller
    ) async throws -> IssuedCertificate {
        let now = clock()
        var serial = (0..<16).map { _ in UInt8.random(in: 0...255) }
        serial[0] &= 0x7F
        serial[0] |= 0x01
        let subject = DistinguishedName(
            // The entity's code in organizationIdentifier: what the payment center matches (D3).
            country: "EG", organization: entity.name, organizationIdentifier: entity.code,
            organizationalUnit: role == .firstSigner ? "first-signature" : "second-signature",
            commonName: op.name, serialNumber: op.nationalID)
        let certificate: Certificate
        do {
            certificate = try await CertificateIssuer.issue(
                request: request, subject: subject, serialNumber: serial, notBefore: now.addingTimeInterval(-300),
                notAfter: now.addingTimeInterval(Double(validityDays) * 86_400), issuer: signer.certificate,
                scheme: (SignatureAlgorithm.default(for: signer.keyType) ?? .rsaPKCS1SHA256).scheme
            ) { tbs in
                try await signer.signAsAuthority(tbs, usage: .keyCertSign, at: now).signature
            }
        } catch {
            throw TokenFailures.error(for: error, otherwise: UseCaseError(.invalidField, "the certificate could not be issued: \(error)"))
        }
        let sha = SHA256Hex(bytes: certificate.sha256Fingerprint)!
        _ = try? await registry.append(
            .certificateIssued(.init(operatorID: op.id, unixUser: op.unixUser, subject: certificate.subject, serialHex: certificate.serialNumber, certificateSHA256: sha, role: role)),
            by: caller.actor)
        // The token goes into the registry as issued, with this certificate (D5): it signs once
        // the authority activates it.
        let token = try await withStore {
            try await registry.registerToken(
                serial: holderToken.serial, label: holderToken.label, holder: op.id, certificates: [certificate.derEncoded],
                state: .issued, by: caller.actor)
        }
        return IssuedCertificate(
            holder: user, subject: certificate.subject, serial: certificate.serialNumber, sha256: sha.hex,
            notBefore: certificate.notBefore, notAfter: certificate.notAfter, pem: certificate.pemEncoded,
            token: IssuedToken(serial: token.serial, label: token.label, state: token.state.rawValue))
    }
}
