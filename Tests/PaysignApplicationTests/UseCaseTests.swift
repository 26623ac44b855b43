import PaysignSecrets
import Foundation
import Logging
import PaysignApplication
import PaysignDomain
import PaysignOpenSSL
import PaysignPKCS11
import PaysignStore
import PaysignTestSupport
import PaysignTokens
import Testing

/// The use cases in process (issue 15): a real registry in a temporary folder, the SoftHSM tokens
/// of the test PKI through p11-kit, a fixed clock and time zone; no socket, no HTTP. OpenSSL judges
/// the signatures.
@Suite("Use cases in process", .serialized, .softHSMInProcess)
struct UseCaseTests {
    static let entity = "EG-0101"
    static let administrator = Caller(uid: 0, userName: "root", op: nil, roles: [.administrator])

    /// Everything a test needs: the desks on one registry and one token service, the clock fixed.
    struct Desks {
        var registry: Registry
        var tokens: TokenService
        var orders: OrderDesk
        var holders: HolderDesk
        var authority: AuthorityDesk
        var folder: URL

        func caller(_ user: String) async throws -> Caller {
            let op = try #require(try await registry.operator(unixUser: user))
            return Caller(uid: 1000, userName: user, op: op, roles: op.roles)
        }

        func close() {
            tokens.close()
            try? registry.close()
            try? FileManager.default.removeItem(at: folder)
        }
    }

    let pki: TestPKI

    init() throws {
        pki = try TestPKI.get()
    }

    /// The desks, with the test PKI's entity, its clerk and reviewer, and officer1 (first) and
    /// ministry (second) holding their tokens. `now` is every desk's clock, `zone` their calendar.
    func desks(now: Date, zone: TimeZone = TimeZone(identifier: "Africa/Cairo")!) async throws -> Desks {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-usecases-\(UUID().uuidString.prefix(8))")
        let clock: @Sendable () -> Date = { now }
        let registry = try await Registry.open(at: folder, clock: clock)
        let tokens = try TokenService(modules: .path(TestPKI.softHSMModule))
        let logger = Logger(label: "paysign.test")
        let locks = KeyedLock()
        let bus = EventBus()
        let orders = OrderDesk(
            registry: registry, tokens: tokens, bus: bus, logger: logger, policy: SigningPolicy(), holidays: [], timeZone: zone,
            pinCache: nil, tokenLocks: locks, clock: clock)
        let root = try Certificate(pemEncoded: String(contentsOf: pki.caPEM, encoding: .utf8))
        let holders = HolderDesk(registry: registry, tokens: tokens, logger: logger, tokenLocks: locks, anchors: [root])
        let authority = AuthorityDesk(
            registry: registry, tokens: tokens, bus: bus, logger: logger, authorityToken: nil, anchors: [], nextUpdateDays: 7,
            timeZone: zone, dormantDays: 90, retirementWarningDays: 30, clock: clock)
        let desks = Desks(registry: registry, tokens: tokens, orders: orders, holders: holders, authority: authority, folder: folder)
        let admin = Self.administrator
        _ = try await registry.addEntity(code: Self.entity, name: "Test Entity", by: admin.actor)
        _ = try await registry.addOperator(
            unixUser: "clerk", nationalID: "29505050100055", name: "Data Entry Clerk", entityCode: Self.entity, roles: [.dataEntry],
            by: admin.actor)
        _ = try await registry.addOperator(
            unixUser: "reviewer", nationalID: "29912120100066", name: "Accounts Reviewer", entityCode: Self.entity, roles: [.reviewer],
            by: admin.actor)
        _ = try await holders.addHolder(
            unixUser: "officer1", nationalID: "28001010100011", name: "Officer One", entity: Self.entity, role: .firstSigner,
            onSite: true, caller: admin)
        _ = try await holders.addHolder(
            unixUser: "ministry", nationalID: "27503030100033", name: "MoF Representative", entity: Self.entity, role: .secondSigner,
            onSite: false, caller: admin)
        // The certification authority registers the tokens active (D6), an operator of the
        // registry whose role is checked again when the registration is recorded.
        _ = try await registry.addOperator(
            unixUser: "authority", nationalID: "28806060100066", name: "e-Certification Unit", entityCode: nil,
            roles: [.certificationAuthority], by: admin.actor)
        let certifier = try await desks.caller("authority")
        for (label, user) in [("officer1", "officer1"), ("ministry", "ministry")] {
            _ = try await holders.registerToken(try TokenURI.parse(pki.token(label).uri), holder: user, state: .active, caller: certifier)
        }
        return desks
    }

