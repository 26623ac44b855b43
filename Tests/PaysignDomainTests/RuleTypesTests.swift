import Foundation
import PaysignDomain
import Testing

/// The rule types of `Rules/`, each on its own: the scope of an operator (D3, D9, D13), the act an
/// operator may do to an order (D2, D3, D9, D13), the certificate's role for the step (D2, D3, D13)
/// that the daemon and the payment center both apply, and D11's monthly cashier cap.
@Suite("Rules: one type per rule")
struct RuleTypesTests {
    static let now = Date(timeIntervalSince1970: 1_790_000_000)

    static func op(_ user: String, _ roles: Set<Role>, entity: String?) -> Operator {
        Operator(id: 9, unixUser: user, nationalID: "28001010100011", name: user, entityCode: entity, roles: roles, addedAt: now)
    }

    static func certificate(unit: String?, entity: String? = "EG-0101", organization: String? = "Test Entity EG-0101") -> CertificateFacts {
        CertificateFacts(
            subject: "CN=x", issuer: "CN=ca", serialNumber: "01", sha256: String(repeating: "11", count: 32),
            nationalID: "28001010100011", commonName: "x", organization: organization, organizationalUnit: unit,
            organizationIdentifier: entity, notBefore: now, notAfter: now, hasKeyUsage: true, digitalSignature: true,
            nonRepudiation: true, isCA: false, keyAlgorithm: "rsa", keyBits: 2048)
    }

    // MARK: OperatorScope, ScopeRule (D3, D9, D13)

    @Test("D3, D13: an entity's operator covers that entity only; the Ministry's side covers all; an entity role without an entity covers none")
    func scopes() {
        #expect(Self.op("clerk", [.dataEntry], entity: "EG-0101").scope == .entity("EG-0101"))
        #expect(Self.op("pc", [.paymentCenter, .auditor], entity: nil).scope == .ministry)
        #expect(Self.op("mof", [.secondSigner], entity: nil).scope == .ministry)
        for role in [Role.dataEntry, .reviewer, .firstSigner] {
            #expect(Self.op("x", [role], entity: nil).scope == .unassigned, "\(role)")
            #expect(Self.op("x", [role, .auditor], entity: nil).scope == .unassigned, "\(role) with auditor")
        }
        #expect(OperatorScope.entity("EG-0101").covers("EG-0101"))
        #expect(!OperatorScope.entity("EG-0101").covers("EG-0202"))
        #expect(OperatorScope.ministry.covers("EG-0202"))
        #expect(!OperatorScope.unassigned.covers("EG-0101"))
    }

    @Test("D13, D9: an entity-less data-entry operator or reviewer acts on no entity's order")
    func entityLessOperators() {
        for (act, role, rule) in [(OrderAct.upload, Role.dataEntry, RuleNumber.d13), (.review, .reviewer, .d9)] {
            let refused = Self.refusal { try OrderActRule.check(Self.op("x", [role], entity: nil), callerName: "x", act: act, entityCode: "EG-0101") }
            #expect(refused?.rule == rule, "\(act)")
            #expect(refused?.kind == .notAuthorized)
            #expect(refused?.message.contains("belongs to no entity") == true, "\(refused?.message ?? "")")
        }
        let first = Self.refusal { try OrderActRule.check(Self.op("x", [.firstSigner], entity: nil), callerName: "x", act: .sign(.first), entityCode: "EG-0101") }
        #expect(first?.rule == .d3)
    }

