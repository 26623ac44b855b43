import Foundation
public import PaysignDomain

/// One API request, with the caller's identity from the socket.
public struct Request: Sendable {
    public var method: String
    /// The path without the query, e.g. `/v1/audit`.
    public var path: String
    public var query: [String: String]
    /// Header names in lower case.
    public var headers: [String: String]
    public var body: [UInt8]
    public var peer: PeerCredentials
    /// Path parameters of the matched route (`{id}`).
    public var parameters: [String: String] = [:]
    /// The caller's roles, resolved before the handler runs.
    public var roles: Set<Role> = []
    /// The caller as the router resolved it (routes with roles): its operator record, read once per
    /// request (nil: not resolved, so a handler reads it itself).
    public var resolvedCaller: ResolvedCaller?
}

/// What a handler answers: a body in one piece, or a stream (server-sent events).
public struct Response: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: Body

    public enum Body: Sendable {
        case bytes([UInt8])
        /// Writes chunks until it returns; the connection closes afterwards.
        case stream(@Sendable (_ write: @escaping @Sendable ([UInt8]) async throws -> Void) async throws -> Void)
    }

    public init(status: Int = 200, headers: [(String, String)] = [], body: Body) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    /// A JSON answer.
    public static func json<T: Encodable>(_ value: T, status: Int = 200) throws -> Response {
        Response(status: status, headers: [("Content-Type", "application/json")], body: .bytes(Array(try encoder.encode(value))))
    }

    /// A problem-details answer.
    public static func problem(_ problem: Problem) -> Response {
        Response(status: problem.status, headers: [("Content-Type", "application/problem+json")], body: .bytes(Array(problem.json)))
    }
}

/// A route: method, path pattern (`/v1/orders/{id}`), the roles that may call it (nil: any
/// caller that can reach the socket), and the handler.
public struct Route: Sendable {
    public var method: String
    public var pattern: [Substring]
    public var roles: Set<Role>?
    /// The rule a caller without the roles is refused under (D13: data entry never signs), if one.
    public var rule: RuleNumber?
    /// What else the head alone decides, once the caller has the route's role (the scope of an
    /// upload from its query; on a route open to all, who may never call it): an answer refuses
    /// the request before its body is read.
    public var admitHead: (@Sendable (Request, ResolvedCaller) async -> Response?)?
    /// The query parameters the route takes (`QueryParameter`): any other, or a bad value, is
    /// refused from the head with a problem naming it.
    public var query: [QueryParameter]
    public var handler: @Sendable (Request) async throws -> Response

    public init(
        _ method: String, _ pattern: String, roles: Set<Role>?, rule: RuleNumber? = nil, query: [QueryParameter] = [],
        admitHead: (@Sendable (Request, ResolvedCaller) async -> Response?)? = nil,
        handler: @escaping @Sendable (Request) async throws -> Response
    ) {
        self.query = query
        self.admitHead = admitHead
        self.method = method
        self.pattern = pattern.split(separator: "/")
        self.roles = roles
        self.rule = rule
        self.handler = handler
    }

    /// The path parameters when `parts` (the request's path split at "/") fits the pattern.
    func match(_ parts: [Substring]) -> [String: String]? {
        guard parts.count == pattern.count else { return nil }
        var parameters: [String: String] = [:]
        for (p, actual) in zip(pattern, parts) {
            if p.hasPrefix("{") && p.hasSuffix("}") {
                parameters[String(p.dropFirst().dropLast())] = actual.removingPercentEncoding ?? String(actual)
            } else if p != actual {
                return nil
            }
        }
        return parameters
    }
}

/// Who a caller is in the registry, as the router resolved it before the handler: its roles and,
/// when its Unix user is mapped to one, its operator record.
public struct ResolvedCaller: Sendable {
    public var roles: Set<Role>
    public var op: Operator?

    public init(roles: Set<Role>, op: Operator?) {
        self.roles = roles
        self.op = op
    }
}

/// Resolves who a caller is in the registry: the roles of the operator mapped to its Unix user.
public protocol CallerDirectory: Sendable {
    func resolve(_ peer: PeerCredentials) async throws -> ResolvedCaller
    /// Records that a caller was refused (journaled by the registry, at most once a minute per
    /// caller and `route`, the route's method and pattern).
    func denied(_ peer: PeerCredentials, method: String, path: String, route: String, reason: String) async
}

/// Finds the route, checks the caller's roles, runs the handler, and turns every error into
/// problem details.
public struct Router: Sendable {
    public var routes: [Route]
    public var directory: any CallerDirectory

    public init(routes: [Route], directory: any CallerDirectory) {
        self.routes = routes
        self.directory = directory
    }

    /// What the router says of a request from its head alone, before its body is read.
    public enum Admission: Sendable {
        /// Answer this and read no further (no route, a method not allowed, a caller without the
        /// route's role, journaled as such).
        case refused(Response)
        /// Go on reading; the caller as resolved for a route with roles (nil for an open route).
        case admitted(ResolvedCaller?)
    }

