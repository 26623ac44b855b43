import Foundation
import PaysignApplication
import PaysignDomain
import PaysignPKCS11
import PaysignSecrets
import PaysignStore
import PaysignAPI

/// `/v1/holders` (first- and second-signature holders per entity, D3), `/v1/registered-tokens`
/// (a token bound to its holder, D5) and `/v1/pin-changes` (D5: PINs are changed periodically):
/// decoding and answers; the acts are `HolderDesk`'s.
enum HolderRoutes {
    static func routes(_ desk: HolderDesk, registry: Registry) -> [Route] {
        let administrators: Set<Role> = [.administrator]
        let overseers: Set<Role> = [.administrator, .certificationAuthority, .auditor]
        return [
            Route("GET", "/v1/holders", roles: overseers, query: [.text("entity", maxLength: 64)]) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let holders = try await desk.holders(entity: request.query["entity"], caller: caller)
                return try .json(holders.map(Wire.Holder.init))
            },
            Route("POST", "/v1/holders", roles: administrators) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let body = try request.decode(Wire.NewHolder.self)
                let holder = try await desk.addHolder(
                    unixUser: body.unixUser, nationalID: body.nationalID, name: body.name, entity: body.entity,
                    role: try signerRole(body.step.rawValue), onSite: body.onSite, caller: caller)
                return try .json(Wire.Holder(holder), status: 201)
            },
            Route("DELETE", "/v1/holders/{user}", roles: administrators, query: [.oneOf("step", ["first", "second"])]) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let removing: Set<Role> = try request.query["step"].map { [try signerRole($0)] } ?? [.firstSigner, .secondSigner]
                let holder = try await desk.removeHolder(unixUser: request.parameters["user"] ?? "", removing: removing, caller: caller)
                return try .json(Wire.Holder(holder))
            },
            Route("GET", "/v1/registered-tokens", roles: overseers) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                return try .json(try await desk.registeredTokens(caller: caller).map { try Wire.RegisteredToken($0) })
            },
            Route("POST", "/v1/registered-tokens", roles: [.administrator, .certificationAuthority]) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let body = try request.decode(Wire.TokenRegistration.self)
                let uri = try TokenURI.parse(body.token)
                // Unset: active for the certification authority, issued for anyone else (D6).
                let state: TokenState? = switch body.state {
                case nil: nil
                case .active: .active
                case .issued: .issued
                }
                let token = try await desk.registerToken(uri, holder: body.holder, state: state, caller: caller)
                return try .json(try Wire.RegisteredToken(token), status: 201)
            },
            Route("POST", "/v1/pin-changes", roles: API.anyRole) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let (fields, pins) = try request.decode(Wire.PINChange.self, withPINs: ["oldPin", "newPin"])
                guard let old = pins["oldPin"], let new = pins["newPin"] else {
                    throw Problem(.invalidField, "give oldPin and newPin")
                }
                let uri = try TokenURI.parse(fields.token)
                let token = try await desk.changePIN(uri, old: old, new: new, confirmFinalTry: fields.confirmFinalTry ?? false, caller: caller)
                return try .json(try Wire.RegisteredToken(token))
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
}

extension Wire.Holder {
    init(_ holder: HolderDesk.Holder) {
        let op = holder.op
        self.init(
            id: Int(op.id), unixUser: op.unixUser, name: op.name, entity: op.entityCode,
            steps: (op.roles.contains(.firstSigner) ? [.first] : []) + (op.roles.contains(.secondSigner) ? [.second] : []),
            onSite: op.onSite, tokens: holder.tokens)
    }
}

extension Wire.RegisteredToken {
    init(_ token: TokenRecord) throws {
        self.init(
            id: Int(token.id), serial: token.serial, label: token.label, holder: token.holder.map { Int($0) },
            registeredAt: token.registeredAt, pinChangedAt: token.pinChangedAt,
            certificates: token.certificates.map {
                .init(sha256: $0.sha256.hex, serial: $0.serialHex, subject: $0.subject, notBefore: $0.notBefore, notAfter: $0.notAfter)
            },
            state: try Contract.wire(token.state),
            revocation: token.revocation.map {
                .init(at: $0.at, cause: $0.cause.rawValue, reason: $0.reason.rawValue, invalidityDate: $0.invalidityDate)
            })
    }
}
