public import Foundation
public import Logging
public import PaysignDomain
import PaysignOpenSSL
public import PaysignPKCS11
public import PaysignStore
public import PaysignTokens
import PaysignVerification
import Synchronization
public import PaysignSecrets

/// The daemon's payment-order desk: uploads (validated by the domain's rules), review of the file
/// number (D9), rejection, and the first and second signatures made on the holders' tokens (D2),
/// each decided by `SigningPolicy` before a PIN reaches a token.
///
/// Concurrency: one request at a time per order (a second gets 409 at once rather than spend a
/// PIN try on a signature that cannot be recorded), and one login-sign-logout at a time per token
/// (`KeyedLock`): a token is logged in for the whole application, so two requests must not
/// interleave on it.
public final class OrderDesk: Sendable {
    /// The registry; the edge reads callers and idempotency records from it, never a rule.
    public let registry: Registry
    let tokens: TokenService
    let bus: EventBus
    let logger: Logger
    let policy: SigningPolicy
    let validator: OrderValidator
    let holidays: Set<CalendarDay>
    let timeZone: TimeZone
    /// Keep a holder's token logged in this long after a signature; nil: log out at once.
    let pinCache: Duration?
    let clock: @Sendable () -> Date

    private let busyOrders = BusySet()
    /// One login-sign-logout at a time per token, shared with every use case that logs in to a
    /// holder's token (a PIN change).
    let tokenLocks: KeyedLock
    /// Refusals of callers with no role, journaled at most once a minute per caller and act: the
    /// desk's own (the router's `access-denied` entries have theirs), so a window's count is
    /// journaled as the kind of entry it counts.
    public let throttle: RefusalThrottle
    private let cachedLogins = Mutex<[String: CachedLogin]>([:])
    private let knownCertificates = Mutex<[[UInt8]: CertificateFacts]>([:])
    private let authorityDesk = Mutex<AuthorityDesk?>(nil)

    /// The authority's side, for the revocation lists held (set once at start-up).
    public var authority: AuthorityDesk? {
        get { authorityDesk.withLock { $0 } }
        set { authorityDesk.withLock { $0 = newValue } }
    }

    /// A token left service (revoked, suspended, listed on a CRL): its cached login goes now.
    public func forgetLogin(_ serial: String) { dropCachedLogin(serial) }

    struct CachedLogin: Sendable {
        var operatorID: Operator.ID
        var signer: TokenSigner
        var expires: ContinuousClock.Instant
    }

    /// - Parameters:
    ///   - timeZone: the zone whose calendar days the rules count (D4, D10, D11): the configured one.
    ///   - clock: what "now" is for every rule and record (tests pass a fixed one).
    public init(
        registry: Registry, tokens: TokenService, bus: EventBus, logger: Logger, policy: SigningPolicy,
        holidays: Set<CalendarDay>, timeZone: TimeZone, pinCache: Duration?, throttle: RefusalThrottle = RefusalThrottle(),
        tokenLocks: KeyedLock = KeyedLock(), clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.throttle = throttle
        self.tokenLocks = tokenLocks
        self.registry = registry
        self.tokens = tokens
        self.bus = bus
        self.logger = logger
        self.policy = policy
        self.validator = .standard
        self.holidays = holidays
        self.timeZone = timeZone
        self.pinCache = pinCache
        self.clock = clock
    }

    var today: CalendarDay { CalendarDay(clock(), in: timeZone) }

    // MARK: Upload

