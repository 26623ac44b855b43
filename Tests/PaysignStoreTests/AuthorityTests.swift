import Foundation
import PaysignDomain
import PaysignTestSupport
import Synchronization
import Testing

@testable import PaysignStore

/// A clock the test moves by hand.
final class SettableClock: Sendable {
    private let instant: Mutex<Date>

    init(_ iso: String) { instant = Mutex(AuthorityFixture.date(iso)) }

    func set(_ iso: String) { instant.withLock { $0 = AuthorityFixture.date(iso) } }

    var clock: @Sendable () -> Date { { [self] in instant.withLock { $0 } } }
}

/// People, tokens and expectations for the certification-authority tests. Every expected value is
/// written out here rather than taken from the code under test (`TokenState.allows`,
/// `RevocationCause.reason`, …), so a mistake there shows.
enum AuthorityFixture {
    static let now = "2026-11-20T10:00:00.000Z"
    static let ramiID = "29505050101010"
    static let daveID = "29912310101010"

    static func date(_ iso: String) -> Date {
        try! Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(iso)
    }

    static func day(_ iso: String) -> CalendarDay { CalendarDay(iso: iso)! }

    static let carolCertificate = Result { try TestCertificates.make(commonName: "Carol", nationalID: Fixture.carolID) }
    static let ramiCertificate = Result { try TestCertificates.make(commonName: "Rami", nationalID: ramiID) }
    static let bobSecondCertificate = Result { try TestCertificates.make(commonName: "Bob (2)", nationalID: Fixture.bobID) }

    /// The lifecycle as the authority's procedure describes it (D6).
    static let allowed: [TokenState: [TokenAction]] = [
        .issued: [.activate, .surrender, .revoke],
        .active: [.suspend, .surrender, .revoke],
        .suspended: [.resume, .surrender, .revoke],
        .surrendered: [],
        .revoked: [],
    ]

    static let target: [TokenAction: TokenState] = [
        .activate: .active, .suspend: .suspended, .resume: .active, .surrender: .surrendered, .revoke: .revoked,
    ]

    static let pastTense: [TokenAction: String] = [
        .activate: "activated", .suspend: "suspended", .resume: "resumed", .surrender: "surrendered", .revoke: "revoked",
    ]

    /// RFC 5280 5.3.1 reason per cause.
    static let reason: [RevocationCause: RevocationReason] = [
        .retirement: .cessationOfOperation,
        .transfer: .affiliationChanged,
        .secondment: .affiliationChanged,
        .loss: .keyCompromise,
        .pinDisclosed: .keyCompromise,
        .death: .cessationOfOperation,
        .withdrawal: .privilegeWithdrawn,
        .replaced: .superseded,
        .other: .unspecified,
    ]

    struct People {
        /// First signer (and auditor), on-site.
        var alice: Operator
        /// First signer, not on-site.
        var bob: Operator
        /// Second signer, no entity.
        var carol: Operator
        /// Reviewer only: holds a token without signing roles.
        var rami: Operator
    }

    /// An entity with its two first signers (alice on-site, bob), a second signer and a reviewer.
    static func populate(_ registry: Registry) async throws -> People {
        try await registry.addEntity(code: Fixture.entity, name: "Ministry of Finance, Cairo", by: Fixture.admin)
        func add(_ user: String, _ id: String, _ entity: String?, _ roles: Set<Role>, onSite: Bool = false) async throws
            -> Operator
        {
            try await registry.addOperator(
                unixUser: user, nationalID: id, name: user.capitalized, entityCode: entity, roles: roles, onSite: onSite,
                by: Fixture.admin)
        }
        return People(
            alice: try await add("alice", Fixture.aliceID, Fixture.entity, [.firstSigner, .auditor], onSite: true),
            bob: try await add("bob", Fixture.bobID, Fixture.entity, [.firstSigner]),
            carol: try await add("carol", Fixture.carolID, nil, [.secondSigner]),
            rami: try await add("rami", ramiID, Fixture.entity, [.reviewer]))
    }

    /// Registers a token and brings it to `state` through the registry's own transitions.
    @discardableResult
    static func token(
        _ registry: Registry, _ serial: String, holder: Operator.ID?, certificates: [[UInt8]] = [],
        in state: TokenState, cause: RevocationCause = .other, invalidityDate: Date? = nil
    ) async throws -> TokenRecord {
        let registered = try await registry.registerToken(
            serial: serial, label: "\(serial) token", holder: holder, certificates: certificates,
            state: state == .issued ? .issued : .active, by: Fixture.admin)
        switch state {
        case .issued, .active:
            return registered
        case .suspended:
            return try await registry.transitionToken(id: registered.id, action: .suspend, by: Fixture.admin)
        case .surrendered:
            return try await registry.transitionToken(
                id: registered.id, action: .surrender, cause: cause, invalidityDate: invalidityDate, by: Fixture.admin)
        case .revoked:
            return try await registry.transitionToken(
                id: registered.id, action: .revoke, cause: cause, invalidityDate: invalidityDate, by: Fixture.admin)
        }
    }

