import Foundation
public import Logging
public import PaysignDomain
public import PaysignOpenSSL
public import PaysignPKCS11
public import PaysignStore
public import PaysignTokens
public import PaysignSecrets

/// The holders of the signing roles and their tokens (D3, D5, D6): who holds the first and the
/// second signature per entity, tokens bound to their holders, and PIN changes on a holder's own
/// token.
public final class HolderDesk: Sendable {
    let registry: Registry
    let tokens: TokenService
    let logger: Logger
    /// The same per-token locks as the order desk's: a PIN change never interleaves with a
    /// signature on the same token.
    let tokenLocks: KeyedLock
    /// The certification authority's roots (`trust-anchors`): a registered token's certificates
    /// must chain to one (D6).
    let anchors: [Certificate]

    public init(registry: Registry, tokens: TokenService, logger: Logger, tokenLocks: KeyedLock, anchors: [Certificate]) {
        self.registry = registry
        self.tokens = tokens
        self.logger = logger
        self.tokenLocks = tokenLocks
        self.anchors = anchors
    }

    /// A holder and the serials of the tokens registered to them.
    public struct Holder: Sendable {
        public var op: Operator
        public var tokens: [String]
    }

    // MARK: Holders

    /// The holders of a signing role (of one entity, or all), within the caller's scope.
    public func holders(entity: String?, caller: Caller) async throws -> [Holder] {
        let (operators, tokens) = try await withStore { (try await registry.operators(), try await registry.tokens()) }
        return operators
            .filter { op in
                !op.roles.isDisjoint(with: [.firstSigner, .secondSigner]) && (entity == nil || op.entityCode == entity)
                    && caller.mayRead(op)
            }
            .map { op in Holder(op: op, tokens: tokens.filter { $0.holder == op.id }.map(\.serial)) }
    }

    /// Makes a Unix user the holder of a signing role of an entity: an existing operator of that
    /// entity gains the role; a new one is added with it (then `nationalID` and `name` are needed).
    public func addHolder(
        unixUser: String, nationalID: String?, name: String?, entity: String, role: Role, onSite: Bool?, caller: Caller
    ) async throws -> Holder {
        let op: Operator
        if let existing = try await withStore({ try await registry.operator(unixUser: unixUser) }) {
            if let current = existing.entityCode, current != entity {
                throw UseCaseError(.conflict, "\(unixUser) is an operator of entity '\(current)', not '\(entity)'")
            }
            op = try await withStore {
                // On-site first, so that the role check (D3) sees it.
                var current = existing
                if let onSite, onSite != existing.onSite {
                    current = try await registry.setOnSite(operator: existing.id, onSite: onSite, by: caller.actor)
                }
                do {
                    return try await registry.setRoles(operator: existing.id, roles: current.roles.union([role]), by: caller.actor)
                } catch {
                    if current.onSite != existing.onSite {
                        _ = try? await registry.setOnSite(operator: existing.id, onSite: existing.onSite, by: caller.actor)
                    }
                    throw error
                }
            }
        } else {
            guard let nationalID, let name else {
                throw UseCaseError(.invalidField, "\(unixUser) is not an operator yet: give nationalID and name too")
            }
            op = try await withStore {
                try await registry.addOperator(
                    unixUser: unixUser, nationalID: nationalID, name: name, entityCode: entity, roles: [role],
                    onSite: onSite ?? false, by: caller.actor)
            }
        }
        let held = try await withStore { try await registry.tokens() }.filter { $0.holder == op.id }.map(\.serial)
        return Holder(op: op, tokens: held)
    }

    /// Takes signing roles (`removing`) from a holder who holds no token any more (D6: tokens are
    /// surrendered to the authority first).
    public func removeHolder(unixUser: String, removing: Set<Role>, caller: Caller) async throws -> Holder {
        guard let op = try await withStore({ try await registry.operator(unixUser: unixUser) }) else {
            throw UseCaseError(.notFound, "\(unixUser) is not an operator")
        }
        guard !op.roles.isDisjoint(with: removing) else {
            throw UseCaseError(.notFound, "\(unixUser) holds no \(removing.map(\.rawValue).sorted().joined(separator: " or ")) role")
        }
        let held = try await withStore { try await registry.tokens() }.filter { $0.holder == op.id }
        if !held.isEmpty {
            throw UseCaseError(
                .ruleViolated,
                "\(unixUser) still holds token \(held.map(\.serial).joined(separator: ", ")); the token is surrendered to the certification authority first",
                rule: .d6)
        }
        let updated = try await withStore {
            try await registry.setRoles(operator: op.id, roles: op.roles.subtracting(removing), by: caller.actor)
        }
        return Holder(op: updated, tokens: [])
    }

    // MARK: Registered tokens

    /// The registered tokens whose holders the caller may read (all, on the Ministry's side).
    public func registeredTokens(caller: Caller) async throws -> [TokenRecord] {
        var tokens = try await withStore { try await registry.tokens() }
        if caller.scope != .ministry {
            let operators = Dictionary(uniqueKeysWithValues: try await withStore { try await registry.operators() }.map { ($0.id, $0) })
            tokens = tokens.filter { token in token.holder.flatMap { operators[$0] }.map(caller.mayRead) ?? false }
        }
        return tokens
    }

