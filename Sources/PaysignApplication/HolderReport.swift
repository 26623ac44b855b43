public import Foundation
import PaysignDomain
import PaysignStore

/// `paysign report holders`: per entity, who holds what, on site or not, token state, last
/// signature, PIN age; dormant holders (D4), tokens due for surrender (D6), late death notices (D6),
/// entities without an on-site first signer (D3).
public struct HolderReport: Codable, Sendable {
    public struct Row: Codable, Sendable {
        public var entity: String?
        public var unixUser: String
        public var name: String
        public var steps: [String]
        public var onSite: Bool
        public var tokens: [String]
        public var tokenStates: [String]
        public var lastSignature: Date?
        public var pinAgeDays: Int?
        public var dormant: Bool
        public var retirementDate: String?
        public var dueToSurrender: Bool
        public var cleared: Bool
        public var deathNotice: String?
        public var lateDeathNotice: Bool
    }

    public var generatedAt: Date
    public var dormantDays: Int
    public var retirementWarningDays: Int
    public var holders: [Row]
    public var entitiesWithoutOnSiteFirstSigner: [String]

    /// The report as the registry stands; `today` (for retirement dates) is `now`'s day in
    /// `timeZone`, the configured zone as everywhere else in the daemon. The judgments are the
    /// domain's (`DormancyRule`, `SurrenderDueRule`, `OnSiteFirstSignerRule`).
    static func make(
        registry: Registry, entity: String?, now: Date, timeZone: TimeZone, dormantDays: Int, retirementWarningDays: Int,
        readableBy mayRead: (Operator) -> Bool = { _ in true }
    ) async throws -> HolderReport {
        // Within the caller's scope (`Caller.mayRead`): an auditor of one entity sees its people.
        let operators = try await registry.operators().filter { (entity == nil || $0.entityCode == entity) && mayRead($0) }
        let tokens = try await registry.tokens()
        let today = CalendarDay(now, in: timeZone)
        var rows: [Row] = []
        for op in operators {
            let held = tokens.filter { $0.holder == op.id }
            let signs = !op.roles.isDisjoint(with: [.firstSigner, .secondSigner])
            guard signs || !held.isEmpty || op.service.deathNotice != nil || op.service.clearedAt != nil else { continue }
            let last = try await registry.lastSignature(operator: op.id)
            let live = held.filter { !$0.state.isFinal }
            let pinSince = live.map { $0.pinChangedAt ?? $0.registeredAt }.min()
            rows.append(Row(
                entity: op.entityCode, unixUser: op.unixUser, name: op.name,
                steps: (op.roles.contains(.firstSigner) ? ["first"] : []) + (op.roles.contains(.secondSigner) ? ["second"] : []),
                onSite: op.onSite, tokens: held.map(\.serial), tokenStates: held.map(\.state.rawValue), lastSignature: last,
                pinAgeDays: pinSince.map { Int(now.timeIntervalSince($0) / 86_400) },
                dormant: DormancyRule.isDormant(op, lastSignature: last, now: now, dormantDays: dormantDays),
                retirementDate: op.service.retirementDate?.description,
                dueToSurrender: SurrenderDueRule.isDue(op, holdsLiveToken: !live.isEmpty, today: today, warningDays: retirementWarningDays),
                cleared: op.service.clearedAt != nil,
                deathNotice: op.service.deathNotice.map { "died \($0.dateOfDeath), notified \($0.notifiedOn) (\($0.delayDays) days), \($0.reference)" },
                lateDeathNotice: op.service.deathNotice?.isLate ?? false))
        }
        let lacking = OnSiteFirstSignerRule.entitiesLacking(operators)
        return HolderReport(
            generatedAt: now, dormantDays: dormantDays, retirementWarningDays: retirementWarningDays,
            holders: rows.sorted { ($0.entity ?? "", $0.unixUser) < ($1.entity ?? "", $1.unixUser) }, entitiesWithoutOnSiteFirstSigner: lacking)
    }

    public static let columns = ["entity", "user", "name", "steps", "on_site", "tokens", "token_states", "last_signature", "pin_age_days",
                          "dormant", "retirement_date", "due_to_surrender", "cleared", "death_notice", "late_death_notice"]

    public func values(_ row: Row) -> [String] {
        [row.entity ?? "", row.unixUser, row.name, row.steps.joined(separator: "+"), row.onSite ? "yes" : "no",
         row.tokens.joined(separator: "+"), row.tokenStates.joined(separator: "+"),
         row.lastSignature.map { $0.formatted(Date.ISO8601FormatStyle()) } ?? "never", row.pinAgeDays.map(String.init) ?? "",
         row.dormant ? "yes" : "no", row.retirementDate ?? "", row.dueToSurrender ? "yes" : "no", row.cleared ? "yes" : "no",
         row.deathNotice ?? "", row.lateDeathNotice ? "yes" : "no"]
    }

    public var csv: String {
        func quote(_ field: String) -> String {
            var value = field
            if let first = value.first, "=+-@\t\r".contains(first) { value = "'" + value }
            return value.contains(where: { ",\"\n\r".contains($0) }) ? "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : value
        }
        return ([Self.columns.joined(separator: ",")] + holders.map { values($0).map(quote).joined(separator: ",") })
            .joined(separator: "\r\n") + "\r\n"
    }

    public var text: String {
        var out = "Holders report, \(generatedAt.formatted(Date.ISO8601FormatStyle())) (dormant after \(dormantDays) days, D4; retirement within \(retirementWarningDays) days, D6)\n"
        for row in holders {
            var flags: [String] = []
            if row.dormant { flags.append("DORMANT (D4)") }
            if row.dueToSurrender { flags.append("DUE TO SURRENDER (D6)") }
            if row.lateDeathNotice { flags.append("LATE DEATH NOTICE (D6)") }
            if row.cleared { flags.append("cleared") }
            out += "\(row.entity ?? "-")  \(row.unixUser) (\(row.name))  \(row.steps.isEmpty ? "no signing role" : row.steps.joined(separator: "+") + " signer")\(row.onSite ? ", on site" : "")\n"
            out += "    tokens: \(zip(row.tokens, row.tokenStates).map { "\($0) \($1)" }.joined(separator: ", ").ifEmpty("none"))"
            out += "; last signature: \(row.lastSignature.map { $0.formatted(Date.ISO8601FormatStyle()) } ?? "never")"
            out += row.pinAgeDays.map { "; PIN \($0) days old" } ?? ""
            out += flags.isEmpty ? "\n" : "\n    " + flags.joined(separator: ", ") + "\n"
            if let notice = row.deathNotice { out += "    death notice: \(notice)\n" }
        }
        for entity in entitiesWithoutOnSiteFirstSigner { out += "entity \(entity) has no on-site first signer (D3)\n" }
        return out
    }
}

extension String {
    func ifEmpty(_ other: String) -> String { isEmpty ? other : self }
}