    /// A one-line supplier order file, and its metadata: value date the 25th of next month.
    func orderFile(now: Date, zone: TimeZone) throws -> (OrderMetadata, [UInt8]) {
        let script = TestPKI.repositoryRoot.appendingPathComponent("scripts/make-payroll.py").path
        let csv = try Shell.run("python3", [script, "1", "7"])
        guard csv.status == 0 else { throw Shell.Failure(message: "make-payroll.py: \(csv.stderr)") }
        let today = CalendarDay(now, in: zone)
        let next = today.month == 12 ? (today.year + 1, 1) : (today.year, today.month + 1)
        let valueDate = try #require(CalendarDay(year: next.0, month: next.1, day: 25))
        return (OrderMetadata(entityCode: Self.entity, kind: .supplier, valueDate: valueDate), Array(csv.stdout.utf8))
    }

    @Test("upload, review, first and second signature: each act on the injected clock, OpenSSL verifies the result")
    func wholeOrder() async throws {
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let zone = TimeZone(identifier: "Africa/Cairo")!
        let desks = try await desks(now: now, zone: zone)
        defer { desks.close() }
        let (metadata, file) = try orderFile(now: now, zone: zone)

        let uploaded = try await desks.orders.create(metadata: metadata, file: file, caller: try await desks.caller("clerk"), idempotency: nil)
        #expect(uploaded.state == .draft)
        #expect(uploaded.createdAt == now)
        let reviewed = try await desks.orders.review(
            uploaded.id, fileNumber: uploaded.fileNumber, caller: try await desks.caller("reviewer"), idempotency: nil)
        #expect(reviewed.state == .reviewed)

        let officer1 = pki.token("officer1"), ministry = pki.token("ministry")
        let first = try await desks.orders.sign(
            .init(orderID: uploaded.id, step: .first, token: try TokenURI.parse(officer1.uri), fileNumber: nil, confirmFinalTry: false),
            pin: PIN(officer1.pin), caller: try await desks.caller("officer1"), idempotency: nil)
        #expect(first.order.state == .firstSigned)
        #expect(first.signature.signedAt == now)
        let second = try await desks.orders.sign(
            .init(orderID: uploaded.id, step: .second, token: try TokenURI.parse(ministry.uri), fileNumber: uploaded.fileNumber,
                  confirmFinalTry: false),
            pin: PIN(ministry.pin), caller: try await desks.caller("ministry"), idempotency: nil)
        #expect(second.order.state == .payable)

        let (_, document) = try await desks.orders.document(of: uploaded.id, caller: try await desks.caller("ministry"))
        let (_, der) = try await desks.orders.signedData(of: uploaded.id, caller: try await desks.caller("ministry"))
        #expect(try pki.openSSLVerifies(p7s: Data(der), document: Data(document)))
    }

    @Test("typed refusals: a second signature with a first signer's token (D2), an upload for another entity (D13), another's order unseen")
    func refusals() async throws {
        let now = Date()
        let zone = TimeZone(identifier: "Africa/Cairo")!
        let desks = try await desks(now: now, zone: zone)
        defer { desks.close() }
        let (metadata, file) = try orderFile(now: now, zone: zone)
        let clerk = try await desks.caller("clerk")
        let order = try await desks.orders.create(metadata: metadata, file: file, caller: clerk, idempotency: nil)

        // D13: the clerk's scope is its own entity.
        var elsewhere = metadata
        elsewhere.entityCode = "EG-0999"
        let scope = await #expect(throws: UseCaseError.self) {
            try await desks.orders.create(metadata: elsewhere, file: file, caller: clerk, idempotency: nil)
        }
        #expect(scope?.kind == .notAuthorized)
        #expect(scope?.rule == .d13)

