import Foundation
import PaysignDomain
import PaysignTestSupport
import Testing

@testable import PaysignStore

@Suite("Holders: on-site first signers (D3), data-entry never holds a token (D13, D5), PIN changes (D5)")
struct HolderTests {
    static let entity = Fixture.entity

    static func addEntity(_ registry: Registry) async throws {
        try await registry.addEntity(code: entity, name: "Ministry of Finance, Cairo", by: Fixture.admin)
    }

    @discardableResult
    static func add(
        _ registry: Registry, _ user: String, _ nationalID: String, roles: Set<Role>, entity: String? = Self.entity,
        onSite: Bool = false
    ) async throws -> Operator {
        try await registry.addOperator(
            unixUser: user, nationalID: nationalID, name: user.capitalized, entityCode: entity, roles: roles,
            onSite: onSite, by: Fixture.admin)
    }

    /// Refused with D3 on-site, field `onSite`, and nothing written (operators and journal as before).
    static func expectOnSiteRefusal(
        _ registry: Registry, firstSigners: String, sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () async throws -> some Any
    ) async throws {
        let operators = try await registry.operators()
        let head = try await registry.journalHead()
        let error = await expectStoreError(body, sourceLocation: sourceLocation)
        #expect(error?.code == .ruleViolated, sourceLocation: sourceLocation)
        #expect(error?.rule == .d3, sourceLocation: sourceLocation)
        #expect(error?.field == "onSite", sourceLocation: sourceLocation)
        #expect(
            error?.message
                == "The entity '\(entity)' would have no on-site first-signature holder (its first signers: "
                + "\(firstSigners)); rule D3 requires at least one to be permanently present.",
            sourceLocation: sourceLocation)
        #expect(try await registry.operators() == operators, sourceLocation: sourceLocation)
        #expect(try await registry.journalHead() == head, sourceLocation: sourceLocation)
    }

    @Test("D3: an entity's first first signer must be on-site; the second need not be")
    func addOperatorOnSite() async throws {
        try await withRegistry { registry, _ in
            try await Self.addEntity(registry)
            try await Self.expectOnSiteRefusal(registry, firstSigners: "alice") {
                try await Self.add(registry, "alice", Fixture.aliceID, roles: [.firstSigner])
            }
            let alice = try await Self.add(registry, "alice", Fixture.aliceID, roles: [.firstSigner], onSite: true)
            #expect(alice.onSite)
            #expect(try await registry.operator(id: alice.id)?.onSite == true)
            let entry = try #require(try await registry.auditEntries().last)
            guard case .operatorAdded(let detail) = entry.event else {
                Issue.record("expected operator-added, got \(entry.event)")
                return
            }
            #expect(detail.onSite == true)
            let bob = try await Self.add(registry, "bob", Fixture.bobID, roles: [.firstSigner, .reviewer])
            #expect(!bob.onSite)
            // Operators who are not first signers are not counted, on-site or not.
            let carol = try await Self.add(registry, "carol", Fixture.carolID, roles: [.reviewer])
            #expect(!carol.onSite)
            // The existing limit still holds, and names the two.
            let third = await expectStoreError {
                try await Self.add(registry, "dave", "29912310101010", roles: [.firstSigner], onSite: true)
            }
            #expect(third?.rule == .d3)
            #expect(third?.field == "roles")
            #expect(
                third?.message
                    == "The entity '\(Self.entity)' already has two first-signature holders (alice, bob); rule D3 allows at most two.")
        }
    }

    @Test("D3: setOnSite cannot take away the last on-site first signer; it journals on-site-changed")
    func setOnSite() async throws {
        try await withRegistry { registry, _ in
            try await Self.addEntity(registry)
            let alice = try await Self.add(registry, "alice", Fixture.aliceID, roles: [.firstSigner], onSite: true)
            let bob = try await Self.add(registry, "bob", Fixture.bobID, roles: [.firstSigner])
            let carol = try await Self.add(registry, "carol", Fixture.carolID, roles: [.reviewer])

            try await Self.expectOnSiteRefusal(registry, firstSigners: "alice, bob") {
                try await registry.setOnSite(operator: alice.id, onSite: false, by: Fixture.admin)
            }
            let head = try await registry.journalHead()
            let onSiteBob = try await registry.setOnSite(operator: bob.id, onSite: true, by: Fixture.admin)
            #expect(onSiteBob.onSite)
            let offSiteAlice = try await registry.setOnSite(operator: alice.id, onSite: false, by: Fixture.admin)
            #expect(!offSiteAlice.onSite)
            #expect(try await registry.operator(id: alice.id)?.onSite == false)
            #expect(try await registry.operator(id: bob.id)?.onSite == true)
            #expect(
                try await registry.auditEntries(after: head.seq).map(\.event) == [
                    .onSiteChanged(.init(operatorID: bob.id, unixUser: "bob", onSite: true)),
                    .onSiteChanged(.init(operatorID: alice.id, unixUser: "alice", onSite: false)),
                ])
            // Not a first signer: no D3 question.
            #expect(try await registry.setOnSite(operator: carol.id, onSite: true, by: Fixture.admin).onSite)
            #expect(try await registry.setOnSite(operator: carol.id, onSite: false, by: Fixture.admin).onSite == false)

            let unknown = await expectStoreError { try await registry.setOnSite(operator: 999, onSite: true, by: Fixture.admin) }
            #expect(unknown?.code == .unknownOperator)
            #expect(unknown?.field == "operator")
        }
    }

    @Test("D3: setRoles cannot leave an entity's first signers with none on-site, adding or removing")
    func setRolesOnSite() async throws {
        try await withRegistry { registry, _ in
            try await Self.addEntity(registry)
            let carol = try await Self.add(registry, "carol", Fixture.carolID, roles: [.reviewer])
            // Adding the entity's first first signer, who is not on-site.
            try await Self.expectOnSiteRefusal(registry, firstSigners: "carol") {
                try await registry.setRoles(operator: carol.id, roles: [.firstSigner], by: Fixture.admin)
            }
            let alice = try await Self.add(registry, "alice", Fixture.aliceID, roles: [.firstSigner], onSite: true)
            try await registry.setRoles(operator: carol.id, roles: [.firstSigner, .reviewer], by: Fixture.admin)
            // Removing the role from the only on-site one.
            try await Self.expectOnSiteRefusal(registry, firstSigners: "carol") {
                try await registry.setRoles(operator: alice.id, roles: [.auditor], by: Fixture.admin)
            }
            // Keeping it while changing others is fine.
            try await registry.setRoles(operator: alice.id, roles: [.firstSigner, .auditor], by: Fixture.admin)
            // Once nobody is left a first signer, there is nobody to be present.
            try await registry.setRoles(operator: carol.id, roles: [.reviewer], by: Fixture.admin)
            try await registry.setRoles(operator: alice.id, roles: [.auditor], by: Fixture.admin)
            #expect(try await registry.operators().allSatisfy { !$0.roles.contains(.firstSigner) })
        }
    }

    @Test("D3: removing the last on-site first signer is refused while other first signers remain")
    func removeOperatorOnSite() async throws {
        try await withRegistry { registry, _ in
            try await Self.addEntity(registry)
            let alice = try await Self.add(registry, "alice", Fixture.aliceID, roles: [.firstSigner], onSite: true)
            let bob = try await Self.add(registry, "bob", Fixture.bobID, roles: [.firstSigner])
            try await Self.expectOnSiteRefusal(registry, firstSigners: "bob") {
                try await registry.removeOperator(alice.id, by: Fixture.admin)
            }
            // Bob (not on-site) goes: alice remains on-site.
            try await registry.removeOperator(bob.id, by: Fixture.admin)
            // The last first signer goes: the entity has none, and so needs none on-site.
            try await registry.removeOperator(alice.id, by: Fixture.admin)
            #expect(try await registry.operators().isEmpty)
        }
    }

    @Test("D13, D5: data-entry staff never hold a token and never sign")
    func dataEntryHoldsNoToken() async throws {
        try await withRegistry { registry, _ in
            try await Self.addEntity(registry)
            let dina = try await Self.add(registry, "dina", Fixture.aliceID, roles: [.dataEntry])
            let bob = try await Self.add(registry, "bob", Fixture.bobID, roles: [.secondSigner])
            let head = try await registry.journalHead()

            // registerToken to a data-entry holder.
            let register = await expectStoreError {
                try await registry.registerToken(
                    serial: "A1", label: "Alice", holder: dina.id, certificates: [try TestCertificates.alice.get()],
                    by: Fixture.admin)
            }
            #expect(register?.code == .ruleViolated)
            #expect(register?.rule == .d13)
            #expect(register?.field == "holder")
            #expect(
                register?.message
                    == "The operator 'dina' has the data-entry role; data-entry staff never hold a token or learn its PIN "
                    + "(rules D5, D13).")
            #expect(try await registry.tokens().isEmpty)
            #expect(try await registry.journalHead() == head)

            // setTokenHolder to a data-entry holder.
            let token = try await registry.registerToken(
                serial: "A1", label: "Alice", holder: nil, certificates: [try TestCertificates.alice.get()], by: Fixture.admin)
            let hand = await expectStoreError { try await registry.setTokenHolder(token: token.id, to: dina.id, by: Fixture.admin) }
            #expect(hand?.rule == .d13)
            #expect(hand?.field == "holder")
            #expect(try await registry.token(serial: "A1")?.holder == nil)

            // setRoles adding data-entry to someone who holds a token.
            let bobs = try await registry.registerToken(
                serial: "B0B", label: "Bob", holder: bob.id, certificates: [try TestCertificates.bob.get()], by: Fixture.admin)
            let roles = await expectStoreError {
                try await registry.setRoles(operator: bob.id, roles: [.dataEntry, .reviewer], by: Fixture.admin)
            }
            #expect(roles?.rule == .d13)
            #expect(roles?.field == "roles")
            #expect(roles?.message.contains("holds token 'B0B'") == true)
            #expect(try await registry.operator(id: bob.id)?.roles == [.secondSigner])

            // Data-entry together with a signing role, through setRoles.
            let both = await expectStoreError {
                try await registry.setRoles(operator: dina.id, roles: [.dataEntry, .secondSigner], by: Fixture.admin)
            }
            #expect(both?.rule == .d13)
            #expect(both?.field == "roles")
            #expect(
                both?.message
                    == "The roles data-entry and second-signer cannot be held together: data-entry staff never sign (rule D13).")

            // Once the token is surrendered, bob may become data-entry staff (and stops signing).
            try await registry.setTokenHolder(token: bobs.id, to: nil, by: Fixture.admin)
            #expect(try await registry.setRoles(operator: bob.id, roles: [.dataEntry], by: Fixture.admin).roles == [.dataEntry])
        }
    }

    @Test("D5: recordPINChange sets the token's pinChangedAt and journals pin-changed, never a PIN")
    func pinChange() async throws {
        let clock = sequenceClock(["2026-01-01T00:00:00.000Z", "2026-03-15T12:30:45.678Z"])
        try await withRegistry(clock: clock) { registry, _ in
            try await Self.addEntity(registry)
            let alice = try await Self.add(registry, "alice", Fixture.aliceID, roles: [.firstSigner], onSite: true)
            let token = try await registry.registerToken(
                serial: "A1", label: "Alice", holder: alice.id, certificates: [try TestCertificates.alice.get()],
                by: Fixture.admin)
            #expect(token.pinChangedAt == nil)
            let head = try await registry.journalHead()
            let actor = AuditActor.operator(alice, uid: 1000)
            let changed = try await registry.recordPINChange(tokenSerial: "A1", by: actor)
            #expect(changed.pinChangedAt == Timestamp.date("2026-03-15T12:30:45.678Z"))
            #expect(changed.certificates == token.certificates)
            #expect(try await registry.token(serial: "A1") == changed)
            #expect(try await registry.tokens() == [changed])
            let entries = try await registry.auditEntries(after: head.seq)
            #expect(entries.map(\.event) == [.pinChanged(.init(tokenSerial: "A1"))])
            #expect(entries.first?.detailJSON == #"{"tokenSerial":"A1"}"#)
            #expect(entries.first?.actor == actor)
            // The holder changing keeps the date.
            #expect(try await registry.setTokenHolder(token: token.id, to: nil, by: Fixture.admin).pinChangedAt == changed.pinChangedAt)

            let unknown = await expectStoreError { try await registry.recordPINChange(tokenSerial: "nope", by: actor) }
            #expect(unknown?.code == .unknownToken)
            #expect(unknown?.field == "tokenSerial")
            #expect(try await registry.journalHead().seq == head.seq + 2)
        }
    }

    @Test("idempotency records: saved once per uid and key, read back byte for byte; keys are checked")
    func idempotencyRecords() async throws {
        let clock = sequenceClock(["2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z"])
        try await withRegistry(clock: clock) { registry, _ in
            let record = IdempotencyRecord(
                uid: 1000, key: "9f3c0b1e-retry~!", requestDigest: Fixture.digest, status: 201,
                contentType: "application/json", body: [0x7B, 0x00, 0xFF, 0x7D])
            try await registry.saveIdempotency(record)
            var expected = record
            expected.createdAt = Timestamp.date("2026-01-01T00:00:00.000Z")
            #expect(try await registry.idempotencyRecord(uid: 1000, key: record.key) == expected)
            #expect(try await registry.idempotencyRecord(uid: 1001, key: record.key) == nil)
            #expect(try await registry.idempotencyRecord(uid: 1000, key: "other") == nil)

            let duplicate = await expectStoreError { try await registry.saveIdempotency(record) }
            #expect(duplicate?.code == .duplicate)
            #expect(duplicate?.field == "Idempotency-Key")

            // An empty body (204 No Content) is an empty body, not a missing one.
            var empty = record
            empty.uid = 1001
            empty.status = 204
            empty.body = []
            try await registry.saveIdempotency(empty)
            #expect(try await registry.idempotencyRecord(uid: 1001, key: record.key)?.body == [])

            let longest = String(repeating: "k", count: 200)
            var atLimit = record
            atLimit.key = longest
            try await registry.saveIdempotency(atLimit)
            #expect(try await registry.idempotencyRecord(uid: 1000, key: longest)?.key == longest)

            for key in ["", String(repeating: "k", count: 201), "with space", "tab\tkey", "clé", "emoji🙂"] {
                var bad = record
                bad.key = key
                let saving = await expectStoreError { try await registry.saveIdempotency(bad) }
                #expect(saving?.code == .invalidField, "\(key)")
                #expect(saving?.field == "Idempotency-Key", "\(key)")
                let reading = await expectStoreError { try await registry.idempotencyRecord(uid: 1000, key: key) }
                #expect(reading?.field == "Idempotency-Key", "\(key)")
            }
            var badStatus = record
            badStatus.key = "status"
            badStatus.status = 42
            #expect(await expectStoreError { try await registry.saveIdempotency(badStatus) }?.field == "status")
            var badType = record
            badType.key = "type"
            badType.contentType = ""
            #expect(await expectStoreError { try await registry.saveIdempotency(badType) }?.field == "contentType")

            // Pruning: records saved before the cut go; nothing is journaled.
            #expect(try await registry.pruneIdempotency(savedBefore: Timestamp.date("2026-01-02T00:00:00.000Z")!) == 1)
            #expect(try await registry.idempotencyRecord(uid: 1000, key: record.key) == nil)
            #expect(try await registry.idempotencyRecord(uid: 1001, key: record.key) != nil)
            #expect(try await registry.journalHead().seq == 0)
        }
    }

    @Test("a v1 registry (before orders) migrates: data kept, operators off-site, tokens with no PIN change")
    func migratesFromV1() async throws {
        try await withTemporaryDirectory { directory in
            try Registry.unsafeCreateDatabase(
                at: directory, upTo: "v1-audit",
                sql: """
                    INSERT INTO entities (code, name, addedAt) VALUES ('\(Fixture.entity)', 'Ministry of Finance', '2025-01-01T00:00:00.000Z');
                    INSERT INTO operators (id, unixUser, nationalID, name, entityCode, addedAt)
                        VALUES (1, 'alice', '\(Fixture.aliceID)', 'Alice', '\(Fixture.entity)', '2025-01-01T00:00:01.000Z');
                    INSERT INTO operators (id, unixUser, nationalID, name, entityCode, addedAt)
                        VALUES (2, 'bob', '\(Fixture.bobID)', 'Bob', NULL, '2025-01-01T00:00:02.000Z');
                    INSERT INTO operator_roles (operatorID, role) VALUES (1, 'first-signer'), (2, 'second-signer');
                    INSERT INTO tokens (id, serial, label, holderID, registeredAt) VALUES (1, 'A1', 'Alice', 1, '2025-01-01T00:00:03.000Z');
                    """)
            let registry = try await Registry.open(at: directory)
            defer { try? registry.close() }
            #expect(try await registry.unsafeStrings("SELECT identifier FROM grdb_migrations ORDER BY rowid") == [
                "v1-registry", "v1-audit", "v2-orders", "v3-authority", "v4-verifications", "v5-generation", "v6-outbox", "v7-delivery",
            ])
            let alice = try #require(try await registry.operator(unixUser: "alice"))
            #expect(alice.roles == [.firstSigner] && !alice.onSite)
            #expect(alice.addedAt == Timestamp.date("2025-01-01T00:00:01.000Z"))
            let token = try #require(try await registry.token(serial: "A1"))
            #expect(token.holder == alice.id && token.pinChangedAt == nil)

            // The entity's first signer is off-site, as every v1 operator is: the administrator
            // designates one on-site (D3) before changing the entity's first signers.
            try await Self.expectOnSiteRefusal(registry, firstSigners: "alice, carol") {
                try await Self.add(registry, "carol", Fixture.carolID, roles: [.firstSigner])
            }
            #expect(try await registry.setOnSite(operator: alice.id, onSite: true, by: Fixture.admin).onSite)
            try await Self.add(registry, "carol", Fixture.carolID, roles: [.firstSigner])

            // Orders work on the migrated file.
            let order = try await registry.createOrder(
                metadata: Orders.metadata(), file: Orders.file, lineCount: 1, totalPiasters: 150_000,
                createdBy: OrderActor(operatorID: nil, unixUser: "dina"), by: Fixture.admin)
            #expect(try await registry.order(id: order.id) == order)
            #expect(try await registry.recordPINChange(tokenSerial: "A1", by: Fixture.admin).pinChangedAt != nil)
            #expect(try await registry.verifyJournal().isIntact)
        }
    }
}