    /// Validates an uploaded file with its metadata and stores it as a draft order. Every
    /// violation is reported at once, by line (one problem-details answer).
    public func create(metadata: OrderMetadata, file: [UInt8], caller: Caller, idempotency record: RecordMaker<Order>?) async throws -> Order {
        // Authorization (role and scope, D13) before the file is judged; decided again in the
        // insert's transaction.
        do {
            try OrderActRule.check(caller.op, callerName: caller.name, act: .upload, entityCode: metadata.entityCode)
        } catch {
            throw await refuse(caller, error)
        }
        let context = ValidationContext(today: today, holidays: holidays)
        let validator = self.validator
        let (parsed, validation) = await HeavyWork.run { validator.validate(bytes: file, metadata, context) }
        if !validation.violations.isEmpty { throw UseCaseError.invalidOrder(validation.violations) }
        do {
            let order = try await withStore {
                try await registry.createOrder(
                    metadata: metadata, file: file, lineCount: parsed.lineCount, totalPiasters: parsed.total,
                    createdBy: caller.orderActor, by: caller.actor, decide: caller.decision, idempotency: record)
            }
            announce(order, by: caller)
            return order
        } catch let refusal as RuleRefusal {
            throw await refuse(caller, refusal)
        } catch let refused as OrderViolations {
            // D11's monthly cap, summed in the insert's transaction.
            throw UseCaseError.invalidOrder(refused.violations)
        }
    }

    // MARK: Review and rejection

    public func review(_ id: Order.ID, fileNumber: FileNumber, caller: Caller, idempotency record: RecordMaker<Order>?) async throws -> Order {
        let order = try await visibleOrder(id, to: caller)
        do {
            try OrderActRule.check(caller.op, callerName: caller.name, act: .review, entityCode: order.metadata.entityCode)
        } catch {
            throw await refuse(caller, error, order: order)
        }
        do {
            let reviewed = try await withStore {
                try await registry.reviewOrder(
                    id: id, fileNumber: fileNumber, by: caller.orderActor, actor: caller.actor, decide: caller.decision,
                    idempotency: record)
            }
            announce(reviewed, by: caller)
            return reviewed
        } catch let refusal as RuleRefusal {
            throw await refuse(caller, refusal, order: order)
        } catch let failure as UseCaseError where failure.kind == .ruleViolated || failure.kind == .wrongState {
            throw await refuse(caller, failure.kind, failure.rule, failure.message, order: order)
        }
    }

    public func reject(_ id: Order.ID, reason: String, caller: Caller, idempotency record: RecordMaker<Order>?) async throws -> Order {
        let order = try await visibleOrder(id, to: caller)
        do {
            try OrderActRule.check(caller.op, callerName: caller.name, act: .reject, entityCode: order.metadata.entityCode)
        } catch {
            throw await refuse(caller, error, order: order)
        }
        do {
            let rejected = try await withStore {
                try await registry.rejectOrder(
                    id: id, reason: reason, by: caller.orderActor, actor: caller.actor, decide: caller.decision,
                    idempotency: record)
            }
            announce(rejected, by: caller)
            return rejected
        } catch let refusal as RuleRefusal {
            throw await refuse(caller, refusal, order: order)
        }
    }

    // MARK: Reading

    /// The order, if the caller may see it: operators tied to an entity see that entity's orders;
    /// the payment center, auditors, the authority and administrators see all.
    public func visibleOrder(_ id: Order.ID, to caller: Caller) async throws -> Order {
        guard let order = try await registry.order(id: id), caller.maySee(order.metadata.entityCode) else {
            throw UseCaseError(.notFound, "there is no order \(id)")
        }
        return order
    }

    // MARK: Signing

    public struct SignRequest: Sendable {
        public var orderID: Order.ID
        public var step: SignatureStep
        public var token: PKCS11URI
        public var fileNumber: FileNumber?
        public var confirmFinalTry: Bool

        public init(orderID: Order.ID, step: SignatureStep, token: PKCS11URI, fileNumber: FileNumber?, confirmFinalTry: Bool) {
            self.orderID = orderID
            self.step = step
            self.token = token
            self.fileNumber = fileNumber
            self.confirmFinalTry = confirmFinalTry
        }
    }

    public struct SignResult: Sendable, Codable {
        public var order: Order
        public var signature: OrderSignature
        public var warnings: [String]
    }