        // The first signer asks for the second step: refused before the token is touched (D2).
        _ = try await desks.orders.review(order.id, fileNumber: order.fileNumber, caller: try await desks.caller("reviewer"), idempotency: nil)
        let officer1 = pki.token("officer1")
        let wrongStep = await #expect(throws: UseCaseError.self) {
            try await desks.orders.sign(
                .init(orderID: order.id, step: .second, token: try TokenURI.parse(officer1.uri), fileNumber: order.fileNumber,
                      confirmFinalTry: false),
                pin: PIN("000000"), caller: try await desks.caller("officer1"), idempotency: nil)
        }
        #expect(wrongStep?.rule == .d2)
        #expect(wrongStep?.kind == .notAuthorized || wrongStep?.kind == .ruleViolated)
        // No PIN was tried: the token's PIN state is untouched (the wrong PIN above never reached it).
        let slot = try await desks.tokens.library.token(matching: PKCS11URI(officer1.uri))
        let pinState = try await slot.tokenInfo().pinState
        #expect(!pinState.contains(.countLow))

        // An operator without a scope sees no order at all.
        let stranger = Caller(uid: 4242, userName: "stranger", op: nil, roles: [])
        let unseen = await #expect(throws: UseCaseError.self) { try await desks.orders.visibleOrder(order.id, to: stranger) }
        #expect(unseen?.kind == .notFound)
        #expect(try await desks.orders.orders(OrderFilter(), caller: stranger).isEmpty)
    }

    @Test("D6: an administrator registers a token issued, never active; a certificate that chains to no trust anchor is not registered")
    func registration() async throws {
        let desks = try await desks(now: Date())
        defer { desks.close() }
        let admin = Self.administrator
        _ = try await desks.holders.addHolder(
            unixUser: "officer2", nationalID: "28502020100022", name: "Officer Two", entity: Self.entity, role: .firstSigner, onSite: false,
            caller: admin)
        let officer2 = try TokenURI.parse(pki.token("officer2").uri)
        let active = await #expect(throws: UseCaseError.self) {
            try await desks.holders.registerToken(officer2, holder: "officer2", state: .active, caller: admin)
        }
        #expect(active?.rule == .d6 && active?.kind == .notAuthorized, "\(String(describing: active))")
        let registered = try await desks.holders.registerToken(officer2, holder: "officer2", state: nil, caller: admin)
        #expect(registered.state == .issued)

        // A daemon whose anchors are not the test PKI's: the same token chains to none of them.
        let stranger = try Certificate(pemEncoded: String(contentsOf: pki.certificatePEM("officer1"), encoding: .utf8))
        for anchors in [[], [stranger]] {
            let elsewhere = HolderDesk(registry: desks.registry, tokens: desks.tokens, logger: Logger(label: "t"), tokenLocks: KeyedLock(), anchors: anchors)
            let refused = await #expect(throws: UseCaseError.self) {
                try await elsewhere.registerToken(officer2, holder: "officer2", state: nil, caller: try await desks.caller("authority"))
            }
            #expect(refused?.rule == .d6 && refused?.kind == .ruleViolated, "\(String(describing: refused))")
        }
    }

    @Test("the holders report counts days in the injected zone (D6: due to surrender 30 days before retirement)")
    func reportInZone() async throws {
        // 23:00 UTC on 10 January is already 11 January in Cairo: a retirement on 10 February is
        // 30 days away there (due), 31 in UTC (not yet).
        let now = try #require(ISO8601DateFormatter().date(from: "2027-01-10T23:00:00Z"))
        for (zone, due) in [(TimeZone(identifier: "Africa/Cairo")!, true), (TimeZone.gmt, false)] {
            let desks = try await desks(now: now, zone: zone)
            defer { desks.close() }
            let admin = Self.administrator
            _ = try await desks.authority.setRetirementDate(holder: "ministry", CalendarDay(year: 2027, month: 2, day: 10), caller: admin)
            let report = try await desks.authority.holdersReport(entity: nil, caller: admin)
            let row = try #require(report.holders.first { $0.unixUser == "ministry" })
            #expect(row.dueToSurrender == due, "in \(zone.identifier)")
            #expect(report.generatedAt == now)
        }
    }
}
