import Foundation
import PaysignDomain
import PaysignTestSupport
import Testing

@testable import PaysignStore

@Suite("The registry")
struct RegistryTests {
    /// An entity with two first signers (alice, on-site as D3 requires, and bob) and a reviewer
    /// (carol) of the same entity.
    static func populate(_ registry: Registry) async throws -> (alice: Operator, bob: Operator, carol: Operator) {
        try await registry.addEntity(code: Fixture.entity, name: "Ministry of Finance, Cairo", by: Fixture.admin)
        let alice = try await registry.addOperator(
            unixUser: "alice", nationalID: Fixture.aliceID, name: "Alice A.", entityCode: Fixture.entity,
            roles: [.firstSigner], onSite: true, by: Fixture.admin)
        let bob = try await registry.addOperator(
            unixUser: "bob", nationalID: Fixture.bobID, name: "Bob B.", entityCode: Fixture.entity,
            roles: [.firstSigner, .reviewer], by: Fixture.admin)
        let carol = try await registry.addOperator(
            unixUser: "carol", nationalID: Fixture.carolID, name: "Carol C.", entityCode: Fixture.entity, roles: [.reviewer],
            by: Fixture.admin)
        return (alice, bob, carol)
    }

    @Test("entities, operators and roles read back as written")
    func readsBack() async throws {
        try await withRegistry { registry, _ in
            let (alice, bob, carol) = try await Self.populate(registry)
            #expect(try await registry.entity(code: Fixture.entity)?.name == "Ministry of Finance, Cairo")
            #expect(try await registry.entity(code: "nope") == nil)
            #expect(try await registry.operators() == [alice, bob, carol])
            #expect(try await registry.operator(unixUser: "bob") == bob)
            #expect(try await registry.operator(id: carol.id) == carol)
            #expect(try await registry.operator(unixUser: "dave") == nil)
            #expect(bob.roles == [.firstSigner, .reviewer])
        }
    }

    @Test("the registry's generation moves on with every change to entities, operators, roles and tokens, and with nothing else")
    func generationMoves() async throws {
        try await withRegistry { registry, _ in
            let start = try await registry.generation()
            let (_, bob, _) = try await Self.populate(registry)
            let populated = try await registry.generation()
            #expect(populated > start)
            // A read and a journal entry leave it where it is.
            _ = try await registry.operators()
            _ = try await registry.append(.refusal(.init(rule: .d13, reason: "a test")), by: Fixture.admin)
            #expect(try await registry.generation() == populated)
            // A role change moves it: a decision made on the roles read before is made again.
            try await registry.setRoles(operator: bob.id, roles: [.firstSigner], by: Fixture.admin)
            let changed = try await registry.generation()
            #expect(changed > populated)
            let (op, read) = try await registry.operatorAndGeneration(unixUser: "bob")
            #expect(op?.roles == [.firstSigner])
            #expect(read == changed)
        }
    }

    struct OperatorCase: Sendable, CustomTestStringConvertible {
        var label: String
        var unixUser = "dave"
        var nationalID = "29912310101010"
        var name = "Dave D."
        var entityCode: String? = nil
        var roles: Set<Role> = [.dataEntry]
        var onSite = false
        var code: StoreError.Code
        var field: String
        var rule: RuleNumber? = nil
        var testDescription: String { label }
    }