    /// Applies the first or second signature (D2) on the caller's token. `pin` nil uses the
    /// holder's cached login when `pin-cache-seconds` allows one.
    public func sign(_ request: SignRequest, pin: PIN?, caller: Caller, idempotency record: RecordMaker<SignResult>?) async throws -> SignResult {
        // A caller who is no operator is refused before anything is read (SignerRoleRule's D13).
        if caller.op == nil {
            do { _ = try SignerRoleRule.check(nil, callerName: caller.name, step: request.step) } catch {
                throw await refuse(caller, error)
            }
        }
        // Which token, and whose. The key's certificate is read before any login.
        let cached = pin == nil ? cachedLogin(token: request.token, operatorID: caller.op?.id) : nil
        // The token's signer is kept open between requests (`TokenService.keptSigner`): no session,
        // object search or certificate parse per request. When one is held (or the caller's kept
        // login), its serial is known without touching the token, and the registry's records for
        // the signing policy come in the same read as the order.
        let held = cached ?? ((pin == nil) ? nil : tokens.keptSignerIfHeld(for: request.token))
        // The order, the document both signatures cover, the SignedData so far, and with a held
        // signer the token's registration and the first signer's national ID (D2-D4), in one read.
        guard let toSign = try await registry.orderToSign(id: request.orderID, tokenSerial: held?.session.token.serialNumber),
            caller.maySee(toSign.order.metadata.entityCode)
        else {
            throw UseCaseError(.notFound, "there is no order \(request.orderID)")
        }
        let order = toSign.order
        // The caller's role and scope for this step, before the token is touched (D2, D3, D13).
        // A holder whose own token the authority took out of service lost the role with it: the
        // signing policy names D6 for them below, so they are let through to it.
        do {
            try OrderActRule.check(caller.op, callerName: caller.name, act: .sign(request.step), entityCode: order.metadata.entityCode)
        } catch {
            // Only when the URI names one of the caller's own tokens out of service.
            let holder = caller.op?.id
            let uri = request.token
            let ownOutOfService = holder != nil && (uri.serial != nil || uri.token != nil)
                ? try await registry.tokens().contains { token in
                    token.holder == holder && (token.state.isFinal || token.state == .suspended)
                        && (uri.serial.map { $0 == token.serial } ?? true) && (uri.token.map { $0 == token.label } ?? true)
                }
                : false
            if !ownOutOfService { throw await refuse(caller, error, order: order) }
        }
        if pin == nil && cached == nil {
            throw UseCaseError(.invalidField, "give the PIN of the token (pin); the daemon keeps no PIN\(pinCache == nil ? "" : " and holds no login of yours on that token")", rule: .d5)
        }
        // A refusal is decided on the token as it is now: a kept signer that is refused is read
        // again before the refusal stands.
        var signer: TokenSigner
        if let held { signer = held } else { signer = try await self.signer(for: request.token) }
        var verdict = try await approve(request, order: order, signer: signer, caller: caller, records: toSign.records)
        if case .failure = verdict, cached == nil {
            signer = try await self.signer(for: request.token, fresh: true)
            verdict = try await approve(request, order: order, signer: signer, caller: caller)
        }
        let approval: SigningPolicy.Approval
        switch verdict {
        case .success(let value): approval = value
        case .failure(let refusal): throw await refuse(caller, refusal, order: order)
        }
        // Authorization before any side effect: only a caller the policy lets sign claims the
        // order (a stranger never keeps it busy for its signer).
        let orderKey = String(request.orderID)
        guard busyOrders.claim(orderKey) else {
            throw UseCaseError(.conflict, "order \(request.orderID) is being changed by another request; try again when it is answered")
        }
        defer { busyOrders.release(orderKey) }
        let serial = signer.session.token.serialNumber
        guard let certificateSHA256 = SHA256Hex(bytes: signer.certificate.sha256Fingerprint) else {
            throw UseCaseError(.internalError, "the certificate on token \(serial) has no fingerprint")
        }
        let certificateFacts = facts(of: signer.certificate)

        let document = toSign.document
        var previous: SignedDocument?
        if request.step == .second {
            guard let der = toSign.signedData else {
                throw UseCaseError(.internalError, "order \(order.id) is first-signed but its SignedData is missing")
            }
            previous = try SignedDocument(derEncoded: der)
        }
        let willCache = pinCache != nil && caller.op != nil && cached == nil
        // The signer that signs: the one checked above, or the same key's next kept signer if that
        // one was discarded while this request waited for the token.
        var used = signer
        // The login's `login-succeeded` entry, journaled with the signature (or the refusal), and
        // the context-specific login's of a key that asks for its PIN at every signature.
        var loggedIn: AuditEvent?
        var contextLogin: AuditEvent?
        let signed: DetachedSignature
        do {
            // The SignedData is built before the token is taken and checked after it is let go:
            // under the token's lock are only the login, the token's signature and the logout.
            let prepared = try signer.prepareCMS(
                content: document, role: request.step.rawValue, bindTo: previous, signingTime: clock())
            let signature = try await tokenLocks.withLock(serial) {
                do {
                    if cached == nil {
                        if !used.isUsable { used = try await replacement(for: used, uri: request.token) }
                        // A token that cannot make this signature is refused before the PIN is used.
                        _ = try await used.mechanism(for: prepared.algorithm)
                        // login-succeeded is journaled with the signature (or the refusal), not under the lock.
                        loggedIn = try await TokenLogin.login(
                            used, pin: pin, confirmFinalTry: request.confirmFinalTry, by: caller.actor,
                            registry: registry, bus: bus, journalSuccess: false)
                    }
                    do {
                        // A key with CKA_ALWAYS_AUTHENTICATE gets the request's PIN again, for this
                        // signature only; such a login is never kept (pin-cache-seconds).
                        let signature: [UInt8]
                        do {
                            signature = try await used.sign(prepared, again: ContextLogin(pin: pin, confirmFinalTry: request.confirmFinalTry))
                        } catch let error as PKCS11Error where error.function == "C_Login" {
                            await TokenLogin.journal(
                                error, serial: serial, label: used.session.token.label, by: caller.actor, registry: registry, bus: bus)
                            throw error
                        }
                        if used.asksPINPerSignature { contextLogin = .loginSucceeded(.init(tokenSerial: serial)) }
                        if !(willCache && !used.asksPINPerSignature) && cached == nil { await logOut(used) }
                        return signature
                    } catch {
                        if cached == nil { await logOut(used) }
                        throw error
                    }
                } catch {
                    // The signer may be broken (a wrong PIN, an error from the token): no request
                    // waiting for the token gets it, and the next one reads the token again.
                    tokens.discard(used)
                    throw error
                }
            }
            signed = try prepared.draft.finishDetached(signature: signature)
        } catch let failure as UseCaseError {
            if let loggedIn { _ = try? await registry.append(loggedIn, by: caller.actor) }
            throw failure
        } catch {
            if cached != nil { dropCachedLogin(serial) }
            tokens.discard(used)
            let problem = TokenFailures.error(for: error, otherwise: UseCaseError(.tokenFailed, "the signature could not be made: \(error)"))
            var entries: [AuditEvent] = loggedIn.map { [$0] } ?? []
            if !(error is PKCS11Error && (error as! PKCS11Error).function == "C_Login") {
                entries.append(.refusal(.init(rule: problem.rule, reason: problem.message, documentSHA256: order.documentSHA256)))
            }
            if !entries.isEmpty { _ = try? await registry.append(contentsOf: entries, by: caller.actor) }
            throw problem
        }
        guard let signatureSHA256 = SHA256Hex(bytes: signed.signatureDigest) else {
            throw UseCaseError(.internalError, "the new signature has no digest")
        }

        let signature = OrderSignature(
            step: request.step, signer: caller.orderActor, tokenSerial: serial, certificateSHA256: certificateSHA256,
            signatureSHA256: signatureSHA256, signedAt: clock())
        let warnings = approval.warnings
        var saved: RecordMaker<Order>?
        if let record {
            saved = { order in try record(SignResult(order: order, signature: signature, warnings: warnings)) }
        }
        let der = signed.derEncoded
        let journalFirst: [AuditEvent] = [loggedIn, contextLogin].compactMap { $0 }
        // Decided again where it is recorded: the policy runs inside the write transaction, on the
        // registry as it is at commit (a role removed, a token suspended or revoked while the
        // token signed refuses it, and the signature bytes are dropped).
        let decision = SignatureDecision(
            policy: policy, callerID: caller.op?.id, callerName: caller.name, certificate: certificateFacts,
            fileNumber: request.fileNumber, now: clock(), generation: caller.generation, pinSince: approval.pinSince)
        let recorded: Order
        do {
            recorded = try await withStore {
                try await registry.recordSignature(
                    orderID: order.id, signature: signature, signedData: der, by: caller.actor, journalFirst: journalFirst,
                    decide: decision, idempotency: saved)
            }
        } catch let refusal as RuleRefusal {
            // Refused at commit (a role removed, the token taken out of service meanwhile): the
            // signature bytes go, and so does any login kept for the holder.
            await endKeptLogin(cached: cached != nil, willCache: willCache, signer: used, serial: serial)
            if !journalFirst.isEmpty { _ = try? await registry.append(contentsOf: journalFirst, by: caller.actor) }
            throw await refuse(caller, refusal, order: order)
        } catch {
            // The signature is not recorded; the login that was made still is.
            if willCache { await endKeptLogin(cached: false, willCache: true, signer: used, serial: serial) }
            if !journalFirst.isEmpty { _ = try? await registry.append(contentsOf: journalFirst, by: caller.actor) }
            throw error
        }
        if willCache, !used.asksPINPerSignature, let pinCache, let op = caller.op {
            remember(used, serial: serial, operatorID: op.id, for: pinCache)
        }
        announce(recorded, by: caller)
        return SignResult(order: recorded, signature: signature, warnings: warnings)
    }

