/// An act on a payment order that an operator asks for.
public enum OrderAct: Sendable, Hashable {
    /// Upload a file as a new draft order (D13: the accounting unit's data entry).
    case upload
    /// Confirm the file number of a draft (D9: a reviewer).
    case review
    /// Refuse an order before it is payable (reviewers and signers).
    case reject
    /// Apply the first or second signature (D2, D3).
    case sign(SignatureStep)
}

/// Whether this operator may do this act to an order of this entity: the role the act needs and
/// the operator's scope (D2, D3, D9, D13). One decision for the request's arrival and for the
/// write transaction that records the act (`Registry`'s `decide:` parameters), so a role removed
/// or an operator moved to another entity in between refuses the act.
public enum OrderActRule {
    /// The operator as the registry holds it (nil: the caller maps to no operator, or was
    /// removed), refused or returned.
    @discardableResult
    public static func check(_ op: Operator?, callerName: String, act: OrderAct, entityCode: String) throws(RuleRefusal) -> Operator {
        switch act {
        case .sign(let step):
            let signer = try SignerRoleRule.check(op, callerName: callerName, step: step)
            try ScopeRule.check(signer, entityCode: entityCode, doing: "is a \(SignerRoleRule.role(for: step).rawValue)", rule: .d3)
            return signer
        case .upload:
            guard let op, op.roles.contains(.dataEntry) else {
                throw RuleRefusal(.notAuthorized, .d13, "\(op?.unixUser ?? callerName) is not a data-entry operator; only the accounting unit's data-entry staff upload orders")
            }
            try ScopeRule.check(op, entityCode: entityCode, doing: "enters data", rule: .d13)
            return op
        case .review:
            guard let op, op.roles.contains(.reviewer) else {
                throw RuleRefusal(.notAuthorized, .d9, "\(op?.unixUser ?? callerName) is not a reviewer")
            }
            try ScopeRule.check(op, entityCode: entityCode, doing: "reviews", rule: .d9)
            return op
        case .reject:
            guard let op, !op.roles.isDisjoint(with: [.reviewer, .firstSigner, .secondSigner]) else {
                throw RuleRefusal(.notAuthorized, nil, "\(op?.unixUser ?? callerName) may not reject orders; reviewers and signers do")
            }
            try ScopeRule.check(op, entityCode: entityCode, doing: "works", rule: nil)
            return op
        }
    }
}