    static let operatorCases: [OperatorCase] = [
        OperatorCase(label: "duplicate Unix user", unixUser: "alice", code: .duplicate, field: "unixUser"),
        OperatorCase(label: "empty Unix user", unixUser: "", code: .invalidField, field: "unixUser"),
        OperatorCase(label: "Unix user with a space", unixUser: "dave d", code: .invalidField, field: "unixUser"),
        OperatorCase(label: "Unix user all digits", unixUser: "1000", code: .invalidField, field: "unixUser"),
        OperatorCase(label: "national ID of 13 digits", nationalID: "2991231010101", code: .invalidField, field: "nationalID"),
        OperatorCase(label: "national ID of 15 digits", nationalID: "299123101010101", code: .invalidField, field: "nationalID"),
        OperatorCase(label: "national ID with a letter", nationalID: "2991231010101A", code: .invalidField, field: "nationalID"),
        OperatorCase(label: "national ID in Arabic-Indic digits", nationalID: "٢٩٩١٢٣١٠١٠١٠١٠", code: .invalidField, field: "nationalID"),
        OperatorCase(label: "empty name", name: "", code: .invalidField, field: "name"),
        OperatorCase(label: "blank name", name: "   ", code: .invalidField, field: "name"),
        OperatorCase(label: "name with a control character", name: "Dave\u{7}", code: .invalidField, field: "name"),
        OperatorCase(label: "unknown entity", entityCode: "MOF-9999", code: .unknownEntity, field: "entityCode"),
        OperatorCase(
            label: "first signer without an entity (D3)", roles: [.firstSigner], code: .ruleViolated, field: "entityCode",
            rule: .d3),
        OperatorCase(
            label: "third first signer of an entity (D3)", entityCode: Fixture.entity, roles: [.firstSigner],
            onSite: true, code: .ruleViolated, field: "roles", rule: .d3),
        OperatorCase(
            label: "data-entry and first signer together (D13)", entityCode: Fixture.entity,
            roles: [.dataEntry, .firstSigner], code: .ruleViolated, field: "roles", rule: .d13),
        OperatorCase(
            label: "data-entry and second signer together (D13)", roles: [.dataEntry, .secondSigner, .reviewer],
            code: .ruleViolated, field: "roles", rule: .d13),
    ]

    @Test("addOperator refuses with a stable code, names the field, writes nothing", arguments: operatorCases)
    func addOperatorRefuses(_ c: OperatorCase) async throws {
        try await withRegistry { registry, _ in
            _ = try await Self.populate(registry)
            let operators = try await registry.operators()
            let head = try await registry.journalHead()

            let error = await expectStoreError {
                try await registry.addOperator(
                    unixUser: c.unixUser, nationalID: c.nationalID, name: c.name, entityCode: c.entityCode, roles: c.roles,
                    onSite: c.onSite, by: Fixture.admin)
            }
            #expect(error?.code == c.code)
            #expect(error?.field == c.field)
            #expect(error?.message.hasSuffix(".") == true)
            if c.code == .invalidField {
                #expect(error?.message.contains(c.field) == true)
            }
            #expect(error?.rule == c.rule)
            if let rule = c.rule {
                #expect(error?.message.contains(rule.rawValue) == true)
            }
            #expect(try await registry.operators() == operators)
            #expect(try await registry.journalHead() == head)
        }
    }

    struct EntityCase: Sendable, CustomTestStringConvertible {
        var label: String
        var code: String
        var name: String
        var expected: StoreError.Code
        var field: String
        var testDescription: String { label }
    }

    @Test(
        "addEntity refuses with a stable code and names the field",
        arguments: [
            EntityCase(label: "duplicate code", code: Fixture.entity, name: "Again", expected: .duplicate, field: "code"),
            EntityCase(label: "empty code", code: "", name: "X", expected: .invalidField, field: "code"),
            EntityCase(label: "code with a space", code: "MOF 1", name: "X", expected: .invalidField, field: "code"),
            EntityCase(label: "empty name", code: "MOF-2", name: " ", expected: .invalidField, field: "name"),
        ])
    func addEntityRefuses(_ c: EntityCase) async throws {
        try await withRegistry { registry, _ in
            try await registry.addEntity(code: Fixture.entity, name: "Ministry of Finance", by: Fixture.admin)
            let error = await expectStoreError { try await registry.addEntity(code: c.code, name: c.name, by: Fixture.admin) }
            #expect(error?.code == c.expected)
            #expect(error?.field == c.field)
            #expect(try await registry.entities().count == 1)
            #expect(try await registry.journalHead().seq == 1)
        }
    }