    /// After a signature that was not recorded: a cached login is dropped (and logged out), and a
    /// login that was to be cached (`pin-cache-seconds`) is ended under the token's lock.
    private func endKeptLogin(cached: Bool, willCache: Bool, signer: TokenSigner, serial: String) async {
        if cached { dropCachedLogin(serial) }
        if willCache { _ = try? await tokenLocks.withLock(serial) { await logOut(signer) } }
    }

    /// What the rules read of a signer's certificate (`CertificateFacts`), made once per
    /// certificate: a kept signer signs thousands of times with the same one.
    private func facts(of certificate: Certificate) -> CertificateFacts {
        let key = certificate.sha256Fingerprint
        if let known = knownCertificates.withLock({ $0[key] }) { return known }
        let facts = OrderVerifier.facts(certificate.profile)
        knownCertificates.withLock { known in
            if known.count >= 256 { known.removeAll() }
            known[key] = facts
        }
        return facts
    }

    /// The token's kept signer (`TokenService.keptSigner`), its failure as a problem.
    private func signer(for uri: PKCS11URI, fresh: Bool = false) async throws -> TokenSigner {
        do {
            return try await tokens.keptSigner(for: uri, fresh: fresh)
        } catch {
            throw TokenFailures.error(for: error, otherwise: UseCaseError(.tokenFailed, "\(error)"))
        }
    }