    @Test("D2, D3, D9, D13: each act needs its role, and the entity must be the operator's")
    func acts() {
        let clerk = Self.op("clerk", [.dataEntry], entity: "EG-0101")
        #expect(Self.refusal { try OrderActRule.check(clerk, callerName: "clerk", act: .upload, entityCode: "EG-0101") } == nil)
        #expect(Self.refusal { try OrderActRule.check(clerk, callerName: "clerk", act: .upload, entityCode: "EG-0202") }?.rule == .d13)
        #expect(Self.refusal { try OrderActRule.check(clerk, callerName: "clerk", act: .review, entityCode: "EG-0101") }?.rule == .d9)
        #expect(Self.refusal { try OrderActRule.check(clerk, callerName: "clerk", act: .sign(.first), entityCode: "EG-0101") }?.rule == .d13)
        #expect(Self.refusal { try OrderActRule.check(nil, callerName: "uid 4242", act: .upload, entityCode: "EG-0101") }?.message.contains("uid 4242") == true)
        let reviewer = Self.op("rev", [.reviewer], entity: "EG-0101")
        #expect(Self.refusal { try OrderActRule.check(reviewer, callerName: "rev", act: .review, entityCode: "EG-0101") } == nil)
        #expect(Self.refusal { try OrderActRule.check(reviewer, callerName: "rev", act: .reject, entityCode: "EG-0101") } == nil)
        #expect(Self.refusal { try OrderActRule.check(reviewer, callerName: "rev", act: .review, entityCode: "EG-0202") }?.rule == .d9)
        let ministry = Self.op("mof", [.secondSigner], entity: nil)
        #expect(Self.refusal { try OrderActRule.check(ministry, callerName: "mof", act: .sign(.second), entityCode: "EG-0202") } == nil)
        #expect(Self.refusal { try OrderActRule.check(ministry, callerName: "mof", act: .sign(.first), entityCode: "EG-0202") }?.rule == .d3)
        let auditor = Self.op("aud", [.auditor], entity: nil)
        #expect(Self.refusal { try OrderActRule.check(auditor, callerName: "aud", act: .reject, entityCode: "EG-0101") }?.kind == .notAuthorized)
    }

    // MARK: CertificateRoleRule (D2, D3, D13)

    @Test("D2: the certificate's role must be the step's, for the order's entity; D13: a clerk's certificate never signs")
    func certificateRoles() {
        func findings(_ role: String?, _ certificate: CertificateFacts, entity: String? = "EG-0101") -> [CertificateRoleRule.Finding] {
            CertificateRoleRule.findings(who: "officer", act: "would sign", claimedRole: role, certificate: certificate, entity: entity)
        }
        #expect(findings("first", Self.certificate(unit: "first-signature")).isEmpty)
        #expect(findings("second", Self.certificate(unit: "second-signature")).isEmpty)
        // A first signer's certificate used for the second signature: D2.
        let crossed = findings("second", Self.certificate(unit: "first-signature"))
        #expect(crossed.map(\.rule) == [.d2])
        #expect(crossed.first?.problem == "officer would sign as second, but the certificate's role is first-signature, not second-signature (the Ministry of Finance representative)")
        #expect(findings("first", Self.certificate(unit: "second-signature")).map(\.rule) == [.d2])
        #expect(findings("first", Self.certificate(unit: nil)).first?.problem.contains("role is none") == true)
        #expect(findings("first", Self.certificate(unit: "data-entry")).map(\.rule) == [.d13])
        // Another entity's certificate (D3 by its code), and the Ministry's own for the second.
        #expect(findings("first", Self.certificate(unit: "first-signature", entity: "EG-0202")).map(\.rule) == [.d2])
        #expect(findings("second", Self.certificate(unit: "second-signature", entity: nil, organization: "Ministry of Finance")).isEmpty)
        #expect(findings("second", Self.certificate(unit: "second-signature", entity: "EG-0202", organization: "Ministry of Finance")).count == 1)
        #expect(findings("third", Self.certificate(unit: "first-signature")).first?.problem.contains("claims the role 'third'") == true)
        // Unknown entity (the verifier could not read the document): not compared.
        #expect(findings("first", Self.certificate(unit: "first-signature", entity: "EG-0202"), entity: nil).isEmpty)
    }

    // MARK: CashierCapRule (D11)

    @Test("D11: the month's cashier orders and the new one together must stay within 30,000 EGP")
    func cashierMonth() {
        #expect(CashierCapRule.monthly(total: 1_000_000, othersTotal: 2_000_000, others: 2, year: 2026, month: 12) == nil)
        let over = CashierCapRule.monthly(total: 1_000_001, othersTotal: 2_000_000, others: 2, year: 2026, month: 12)
        #expect(over?.rule == .d11)
        #expect(over?.field == "amount_piasters")
        #expect(over?.message == "With the entity's 2 other cashier order(s) of 2026-12, cashier payments would total 30,000.01 EGP, above the 30,000.00 EGP monthly cap.")
        // One order above the cap alone is the file rule's to report (CashierCapRule.check), not twice.
        #expect(CashierCapRule.monthly(total: 3_000_001, othersTotal: 0, others: 0, year: 2026, month: 3) == nil)
        #expect(CashierCapRule.monthly(total: 3_000_001, othersTotal: 5, others: 1, year: 2026, month: 3) == nil)
    }

