import PaysignApplication
import PaysignDomain
import PaysignStore

extension Caller {
    /// The caller of a request: its peer's Unix user, the operator mapped to it, the roles.
    init(peer: PeerCredentials, op: Operator?, roles: Set<Role>, generation: Int64? = nil) {
        self.init(uid: peer.uid, userName: peer.userName, op: op, roles: roles, generation: generation)
    }

    /// Resolves the caller of a request, once: the router's resolution when it made one.
    static func resolve(_ request: Request, registry: Registry) async throws -> Caller {
        // The router read the operator already for a route with roles: once per request.
        if let resolved = request.resolvedCaller {
            return Caller(peer: request.peer, op: resolved.op, roles: request.roles.isEmpty ? (resolved.op?.roles ?? []) : request.roles)
        }
        // The registry's generation is read with the operator, before every other fact of the
        // request (`SignatureDecision.generation`).
        var op: Operator?
        var generation: Int64?
        if let user = request.peer.userName {
            (op, generation) = try await registry.operatorAndGeneration(unixUser: user)
        } else {
            generation = try await registry.generation()
        }
        // Routes open to any caller resolve no roles before the handler: the operator's own count.
        return Caller(
            peer: request.peer, op: op, roles: request.roles.isEmpty ? (op?.roles ?? []) : request.roles, generation: generation)
    }
}