    /// Binds the token a URI names (read without a login: its serial, label, certificates) to a
    /// holder (D5). Its certificates must chain to a trust anchor, and it starts `issued` unless
    /// the certification authority registers it `active` (D6, `TokenRegistrationRule`). A refusal
    /// is journaled.
    public func registerToken(_ uri: PKCS11URI, holder user: String, state requested: TokenState?, caller: Caller) async throws -> TokenRecord {
        let state: TokenState
        do {
            state = try TokenRegistrationRule.initialState(requested: requested, callerRoles: caller.roles, callerName: caller.name)
        } catch {
            throw await refuse(caller, UseCaseError(error))
        }
        guard let holder = try await withStore({ try await registry.operator(unixUser: user) }) else {
            throw UseCaseError(.notFound, "\(user) is not an operator; add the holder first")
        }
        let contents: TokenService.Contents
        do { contents = try await tokens.contents(of: uri) } catch {
            throw TokenFailures.error(for: error, otherwise: UseCaseError(.tokenFailed, "\(error)"))
        }
        guard !contents.certificates.isEmpty else {
            throw UseCaseError(.invalidField, "the token \(contents.label) holds no certificate; it cannot be registered to sign")
        }
        let anchors = self.anchors
        let chains = contents.certificates.map { der -> (subject: String, chains: Bool) in
            guard let certificate = try? Certificate(derEncoded: der) else { return ("(a certificate OpenSSL cannot read)", false) }
            return (certificate.subject, anchors.contains { certificate.isIssued(by: $0) })
        }
        do {
            try TokenRegistrationRule.checkChains(chains, anchorsConfigured: !anchors.isEmpty)
        } catch {
            throw await refuse(caller, UseCaseError(error))
        }
        // Decided again where it is recorded: an active registration needs the authority's role
        // still held at commit, any registration an administrator's or the authority's.
        let decision = state == .active
            ? caller.decision([.certificationAuthority], doing: "registering a token active", rule: .d6)
            : caller.decision([.administrator, .certificationAuthority], doing: "registering a token", rule: .d6)
        do {
            return try await withStore {
                try await registry.registerToken(
                    serial: contents.serial, label: contents.label, holder: holder.id, certificates: contents.certificates, state: state,
                    by: caller.actor, decide: decision)
            }
        } catch let refusal as RuleRefusal {
            throw await refuse(caller, UseCaseError(refusal))
        }
    }

    private func refuse(_ caller: Caller, _ failure: UseCaseError) async -> UseCaseError {
        await registry.journalRefusal(failure, by: caller.actor, logger: logger)
    }

    // MARK: PIN change

    /// `C_SetPIN` on the caller's own registered token; records the date (D5). The current PIN is
    /// tried once, never retried, and on the final try only when the holder confirms it.
    public func changePIN(_ uri: PKCS11URI, old: PIN, new: PIN, confirmFinalTry: Bool, caller: Caller) async throws -> TokenRecord {
        guard new.count >= 4 else { throw UseCaseError(.invalidField, "the new PIN is shorter than 4 characters") }
        guard !new.isEqual(to: old) else { throw UseCaseError(.invalidField, "the new PIN is the old one; choose another", rule: .d5) }
        let slot: PKCS11Slot
        do { slot = try await tokens.library.token(matching: uri) } catch {
            throw TokenFailures.error(for: error, otherwise: UseCaseError(.tokenFailed, "\(error)"))
        }
        let session: PKCS11Session
        do { session = try await slot.openSession(readWrite: true) } catch {
            throw TokenFailures.error(for: error, otherwise: UseCaseError(.tokenFailed, "\(error)"))
        }
        defer { Task { await session.close() } }
        let serial = session.token.serialNumber
        guard let record = try await withStore({ try await registry.token(serial: serial) }) else {
            throw await refusePIN(caller, "the token \(serial) is not registered; the daemon changes PINs of registered tokens only")
        }
        guard let op = caller.op, record.holder == op.id else {
            throw await refusePIN(caller, "the token \(serial) is not issued to \(caller.name); only its holder changes its PIN")
        }
        if let minimum = session.token.minPINLength, new.count < Int(minimum) {
            throw UseCaseError(.invalidField, "token \(serial) needs a PIN of at least \(minimum) characters; nothing was changed")
        }
        // The current PIN is tried once by C_SetPIN: on the final try only when the holder says so.
        if !confirmFinalTry, let state = try? await slot.tokenInfo().pinState, state.contains(.finalTry) {
            await registry.journalRefusal(
                rule: .d5, "token \(serial) is on its final PIN try; PIN change not attempted", by: caller.actor, logger: logger)
            throw UseCaseError(
                .pinLocked, "token \(serial) is on its final PIN try: a wrong current PIN now locks it; send confirmFinalTry to use this try",
                rule: .d5)
        }
        do {
            try await tokenLocks.withLock(serial) { try await session.changePIN(old: old, new: new) }
        } catch {
            let failure = TokenFailures.error(for: error, otherwise: UseCaseError(.tokenFailed, "\(error)"))
            if let error = error as? PKCS11Error, [.pinIncorrect, .pinLocked].contains(error.code) {
                let state: PaysignDomain.PINState = error.pinState.map(TokenLogin.journalState) ?? .incorrect
                _ = try? await registry.append(.loginFailed(.init(tokenSerial: serial, pinState: state)), by: caller.actor)
            }
            throw failure
        }
        return try await withStore { try await registry.recordPINChange(tokenSerial: serial, by: caller.actor) }
    }

    private func refusePIN(_ caller: Caller, _ message: String) async -> UseCaseError {
        await refuse(caller, UseCaseError(.notAuthorized, message, rule: .d5))
    }
}