    /// The signing policy's verdict on signing `order` with `signer`'s key (D2-D13), and a held
    /// revocation list's (D6). Registry failures are thrown.
    ///
    /// `records`: what the registry holds for the token and the first signer, when the caller read
    /// it with the order (used when it was read for this signer's serial).
    private func approve(
        _ request: SignRequest, order: Order, signer: TokenSigner, caller: Caller, records: SigningRecords? = nil
    ) async throws -> Result<SigningPolicy.Approval, RuleRefusal> {
        let serial = signer.session.token.serialNumber
        // A held revocation list that names the certificate (imported from the authority) (D6).
        if let entry = authority?.revocation(of: signer.certificate) {
            return .failure(RuleRefusal(
                .ruleViolated, .d6,
                "the certificate on token \(serial) (serial \(signer.certificate.serialNumber)) is revoked (\(entry.reasonName ?? "no reason given")) on the certification authority's revocation list; it cannot sign"))
        }
        // The token as registered, and for a second signature who signed first, in one read.
        let read: SigningRecords
        if let records, records.tokenSerial == serial {
            read = records
        } else {
            read = try await registry.signingRecords(tokenSerial: serial, firstSigner: order.signature(.first)?.signer.operatorID)
        }
        let token = read.token
        let firstNationalID = request.step == .second ? read.firstSignerNationalID : nil
        do {
            return .success(try policy.check(SigningPolicy.Request(
                step: request.step, order: order, caller: caller.op, callerName: caller.name,
                token: token, tokenSerial: serial, certificate: facts(of: signer.certificate),
                fileNumber: request.fileNumber, firstSignerNationalID: firstNationalID, now: clock())))
        } catch {
            return .failure(error)
        }
    }

