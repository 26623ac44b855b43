/// The act's role, held when the act is recorded: the certification authority's acts on tokens and
/// holders (D6), the payment center's presentation of an order for payment. Decided again inside
/// the write transaction that records the act, on the operator as it is then.
public enum RoleHeldRule {
    /// Refuses `op` (nil: no longer in the registry) unless it holds one of `roles`.
    public static func check(_ op: Operator?, callerName: String, roles: Set<Role>, doing: String, rule: RuleNumber?) throws(RuleRefusal) {
        guard let op, !op.roles.isDisjoint(with: roles) else {
            let names = roles.map(\.rawValue).sorted().joined(separator: " or ")
            throw RuleRefusal(
                .notAuthorized, rule,
                "\(op?.unixUser ?? callerName) does not hold the role \(names) when \(doing) is recorded; nothing was recorded")
        }
    }
}
