public import Foundation

// How a holder stands with the Ministry's rules, for the holders report the authority and the
// auditors read (D3, D4, D6). Pure: the registry's facts in, a verdict out; "today" is a day in
// the configured time zone, given by the caller.

/// D4: a signer whose key has gone unused for longer than `dormantDays` (since their last
/// signature, or since they were added when they never signed) is dormant: visible and prunable.
public enum DormancyRule {
    public static func isDormant(
        _ op: Operator, lastSignature: Date?, now: Date, dormantDays: Int
    ) -> Bool {
        guard !op.roles.isDisjoint(with: [.firstSigner, .secondSigner]) else { return false }
        let idleSince = lastSignature ?? op.addedAt
        return now.timeIntervalSince(idleSince) > Double(dormantDays) * 86_400
    }
}

/// D6: a second-signature holder nearing retirement surrenders the token before reaching it; due
/// once the retirement date is within `warningDays` of `today` while a token is still live.
public enum SurrenderDueRule {
    public static func isDue(_ op: Operator, holdsLiveToken: Bool, today: CalendarDay, warningDays: Int) -> Bool {
        guard op.roles.contains(.secondSigner), holdsLiveToken, let retirement = op.service.retirementDate else { return false }
        return retirement.daysSince1970 - today.daysSince1970 <= warningDays
    }
}

/// D3: each entity has at least one first-signature holder permanently present at the workplace.
public enum OnSiteFirstSignerRule {
    /// The codes of the entities among `operators` whose first signers include no on-site one.
    public static func entitiesLacking(_ operators: [Operator]) -> [String] {
        let firstSigners = Dictionary(grouping: operators.filter { $0.roles.contains(.firstSigner) }, by: { $0.entityCode ?? "" })
        return firstSigners.filter { !$0.value.contains(where: \.onSite) }.keys.sorted()
    }
}