    /// The same key's kept signer, for a request whose signer was discarded while it waited for
    /// the token. It must be the token and certificate the request was checked against.
    private func replacement(for old: TokenSigner, uri: PKCS11URI) async throws -> TokenSigner {
        let signer = try await tokens.keptSigner(for: uri)
        guard signer.session.token.serialNumber == old.session.token.serialNumber,
            signer.certificate == old.certificate
        else {
            throw UseCaseError(.conflict, "the token changed while this request waited for it; send the request again")
        }
        return signer
    }

    /// Ends the login on the token (under its lock). A token that will not log out loses its
    /// kept signer, and the session is closed: closing the token's last session ends the login.
    private func logOut(_ signer: TokenSigner) async {
        do {
            try await signer.session.logout()
        } catch {
            tokens.discard(signer)
            await signer.session.close()
        }
    }

    // MARK: PIN cache (off by default)

    private func cachedLogin(token uri: PKCS11URI, operatorID: Operator.ID?) -> TokenSigner? {
        guard pinCache != nil, let operatorID else { return nil }
        let now = ContinuousClock.now
        return cachedLogins.withLock { logins in
            logins.values.first { login in
                login.operatorID == operatorID && login.expires > now && uri.matches(token: login.signer.session.token)
            }?.signer
        }
    }

    private func remember(_ signer: TokenSigner, serial: String, operatorID: Operator.ID, for duration: Duration) {
        // The new login replaces the old one on the token. An older signer's session is left to
        // the token service (a kept signer) or closes when its last user lets it go.
        cachedLogins.withLock { logins in
            logins[serial] = CachedLogin(operatorID: operatorID, signer: signer, expires: .now + duration)
        }
        Task { [weak self] in
            try? await Task.sleep(for: duration)
            self?.expire(serial, signer: signer)
        }
    }

    private func expire(_ serial: String, signer: TokenSigner) {
        let expired = cachedLogins.withLock { logins -> Bool in
            guard let login = logins[serial], login.signer === signer, login.expires <= .now else { return false }
            logins[serial] = nil
            return true
        }
        if expired { Task { await self.close(signer, serial: serial) } }
    }

    private func dropCachedLogin(_ serial: String) {
        if let signer = cachedLogins.withLock({ $0.removeValue(forKey: serial)?.signer }) {
            Task { await self.close(signer, serial: serial) }
        }
    }

    /// Ends a cached login: logs out under the token's lock. The session stays open: it is the
    /// token service's kept signer's (`TokenService.keptSigner`), or closes when its last user lets
    /// the signer go.
    private func close(_ signer: TokenSigner, serial: String) async {
        _ = try? await tokenLocks.withLock(serial) { await logOut(signer) }
    }

    // MARK: Journal and events

