import Foundation
import PaysignDomain
import PaysignPKCS11
import PaysignStore
import PaysignTokens

/// `/v1/holders` (first- and second-signature holders per entity, D3), `/v1/registered-tokens`
/// (a token bound to its holder, D5) and `/v1/pin-changes` (D5: PINs are changed periodically).
extension OrderDesk {
    func holderRoutes() -> [Route] {
        let desk = self
        let registry = self.registry
        let administrators: Set<Role> = [.administrator]
        let overseers: Set<Role> = [.administrator, .certificationAuthority, .auditor]
        return [
            Route("GET", "/v1/holders", roles: overseers) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let entity = request.query["entity"]
                let operators = try await registry.operators()
                let tokens = try await registry.tokens()
                // By the caller's scope (an auditor of one entity sees its holders only).
                let holders = operators.filter { op in
                    !op.roles.isDisjoint(with: [.firstSigner, .secondSigner]) && (entity == nil || op.entityCode == entity)
                        && caller.mayRead(op)
                }
                return try .json(holders.map { op in HolderView(op, tokens: tokens.filter { $0.holder == op.id }.map(\.serial)) })
            },
            Route("POST", "/v1/holders", roles: administrators) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let body = try request.decode(NewHolder.self)
                let role = try Self.signerRole(body.step)
                let op: Operator
                if let existing = try await registry.operator(unixUser: body.unixUser) {
                    if let entity = existing.entityCode, entity != body.entity {
                        throw Problem(.conflict, "\(body.unixUser) is an operator of entity '\(entity)', not '\(body.entity)'")
                    }
                    op = try await storeCall {
                        // On-site first, so that the role check (D3) sees it.
                        var current = existing
                        if let onSite = body.onSite, onSite != existing.onSite {
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
                    guard let nationalID = body.nationalID, let name = body.name else {
                        throw Problem(.invalidField, "\(body.unixUser) is not an operator yet: give nationalID and name too")
                    }
                    op = try await storeCall {
                        try await registry.addOperator(
                            unixUser: body.unixUser, nationalID: nationalID, name: name, entityCode: body.entity,
                            roles: [role], onSite: body.onSite ?? false, by: caller.actor)
                    }
                }
                let tokens = try await registry.tokens().filter { $0.holder == op.id }.map(\.serial)
                return try .json(HolderView(op, tokens: tokens), status: 201)
            },
            Route("DELETE", "/v1/holders/{user}", roles: administrators) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                guard let user = request.parameters["user"], let op = try await registry.operator(unixUser: user) else {
                    throw Problem(.notFound, "\(request.parameters["user"] ?? "?") is not an operator")
                }
                let removing: Set<Role> = try request.query["step"].map { [try Self.signerRole($0)] } ?? [.firstSigner, .secondSigner]
                guard !op.roles.isDisjoint(with: removing) else {
                    throw Problem(.notFound, "\(user) holds no \(removing.map(\.rawValue).sorted().joined(separator: " or ")) role")
                }
                let held = try await registry.tokens().filter { $0.holder == op.id }
                if !held.isEmpty {
                    throw Problem(.ruleViolated, "\(user) still holds token \(held.map(\.serial).joined(separator: ", ")); the token is surrendered to the certification authority first", rule: .d6)
                }
                let updated = try await storeCall {
                    try await registry.setRoles(operator: op.id, roles: op.roles.subtracting(removing), by: caller.actor)
                }
                return try .json(HolderView(updated, tokens: []))
            },
            Route("GET", "/v1/registered-tokens", roles: overseers) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                var tokens = try await registry.tokens()
                if caller.scope != .ministry {
                    let operators = Dictionary(uniqueKeysWithValues: try await registry.operators().map { ($0.id, $0) })
                    tokens = tokens.filter { token in token.holder.flatMap { operators[$0] }.map(caller.mayRead) ?? false }
                }
                return try .json(tokens.map(RegisteredTokenView.init))
            },
            Route("POST", "/v1/registered-tokens", roles: [.administrator, .certificationAuthority]) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let body = try request.decode(TokenRegistration.self)
                let uri = try Self.tokenURI(body.token)
                let state: TokenState
                switch body.state ?? "active" {
                case "active": state = .active
                case "issued": state = .issued
                case let other: throw Problem(.invalidField, "state must be issued or active, not '\(other)'")
                }
                guard let holder = try await registry.operator(unixUser: body.holder) else {
                    throw Problem(.notFound, "\(body.holder) is not an operator; add the holder first")
                }
                let (serial, label, certificates) = try await desk.readToken(uri)
                guard !certificates.isEmpty else {
                    throw Problem(.invalidField, "the token \(label) holds no certificate; it cannot be registered to sign")
                }
                let token = try await storeCall {
                    try await registry.registerToken(serial: serial, label: label, holder: holder.id, certificates: certificates, state: state, by: caller.actor)
                }
                return try .json(RegisteredTokenView(token), status: 201)
            },
            Route("POST", "/v1/pin-changes", roles: API.anyRole) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let (fields, pins) = try request.decode(PINChange.self, withPINs: ["oldPin", "newPin"])
                guard let old = pins["oldPin"], let new = pins["newPin"] else {
                    throw Problem(.invalidField, "give oldPin and newPin")
                }
                let uri = try Self.tokenURI(fields.token)
                let token = try await desk.changePIN(uri, old: old, new: new, confirmFinalTry: fields.confirmFinalTry ?? false, caller: caller)
                return try .json(RegisteredTokenView(token))
            },
        ]
    }

    /// The serial, label and certificates (DER) of the token a URI names, read without a login.
    func readToken(_ uri: PKCS11URI) async throws -> (String, String, [[UInt8]]) {
        do {
            let contents = try await tokens.contents(of: uri)
            return (contents.serial, contents.label, contents.certificates)
        } catch {
            throw TokenProblems.problem(for: error) ?? Problem(.tokenFailed, "\(error)")
        }
    }

    /// `C_SetPIN` on the caller's own registered token; records the date (D5).
    func changePIN(_ uri: PKCS11URI, old: PIN, new: PIN, confirmFinalTry: Bool, caller: Caller) async throws -> TokenRecord {
        guard new.count >= 4 else { throw Problem(.invalidField, "the new PIN is shorter than 4 characters") }
        guard !new.isEqual(to: old) else { throw Problem(.invalidField, "the new PIN is the old one; choose another", rule: .d5) }
        let slot: PKCS11Slot
        do { slot = try await tokens.library.token(matching: uri) } catch {
            throw TokenProblems.problem(for: error) ?? Problem(.tokenFailed, "\(error)")
        }
        let session: PKCS11Session
        do { session = try await slot.openSession(readWrite: true) } catch {
            throw TokenProblems.problem(for: error) ?? Problem(.tokenFailed, "\(error)")
        }
        defer { Task { await session.close() } }
        let serial = session.token.serialNumber
        guard let record = try await registry.token(serial: serial) else {
            throw await refusePIN(caller, "the token \(serial) is not registered; the daemon changes PINs of registered tokens only")
        }
        guard let op = caller.op, record.holder == op.id else {
            throw await refusePIN(caller, "the token \(serial) is not issued to \(caller.name); only its holder changes its PIN")
        }
        if let minimum = session.token.minPINLength, new.count < Int(minimum) {
            throw Problem(.invalidField, "token \(serial) needs a PIN of at least \(minimum) characters; nothing was changed")
        }
        // The current PIN is tried once by C_SetPIN: on the final try only when the holder says so.
        if !confirmFinalTry, let state = try? await slot.tokenInfo().pinState, state.contains(.finalTry) {
            _ = try? await registry.append(.refusal(.init(rule: .d5, reason: "token \(serial) is on its final PIN try; PIN change not attempted")), by: caller.actor)
            throw Problem(.pinLocked, "token \(serial) is on its final PIN try: a wrong current PIN now locks it; send confirmFinalTry to use this try", rule: .d5)
        }
        do {
            try await tokenLock(serial) { try await session.changePIN(old: old, new: new) }
        } catch {
            let problem = TokenProblems.problem(for: error) ?? Problem(.tokenFailed, "\(error)")
            if let error = error as? PKCS11Error, [.pinIncorrect, .pinLocked].contains(error.code) {
                let state: PaysignDomain.PINState = error.pinState.map(TokenLogin.journalState) ?? .incorrect
                _ = try? await registry.append(.loginFailed(.init(tokenSerial: serial, pinState: state)), by: caller.actor)
            }
            throw problem
        }
        return try await storeCall { try await registry.recordPINChange(tokenSerial: serial, by: caller.actor) }
    }

    private func refusePIN(_ caller: Caller, _ message: String) async -> Problem {
        _ = try? await registry.append(.refusal(.init(rule: .d5, reason: message)), by: caller.actor)
        return Problem(.notAuthorized, message, rule: .d5)
    }

    /// A token's URI from a request; one that carries a PIN is refused (D5: PINs travel only in
    /// the fields made for them, and never come back in an answer).
    static func tokenURI(_ text: String) throws -> PKCS11URI {
        let uri: PKCS11URI
        do { uri = try PKCS11URI(text) } catch { throw TokenProblems.problem(for: error) ?? Problem(.invalidField, "\(error)") }
        if uri.pinValue != nil || uri.pinSource != nil {
            throw Problem(.invalidField, "the token URI carries a PIN (pin-value or pin-source); send the PIN only in its own field", rule: .d5)
        }
        return uri
    }

    static func signerRole(_ step: String) throws -> Role {
        switch step {
        case "first": return .firstSigner
        case "second": return .secondSigner
        default: throw Problem(.invalidField, "step must be first or second, not '\(step)'")
        }
    }

    struct NewHolder: StrictDecodable {
        var unixUser: String
        var nationalID: String?
        var name: String?
        var entity: String
        var step: String
        var onSite: Bool?
        static let fieldNames: Set<String> = ["unixUser", "nationalID", "name", "entity", "step", "onSite"]
    }

    struct TokenRegistration: StrictDecodable {
        var token: String
        var holder: String
        /// "active" (the default: the token is in the holder's hands) or "issued" (handed over
        /// later; the authority activates it, D6).
        var state: String?
        static let fieldNames: Set<String> = ["token", "holder", "state"]
    }

    struct PINChange: StrictDecodable {
        var token: String
        var oldPin: String?
        var newPin: String?
        var confirmFinalTry: Bool?
        static let fieldNames: Set<String> = ["token", "oldPin", "newPin", "confirmFinalTry"]
    }

    struct HolderView: Codable {
        var id: Operator.ID
        var unixUser: String
        var name: String
        var entity: String?
        var steps: [String]
        var onSite: Bool
        var tokens: [String]

        init(_ op: Operator, tokens: [String]) {
            id = op.id
            unixUser = op.unixUser
            name = op.name
            entity = op.entityCode
            steps = (op.roles.contains(.firstSigner) ? ["first"] : []) + (op.roles.contains(.secondSigner) ? ["second"] : [])
            onSite = op.onSite
            self.tokens = tokens
        }
    }

    struct RegisteredTokenView: Codable {
        var id: TokenRecord.ID
        var serial: String
        var label: String
        var holder: Operator.ID?
        var registeredAt: Date
        var pinChangedAt: Date?
        var state: TokenState
        var revocation: TokenRevocation?
        var certificates: [Certificate]

        struct Certificate: Codable {
            var sha256: String
            var serial: String
            var subject: String
            var notBefore: Date
            var notAfter: Date
        }

        init(_ token: TokenRecord) {
            id = token.id
            serial = token.serial
            label = token.label
            holder = token.holder
            registeredAt = token.registeredAt
            pinChangedAt = token.pinChangedAt
            state = token.state
            revocation = token.revocation
            certificates = token.certificates.map {
                Certificate(sha256: $0.sha256.hex, serial: $0.serialHex, subject: $0.subject, notBefore: $0.notBefore, notAfter: $0.notAfter)
            }
        }
    }
}
