import Foundation
import PaysignApplication
import PaysignDomain
import PaysignPKCS11
import PaysignSecrets
import PaysignStore

/// `/v1/holders` (first- and second-signature holders per entity, D3), `/v1/registered-tokens`
/// (a token bound to its holder, D5) and `/v1/pin-changes` (D5: PINs are changed periodically):
/// decoding and answers; the acts are `HolderDesk`'s.
enum HolderRoutes {
    static func routes(_ desk: HolderDesk, registry: Registry) -> [Route] {
        let administrators: Set<Role> = [.administrator]
        let overseers: Set<Role> = [.administrator, .certificationAuthority, .auditor]
        return [
            Route("GET", "/v1/holders", roles: overseers, query: [.text("entity", maxLength: 32)]) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let holders = try await desk.holders(entity: request.query["entity"], caller: caller)
                return try .json(holders.map(HolderView.init))
            },
            Route("POST", "/v1/holders", roles: administrators) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let body = try request.decode(NewHolder.self)
                let holder = try await desk.addHolder(
                    unixUser: body.unixUser, nationalID: body.nationalID, name: body.name, entity: body.entity,
                    role: try signerRole(body.step), onSite: body.onSite, caller: caller)
                return try .json(HolderView(holder), status: 201)
            },
            Route("DELETE", "/v1/holders/{user}", roles: administrators, query: [.oneOf("step", ["first", "second"])]) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let removing: Set<Role> = try request.query["step"].map { [try signerRole($0)] } ?? [.firstSigner, .secondSigner]
                let holder = try await desk.removeHolder(unixUser: request.parameters["user"] ?? "", removing: removing, caller: caller)
                return try .json(HolderView(holder))
            },
            Route("GET", "/v1/registered-tokens", roles: overseers) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                return try .json(try await desk.registeredTokens(caller: caller).map(RegisteredTokenView.init))
            },
            Route("POST", "/v1/registered-tokens", roles: [.administrator, .certificationAuthority]) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let body = try request.decode(TokenRegistration.self)
                let uri = try TokenURI.parse(body.token)
                // Unset: active for the certification authority, issued for anyone else (D6).
                let state: TokenState?
                switch body.state {
                case nil: state = nil
                case "active": state = .active
                case "issued": state = .issued
                case let other?: throw Problem(.invalidField, "state must be issued or active, not '\(other)'")
                }
                let token = try await desk.registerToken(uri, holder: body.holder, state: state, caller: caller)
                return try .json(RegisteredTokenView(token), status: 201)
            },
            Route("POST", "/v1/pin-changes", roles: API.anyRole) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let (fields, pins) = try request.decode(PINChange.self, withPINs: ["oldPin", "newPin"])
                guard let old = pins["oldPin"], let new = pins["newPin"] else {
                    throw Problem(.invalidField, "give oldPin and newPin")
                }
                let uri = try TokenURI.parse(fields.token)
                let token = try await desk.changePIN(uri, old: old, new: new, confirmFinalTry: fields.confirmFinalTry ?? false, caller: caller)
                return try .json(RegisteredTokenView(token))
            },
        ]
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

        init(_ holder: HolderDesk.Holder) {
            let op = holder.op
            let tokens = holder.tokens
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