    /// Journals a refusal of the rules (also one decided at a request's head, `Route.admitHead`)
    /// and returns the problem to answer.
    public func refuse(_ caller: Caller, _ refusal: RuleRefusal, order: Order? = nil) async -> UseCaseError {
        await refuse(caller, UseCaseError(refusal).kind, refusal.rule, refusal.message, order: order)
    }

    /// Journals a refusal (the attempt is evidence too) and returns the problem to answer. A
    /// caller with no role is journaled at most once a minute per act (`RefusalThrottle`).
    private func refuse(_ caller: Caller, _ kind: UseCaseError.Kind, _ rule: RuleNumber?, _ message: String, order: Order? = nil) async -> UseCaseError {
        var reason = message
        if caller.roles.isEmpty {
            let admission = throttle.admit(
                uid: caller.uid, user: caller.userName, act: "order \(kind.rawValue) \(rule?.rawValue ?? "")", rule: rule)
            for ended in admission.ended {
                _ = try? await registry.append(
                    .refusal(.init(rule: ended.rule, reason: RefusalThrottle.summary(ended))),
                    by: .user(uid: ended.uid, name: ended.user, operatorID: nil))
            }
            guard let skipped = admission.journal else { return UseCaseError(kind, message, rule: rule) }
            reason = RefusalThrottle.reason(message, skipped: skipped)
        }
        await registry.journalRefusal(rule: rule, reason, by: caller.actor, document: order?.documentSHA256, logger: logger)
        return UseCaseError(kind, message, rule: rule)
    }

    private func announce(_ order: Order, by caller: Caller) {
        bus.publish(DaemonEvent(type: "order-state-changed", detail: [
            "order": String(order.id), "entity": order.metadata.entityCode, "state": order.state.rawValue, "by": caller.name,
        ]))
    }
}


// MARK: - Reading orders, by the caller's scope

extension OrderDesk {
    /// The orders matching `filter` within the caller's scope: the scope is part of the query, so
    /// a page is a page of the caller's orders (D3, D13).
    public func orders(_ filter: OrderFilter, caller: Caller) async throws -> [Order] {
        var filter = filter
        switch caller.scope {
        case .ministry: break
        case .unassigned: return []
        case .entity(let code):
            if let asked = filter.entityCode, asked != code { return [] }
            filter.entityCode = code
        }
        return try await withStore { try await registry.orders(filter) }
    }

    /// The uploaded file of an order the caller may see, byte for byte.
    public func file(of id: Order.ID, caller: Caller) async throws -> (Order, [UInt8]) {
        let order = try await visibleOrder(id, to: caller)
        return (order, try await withStore { try await registry.orderFile(id: order.id) } ?? [])
    }

    /// The canonical order document both signatures cover.
    public func document(of id: Order.ID, caller: Caller) async throws -> (Order, [UInt8]) {
        let order = try await visibleOrder(id, to: caller)
        return (order, try await withStore { try await registry.orderDocument(id: order.id) } ?? [])
    }

    /// The order's detached CMS SignedData (DER), once it has a signature.
    public func signedData(of id: Order.ID, caller: Caller) async throws -> (Order, [UInt8]) {
        let order = try await visibleOrder(id, to: caller)
        guard let der = try await withStore({ try await registry.orderSignedData(id: order.id) }) else {
            throw UseCaseError(.notFound, "order \(order.id) has no signature yet")
        }
        return (order, der)
    }

    /// What the review sheet is made of (D9): the order, its file, the entity's name, and when.
    public struct ReviewSheetInput: Sendable {
        public var order: Order
        public var file: OrderFile
        public var entityName: String?
        public var generatedAt: Date
    }

    public func reviewSheet(of id: Order.ID, caller: Caller) async throws -> ReviewSheetInput {
        let order = try await visibleOrder(id, to: caller)
        let file = OrderFile(parsing: try await withStore { try await registry.orderFile(id: order.id) } ?? [])
        let entityName = try await withStore { try await registry.entity(code: order.metadata.entityCode) }?.name
        return ReviewSheetInput(order: order, file: file, entityName: entityName, generatedAt: clock())
    }
}
