/// Whose orders an operator acts on and reads (D3, D9, D13): one entity, or the Ministry's side.
///
/// There is no "nil means everything": an operator tied to an entity acts for that entity alone;
/// the Ministry's side (second signers who represent the Ministry at every entity, the
/// certification authority, the payment center, auditors, administrators) covers every entity;
/// an operator whose roles need an entity but who has none is `unassigned` and covers nothing
/// until an administrator names the entity (`paysignd` names such operators at start-up).
public enum OperatorScope: Sendable, Hashable, CustomStringConvertible {
    case entity(String)
    case ministry
    case unassigned

    /// Roles that only make sense inside one entity: the accounting unit's data entry (D13), its
    /// reviewers (D9) and its first-signature holders (D3).
    public static let entityRoles: Set<Role> = [.dataEntry, .reviewer, .firstSigner]

    /// The scope an operator record gives: its entity when it has one; with none, the Ministry's
    /// side when none of its roles needs an entity, else unassigned.
    public init(entityCode: String?, roles: Set<Role>) {
        if let entityCode {
            self = .entity(entityCode)
        } else if roles.isDisjoint(with: Self.entityRoles) {
            self = .ministry
        } else {
            self = .unassigned
        }
    }

    /// Whether the scope reaches orders and holders of `entityCode`.
    public func covers(_ entityCode: String) -> Bool {
        switch self {
        case .entity(let code): return code == entityCode
        case .ministry: return true
        case .unassigned: return false
        }
    }

    public var description: String {
        switch self {
        case .entity(let code): return "entity '\(code)'"
        case .ministry: return "the Ministry's side"
        case .unassigned: return "no entity"
        }
    }
}

extension Operator {
    /// Whose orders this operator acts on (`OperatorScope`).
    public var scope: OperatorScope { OperatorScope(entityCode: entityCode, roles: roles) }
}

/// D3, D9, D13: an operator acts only on the orders of the entity they work for. One check for
/// every act on an order (upload, review, rejection, signature) and every read of one.
public enum ScopeRule {
    /// Refuses `op` acting on an order of `entityCode`; `doing` names the act in the sentence
    /// ("enters data", "reviews", "signs first").
    public static func check(_ op: Operator, entityCode: String, doing: String, rule: RuleNumber?) throws(RuleRefusal) {
        switch op.scope {
        case .unassigned:
            throw RuleRefusal(
                .notAuthorized, rule,
                "\(op.unixUser) belongs to no entity in the registry; an administrator names their entity before they act on any order")
        case let scope where !scope.covers(entityCode):
            throw RuleRefusal(.notAuthorized, rule, "\(op.unixUser) \(doing) for \(scope), not '\(entityCode)'")
        default:
            return
        }
    }
}