    static func refusal<T>(_ body: () throws -> T) -> RuleRefusal? {
        do {
            _ = try body()
            return nil
        } catch {
            return error as? RuleRefusal
        }
    }
}

extension RuleTypesTests {
    // MARK: Holders report (D3, D4, D6)

    @Test("D4: a signer idle longer than the limit is dormant; someone who never signs never is")
    func dormancy() {
        let day: TimeInterval = 86_400
        var officer = Self.op("officer", [.firstSigner], entity: "EG-0101")
        officer.addedAt = Self.now - 100 * day
        #expect(DormancyRule.isDormant(officer, lastSignature: nil, now: Self.now, dormantDays: 90))
        #expect(!DormancyRule.isDormant(officer, lastSignature: Self.now - 10 * day, now: Self.now, dormantDays: 90))
        #expect(!DormancyRule.isDormant(officer, lastSignature: nil, now: Self.now, dormantDays: 120))
        var clerk = Self.op("clerk", [.dataEntry], entity: "EG-0101")
        clerk.addedAt = Self.now - 1000 * day
        #expect(!DormancyRule.isDormant(clerk, lastSignature: nil, now: Self.now, dormantDays: 90))
    }

    @Test("D6: a second signer retiring within the warning days is due to surrender while a token is live")
    func surrenderDue() {
        let today = CalendarDay(year: 2026, month: 12, day: 7)!
        var ministry = Self.op("mof", [.secondSigner], entity: nil)
        ministry.service.retirementDate = CalendarDay(year: 2026, month: 12, day: 30)
        #expect(SurrenderDueRule.isDue(ministry, holdsLiveToken: true, today: today, warningDays: 30))
        #expect(!SurrenderDueRule.isDue(ministry, holdsLiveToken: false, today: today, warningDays: 30))
        #expect(!SurrenderDueRule.isDue(ministry, holdsLiveToken: true, today: today, warningDays: 10))
        var officer = Self.op("officer", [.firstSigner], entity: "EG-0101")
        officer.service.retirementDate = ministry.service.retirementDate
        #expect(!SurrenderDueRule.isDue(officer, holdsLiveToken: true, today: today, warningDays: 30))
    }

    @Test("D3: an entity whose first signers include no on-site one is named")
    func onSiteFirstSigner() {
        var a = Self.op("a", [.firstSigner], entity: "EG-0101")
        a.onSite = true
        let b = Self.op("b", [.firstSigner], entity: "EG-0101")
        let c = Self.op("c", [.firstSigner], entity: "EG-0202")
        let reviewer = Self.op("r", [.reviewer], entity: "EG-0303")
        #expect(OnSiteFirstSignerRule.entitiesLacking([a, b, c, reviewer]) == ["EG-0202"])
    }

    @Test("D6: a registration starts issued unless the authority makes it active; an administrator asking for active is refused; every certificate chains to an anchor")
    func tokenRegistration() throws {
        #expect(try TokenRegistrationRule.initialState(requested: nil, callerRoles: [.administrator], callerName: "root") == .issued)
        #expect(try TokenRegistrationRule.initialState(requested: nil, callerRoles: [.certificationAuthority], callerName: "ca") == .active)
        #expect(try TokenRegistrationRule.initialState(requested: .issued, callerRoles: [.certificationAuthority], callerName: "ca") == .issued)
        #expect(throws: RuleRefusal.self) { try TokenRegistrationRule.initialState(requested: .active, callerRoles: [.administrator], callerName: "root") }
        do {
            _ = try TokenRegistrationRule.initialState(requested: .active, callerRoles: [.administrator], callerName: "root")
        } catch {
            #expect(error.rule == .d6 && error.kind == .notAuthorized)
        }
        #expect(throws: RuleRefusal.self) { try TokenRegistrationRule.initialState(requested: .revoked, callerRoles: [.certificationAuthority], callerName: "ca") }
        try TokenRegistrationRule.checkChains([("CN=a", true), ("CN=b", true)], anchorsConfigured: true)
        #expect(throws: RuleRefusal.self) { try TokenRegistrationRule.checkChains([("CN=a", true), ("CN=stray", false)], anchorsConfigured: true) }
        #expect(throws: RuleRefusal.self) { try TokenRegistrationRule.checkChains([("CN=a", true)], anchorsConfigured: false) }
    }
}