    @Test("setRoles replaces roles, checks D3, refuses unknown operators")
    func setRoles() async throws {
        try await withRegistry { registry, _ in
            let (alice, _, carol) = try await Self.populate(registry)
            let updated = try await registry.setRoles(operator: alice.id, roles: [.firstSigner, .auditor], by: Fixture.admin)
            #expect(updated.roles == [.firstSigner, .auditor])
            #expect(try await registry.operator(unixUser: "alice")?.roles == [.firstSigner, .auditor])
            let entry = try #require(try await registry.auditEntries(after: try await registry.journalHead().seq - 1).last)
            #expect(
                entry.event
                    == .roleChanged(
                        .init(operatorID: alice.id, unixUser: "alice", before: [.firstSigner], after: [.firstSigner, .auditor])))

            // Carol has no entity: D3 cannot count her.
            let noEntity = await expectStoreError {
                try await registry.setRoles(operator: carol.id, roles: [.firstSigner], by: Fixture.admin)
            }
            #expect(noEntity?.code == .ruleViolated)
            #expect(noEntity?.rule == .d3)

            let unknown = await expectStoreError {
                try await registry.setRoles(operator: 999, roles: [.auditor], by: Fixture.admin)
            }
            #expect(unknown?.code == .unknownOperator)
            #expect(unknown?.field == "operator")
        }
    }

    @Test("a third first signer through setRoles is refused (D3), a swap is not")
    func setRolesD3() async throws {
        try await withRegistry { registry, _ in
            let (_, bob, _) = try await Self.populate(registry)
            let dave = try await registry.addOperator(
                unixUser: "dave", nationalID: "29912310101010", name: "Dave", entityCode: Fixture.entity,
                roles: [.dataEntry], by: Fixture.admin)
            let error = await expectStoreError {
                try await registry.setRoles(operator: dave.id, roles: [.firstSigner], by: Fixture.admin)
            }
            #expect(error?.code == .ruleViolated)
            #expect(error?.message.contains("alice, bob") == true)
            // Bob, not alice: alice is the entity's on-site first signer (D3).
            try await registry.setRoles(operator: bob.id, roles: [.reviewer], by: Fixture.admin)
            try await registry.setRoles(operator: dave.id, roles: [.firstSigner], by: Fixture.admin)
            #expect(try await registry.operator(unixUser: "dave")?.roles == [.firstSigner])
        }
    }

    @Test("tokens: certificates are read from the DER; holders, duplicates and D5 are checked")
    func tokens() async throws {
        try await withRegistry { registry, _ in
            let (alice, bob, _) = try await Self.populate(registry)
            let aliceDER = try TestCertificates.alice.get()
            let token = try await registry.registerToken(
                serial: "0123456789abcdef", label: "Alice", holder: alice.id,
                certificates: [aliceDER, try TestCertificates.aliceSecond.get()], by: Fixture.admin)
            #expect(token.certificates.count == 2)
            #expect(token.certificates[0].subject.contains("CN=Alice"))
            let fingerprint = try Shell.run("openssl", ["dgst", "-sha256", "-r"], stdin: Data(aliceDER))
            #expect(fingerprint.stdout.hasPrefix(token.certificates[0].sha256.hex + " "))
            #expect(token.certificates[0].derEncoded == aliceDER)
            #expect(try await registry.tokens().map(\.serial) == ["0123456789abcdef"])
            #expect(try await registry.token(serial: "0123456789abcdef")?.holder == alice.id)

            let head = try await registry.journalHead()
            func refused(
                serial: String = "fedcba9876543210", holder: Operator.ID? = nil, certificates: [[UInt8]]
            ) async -> StoreError? {
                await expectStoreError {
                    try await registry.registerToken(
                        serial: serial, label: "X", holder: holder, certificates: certificates, by: Fixture.admin)
                }
            }
            let duplicateSerial = await refused(serial: "0123456789abcdef", certificates: [])
            #expect(duplicateSerial?.code == .duplicate)
            #expect(duplicateSerial?.field == "serial")
            let notDER = await refused(certificates: [Array("not a certificate".utf8)])
            #expect(notDER?.code == .invalidField)
            #expect(notDER?.field == "certificates[0]")
            let unknownHolder = await refused(holder: 999, certificates: [])
            #expect(unknownHolder?.code == .unknownOperator)
            #expect(unknownHolder?.field == "holder")
            let registeredElsewhere = await refused(certificates: [try TestCertificates.bob.get(), aliceDER])
            #expect(registeredElsewhere?.code == .duplicate)
            #expect(registeredElsewhere?.field == "certificates[1]")
            let twice = await refused(certificates: [try TestCertificates.bob.get(), try TestCertificates.bob.get()])
            #expect(twice?.code == .duplicate)
            #expect(twice?.field == "certificates[1]")
            let notTheHolder = await refused(holder: alice.id, certificates: [try TestCertificates.bob.get()])
            #expect(notTheHolder?.code == .ruleViolated)
            #expect(notTheHolder?.rule == .d5)
            #expect(try await registry.journalHead() == head)
            #expect(try await registry.tokens().count == 1)

            // Bob's token, then its holder changes: surrendered (D6).
            let bobs = try await registry.registerToken(
                serial: "B0B", label: "", holder: bob.id, certificates: [try TestCertificates.bob.get()], by: Fixture.admin)
            let wrongHolder = await expectStoreError {
                try await registry.setTokenHolder(token: bobs.id, to: alice.id, by: Fixture.admin)
            }
            #expect(wrongHolder?.rule == .d5)
            let surrendered = try await registry.setTokenHolder(token: bobs.id, to: nil, by: Fixture.admin)
            #expect(surrendered.holder == nil)
            #expect(try await registry.token(serial: "B0B")?.holder == nil)
            #expect(
                await expectStoreError { try await registry.setTokenHolder(token: 999, to: nil, by: Fixture.admin) }?
                    .code == .unknownToken)
        }
    }

    @Test("an operator holding a token is not removed until it is surrendered (D6)")
    func removeOperator() async throws {
        try await withRegistry { registry, _ in
            let (alice, bob, carol) = try await Self.populate(registry)
            let token = try await registry.registerToken(
                serial: "A1", label: "Alice", holder: alice.id, certificates: [try TestCertificates.alice.get()],
                by: Fixture.admin)
            let error = await expectStoreError { try await registry.removeOperator(alice.id, by: Fixture.admin) }
            #expect(error?.code == .ruleViolated)
            #expect(error?.rule == .d6)
            #expect(error?.message.contains("'A1'") == true)

            try await registry.setTokenHolder(token: token.id, to: nil, by: Fixture.admin)
            // Alice is the entity's only on-site first signer: bob takes that over first (D3).
            let lastOnSite = await expectStoreError { try await registry.removeOperator(alice.id, by: Fixture.admin) }
            #expect(lastOnSite?.rule == .d3)
            try await registry.setOnSite(operator: bob.id, onSite: true, by: Fixture.admin)
            let removed = try await registry.removeOperator(alice.id, by: Fixture.admin)
            #expect(removed == alice)
            #expect(try await registry.operator(unixUser: "alice") == nil)
            #expect(try await registry.unsafeStrings("SELECT COUNT(*) FROM operator_roles WHERE operatorID = \(alice.id)") == ["0"])
            try await registry.removeOperator(carol.id, by: Fixture.admin)
            #expect(
                await expectStoreError { try await registry.removeOperator(carol.id, by: Fixture.admin) }?.code
                    == .unknownOperator)
            // The name is free again, as a new operator with a new id (D13).
            let again = try await registry.addOperator(
                unixUser: "alice", nationalID: Fixture.aliceID, name: "Alice A.", entityCode: Fixture.entity,
                roles: [.firstSigner], by: Fixture.admin)
            #expect(again.id != alice.id)
        }
    }

    @Test("each change appends exactly one audit entry of its kind, by its actor")
    func eachChangeAppendsOneEntry() async throws {
        try await withRegistry { registry, _ in
            let actor = AuditActor.user(uid: 1000, name: "admin", operatorID: 1)
            var expected: [AuditKind] = []
            func step(_ kind: AuditKind, _ change: () async throws -> Void) async throws {
                let before = try await registry.journalHead().seq
                try await change()
                let entries = try await registry.auditEntries(after: before)
                #expect(entries.count == 1, "\(kind)")
                #expect(entries.first?.kind == kind)
                #expect(entries.first?.actor == actor)
                expected.append(kind)
            }
            var alice: Operator?
            var token: TokenRecord?
            try await step(.entityAdded) { try await registry.addEntity(code: Fixture.entity, name: "MoF", by: actor) }
            try await step(.operatorAdded) {
                alice = try await registry.addOperator(
                    unixUser: "alice", nationalID: Fixture.aliceID, name: "Alice", entityCode: Fixture.entity,
                    roles: [.firstSigner], onSite: true, by: actor)
            }
            let aliceID = try #require(alice?.id)
            try await step(.roleChanged) { try await registry.setRoles(operator: aliceID, roles: [.reviewer], by: actor) }
            try await step(.tokenRegistered) {
                token = try await registry.registerToken(
                    serial: "A1", label: "Alice", holder: aliceID, certificates: [try TestCertificates.alice.get()],
                    by: actor)
            }
            let tokenID = try #require(token?.id)
            try await step(.tokenHolderChanged) { try await registry.setTokenHolder(token: tokenID, to: nil, by: actor) }
            try await step(.onSiteChanged) { try await registry.setOnSite(operator: aliceID, onSite: false, by: actor) }
            try await step(.pinChanged) { try await registry.recordPINChange(tokenSerial: "A1", by: actor) }
            try await step(.operatorRemoved) { try await registry.removeOperator(aliceID, by: actor) }
            var order: Order?
            try await step(.orderCreated) {
                order = try await registry.createOrder(
                    metadata: Orders.metadata(), file: Orders.file, lineCount: 1, totalPiasters: 1,
                    createdBy: OrderActor(operatorID: 1, unixUser: "admin"), by: actor)
            }
            let created = try #require(order)
            try await step(.orderReviewed) {
                _ = try await registry.reviewOrder(
                    id: created.id, fileNumber: created.fileNumber, by: OrderActor(operatorID: 1, unixUser: "admin"),
                    actor: actor)
            }
            try await step(.signature) {
                _ = try await registry.recordSignature(
                    orderID: created.id,
                    signature: Orders.signature(
                        .first, by: OrderActor(operatorID: 1, unixUser: "admin"), token: "A1",
                        certificate: Orders.aliceCertificate),
                    signedData: [1], by: actor)
            }
            try await step(.orderRejected) {
                _ = try await registry.rejectOrder(
                    id: created.id, reason: "Withdrawn.", by: OrderActor(operatorID: 1, unixUser: "admin"), actor: actor)
            }
            try await step(.loginFailed) {
                try await registry.append(
                    .loginFailed(.init(tokenSerial: "A1", pinState: .countLow, remainingTries: 2)), by: actor)
            }
            try await step(.headSigned) {
                let head = try await registry.journalHead()
                try await registry.recordHeadSignature(
                    seq: head.seq, hash: head.hash, signature: [1, 2, 3], certificateDER: try TestCertificates.daemon.get(),
                    algorithm: "ecdsa-with-SHA256", by: actor)
            }
            #expect(try await registry.auditEntries().map(\.kind) == expected)
            #expect(try await registry.verifyJournal().isIntact)
        }
    }

    @Test("a change and its audit entry are one transaction: when the entry cannot be written, neither is the change")
    func changeAndEntryAreOneTransaction() async throws {
        try await withRegistry { registry, _ in
            try await registry.unsafeExecute(
                """
                CREATE TRIGGER audit_fails BEFORE INSERT ON audit
                BEGIN SELECT RAISE(ABORT, 'simulated failure of the journal'); END
                """)
            let error = await expectStoreError {
                try await registry.addEntity(code: Fixture.entity, name: "Ministry of Finance", by: Fixture.admin)
            }
            #expect(error?.cause?.contains("simulated failure of the journal") == true)
            #expect(try await registry.entities().isEmpty)

            try await registry.unsafeExecute("DROP TRIGGER audit_fails")
            try await registry.addEntity(code: Fixture.entity, name: "Ministry of Finance", by: Fixture.admin)
            #expect(try await registry.entities().count == 1)
            #expect(try await registry.verifyJournal() == .intact(entries: 1, head: try await registry.journalHead().hash))
        }
    }
}