    /// Decides from the head (method, path, the peer's credentials) whether the caller may call
    /// the route, before its body is read: authorization before any side effect.
    public func admit(_ head: Request) async -> Admission {
        // No route or no such method: `respond` answers it once the request is read.
        guard case .found(let route, let parameters) = lookup(head) else { return .admitted(nil) }
        // The query is checked first: a bad parameter is the caller's mistake whoever the caller is,
        // and answering it reveals nothing the route's document does not say.
        if let problem = QueryParameter.check(head.query, against: route.query) { return .refused(.problem(problem)) }
        // A route open to every caller may still refuse from the head (a signature asked by
        // someone who is no operator, or by data entry); one with neither roles nor a head check
        // needs no caller here. Path parameters are checked once the caller may call the route:
        // a stranger probing /v1/orders/0 is refused (and journaled) as on any other id.
        guard route.roles != nil || route.admitHead != nil else {
            return QueryParameter.check(path: parameters).map { .refused(.problem($0)) } ?? .admitted(nil)
        }
        do {
            let resolved = try await directory.resolve(head.peer)
            if let needed = route.roles, let refusal = await refusal(head, route: route, needed: needed, roles: resolved.roles) {
                return .refused(refusal)
            }
            var admitted = head
            admitted.parameters = parameters
            if let check = route.admitHead, let refusal = await check(admitted, resolved) { return .refused(refusal) }
            if let problem = QueryParameter.check(path: parameters) { return .refused(.problem(problem)) }
            // An open route's handler resolves the caller itself (with the registry's generation).
            return .admitted(route.roles == nil ? nil : resolved)
        } catch {
            return .refused(.problem(Problem(answering: error)))
        }
    }

    /// The caller lacks every role of the route: journaled (throttled by the directory) and answered.
    private func refusal(_ request: Request, route: Route, needed: Set<Role>, roles: Set<Role>) async -> Response? {
        guard roles.isDisjoint(with: needed) else { return nil }
        let reason = roles.isEmpty
            ? "\(request.peer.userName ?? "uid \(request.peer.uid)") has no role in paysign's registry"
            : "\(request.peer.userName ?? "uid \(request.peer.uid)") lacks the role \(needed.map(\.rawValue).sorted().joined(separator: " or "))"
        let pattern = "\(route.method) /" + route.pattern.joined(separator: "/")
        await directory.denied(request.peer, method: request.method, path: request.path, route: pattern, reason: reason)
        return .problem(Problem(.notAuthorized, reason + " for \(request.method) \(request.path)", rule: route.rule))
    }

    /// The route a request's method and path name, found once per call.
    enum Lookup {
        case found(Route, parameters: [String: String])
        case noRoute
        case methodNotAllowed(allowed: [String])
    }

    func lookup(_ request: Request) -> Lookup {
        // The path is split once; each route compares its pattern with the parts.
        let parts = request.path.split(separator: "/")
        let candidates = routes.compactMap { route in route.match(parts).map { (route, $0) } }
        guard !candidates.isEmpty else { return .noRoute }
        guard let (route, parameters) = candidates.first(where: { $0.0.method == request.method }) else {
            return .methodNotAllowed(allowed: candidates.map(\.0.method))
        }
        return .found(route, parameters: parameters)
    }

    public func respond(to request: Request) async -> Response {
        let route: Route
        let parameters: [String: String]
        switch lookup(request) {
        case .noRoute:
            return .problem(Problem(.notFound, "no route \(request.path); see /v1/openapi.json"))
        case .methodNotAllowed(let methods):
            let allowed = methods.joined(separator: ", ")
            var response = Response.problem(Problem(.methodNotAllowed, "\(request.method) is not allowed on \(request.path); use \(allowed)"))
            response.headers.append(("Allow", allowed))
            return response
        case .found(let found, let values):
            (route, parameters) = (found, values)
        }
        var request = request
        request.parameters = parameters
        if let problem = QueryParameter.check(request.query, against: route.query) { return .problem(problem) }
        do {
            // A caller admitted from the head (`admit`) was resolved there, once per request; its
            // roles are compared with the route's again all the same (no read).
            if let needed = route.roles {
                let resolved: ResolvedCaller
                if let known = request.resolvedCaller {
                    resolved = known
                } else {
                    resolved = try await directory.resolve(request.peer)
                }
                request.roles = resolved.roles
                request.resolvedCaller = resolved
                if let refusal = await refusal(request, route: route, needed: needed, roles: resolved.roles) { return refusal }
            }
            if let problem = QueryParameter.check(path: parameters) { return .problem(problem) }
            return try await route.handler(request)
        } catch {
            return .problem(Problem(answering: error))
        }
    }
}
