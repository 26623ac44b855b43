import Foundation
public import PaysignDomain
public import PaysignStore
import Logging

/// The certification authority's acts on holders (D3, D4, D6): clearance, death notices,
/// retirement dates, the holders report, and the revocation lists it serves and imports. Each act
/// is decided again in the transaction that records it (`RoleDecision`), and every refusal is
/// journaled with its rule.
extension AuthorityDesk {
    /// The operator mapped to a Unix user, or `notFound`.
    public func holder(named user: String) async throws -> Operator {
        guard let op = try await withStore({ try await registry.operator(unixUser: user) }) else {
            throw UseCaseError(.notFound, "\(user) is not an operator")
        }
        return op
    }

    /// A holder who has surrendered every token is cleared (D6).
    public func clear(holder user: String, caller: Caller) async throws -> Operator {
        let op = try await holder(named: user)
        do {
            return try await registry.clearHolder(
                operator: op.id, by: caller.actor,
                decide: caller.decision([.certificationAuthority, .administrator], doing: "the clearance", rule: .d6))
        } catch let refusal as RuleRefusal {
            throw await refuse(caller, UseCaseError(refusal))
        } catch let error as StoreError where error.code == .ruleViolated {
            throw await refuse(caller, UseCaseError(error))
        } catch let error as StoreError {
            throw UseCaseError(error)
        }
    }

    /// What a death notice did: the holder, the tokens it revoked, and whether it came late (D6).
    public struct DeathNoticeOutcome: Codable, Sendable {
        public var holder: Operator
        public var revokedTokens: [String]
        public var delayDays: Int
        public var late: Bool
        public var warning: String?
    }

    /// Records a holder's death: every token of theirs revoked at once; a notice later than a
    /// week after the death is flagged (D6).
    public func recordDeathNotice(holder user: String, _ notice: DeathNotice, caller: Caller) async throws -> DeathNoticeOutcome {
        let op = try await holder(named: user)
        let (holder, revoked): (Operator, [TokenRecord])
        do {
            (holder, revoked) = try await withStore {
                try await registry.recordDeathNotice(
                    operator: op.id, notice, by: caller.actor,
                    decide: caller.decision([.certificationAuthority], doing: "the death notice", rule: .d6))
            }
        } catch let refusal as RuleRefusal {
            throw await refuse(caller, UseCaseError(refusal))
        }
        for token in revoked { announce(token) }
        return DeathNoticeOutcome(
            holder: holder, revokedTokens: revoked.map(\.serial), delayDays: notice.delayDays, late: notice.isLate,
            warning: notice.isLate
                ? "the notice came \(notice.delayDays) days after the death, later than the week rule D6 allows; it is flagged in the journal and the holders report"
                : nil)
    }

    /// A holder's retirement date (nil: none known), for the tokens due to surrender (D6).
    public func setRetirementDate(holder user: String, _ day: CalendarDay?, caller: Caller) async throws -> Operator {
        let op = try await holder(named: user)
        return try await withStore { try await registry.setRetirementDate(operator: op.id, day, by: caller.actor) }
    }

    /// The newest revocation list held (issued here or imported), or `notFound`.
    public func latestCRL() async throws -> StoredCRL {
        guard let stored = try await withStore({ try await registry.latestCRL() }) else {
            throw UseCaseError(.notFound, "no revocation list is held yet")
        }
        return stored
    }

    /// Imports a revocation list sent by a caller; a refused one is evidence too (D6: an older,
    /// forged or expired list) and is journaled.
    public func importCRL(_ bytes: [UInt8], caller: Caller) async throws -> IssuedCRL {
        guard !bytes.isEmpty else { throw UseCaseError(.invalidField, "send the revocation list (DER or PEM) as the body") }
        do {
            return try await importCRL(bytes, by: caller.actor)
        } catch let failure as UseCaseError {
            await registry.journalRefusal(rule: .d6, failure.message, by: caller.actor, logger: logger)
            throw failure
        }
    }

    /// Imports a revocation list the daemon found itself (the configured `crl-watch` folder).
    public func importWatchedCRL(_ bytes: [UInt8]) async throws -> IssuedCRL {
        try await importCRL(bytes, by: .daemon)
    }

    /// The holders report within the caller's scope (an auditor of one entity sees its people),
    /// judged on the desk's clock, its days counted in the configured zone (D3, D4, D6).
    public func holdersReport(entity: String?, caller: Caller) async throws -> HolderReport {
        try await withStore {
            try await HolderReport.make(
                registry: registry, entity: entity, now: clock(), timeZone: timeZone, dormantDays: reportDays.dormant,
                retirementWarningDays: reportDays.retirementWarning, readableBy: caller.mayRead)
        }
    }

    /// Journals a refusal of the authority's side and returns it.
    func refuse(_ caller: Caller, _ failure: UseCaseError) async -> UseCaseError {
        await registry.journalRefusal(failure, by: caller.actor, logger: logger)
    }
}
