public import PaysignDomain
public import PaysignStore

extension OperatorScope {
    /// A caller's scope: its operator's; an administrator named in the configuration but not in
    /// the registry is on the Ministry's side; anyone else has none.
    public static func caller(_ op: Operator?, roles: Set<Role>) -> OperatorScope {
        if let op { return op.scope }
        return roles.contains(.administrator) ? .ministry : .unassigned
    }
}

/// Who asks for a use case, resolved once per request by the edge that received it (the socket's
/// peer credentials, mapped to an operator): the Unix user, the operator, the roles.
public struct Caller: Sendable {
    public var uid: UInt32
    public var userName: String?
    public var op: Operator?
    public var roles: Set<Role>
    /// The registry's generation read before `op` (nil when it was not read with it): a signature
    /// recorded while the registry is still at this generation needs no second look at the rules
    /// that read it (`SignatureDecision.generation`).
    public var generation: Int64?

    public init(uid: UInt32, userName: String?, op: Operator?, roles: Set<Role>, generation: Int64? = nil) {
        self.uid = uid
        self.userName = userName
        self.op = op
        self.roles = roles
        self.generation = generation
    }

    public var name: String { userName ?? "uid \(uid)" }
    public var actor: AuditActor { .user(uid: uid, name: userName, operatorID: op?.id) }
    public var orderActor: OrderActor { OrderActor(operatorID: op?.id, unixUser: name) }
    /// Who the registry checks again inside the transaction that records the caller's act.
    public var decision: ActDecision { ActDecision(operatorID: op?.id, callerName: name) }

    /// The same for an act of the authority or the payment center: one of `roles` still held.
    public func decision(_ roles: Set<Role>, doing: String, rule: RuleNumber?) -> RoleDecision {
        RoleDecision(
            operatorID: op?.id, callerName: name, roles: roles,
            configured: self.roles.contains(.administrator) && !(op?.roles.contains(.administrator) ?? false),
            doing: doing, rule: rule)
    }

    /// The caller's scope (`OperatorScope`): an operator's own; an administrator named in the
    /// configuration but not in the registry is on the Ministry's side; anyone else has none.
    public var scope: OperatorScope { .caller(op, roles: roles) }

    /// Whether the caller may read an entity's orders and events (D3, D13): by its scope alone.
    public func maySee(_ entityCode: String) -> Bool { scope.covers(entityCode) }

    /// Whether the caller may read an operator's record (holders, their tokens, the holders
    /// report): the Ministry's side reads everyone, an entity's operators their entity's people.
    public func mayRead(_ op: Operator) -> Bool {
        if case .ministry = scope { return true }
        return op.entityCode.map(maySee) ?? false
    }
}

/// Turns the value a change answers with into the idempotency record saved in the same
/// transaction as the change (a retried request gets the first answer back, never a second change).
public typealias RecordMaker<T> = @Sendable (T) throws -> IdempotencyRecord

/// A request's checked Idempotency-Key, with its caller's uid and the digest of the request it
/// was sent with: the change it asks for saves its answer under it, in the change's transaction.
public struct IdempotencyKey: Sendable {
    public var uid: UInt32
    public var key: String
    public var digest: SHA256Hex

    public init(uid: UInt32, key: String, digest: SHA256Hex) {
        self.uid = uid
        self.key = key
        self.digest = digest
    }
}