    /// `serial=…` as `openssl x509` prints it, independently of the store's parser.
    static func opensslSerial(_ der: [UInt8]) throws -> String {
        let result = try Shell.run("openssl", ["x509", "-inform", "DER", "-noout", "-serial"], stdin: Data(der))
        guard result.status == 0 else { throw Shell.Failure(message: "openssl x509 failed: \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "serial=", with: "")
    }

    static func crlBytes(_ marker: UInt8) -> [UInt8] { [0x30, 0x03, 0x02, 0x01, marker] }
}

/// Note: refusals are bound to a `let` before `#expect`, never written as
/// `#expect(await expectStoreError { … }?.code == …)`. With Swift 6.3.1, inside a closure passed to
/// `withRegistry`/`withTemporaryDirectory`, a closure written inside `#expect` and a later plain
/// closure of the same type get mixed up: the later `expectStoreError { B }` runs A (seen here:
/// `signSecond` ran `signFirst` again).
@Suite("Certification authority: token lifecycle (D6), revocation frees D3 places, holders' service, CRLs")
struct AuthorityTests {
    typealias F = AuthorityFixture

    // MARK: Lifecycle

    @Test(
        "D6: every action from every state: the allowed ones move the token and journal it, the others are wrong-state and write nothing",
        arguments: TokenState.allCases, TokenAction.allCases)
    func transitions(from: TokenState, action: TokenAction) async throws {
        let clock = SettableClock("2026-11-19T08:00:00.000Z")
        try await withRegistry(clock: clock.clock) { registry, _ in
            let people = try await F.populate(registry)
            let token = try await F.token(registry, "T1", holder: people.rami.id, in: from)
            #expect(token.state == from)
            clock.set(F.now)
            let head = try await registry.journalHead()
            let ending = action == .revoke || action == .surrender
            let cause: RevocationCause? = ending ? .replaced : nil

            let allowed = F.allowed[from]!
            guard allowed.contains(action) else {
                let error = await expectStoreError {
                    try await registry.transitionToken(id: token.id, action: action, cause: cause, by: Fixture.admin)
                }
                #expect(error?.code == .wrongState)
                #expect(error?.rule == .d6)
                #expect(error?.field == "action")
                let tail =
                    allowed.isEmpty
                    ? "; it is out of service for good."
                    : " (allowed: \(allowed.map(\.rawValue).joined(separator: ", ")))."
                #expect(
                    error?.message == "The token 'T1' is \(from.rawValue): it cannot be \(F.pastTense[action]!)\(tail)")
                #expect(try await registry.token(id: token.id) == token)
                #expect(try await registry.journalHead() == head)
                return
            }

            let moved = try await registry.transitionToken(id: token.id, action: action, cause: cause, by: Fixture.admin)
            let to = F.target[action]!
            #expect(moved.state == to)
            #expect(moved.serial == "T1" && moved.holder == people.rami.id)
            #expect(try await registry.token(id: token.id) == moved)
            #expect(try await registry.token(serial: "T1") == moved)
            #expect(try await registry.tokens().first { $0.id == token.id }?.state == to)
            #expect(try await registry.unsafeStrings("SELECT state FROM tokens WHERE serial = 'T1'") == [to.rawValue])
            if ending {
                #expect(
                    moved.revocation
                        == TokenRevocation(at: F.date(F.now), cause: .replaced, reason: .superseded, invalidityDate: nil))
            } else {
                #expect(moved.revocation == nil)
            }
            let entries = try await registry.auditEntries(after: head.seq)
            // rami holds no signing role: no role-changed.
            #expect(
                entries.map(\.event) == [
                    .tokenStateChanged(
                        .init(
                            tokenID: token.id, serial: "T1", action: action, from: from, to: to, holder: people.rami.id,
                            cause: cause, reason: ending ? .superseded : nil, invalidityDate: nil, note: nil))
                ])
            #expect(entries.first?.actor == Fixture.admin)
            #expect(try await registry.verifyJournal().isIntact)
        }
    }

    @Test("D6: a lost token is suspended, found and resumed, and can go round again; then it is revoked for good")
    func suspendResumeRoundTrip() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            let people = try await F.populate(registry)
            let issued = try await F.token(
                registry, "A1", holder: people.alice.id, certificates: [try TestCertificates.alice.get()], in: .issued)
            var token = try await registry.transitionToken(id: issued.id, action: .activate, by: Fixture.admin)
            for _ in 0..<2 {
                token = try await registry.transitionToken(id: token.id, action: .suspend, note: "reported lost", by: Fixture.admin)
                #expect(token.state == .suspended)
                token = try await registry.transitionToken(id: token.id, action: .resume, note: "found", by: Fixture.admin)
                #expect(token.state == .active)
            }
            // Suspending and resuming never touch the holder's roles.
            #expect(try await registry.operator(id: people.alice.id)?.roles == [.firstSigner, .auditor])
            let kinds = try await registry.auditEntries().suffix(5).map(\.event.kind)
            #expect(kinds == Array(repeating: AuditKind.tokenStateChanged, count: 5))
            guard case .tokenStateChanged(let detail) = try await registry.auditEntries().last?.event else {
                Issue.record("expected token-state-changed")
                return
            }
            #expect(detail.note == "found" && detail.action == .resume && detail.from == .suspended && detail.to == .active)

            token = try await registry.transitionToken(id: token.id, action: .revoke, cause: .loss, by: Fixture.admin)
            for action in TokenAction.allCases {
                let error = await expectStoreError {
                    try await registry.transitionToken(
                        id: token.id, action: action, cause: action == .revoke || action == .surrender ? .other : nil,
                        by: Fixture.admin)
                }
                #expect(error?.code == .wrongState)
            }
        }
    }

    @Test("registerToken(state:) registers a token issued or active, nothing else (D6)")
    func registerState() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            let people = try await F.populate(registry)
            let issued = try await registry.registerToken(
                serial: "A1", label: "Alice", holder: people.alice.id, certificates: [try TestCertificates.alice.get()],
                state: .issued, by: Fixture.admin)
            #expect(issued.state == .issued && issued.revocation == nil)
            #expect(try await registry.token(id: issued.id) == issued)
            let active = try await registry.registerToken(
                serial: "B0B", label: "Bob", holder: people.bob.id, certificates: [], by: Fixture.admin)
            #expect(active.state == .active)
            #expect(try await registry.token(id: active.id) == active)
            let head = try await registry.journalHead()
            for state in [TokenState.suspended, .surrendered, .revoked] {
                let error = await expectStoreError {
                    try await registry.registerToken(
                        serial: "X-\(state.rawValue)", label: "", holder: nil, certificates: [], state: state, by: Fixture.admin)
                }
                #expect(error?.code == .invalidField)
                #expect(error?.field == "state")
            }
            #expect(try await registry.journalHead() == head)
            #expect(try await registry.tokens().map(\.serial) == ["A1", "B0B"])
        }
    }

    // MARK: Causes and reasons

    @Test(
        "D6: each cause of a revocation or surrender maps to its RFC 5280 reason, is stored on the token and journaled with the invalidity date",
        arguments: RevocationCause.allCases, [TokenAction.revoke, .surrender])
    func causeAndReason(cause: RevocationCause, action: TokenAction) async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            let people = try await F.populate(registry)
            let token = try await F.token(
                registry, "A1", holder: people.alice.id, certificates: [try TestCertificates.alice.get()], in: .active)
            let head = try await registry.journalHead()
            let invalidity = "2026-11-18T10:00:00.000Z"
            let reason = F.reason[cause]!
            let ended = try await registry.transitionToken(
                id: token.id, action: action, cause: cause, invalidityDate: F.date(invalidity), note: "letter 77",
                by: Fixture.admin)
            let to: TokenState = action == .revoke ? .revoked : .surrendered
            let revocation = TokenRevocation(at: F.date(F.now), cause: cause, reason: reason, invalidityDate: F.date(invalidity))
            #expect(ended.state == to)
            #expect(ended.revocation == revocation)
            #expect(try await registry.token(id: token.id)?.revocation == revocation)
            #expect(
                try await registry.unsafeStrings(
                    "SELECT revocationCause || ' ' || revocationReason || ' ' || invalidityDate FROM tokens WHERE serial = 'A1'")
                    == ["\(cause.rawValue) \(reason.rawValue) \(invalidity)"])
            #expect(
                try await registry.auditEntries(after: head.seq).map(\.event) == [
                    .tokenStateChanged(
                        .init(
                            tokenID: token.id, serial: "A1", action: action, from: .active, to: to, holder: people.alice.id,
                            cause: cause, reason: reason, invalidityDate: invalidity, note: "letter 77")),
                    .roleChanged(
                        .init(operatorID: people.alice.id, unixUser: "alice", before: [.firstSigner, .auditor], after: [.auditor])),
                ])
            // The journal's JSON says it too, as an auditor reading the file would see it.
            let json = try #require(try await registry.auditEntries(after: head.seq).first?.detailJSON)
            #expect(json.contains("\"reason\":\"\(reason.rawValue)\""))
            #expect(json.contains("\"cause\":\"\(cause.rawValue)\""))
        }
    }

    @Test("D6: revoke and surrender need a cause; suspend takes none; the invalidity date is not in the future; nothing written")
    func transitionArguments() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            let people = try await F.populate(registry)
            let token = try await F.token(
                registry, "A1", holder: people.alice.id, certificates: [try TestCertificates.alice.get()], in: .active)
            let head = try await registry.journalHead()
            func refused(
                _ action: TokenAction, cause: RevocationCause? = nil, invalidity: String? = nil, note: String? = nil,
                id: TokenRecord.ID? = nil
            ) async -> StoreError? {
                await expectStoreError {
                    try await registry.transitionToken(
                        id: id ?? token.id, action: action, cause: cause, invalidityDate: invalidity.map(F.date), note: note,
                        by: Fixture.admin)
                }
            }
            for action in [TokenAction.revoke, .surrender] {
                let error = await refused(action)
                #expect(error?.code == .invalidField)
                #expect(error?.field == "cause")
                #expect(error?.message.hasPrefix("Give the cause of the \(action.rawValue): ") == true)
                #expect(error?.message.contains("pin-disclosed") == true)
            }
            let onSuspend = await refused(.suspend, cause: .loss)
            #expect(onSuspend?.code == .invalidField)
            #expect(onSuspend?.field == "cause")
            #expect(await refused(.suspend, invalidity: "2026-11-19T00:00:00.000Z")?.code == .invalidField)
            #expect(await refused(.activate, cause: .other)?.code == .invalidField)
            #expect(await refused(.resume, cause: .replaced)?.code == .invalidField)

            for future in ["2026-11-21T10:00:00.000Z", "2026-11-20T10:02:00.000Z"] {
                let error = await refused(.revoke, cause: .loss, invalidity: future)
                #expect(error?.code == .invalidField)
                #expect(error?.field == "invalidityDate")
            }
            let longNote = await refused(.revoke, cause: .other, note: String(repeating: "x", count: 501))
            #expect(longNote?.field == "note")
            let unknown = await refused(.revoke, cause: .loss, id: token.id + 100)
            #expect(unknown?.code == .unknownToken)
            #expect(unknown?.field == "token")

            #expect(try await registry.journalHead() == head)
            #expect(try await registry.token(id: token.id) == token)
            #expect(try await registry.operator(id: people.alice.id)?.roles == [.firstSigner, .auditor])

            // Now, and a moment ago, are fine.
            let ended = try await registry.transitionToken(
                id: token.id, action: .revoke, cause: .loss, invalidityDate: F.date(F.now), by: Fixture.admin)
            #expect(ended.revocation?.invalidityDate == F.date(F.now))
        }
    }

    // MARK: D3 places

    @Test("D3: revoking a first signer's only token frees their place; the third first signer can then be added")
    func revocationFreesFirstSignerPlace() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            let people = try await F.populate(registry)
            let token = try await F.token(
                registry, "A1", holder: people.alice.id, certificates: [try TestCertificates.alice.get()], in: .active)
            func addDave() async throws -> Operator {
                try await registry.addOperator(
                    unixUser: "dave", nationalID: F.daveID, name: "Dave", entityCode: Fixture.entity, roles: [.firstSigner],
                    onSite: true, by: Fixture.admin)
            }
            let third = await expectStoreError { try await addDave() }
            #expect(third?.code == .ruleViolated)
            #expect(third?.rule == .d3)

            let head = try await registry.journalHead()
            try await registry.transitionToken(id: token.id, action: .revoke, cause: .transfer, by: Fixture.admin)
            let alice = try #require(try await registry.operator(id: people.alice.id))
            #expect(alice.roles == [.auditor])
            let entries = try await registry.auditEntries(after: head.seq)
            #expect(entries.map(\.event.kind) == [.tokenStateChanged, .roleChanged])
            #expect(
                entries.last?.event
                    == .roleChanged(.init(operatorID: alice.id, unixUser: "alice", before: [.firstSigner, .auditor], after: [.auditor])))

            let dave = try await addDave()
            #expect(dave.roles == [.firstSigner])
            // The limit still holds with dave: two again.
            let fourth = await expectStoreError {
                try await registry.setRoles(operator: people.rami.id, roles: [.firstSigner], by: Fixture.admin)
            }
            #expect(fourth?.rule == .d3)
        }
    }

    @Test("D3: a surrender frees the place as a revocation does; a second signer loses the second-signer role")
    func surrenderRemovesSigningRoles() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            let people = try await F.populate(registry)
            let bobToken = try await F.token(
                registry, "B0B", holder: people.bob.id, certificates: [try TestCertificates.bob.get()], in: .suspended)
            let carolToken = try await F.token(
                registry, "C1", holder: people.carol.id, certificates: [try F.carolCertificate.get()], in: .issued)
            try await registry.transitionToken(id: bobToken.id, action: .surrender, cause: .retirement, by: Fixture.admin)
            #expect(try await registry.operator(id: people.bob.id)?.roles == [])
            try await registry.transitionToken(id: carolToken.id, action: .revoke, cause: .secondment, by: Fixture.admin)
            #expect(try await registry.operator(id: people.carol.id)?.roles == [])
            let roleChanges = try await registry.auditEntries().compactMap { entry -> AuditEvent.RoleChanged? in
                guard case .roleChanged(let detail) = entry.event else { return nil }
                return detail
            }
            #expect(
                roleChanges == [
                    .init(operatorID: people.bob.id, unixUser: "bob", before: [.firstSigner], after: []),
                    .init(operatorID: people.carol.id, unixUser: "carol", before: [.secondSigner], after: []),
                ])
            try await registry.addOperator(
                unixUser: "dave", nationalID: F.daveID, name: "Dave", entityCode: Fixture.entity, roles: [.firstSigner],
                by: Fixture.admin)
        }
    }

    @Test("D3: a holder with another live token (even suspended) keeps the signing roles; the last one ending takes them")
    func anotherLiveTokenKeepsRoles() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            let people = try await F.populate(registry)
            let first = try await F.token(
                registry, "A1", holder: people.alice.id, certificates: [try TestCertificates.alice.get()], in: .active)
            let second = try await F.token(
                registry, "A2", holder: people.alice.id, certificates: [try TestCertificates.aliceSecond.get()], in: .suspended)
            let head = try await registry.journalHead()
            try await registry.transitionToken(id: first.id, action: .revoke, cause: .replaced, by: Fixture.admin)
            #expect(try await registry.operator(id: people.alice.id)?.roles == [.firstSigner, .auditor])
            #expect(try await registry.auditEntries(after: head.seq).map(\.event.kind) == [.tokenStateChanged])
            // Still two first signers: the place is not free.
            let third = await expectStoreError {
                try await registry.addOperator(
                    unixUser: "dave", nationalID: F.daveID, name: "Dave", entityCode: Fixture.entity, roles: [.firstSigner],
                    onSite: true, by: Fixture.admin)
            }
            #expect(third?.rule == .d3)

            try await registry.transitionToken(id: second.id, action: .surrender, cause: .transfer, by: Fixture.admin)
            #expect(try await registry.operator(id: people.alice.id)?.roles == [.auditor])
            #expect(
                try await registry.auditEntries(after: head.seq).map(\.event.kind) == [
                    .tokenStateChanged, .tokenStateChanged, .roleChanged,
                ])
        }
    }

    // MARK: Signatures refused by the database (D6)

    @Test(
        "D6: the database refuses a first signature made with a token that is not active; the order is unchanged",
        arguments: [TokenState.issued, .suspended, .surrendered, .revoked])
    func signatureWithInactiveToken(state: TokenState) async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            let people = try await Orders.populate(registry)
            try await F.token(registry, "A1", holder: people.alice.id, certificates: [try TestCertificates.alice.get()], in: state)
            let order = try await OrderTests.review(registry, people, try await OrderTests.create(registry, people))
            let head = try await registry.journalHead()
            let error = await expectStoreError { try await OrderTests.signFirst(registry, people, order) }
            #expect(error?.code == .ruleViolated)
            #expect(error?.rule == .d6)
            #expect(
                error?.message
                    == "The token was suspended, surrendered or revoked while the signature was being made; the signature is discarded (rule D6).")
            #expect(try await registry.order(id: order.id) == order)
            #expect(try await registry.orderSignedData(id: order.id) == nil)
            #expect(try await registry.journalHead() == head)
            #expect(try await registry.unsafeStrings("SELECT count(*) FROM order_signatures") == ["0"])
        }
    }

    @Test("D6: a token revoked between the policy check and the record loses: the second signature is refused, the first stays")
    func revokedBetweenCheckAndRecord() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            let people = try await Orders.populate(registry)
            let alice = try await F.token(
                registry, "A1", holder: people.alice.id, certificates: [try TestCertificates.alice.get()], in: .active)
            let bob = try await F.token(
                registry, "B0B", holder: people.bob.id, certificates: [try TestCertificates.bob.get()], in: .active)
            let order = try await OrderTests.review(registry, people, try await OrderTests.create(registry, people))

            // Suspended, then resumed: signs again.
            try await registry.transitionToken(id: alice.id, action: .suspend, by: Fixture.admin)
            let whileSuspended = await expectStoreError { try await OrderTests.signFirst(registry, people, order) }
            #expect(whileSuspended?.rule == .d6)
            try await registry.transitionToken(id: alice.id, action: .resume, by: Fixture.admin)
            let firstSigned = try await OrderTests.signFirst(registry, people, order)
            #expect(firstSigned.state == .firstSigned)

            // The signing policy passed for bob; the authority revokes before the record.
            try await registry.transitionToken(id: bob.id, action: .revoke, cause: .pinDisclosed, by: Fixture.admin)
            let head = try await registry.journalHead()
            let error = await expectStoreError { try await OrderTests.signSecond(registry, people, firstSigned) }
            #expect(error?.code == .ruleViolated)
            #expect(error?.rule == .d6)
            #expect(try await registry.order(id: order.id) == firstSigned)
            #expect(try await registry.order(id: order.id)?.signatures.count == 1)
            #expect(try await registry.orderSignedData(id: order.id) == [0x30, 0x01, 0x01])
            #expect(try await registry.journalHead() == head)
        }
    }

    @Test("D6: the database never lets a surrendered or revoked token back into service, even by raw SQL")
    func finalStatesInTheDatabase() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            let people = try await F.populate(registry)
            try await F.token(registry, "R1", holder: people.rami.id, in: .revoked, cause: .loss)
            try await F.token(registry, "S1", holder: people.rami.id, in: .surrendered, cause: .retirement)
            for serial in ["R1", "S1"] {
                await #expect(throws: (any Error).self) {
                    try await registry.unsafeExecute("UPDATE tokens SET state = 'active' WHERE serial = '\(serial)'")
                }
            }
            await #expect(throws: (any Error).self) {
                try await registry.unsafeExecute("UPDATE tokens SET state = 'lost' WHERE serial = 'R1'")
            }
            #expect(try await registry.unsafeStrings("SELECT state FROM tokens ORDER BY serial") == ["revoked", "surrendered"])
        }
    }

    // MARK: Revoked certificates

    @Test("revokedCertificates lists the certificates of revoked and surrendered tokens only, with reason and invalidity date")
    func revokedCertificates() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            let people = try await F.populate(registry)
            #expect(try await registry.revokedCertificates().isEmpty)
            try await F.token(registry, "A1", holder: people.alice.id, certificates: [try TestCertificates.alice.get()], in: .active)
            let lost = try await F.token(
                registry, "A2", holder: people.alice.id, certificates: [try TestCertificates.aliceSecond.get()], in: .revoked,
                cause: .loss, invalidityDate: F.date("2026-11-18T07:30:00.000Z"))
            let retired = try await F.token(
                registry, "B0B", holder: people.bob.id,
                certificates: [try TestCertificates.bob.get(), try F.bobSecondCertificate.get()], in: .surrendered,
                cause: .retirement)
            try await F.token(registry, "C1", holder: people.carol.id, certificates: [try F.carolCertificate.get()], in: .suspended)
            try await F.token(registry, "R1", holder: people.rami.id, certificates: [try F.ramiCertificate.get()], in: .issued)
            try await F.token(registry, "EMPTY", holder: nil, in: .revoked, cause: .other)

            let listed = try await registry.revokedCertificates()
            var expected: Set<RevokedCertificate> = []
            for (token, der, revocation) in [
                (lost, try TestCertificates.aliceSecond.get(),
                    TokenRevocation(at: F.date(F.now), cause: .loss, reason: .keyCompromise, invalidityDate: F.date("2026-11-18T07:30:00.000Z"))),
                (retired, try TestCertificates.bob.get(),
                    TokenRevocation(at: F.date(F.now), cause: .retirement, reason: .cessationOfOperation, invalidityDate: nil)),
                (retired, try F.bobSecondCertificate.get(),
                    TokenRevocation(at: F.date(F.now), cause: .retirement, reason: .cessationOfOperation, invalidityDate: nil)),
            ] {
                let certificate = try #require(token.certificates.first { $0.derEncoded == der })
                // The serial as openssl reads it from the DER, independently of the store.
                #expect(certificate.serialHex.caseInsensitiveCompare(try F.opensslSerial(der)) == .orderedSame)
                expected.insert(
                    RevokedCertificate(
                        serialHex: certificate.serialHex, certificateSHA256: certificate.sha256, tokenSerial: token.serial,
                        revocation: revocation))
            }
            #expect(listed.count == 3)
            #expect(Set(listed) == expected)
        }
    }

    // MARK: Clearance

    @Test(
        "D6: a holder is not cleared while a token is issued, active or suspended; the refusal names the token",
        arguments: [TokenState.issued, .active, .suspended])
    func clearanceRefused(state: TokenState) async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            let people = try await F.populate(registry)
            try await F.token(registry, "A0", holder: people.alice.id, in: .revoked, cause: .replaced)
            let token = try await F.token(
                registry, "A1", holder: people.alice.id, certificates: [try TestCertificates.alice.get()], in: state)
            let before = try #require(try await registry.operator(id: people.alice.id))
            let head = try await registry.journalHead()
            let error = await expectStoreError { try await registry.clearHolder(operator: people.alice.id, by: Fixture.admin) }
            #expect(error?.code == .ruleViolated)
            #expect(error?.rule == .d6)
            #expect(error?.field == "operator")
            #expect(
                error?.message
                    == "alice still holds token 'A1' (\(state.rawValue)); the token is surrendered to the certification authority, or revoked, before the holder is cleared (rule D6).")
            #expect(try await registry.operator(id: people.alice.id) == before)
            #expect(before.service.clearedAt == nil)
            #expect(try await registry.journalHead() == head)

            // Surrendered: now the holder is cleared.
            try await registry.transitionToken(id: token.id, action: .surrender, cause: .retirement, by: Fixture.admin)
            let clearedHead = try await registry.journalHead()
            let cleared = try await registry.clearHolder(operator: people.alice.id, by: Fixture.admin)
            #expect(cleared.roles.isEmpty)
            #expect(cleared.service.clearedAt == F.date(F.now))
            #expect(try await registry.operator(id: people.alice.id) == cleared)
            #expect(
                try await registry.auditEntries(after: clearedHead.seq).map(\.event) == [
                    .holderCleared(.init(operatorID: people.alice.id, unixUser: "alice", rolesRemoved: [.auditor]))
                ])
        }
    }

    @Test("D6: an authority whose role was taken away records no transition: the role is decided inside the transaction")
    func transitionNeedsTheRoleAtCommit() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            let people = try await F.populate(registry)
            let token = try await F.token(
                registry, "C1", holder: people.carol.id, certificates: [try F.carolCertificate.get()], in: .active)
            let ca = try await registry.addOperator(
                unixUser: "ca", nationalID: "28806060100066", name: "Authority", entityCode: nil, roles: [], by: Fixture.admin)
            let decision = RoleDecision(
                operatorID: ca.id, callerName: "ca", roles: [.certificationAuthority], configured: false,
                doing: "the token's suspend", rule: .d6)
            let head = try await registry.journalHead()
            do {
                _ = try await registry.transitionToken(id: token.id, action: .suspend, by: Fixture.admin, decide: decision)
                Issue.record("a transition by an operator without the role was recorded")
            } catch let refusal as RuleRefusal {
                #expect(refusal.rule == .d6)
                #expect(refusal.message.contains("does not hold the role certification-authority"))
            }
            #expect(try await registry.token(serial: "C1")?.state == .active)
            #expect(try await registry.auditEntries(after: head.seq).isEmpty)
            // With the role, the same transition is recorded.
            try await registry.setRoles(operator: ca.id, roles: [.certificationAuthority], by: Fixture.admin)
            #expect(try await registry.transitionToken(id: token.id, action: .suspend, by: Fixture.admin, decide: decision).state == .suspended)
        }
    }

    @Test("D6: registering a token active needs the authority's role held when the registration is recorded")
    func activeRegistrationNeedsTheRoleAtCommit() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            let people = try await F.populate(registry)
            let ca = try await registry.addOperator(
                unixUser: "ca", nationalID: "28806060100066", name: "Authority", entityCode: nil, roles: [], by: Fixture.admin)
            let decision = RoleDecision(
                operatorID: ca.id, callerName: "ca", roles: [.certificationAuthority], configured: false,
                doing: "registering a token active", rule: .d6)
            let certificate = try F.carolCertificate.get()
            do {
                _ = try await registry.registerToken(
                    serial: "C9", label: "c9", holder: people.carol.id, certificates: [certificate], state: .active, by: Fixture.admin,
                    decide: decision)
                Issue.record("an active registration by an operator without the role was recorded")
            } catch let refusal as RuleRefusal {
                #expect(refusal.rule == .d6)
            }
            #expect(try await registry.token(serial: "C9") == nil)
            try await registry.setRoles(operator: ca.id, roles: [.certificationAuthority], by: Fixture.admin)
            let registered = try await registry.registerToken(
                serial: "C9", label: "c9", holder: people.carol.id, certificates: [certificate], state: .active, by: Fixture.admin,
                decide: decision)
            #expect(registered.state == .active)
        }
    }

    @Test("D6: clearance after a revocation, or with no token at all; every role goes; unknown operator refused")
    func clearanceAllowed() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            let people = try await F.populate(registry)
            let token = try await F.token(
                registry, "C1", holder: people.carol.id, certificates: [try F.carolCertificate.get()], in: .active)
            try await registry.setRoles(operator: people.carol.id, roles: [.secondSigner, .auditor], by: Fixture.admin)
            try await registry.transitionToken(id: token.id, action: .revoke, cause: .withdrawal, by: Fixture.admin)
            let head = try await registry.journalHead()
            let carol = try await registry.clearHolder(operator: people.carol.id, by: Fixture.admin)
            #expect(carol.roles.isEmpty)
            #expect(carol.service == HolderService(clearedAt: F.date(F.now)))
            #expect(try await registry.unsafeStrings("SELECT count(*) FROM operator_roles WHERE operatorID = \(carol.id)") == ["0"])
            #expect(
                try await registry.auditEntries(after: head.seq).map(\.event) == [
                    .holderCleared(.init(operatorID: carol.id, unixUser: "carol", rolesRemoved: [.auditor]))
                ])
            let rami = try await registry.clearHolder(operator: people.rami.id, by: Fixture.admin)
            #expect(rami.roles.isEmpty && rami.service.clearedAt == F.date(F.now))
            let unknown = await expectStoreError { try await registry.clearHolder(operator: 999, by: Fixture.admin) }
            #expect(unknown?.code == .unknownOperator)
        }
    }

    // MARK: Death notices

    @Test("D6: a death notice revokes every live token (cause death, invalid from the date of death); within 7 days it is not late")
    func deathNoticeInTime() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            let people = try await F.populate(registry)
            let a1 = try await F.token(
                registry, "A1", holder: people.alice.id, certificates: [try TestCertificates.alice.get()], in: .active)
            let a2 = try await F.token(
                registry, "A2", holder: people.alice.id, certificates: [try TestCertificates.aliceSecond.get()], in: .suspended)
            let a0 = try await F.token(registry, "A0", holder: people.alice.id, in: .surrendered, cause: .replaced)
            let bob = try await F.token(registry, "B0B", holder: people.bob.id, certificates: [try TestCertificates.bob.get()], in: .active)
            let head = try await registry.journalHead()

            let notice = DeathNotice(dateOfDeath: F.day("2026-11-13"), notifiedOn: F.day("2026-11-20"), reference: "EG-0101/2026/77")
            let (holder, revoked) = try await registry.recordDeathNotice(operator: people.alice.id, notice, by: Fixture.admin)
            let invalidity = "2026-11-13T00:00:00.000Z"
            let revocation = TokenRevocation(
                at: F.date(F.now), cause: .death, reason: .cessationOfOperation, invalidityDate: F.date(invalidity))
            #expect(revoked.map(\.serial).sorted() == ["A1", "A2"])
            #expect(revoked.allSatisfy { $0.state == .revoked && $0.revocation == revocation })
            for token in [a1, a2] {
                #expect(try await registry.token(id: token.id)?.state == .revoked)
                #expect(try await registry.token(id: token.id)?.revocation == revocation)
            }
            // Already out of service: untouched. Another holder's token: untouched.
            #expect(try await registry.token(id: a0.id) == a0)
            #expect(try await registry.token(id: bob.id) == bob)

            #expect(holder.service.deathNotice == notice)
            #expect(holder.roles == [.auditor])
            #expect(try await registry.operator(id: people.alice.id) == holder)

            let events = try await registry.auditEntries(after: head.seq).map(\.event)
            #expect(events.first == .deathNotified(.init(operatorID: people.alice.id, unixUser: "alice", notice: notice)))
            guard case .deathNotified(let detail) = events.first else { return }
            #expect(detail.late == false && detail.delayDays == 7)
            func stateChange(_ token: TokenRecord, from: TokenState) -> AuditEvent {
                .tokenStateChanged(
                    .init(
                        tokenID: token.id, serial: token.serial, action: .revoke, from: from, to: .revoked,
                        holder: people.alice.id, cause: .death, reason: .cessationOfOperation, invalidityDate: invalidity,
                        note: "death notice EG-0101/2026/77"))
            }
            #expect(Set(events.dropFirst().dropLast()) == [stateChange(a1, from: .active), stateChange(a2, from: .suspended)])
            #expect(events.count == 4)
            #expect(
                events.last
                    == .roleChanged(
                        .init(operatorID: people.alice.id, unixUser: "alice", before: [.firstSigner, .auditor], after: [.auditor])))
            let json = try #require(try await registry.auditEntries(after: head.seq).first?.detailJSON)
            #expect(json.contains("\"late\":false") && json.contains("\"delayDays\":7"))

            // A second notice for the same person.
            let again = await expectStoreError {
                try await registry.recordDeathNotice(operator: people.alice.id, notice, by: Fixture.admin)
            }
            #expect(again?.code == .duplicate)
            #expect(again?.field == "operator")
            #expect(try await registry.journalHead().seq == head.seq + 4)

            // Now the holder can be cleared (D6).
            #expect(try await registry.clearHolder(operator: people.alice.id, by: Fixture.admin).service.clearedAt != nil)
        }
    }

    @Test("D6: a death notice 8 days after is late (accepted, flagged); before the death or in the future it is refused")
    func deathNoticeLateAndRefused() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            let people = try await F.populate(registry)
            let token = try await F.token(
                registry, "B0B", holder: people.bob.id, certificates: [try TestCertificates.bob.get()], in: .active)
            let head = try await registry.journalHead()
            for (died, notified) in [("2026-11-20", "2026-11-19"), ("2026-11-19", "2026-11-21"), ("2026-11-25", "2026-11-26")] {
                let error = await expectStoreError {
                    try await registry.recordDeathNotice(
                        operator: people.bob.id,
                        DeathNotice(dateOfDeath: F.day(died), notifiedOn: F.day(notified), reference: "R-1"), by: Fixture.admin)
                }
                #expect(error?.code == .invalidField, "\(died) / \(notified)")
                #expect(error?.field == "notifiedOn", "\(died) / \(notified)")
            }
            let unknown = await expectStoreError {
                try await registry.recordDeathNotice(
                    operator: 999, DeathNotice(dateOfDeath: F.day("2026-11-12"), notifiedOn: F.day("2026-11-20"), reference: "R-1"),
                    by: Fixture.admin)
            }
            #expect(unknown?.code == .unknownOperator)
            #expect(try await registry.journalHead() == head)
            #expect(try await registry.token(id: token.id) == token)

            let late = DeathNotice(dateOfDeath: F.day("2026-11-12"), notifiedOn: F.day("2026-11-20"), reference: "R-2")
            let (holder, revoked) = try await registry.recordDeathNotice(operator: people.bob.id, late, by: Fixture.admin)
            #expect(revoked.map(\.serial) == ["B0B"])
            #expect(revoked.first?.revocation?.invalidityDate == F.date("2026-11-12T00:00:00.000Z"))
            #expect(holder.service.deathNotice == late)
            guard case .deathNotified(let detail) = try await registry.auditEntries(after: head.seq).first?.event else {
                Issue.record("expected death-notified first")
                return
            }
            #expect(detail.late == true)
            #expect(detail.delayDays == 8)

            // The same day as the death: in time, delay 0.
            let (_, none) = try await registry.recordDeathNotice(
                operator: people.rami.id,
                DeathNotice(dateOfDeath: F.day("2026-11-20"), notifiedOn: F.day("2026-11-20"), reference: "R-3"), by: Fixture.admin)
            #expect(none.isEmpty)
            guard case .deathNotified(let same) = try await registry.auditEntries().last?.event else {
                Issue.record("expected death-notified last")
                return
            }
            #expect(same.late == false && same.delayDays == 0)
        }
    }

    // MARK: Retirement

    @Test("D6: setRetirementDate sets and clears the date, each change journaled")
    func retirementDate() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            let people = try await F.populate(registry)
            let head = try await registry.journalHead()
            let set = try await registry.setRetirementDate(operator: people.carol.id, F.day("2031-06-30"), by: Fixture.admin)
            #expect(set.service.retirementDate == F.day("2031-06-30"))
            #expect(try await registry.operator(id: people.carol.id)?.service.retirementDate == F.day("2031-06-30"))
            #expect(set.roles == [.secondSigner])
            let cleared = try await registry.setRetirementDate(operator: people.carol.id, nil, by: Fixture.admin)
            #expect(cleared.service.retirementDate == nil)
            #expect(try await registry.operator(id: people.carol.id)?.service == HolderService())
            #expect(
                try await registry.auditEntries(after: head.seq).map(\.event) == [
                    .retirementDateSet(.init(operatorID: people.carol.id, unixUser: "carol", retirementDate: F.day("2031-06-30"))),
                    .retirementDateSet(.init(operatorID: people.carol.id, unixUser: "carol", retirementDate: nil)),
                ])
            let unknown = await expectStoreError {
                try await registry.setRetirementDate(operator: 999, F.day("2031-06-30"), by: Fixture.admin)
            }
            #expect(unknown?.code == .unknownOperator)
            #expect(try await registry.journalHead().seq == head.seq + 2)
        }
    }

    // MARK: Revocation lists

    @Test("CRLs: recorded as given, latestCRL returns the newest, crl-issued and crl-imported journaled")
    func recordAndRead() async throws {
        let clock = SettableClock("2026-11-20T10:00:00.000Z")
        try await withRegistry(clock: clock.clock) { registry, _ in
            #expect(try await registry.latestCRL() == nil)
            #expect(try await registry.latestCRL(issuerKeyID: "A1B2") == nil)
            let head = try await registry.journalHead()
            let der = F.crlBytes(1)
            let first = try await registry.recordCRL(
                issuerKeyID: "A1B2", issuer: "CN=paysign Test Root CA", number: "1", thisUpdate: F.date("2026-11-20T09:00:00.000Z"),
                nextUpdate: F.date("2026-11-27T09:00:00.000Z"), derEncoded: der, entries: 2, source: .issued, by: Fixture.admin)
            let sha = try #require(SHA256Hex(try OrderTests.opensslSHA256(der)))
            #expect(
                first
                    == StoredCRL(
                        issuerKeyID: "A1B2", issuer: "CN=paysign Test Root CA", number: "1",
                        thisUpdate: F.date("2026-11-20T09:00:00.000Z"), nextUpdate: F.date("2026-11-27T09:00:00.000Z"),
                        derEncoded: der, sha256: sha, source: .issued, recordedAt: F.date(F.now)))
            #expect(try await registry.latestCRL() == first)
            #expect(try await registry.latestCRL(issuerKeyID: "A1B2") == first)

            clock.set("2026-11-21T10:00:00.000Z")
            let der2 = F.crlBytes(2)
            let second = try await registry.recordCRL(
                issuerKeyID: "A1B2", issuer: "CN=paysign Test Root CA", number: "0a", thisUpdate: F.date("2026-11-21T09:00:00.000Z"),
                nextUpdate: nil, derEncoded: der2, entries: 0, source: .imported, by: Fixture.admin)
            #expect(second.number == "A")
            #expect(second.source == .imported && second.nextUpdate == nil)
            #expect(second.recordedAt == F.date("2026-11-21T10:00:00.000Z"))
            #expect(try await registry.latestCRL() == second)
            #expect(try await registry.latestCRL(issuerKeyID: "A1B2") == second)
            #expect(try await registry.latestCRL(issuerKeyID: "other") == nil)

            let sha2 = try #require(SHA256Hex(try OrderTests.opensslSHA256(der2)))
            #expect(
                try await registry.auditEntries(after: head.seq).map(\.event) == [
                    .crlIssued(
                        .init(issuer: "CN=paysign Test Root CA", number: "1", thisUpdate: "2026-11-20T09:00:00.000Z",
                            nextUpdate: "2026-11-27T09:00:00.000Z", entries: 2, sha256: sha)),
                    .crlImported(
                        .init(issuer: "CN=paysign Test Root CA", number: "A", thisUpdate: "2026-11-21T09:00:00.000Z",
                            nextUpdate: nil, entries: 0, sha256: sha2)),
                ])
            #expect(try await registry.auditEntries(after: head.seq).map(\.event.kind) == [.crlIssued, .crlImported])
            // The database keeps a recorded list as it was.
            await #expect(throws: (any Error).self) { try await registry.unsafeExecute("UPDATE crls SET issuer = 'x'") }
        }
    }

    @Test("CRLs: a number equal to or below the held one from the same issuer key is stale; the held list stays")
    func staleRefused() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            func record(_ number: String, key: String = "A1B2", marker: UInt8 = 9) async throws -> StoredCRL {
                try await registry.recordCRL(
                    issuerKeyID: key, issuer: "CN=paysign Test Root CA", number: number, thisUpdate: F.date(F.now),
                    nextUpdate: nil, derEncoded: F.crlBytes(marker), entries: 0, source: .imported, by: Fixture.admin)
            }
            let held = try await record("5", marker: 5)
            let head = try await registry.journalHead()
            for number in ["5", "4", "0", "05", "0005"] {
                let error = await expectStoreError { try await record(number) }
                #expect(error?.code == .staleCRL, "\(number)")
                #expect(error?.field == "number")
            }
            let error = await expectStoreError { try await record("4") }
            #expect(
                error?.message
                    == "This revocation list is number 4, not newer than number 5 already held from the same authority; the held list stays.")
            #expect(try await registry.latestCRL(issuerKeyID: "A1B2") == held)
            #expect(try await registry.latestCRL(issuerKeyID: "A1B2")?.derEncoded == F.crlBytes(5))
            #expect(try await registry.journalHead() == head)
            #expect(try await registry.unsafeStrings("SELECT count(*) FROM crls") == ["1"])

            // Another issuer key numbers its own lists.
            let other = try await record("1", key: "C3D4", marker: 1)
            #expect(other.number == "1")
            #expect(try await registry.latestCRL(issuerKeyID: "C3D4") == other)
            #expect(try await registry.latestCRL(issuerKeyID: "A1B2") == held)
            let six = try await record("6")
            #expect(six.number == "6")
        }
    }

    @Test("CRLs: numbers compare as numbers (FF < 100), leading zeros and case ignored, up to 40 hex digits")
    func numbersAreNumbers() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            func record(_ number: String, key: String = "A1B2") async throws -> StoredCRL {
                try await registry.recordCRL(
                    issuerKeyID: key, issuer: "CN=CA", number: number, thisUpdate: F.date(F.now), nextUpdate: nil,
                    derEncoded: F.crlBytes(0), entries: 0, source: .imported, by: Fixture.admin)
            }
            let ff = try await record("ff")
            #expect(ff.number == "FF")
            let hundred = try await record("100")
            #expect(hundred.number == "100")
            for stale in ["FF", "0FF", "fe", "00000100", "100"] {
                let error = await expectStoreError { try await record(stale) }
                #expect(error?.code == .staleCRL, "\(stale)")
            }
            let hundredOne = try await record("00000101")
            #expect(hundredOne.number == "101")
            let latest = try await registry.latestCRL(issuerKeyID: "A1B2")
            #expect(latest?.number == "101")

            // 20 bytes: the largest RFC 5280 allows; with a leading zero it is the same number.
            let forty = String(repeating: "F", count: 40)
            let largest = try await record(forty)
            #expect(largest.number == forty)
            let sameLargest = await expectStoreError { try await record("0" + forty) }
            #expect(sameLargest?.code == .staleCRL)
            let fortyOne = "1" + String(repeating: "0", count: 40)
            let tooLong = await expectStoreError { try await record(fortyOne, key: "C3D4") }
            #expect(tooLong?.code == .invalidField)
            #expect(tooLong?.field == "number")
            for bad in ["12G", "-1", " 1", "0x10", "1.0"] {
                let error = await expectStoreError { try await record(bad, key: "C3D4") }
                #expect(error?.code == .invalidField, "\(bad)")
                #expect(error?.field == "number", "\(bad)")
            }
            let none = try await registry.latestCRL(issuerKeyID: "C3D4")
            #expect(none == nil)
            let noKey = await expectStoreError { try await record("1", key: "") }
            #expect(noKey?.field == "issuerKeyID")

            #expect(StoredCRL.numberKey("FF") == String(repeating: "0", count: 38) + "FF")
            #expect(StoredCRL.numberKey("00ff") == StoredCRL.numberKey("FF"))
            #expect(StoredCRL.numberKey("FF")! < StoredCRL.numberKey("100")!)
            #expect(StoredCRL.numberKey(fortyOne) == nil)
        }
    }

    /// BUG: `StoredCRL.numberKey` takes `""` for the number 0.
    @Test("CRLs: an empty number is not a number and is refused")
    func emptyNumberRefused() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            #expect(StoredCRL.numberKey("") == nil)
            let error = await expectStoreError {
                try await registry.recordCRL(
                    issuerKeyID: "A1B2", issuer: "CN=CA", number: "", thisUpdate: F.date(F.now), nextUpdate: nil,
                    derEncoded: F.crlBytes(0), entries: 0, source: .imported, by: Fixture.admin)
            }
            #expect(error?.code == .invalidField)
            #expect(error?.field == "number")
        }
    }

    /// BUG: `Character.isHexDigit` also accepts fullwidth digits and letters (U+FF10…, U+FF21…,
    /// U+FF41…); their key sorts above every ASCII key, so one such list makes every later list
    /// of that issuer "stale".
    @Test("CRLs: a number in fullwidth digits is refused, and cannot make the next real list stale")
    func fullwidthNumberRefused() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            #expect(StoredCRL.numberKey("\u{FF11}") == nil)  // FULLWIDTH DIGIT ONE
            #expect(StoredCRL.numberKey("\u{FF26}\u{FF26}") == nil)  // FULLWIDTH "FF"
            let fullwidth = await expectStoreError {
                try await registry.recordCRL(
                    issuerKeyID: "A1B2", issuer: "CN=CA", number: "\u{FF11}", thisUpdate: F.date(F.now), nextUpdate: nil,
                    derEncoded: F.crlBytes(0), entries: 0, source: .imported, by: Fixture.admin)
            }
            #expect(fullwidth?.code == .invalidField)
            // Whatever happened above, a real list numbered 2 is newer than anything numbered 1.
            let two = try await registry.recordCRL(
                issuerKeyID: "A1B2", issuer: "CN=CA", number: "2", thisUpdate: F.date(F.now), nextUpdate: nil,
                derEncoded: F.crlBytes(2), entries: 0, source: .imported, by: Fixture.admin)
            #expect(two.number == "2")
        }
    }

    @Test("CRLs: nextCRLNumber is 1 with none held, held + 1 after, per issuer key; refused beyond 64 bits")
    func nextNumber() async throws {
        try await withRegistry(clock: { F.date(F.now) }) { registry, _ in
            func record(_ number: String, key: String = "A1B2") async throws {
                try await registry.recordCRL(
                    issuerKeyID: key, issuer: "CN=CA", number: number, thisUpdate: F.date(F.now), nextUpdate: nil,
                    derEncoded: F.crlBytes(0), entries: 0, source: .issued, by: Fixture.admin)
            }
            #expect(try await registry.nextCRLNumber(issuerKeyID: "A1B2") == 1)
            try await record("1")
            #expect(try await registry.nextCRLNumber(issuerKeyID: "A1B2") == 2)
            try await record("FF")
            #expect(try await registry.nextCRLNumber(issuerKeyID: "A1B2") == 256)
            #expect(try await registry.nextCRLNumber(issuerKeyID: "C3D4") == 1)
            try await record("FFFFFFFFFFFFFFFE")
            #expect(try await registry.nextCRLNumber(issuerKeyID: "A1B2") == UInt64.max)
            try await record("10000000000000000")
            let error = await expectStoreError { try await registry.nextCRLNumber(issuerKeyID: "A1B2") }
            #expect(error?.code == .invalidField)
            #expect(try await registry.nextCRLNumber(issuerKeyID: "C3D4") == 1)
        }
    }

    /// BUG: `latestCRL()` without an issuer key orders by CRL number across issuers, which is
    /// meaningless: a new authority key starts again at 1, and an imported list of another
    /// authority can carry any number. `GET /v1/crl` serves `latestCRL()`.
    @Test("CRLs: latestCRL() of any issuer is the newest list, not the one with the highest number of another key")
    func latestAcrossIssuers() async throws {
        let clock = SettableClock("2026-11-01T10:00:00.000Z")
        try await withRegistry(clock: clock.clock) { registry, _ in
            let old = try await registry.recordCRL(
                issuerKeyID: "OLD-KEY", issuer: "CN=CA", number: "9", thisUpdate: F.date("2026-11-01T09:00:00.000Z"),
                nextUpdate: nil, derEncoded: F.crlBytes(9), entries: 3, source: .issued, by: Fixture.admin)
            clock.set(F.now)
            let rekeyed = try await registry.recordCRL(
                issuerKeyID: "NEW-KEY", issuer: "CN=CA", number: "1", thisUpdate: F.date("2026-11-20T09:00:00.000Z"),
                nextUpdate: nil, derEncoded: F.crlBytes(1), entries: 3, source: .issued, by: Fixture.admin)
            #expect(try await registry.latestCRL(issuerKeyID: "OLD-KEY") == old)
            #expect(try await registry.latestCRL(issuerKeyID: "NEW-KEY") == rekeyed)
            #expect(try await registry.latestCRL() == rekeyed)
        }
    }

    // MARK: Migration

    @Test("v3-authority: a database written at v2 upgrades; its tokens are active and still sign, holders have no service record")
    func upgradeFromV2() async throws {
        try await withTemporaryDirectory { directory in
            try Registry.unsafeCreateDatabase(
                at: directory, upTo: "v2-orders",
                sql: """
                    INSERT INTO entities (code, name, addedAt) VALUES ('\(Fixture.entity)', 'Ministry of Finance, Cairo', '2026-01-01T00:00:00.000Z');
                    INSERT INTO operators (id, unixUser, nationalID, name, entityCode, addedAt, onSite)
                        VALUES (1, 'alice', '\(Fixture.aliceID)', 'Alice', '\(Fixture.entity)', '2026-01-01T00:00:00.000Z', 1),
                               (2, 'bob', '\(Fixture.bobID)', 'Bob', NULL, '2026-01-01T00:00:00.000Z', 0);
                    INSERT INTO operator_roles (operatorID, role) VALUES (1, 'first-signer'), (2, 'second-signer');
                    INSERT INTO tokens (id, serial, label, holderID, registeredAt, pinChangedAt)
                        VALUES (1, 'A1', 'Alice', 1, '2026-01-02T00:00:00.000Z', NULL),
                               (2, 'B0B', 'Bob', 2, '2026-01-02T00:00:00.000Z', '2026-02-01T00:00:00.000Z');
                    """)
            let registry = try await Registry.open(at: directory, clock: { F.date(F.now) })
            defer { try? registry.close() }
            #expect(try await registry.unsafeStrings("SELECT identifier FROM grdb_migrations ORDER BY rowid") == [
                "v1-registry", "v1-audit", "v2-orders", "v3-authority", "v4-verifications", "v5-generation", "v6-outbox", "v7-delivery",
            ])
            let tokens = try await registry.tokens()
            #expect(tokens.map(\.serial) == ["A1", "B0B"])
            #expect(tokens.allSatisfy { $0.state == .active && $0.revocation == nil })
            #expect(tokens.last?.pinChangedAt == F.date("2026-02-01T00:00:00.000Z"))
            #expect(try await registry.operators().allSatisfy { $0.service == HolderService() })
            #expect(try await registry.revokedCertificates().isEmpty)
            #expect(try await registry.latestCRL() == nil)

            // The migrated tokens sign (the trigger sees them active) and move along the lifecycle.
            let dina = try await registry.addOperator(
                unixUser: "dina", nationalID: "29912310101010", name: "Dina", entityCode: Fixture.entity, roles: [.dataEntry],
                by: Fixture.admin)
            let rami = try await registry.addOperator(
                unixUser: "rami", nationalID: F.ramiID, name: "Rami", entityCode: Fixture.entity, roles: [.reviewer],
                by: Fixture.admin)
            let alice = try #require(try await registry.operator(id: 1))
            let bob = try #require(try await registry.operator(id: 2))
            let people = Orders.People(dina: dina, rami: rami, alice: alice, bob: bob, beth: bob)
            let order = try await OrderTests.review(registry, people, try await OrderTests.create(registry, people))
            let signed = try await OrderTests.signFirst(registry, people, order)
            #expect(signed.state == .firstSigned)
            let suspended = try await registry.transitionToken(id: 2, action: .suspend, by: Fixture.admin)
            #expect(suspended.state == .suspended)
            let refused = await expectStoreError { try await OrderTests.signSecond(registry, people, signed) }
            #expect(refused?.rule == .d6)
            #expect(try await registry.verifyJournal().isIntact)
        }
    }
}

