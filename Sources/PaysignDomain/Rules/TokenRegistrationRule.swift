/// D6: the certification authority issues, activates, suspends and revokes tokens. A token that
/// someone else registers (an administrator binding a token certified elsewhere to its holder)
/// starts `issued`, and only the authority makes it `active`; a token is registered only with a
/// certificate that chains to a configured trust anchor (decided by the use case, which holds the
/// anchors: `chainsToAnchor`).
public enum TokenRegistrationRule {
    /// The state a registration starts in: `requested`, or by default `active` for the authority
    /// and `issued` for anyone else. Refused: `active` asked by a caller without the authority's
    /// role, or a state a registration never starts in.
    public static func initialState(requested: TokenState?, callerRoles: Set<Role>, callerName: String) throws(RuleRefusal) -> TokenState {
        let authority = callerRoles.contains(.certificationAuthority)
        let state = requested ?? (authority ? .active : .issued)
        switch state {
        case .issued:
            return .issued
        case .active:
            guard authority else {
                throw RuleRefusal(
                    .notAuthorized, .d6,
                    "\(callerName) is not the certification authority: a token registered by an administrator starts issued, and only the authority activates it")
            }
            return .active
        default:
            throw RuleRefusal(.invalidField, .d6, "a token is registered issued or active, not \(state.rawValue)")
        }
    }

    /// The certificates a registration binds, judged against the anchors: every one must chain
    /// to one of them (`chains` tells, for each certificate, whether it does).
    public static func checkChains(_ chains: [(subject: String, chains: Bool)], anchorsConfigured: Bool) throws(RuleRefusal) {
        guard anchorsConfigured else {
            throw RuleRefusal(
                .ruleViolated, .d6,
                "this daemon has no trust anchors (trust-anchors): a token is registered only with a certificate that chains to the certification authority's")
        }
        if let stray = chains.first(where: { !$0.chains }) {
            throw RuleRefusal(
                .ruleViolated, .d6,
                "the certificate \(stray.subject) on the token chains to no trust anchor of this daemon; only certificates of the certification authority are registered")
        }
    }
}
