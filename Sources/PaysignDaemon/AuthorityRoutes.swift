import Foundation
import PaysignDomain
import PaysignOpenSSL
import PaysignStore

/// `/v1/registered-tokens/{serial}/transitions` and `…/certificate`, `/v1/certificates`,
/// `/v1/holders/{user}/…` (clearance, death notice, retirement date), `/v1/crl` and
/// `/v1/reports/holders`: the certification authority (D3, D4, D6).
extension AuthorityDesk {
    func routes(dormantDays: Int, retirementWarningDays: Int, timeZone: TimeZone) -> [Route] {
        let desk = self
        let registry = self.registry
        let authority: Set<Role> = [.certificationAuthority]
        let overseers: Set<Role> = [.certificationAuthority, .administrator, .auditor]
        return [
            Route("POST", "/v1/registered-tokens/{serial}/transitions", roles: authority, rule: .d6) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let body = try request.decode(Transition.self)
                guard let action = TokenAction(rawValue: body.action) else {
                    throw Problem(.invalidField, "action must be one of \(TokenAction.allCases.map(\.rawValue).joined(separator: ", ")), not '\(body.action)'")
                }
                var cause: RevocationCause?
                if let text = body.cause {
                    guard let parsed = RevocationCause(rawValue: text) else {
                        throw Problem(.invalidField, "cause must be one of \(RevocationCause.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'")
                    }
                    cause = parsed
                }
                let invalidity = try body.invalidityDate.map { text -> Date in
                    guard let date = Self.time(text) else {
                        throw Problem(.invalidField, "invalidityDate must be an ISO 8601 time (2026-11-20T10:00:00Z) or a day (2026-11-20), not '\(text)'")
                    }
                    return date
                }
                let token = try await desk.transition(
                    serial: request.parameters["serial"] ?? "", action: action, cause: cause, invalidityDate: invalidity,
                    note: body.note, caller: caller)
                return try .json(OrderDesk.RegisteredTokenView(token))
            },
            Route("POST", "/v1/holders/{user}/clearance", roles: [.certificationAuthority, .administrator], rule: .d6) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let op = try await Self.holder(request, registry)
                do {
                    return try .json(try await registry.clearHolder(
                        operator: op.id, by: caller.actor,
                        decide: caller.decision([.certificationAuthority, .administrator], doing: "the clearance", rule: .d6)))
                } catch let refusal as RuleRefusal {
                    _ = try? await registry.append(.refusal(.init(rule: refusal.rule, reason: refusal.message)), by: caller.actor)
                    throw Problem(refusal)
                } catch let error as StoreError where error.code == .ruleViolated {
                    _ = try? await registry.append(.refusal(.init(rule: error.rule, reason: error.message)), by: caller.actor)
                    throw try await storeCall { throw error }
                }
            },
            Route("POST", "/v1/holders/{user}/death-notice", roles: authority, rule: .d6) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let op = try await Self.holder(request, registry)
                let body = try request.decode(DeathNoticeBody.self)
                guard let died = CalendarDay(iso: body.dateOfDeath) else {
                    throw Problem(.invalidField, "dateOfDeath must be YYYY-MM-DD, not '\(body.dateOfDeath)'")
                }
                guard let notified = CalendarDay(iso: body.notifiedOn) else {
                    throw Problem(.invalidField, "notifiedOn must be YYYY-MM-DD, not '\(body.notifiedOn)'")
                }
                let notice = DeathNotice(dateOfDeath: died, notifiedOn: notified, reference: body.reference)
                let (holder, revoked): (Operator, [TokenRecord])
                do {
                    (holder, revoked) = try await storeCall {
                        try await registry.recordDeathNotice(
                            operator: op.id, notice, by: caller.actor,
                            decide: caller.decision([.certificationAuthority], doing: "the death notice", rule: .d6))
                    }
                } catch let refusal as RuleRefusal {
                    _ = try? await registry.append(.refusal(.init(rule: refusal.rule, reason: refusal.message)), by: caller.actor)
                    throw Problem(refusal)
                }
                for token in revoked { desk.announce(token) }
                return try .json(DeathNoticeResult(
                    holder: holder, revokedTokens: revoked.map(\.serial), delayDays: notice.delayDays, late: notice.isLate,
                    warning: notice.isLate ? "the notice came \(notice.delayDays) days after the death, later than the week rule D6 allows; it is flagged in the journal and the holders report" : nil))
            },
            Route("PUT", "/v1/holders/{user}/retirement-date", roles: [.certificationAuthority, .administrator]) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let op = try await Self.holder(request, registry)
                let body = try request.decode(RetirementBody.self)
                let day = try body.retirementDate.map { text -> CalendarDay in
                    guard let day = CalendarDay(iso: text) else { throw Problem(.invalidField, "retirementDate must be YYYY-MM-DD or null, not '\(text)'") }
                    return day
                }
                return try .json(try await storeCall { try await registry.setRetirementDate(operator: op.id, day, by: caller.actor) })
            },
            Route("POST", "/v1/crl", roles: authority) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let (body, pins) = try request.decode(IssueCRL.self, withPINs: ["pin"])
                let pin = try pins.required("pin", "give the PIN of the authority's token (pin)")
                return try .json(try await desk.issueCRL(pin: pin, confirmFinalTry: body.confirmFinalTry ?? false, caller: caller), status: 201)
            },
            Route("POST", "/v1/certificates", roles: authority, rule: .d3) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let (body, pins) = try request.decode(IssueCertificate.self, withPINs: ["pin"])
                let pin = try pins.required("pin", "give the PIN of the authority's token (pin)")
                let days = body.validityDays ?? 730
                guard (1...3650).contains(days) else { throw Problem(.invalidField, "validityDays must be 1 to 3650") }
                return try .json(
                    try await desk.issueCertificate(request: body.csr, holder: body.holder, holderToken: try OrderDesk.tokenURI(body.token), validityDays: days, pin: pin, confirmFinalTry: body.confirmFinalTry ?? false, caller: caller),
                    status: 201)
            },
            // The issued certificate again, from the registry (issue 15: a lost --out file never
            // strands a token); an administrator reads it too, as they read /v1/registered-tokens.
            Route("GET", "/v1/registered-tokens/{serial}/certificate", roles: [.certificationAuthority, .administrator]) { request in
                let copy = try await desk.registeredCertificate(tokenSerial: request.parameters["serial"] ?? "", sha256: request.query["sha256"])
                switch request.query["format"] ?? "json" {
                case "json":
                    return try .json(copy)
                case "pem":
                    return Response(status: 200, headers: [("Content-Type", "application/x-pem-file")], body: .bytes(Array(copy.pem.utf8)))
                case "der":
                    return Response(status: 200, headers: [("Content-Type", "application/pkix-cert"), OrderDesk.attachment("\(copy.serial).cer")], body: .bytes(copy.derEncoded))
                case let other:
                    throw Problem(.invalidField, "format must be json, pem or der, not '\(other)'")
                }
            },
            Route("GET", "/v1/crl", roles: nil) { request in
                guard let stored = try await registry.latestCRL() else {
                    throw Problem(.notFound, "no revocation list is held yet")
                }
                switch request.query["format"] ?? "der" {
                case "der":
                    return Response(status: 200, headers: [("Content-Type", "application/pkix-crl"), OrderDesk.attachment("crl-\(stored.number).crl")], body: .bytes(stored.derEncoded))
                case "pem":
                    return Response(status: 200, headers: [("Content-Type", "application/x-pem-file")], body: .bytes(Array(OrderDesk.pem(stored.derEncoded, label: "X509 CRL").utf8)))
                case let other:
                    throw Problem(.invalidField, "format must be der or pem, not '\(other)'")
                }
            },
            Route("POST", "/v1/crl/imports", roles: [.certificationAuthority, .administrator, .paymentCenter], rule: .d6) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                guard !request.body.isEmpty else { throw Problem(.invalidField, "send the revocation list (DER or PEM) as the body") }
                do {
                    return try .json(try await desk.importCRL(request.body, by: caller.actor), status: 201)
                } catch let problem as Problem {
                    // A refused list is evidence too (D6): an older, forged or expired one.
                    _ = try? await registry.append(.refusal(.init(rule: .d6, reason: String(problem.detail.prefix(500)))), by: caller.actor)
                    throw problem
                }
            },
            Route("GET", "/v1/reports/holders", roles: overseers, rule: .d4) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let report = try await HolderReport.make(
                    registry: registry, entity: request.query["entity"], now: desk.clock(), timeZone: timeZone, dormantDays: dormantDays,
                    retirementWarningDays: retirementWarningDays, readableBy: caller.mayRead)
                switch request.query["format"] ?? "json" {
                case "json": return try .json(report)
                case "csv": return Response(status: 200, headers: [("Content-Type", "text/csv; charset=utf-8")], body: .bytes(Array(report.csv.utf8)))
                case "text": return Response(status: 200, headers: [("Content-Type", "text/plain; charset=utf-8")], body: .bytes(Array(report.text.utf8)))
                case let other: throw Problem(.invalidField, "format must be json, csv or text, not '\(other)'")
                }
            },
        ]
    }

    static func holder(_ request: Request, _ registry: Registry) async throws -> Operator {
        guard let user = request.parameters["user"], let op = try await registry.operator(unixUser: user) else {
            throw Problem(.notFound, "\(request.parameters["user"] ?? "?") is not an operator")
        }
        return op
    }

    static func time(_ text: String) -> Date? {
        if let day = CalendarDay(iso: text) { return Date(timeIntervalSince1970: TimeInterval(day.daysSince1970) * 86_400) }
        return try? Date(text, strategy: .iso8601)
    }

    struct Transition: StrictDecodable {
        var action: String
        var cause: String?
        var invalidityDate: String?
        var note: String?
        static let fieldNames: Set<String> = ["action", "cause", "invalidityDate", "note"]
    }

    struct DeathNoticeBody: StrictDecodable {
        var dateOfDeath: String
        var notifiedOn: String
        var reference: String
        static let fieldNames: Set<String> = ["dateOfDeath", "notifiedOn", "reference"]
    }

    struct DeathNoticeResult: Codable {
        var holder: Operator
        var revokedTokens: [String]
        var delayDays: Int
        var late: Bool
        var warning: String?
    }

    struct RetirementBody: StrictDecodable {
        var retirementDate: String?
        static let fieldNames: Set<String> = ["retirementDate"]
    }

    struct IssueCertificate: StrictDecodable {
        var csr: String
        var holder: String
        /// The PKCS#11 URI of the holder's token, present at issuance: the request's key must be on it.
        var token: String
        var validityDays: Int?
        /// Decoded only as stars: `SecretFields` took the PIN out before.
        var pin: String?
        var confirmFinalTry: Bool?
        static let fieldNames: Set<String> = ["csr", "holder", "token", "validityDays", "pin", "confirmFinalTry"]
    }

    struct IssueCRL: StrictDecodable {
        /// Decoded only as stars: `SecretFields` took the PIN out before.
        var pin: String?
        var confirmFinalTry: Bool?
        static let fieldNames: Set<String> = ["pin", "confirmFinalTry"]
    }
}

/// `paysign report holders`: per entity, who holds what, on site or not, token state, last
/// signature, PIN age; dormant holders (D4), tokens due for surrender (D6), late death notices (D6),
/// entities without an on-site first signer (D3).
struct HolderReport: Codable, Sendable {
    struct Row: Codable, Sendable {
        var entity: String?
        var unixUser: String
        var name: String
        var steps: [String]
        var onSite: Bool
        var tokens: [String]
        var tokenStates: [String]
        var lastSignature: Date?
        var pinAgeDays: Int?
        var dormant: Bool
        var retirementDate: String?
        var dueToSurrender: Bool
        var cleared: Bool
        var deathNotice: String?
        var lateDeathNotice: Bool
    }

    var generatedAt: Date
    var dormantDays: Int
    var retirementWarningDays: Int
    var holders: [Row]
    var entitiesWithoutOnSiteFirstSigner: [String]

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

    static let columns = ["entity", "user", "name", "steps", "on_site", "tokens", "token_states", "last_signature", "pin_age_days",
                          "dormant", "retirement_date", "due_to_surrender", "cleared", "death_notice", "late_death_notice"]

    func values(_ row: Row) -> [String] {
        [row.entity ?? "", row.unixUser, row.name, row.steps.joined(separator: "+"), row.onSite ? "yes" : "no",
         row.tokens.joined(separator: "+"), row.tokenStates.joined(separator: "+"),
         row.lastSignature.map { $0.formatted(Date.ISO8601FormatStyle()) } ?? "never", row.pinAgeDays.map(String.init) ?? "",
         row.dormant ? "yes" : "no", row.retirementDate ?? "", row.dueToSurrender ? "yes" : "no", row.cleared ? "yes" : "no",
         row.deathNotice ?? "", row.lateDeathNotice ? "yes" : "no"]
    }

    var csv: String {
        func quote(_ field: String) -> String {
            var value = field
            if let first = value.first, "=+-@\t\r".contains(first) { value = "'" + value }
            return value.contains(where: { ",\"\n\r".contains($0) }) ? "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : value
        }
        return ([Self.columns.joined(separator: ",")] + holders.map { values($0).map(quote).joined(separator: ",") })
            .joined(separator: "\r\n") + "\r\n"
    }

    var text: String {
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
