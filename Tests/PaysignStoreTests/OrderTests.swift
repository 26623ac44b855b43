import Foundation
import PaysignDomain
import PaysignTestSupport
import Testing

@testable import PaysignStore

@Suite("Payment orders")
struct OrderTests {
    /// SHA-256 by `openssl dgst`, independently of the store.
    static func opensslSHA256(_ bytes: [UInt8]) throws -> String {
        let result = try Shell.run("openssl", ["dgst", "-sha256", "-r"], stdin: Data(bytes))
        return String(result.stdout.prefix(64))
    }

    static func create(
        _ registry: Registry, _ people: Orders.People, metadata: OrderMetadata = Orders.metadata(),
        file: [UInt8] = Orders.file, idempotency: (@Sendable (Order) throws -> IdempotencyRecord)? = nil
    ) async throws -> Order {
        try await registry.createOrder(
            metadata: metadata, file: file, lineCount: 1, totalPiasters: 150_000, createdBy: people.actor(people.dina),
            by: people.auditActor(people.dina), idempotency: idempotency)
    }

    static func review(_ registry: Registry, _ people: Orders.People, _ order: Order) async throws -> Order {
        try await registry.reviewOrder(
            id: order.id, fileNumber: order.fileNumber, by: people.actor(people.rami), actor: people.auditActor(people.rami))
    }

    static func signFirst(_ registry: Registry, _ people: Orders.People, _ order: Order) async throws -> Order {
        try await registry.recordSignature(
            orderID: order.id,
            signature: Orders.signature(
                .first, by: people.actor(people.alice), token: "A1", certificate: Orders.aliceCertificate),
            signedData: [0x30, 0x01, 0x01], by: people.auditActor(people.alice))
    }

    static func signSecond(_ registry: Registry, _ people: Orders.People, _ order: Order) async throws -> Order {
        try await registry.recordSignature(
            orderID: order.id,
            signature: Orders.signature(
                .second, by: people.actor(people.bob), token: "B0B", certificate: Orders.bobCertificate,
                at: "2026-11-21T11:00:00.000Z"),
            signedData: [0x30, 0x02, 0x02, 0x02], by: people.auditActor(people.bob))
    }

    @Test("createOrder keeps the file byte for byte, computes the file number and the canonical document, journals it")
    func create() async throws {
        let clock = sequenceClock(["2026-11-01T08:00:00.000Z", "2026-11-01T09:15:30.250Z"])
        try await withRegistry(clock: clock) { registry, _ in
            let people = try await Orders.populate(registry)
            let head = try await registry.journalHead()
            let order = try await Self.create(registry, people)

            // D9: the file number is the SHA-256 of the exact bytes uploaded.
            #expect(order.fileNumber.digest.hex == (try Self.opensslSHA256(Orders.file)))
            #expect(order.fileBytes == Orders.file.count)
            #expect(order.lineCount == 1 && order.totalPiasters == 150_000)
            #expect(order.metadata == Orders.metadata())
            #expect(order.state == .draft)
            #expect(order.createdBy == OrderActor(operatorID: people.dina.id, unixUser: "dina"))
            #expect(order.createdAt == Timestamp.date("2026-11-01T09:15:30.250Z"))
            #expect(order.signatures.isEmpty && order.reviewedBy == nil && order.rejectedBy == nil)
            #expect(try await registry.orderFile(id: order.id) == Orders.file)
            #expect(try await registry.orderSignedData(id: order.id) == nil)

            // The document both signatures cover (D2): canonical, naming the order's id.
            let document = try #require(try await registry.orderDocument(id: order.id))
            let parsed = try OrderDocument(parsing: document)
            #expect(parsed == OrderDocument(order))
            #expect(parsed.orderID == order.id)
            #expect(document == OrderDocument(order).bytes)
            #expect(order.documentSHA256.hex == (try Self.opensslSHA256(document)))
            #expect(String(decoding: document, as: UTF8.self).contains("file-number: \(order.fileNumber.grouped)\n"))

            #expect(try await registry.order(id: order.id) == order)
            #expect(try await registry.order(id: order.id + 1) == nil)
            #expect(try await registry.orderFile(id: order.id + 1) == nil)

            let entries = try await registry.auditEntries(after: head.seq)
            #expect(entries.map(\.event) == [.orderCreated(.init(order))])
            #expect(entries.first?.actor == people.auditActor(people.dina))
            #expect(try await registry.verifyJournal().isIntact)

            // The same file again is another order, with another document (the id differs).
            let again = try await Self.create(registry, people)
            #expect(again.id == order.id + 1)
            #expect(again.fileNumber == order.fileNumber)
            #expect(again.documentSHA256 != order.documentSHA256)
        }
    }

    @Test("createOrder refuses an unknown entity and malformed input, and writes nothing")
    func createRefuses() async throws {
        try await withRegistry { registry, _ in
            let people = try await Orders.populate(registry)
            let head = try await registry.journalHead()
            let actor = people.actor(people.dina)
            func refused(
                _ metadata: OrderMetadata = Orders.metadata(), file: [UInt8] = Orders.file, lineCount: Int = 1,
                total: Int64 = 1, createdBy: OrderActor? = nil
            ) async -> StoreError? {
                await expectStoreError {
                    try await registry.createOrder(
                        metadata: metadata, file: file, lineCount: lineCount, totalPiasters: total,
                        createdBy: createdBy ?? actor, by: Fixture.admin)
                }
            }
            let unknown = await refused(Orders.metadata("MOF-9999"))
            #expect(unknown?.code == .unknownEntity)
            #expect(unknown?.field == "entityCode")
            #expect(unknown?.message == "The entityCode 'MOF-9999' names no entity in the registry.")
            #expect(await refused(file: [])?.field == "file")
            var lower = Orders.metadata()
            lower.currency = "egp"
            #expect(await refused(lower)?.field == "currency")
            #expect(await refused(lineCount: -1)?.field == "lineCount")
            #expect(await refused(total: -5)?.field == "totalPiasters")
            #expect(await refused(createdBy: OrderActor(operatorID: nil, unixUser: " "))?.code == .invalidField)

            #expect(try await registry.orders(OrderFilter()).isEmpty)
            #expect(try await registry.journalHead() == head)
            #expect(try await registry.unsafeStrings("SELECT COUNT(*) FROM orders") == ["0"])
        }
    }

    @Test("orders(_:) lists newest first and filters by entity, state and value date (inclusive), limit 1…1000")
    func listing() async throws {
        try await withRegistry { registry, _ in
            let people = try await Orders.populate(registry)
            let a = try await Self.create(registry, people, metadata: Orders.metadata(valueDate: "2026-11-24"))
            let b = try await Self.create(
                registry, people, metadata: Orders.metadata(Orders.otherEntity, kind: .supplier, valueDate: "2026-11-25"))
            let c = try await Self.create(
                registry, people, metadata: Orders.metadata(kind: .arrears, valueDate: "2026-12-08"), file: Orders.otherFile)
            let d = try await Self.create(registry, people, metadata: Orders.metadata(valueDate: "2026-10-26"))
            let reviewed = try await Self.review(registry, people, c)
            let ids = { (orders: [Order]) in orders.map(\.id) }

            #expect(ids(try await registry.orders(OrderFilter())) == [d.id, c.id, b.id, a.id])
            #expect(ids(try await registry.orders(OrderFilter(entityCode: Fixture.entity))) == [d.id, c.id, a.id])
            #expect(ids(try await registry.orders(OrderFilter(entityCode: Orders.otherEntity))) == [b.id])
            #expect(ids(try await registry.orders(OrderFilter(entityCode: "MOF-9999"))) == [])
            #expect(try await registry.orders(OrderFilter(state: .reviewed)) == [reviewed])
            #expect(ids(try await registry.orders(OrderFilter(state: .draft))) == [d.id, b.id, a.id])
            let november = OrderFilter(from: CalendarDay(iso: "2026-11-24"), to: CalendarDay(iso: "2026-11-25"))
            #expect(ids(try await registry.orders(november)) == [b.id, a.id])
            #expect(ids(try await registry.orders(OrderFilter(from: CalendarDay(iso: "2026-11-25")))) == [c.id, b.id])
            #expect(ids(try await registry.orders(OrderFilter(to: CalendarDay(iso: "2026-11-24")))) == [d.id, a.id])
            #expect(
                ids(try await registry.orders(
                    OrderFilter(entityCode: Fixture.entity, state: .draft, from: CalendarDay(iso: "2026-11-01"))))
                    == [a.id])
            #expect(ids(try await registry.orders(OrderFilter(limit: 2))) == [d.id, c.id])
            #expect(ids(try await registry.orders(OrderFilter(limit: 0))) == [d.id])
            #expect(ids(try await registry.orders(OrderFilter(limit: -3))) == [d.id])
            #expect(try await registry.orders(OrderFilter(limit: 1_000_000)).count == 4)
            // Listed orders are the same values as read one by one (with their signatures).
            let signed = try await Self.signFirst(registry, people, reviewed)
            #expect(try await registry.orders(OrderFilter(state: .firstSigned)) == [signed])
        }
    }

    @Test("listing is capped at 1000")
    func listingCap() async throws {
        try await withRegistry { registry, _ in
            let people = try await Orders.populate(registry)
            for _ in 0..<1003 {
                _ = try await Self.create(registry, people, file: [0x31])
            }
            let all = try await registry.orders(OrderFilter(limit: 5000))
            #expect(all.count == 1000)
            #expect(all.first?.id == 1003 && all.last?.id == 4)
        }
    }

    @Test("review (D9): the right file number moves a draft to reviewed; a wrong one is refused and shows both")
    func review() async throws {
        try await withRegistry { registry, _ in
            let people = try await Orders.populate(registry)
            let order = try await Self.create(registry, people)
            let head = try await registry.journalHead()

            // A wrong number: refused, nothing written.
            let wrong = FileNumber(digest: Fixture.otherDigest)
            let mismatch = await expectStoreError {
                try await registry.reviewOrder(
                    id: order.id, fileNumber: wrong, by: people.actor(people.rami), actor: people.auditActor(people.rami))
            }
            #expect(mismatch?.code == .ruleViolated)
            #expect(mismatch?.rule == .d9)
            #expect(mismatch?.field == "fileNumber")
            #expect(
                mismatch?.message
                    == "The file number \(wrong.grouped) is not that of order \(order.id), \(order.fileNumber.grouped); "
                    + "the reviewed file number must equal the file uploaded (rule D9).")
            #expect(try await registry.order(id: order.id) == order)
            #expect(try await registry.journalHead() == head)

            // The number as a reviewer types it from the disbursement form: spaces, capitals.
            let typed = try #require(FileNumber(order.fileNumber.grouped.uppercased().replacingOccurrences(of: "-", with: " ")))
            let reviewed = try await registry.reviewOrder(
                id: order.id, fileNumber: typed, by: people.actor(people.rami), actor: people.auditActor(people.rami))
            #expect(reviewed.state == .reviewed)
            #expect(reviewed.reviewedBy == people.actor(people.rami))
            #expect(reviewed.reviewedAt != nil)
            #expect(try await registry.order(id: order.id) == reviewed)
            let entries = try await registry.auditEntries(after: head.seq)
            #expect(entries.map(\.event) == [.orderReviewed(.init(orderID: order.id, fileNumber: order.fileNumber.digest))])
            #expect(entries.first?.actor == people.auditActor(people.rami))

            // Reviewed once: not again (D9 reviews a draft).
            let again = await expectStoreError { try await Self.review(registry, people, reviewed) }
            #expect(again?.code == .wrongState)
            #expect(again?.rule == .d9)
            #expect(again?.message == "The order \(order.id) is reviewed, not a draft; only a draft order is reviewed (rule D9).")

            let unknown = await expectStoreError {
                try await registry.reviewOrder(
                    id: 999, fileNumber: order.fileNumber, by: people.actor(people.rami), actor: Fixture.admin)
            }
            #expect(unknown?.code == .unknownOrder)
            #expect(unknown?.message == "The order 999 is not in the registry.")
            #expect(unknown.map { "\($0.code)" } == "unknown-order")
        }
    }

    @Test("first then second signature: states, SignedData, signature rows and journal entries (D2)")
    func signFirstThenSecond() async throws {
        try await withRegistry { registry, _ in
            let people = try await Orders.populate(registry)
            let order = try await Self.review(registry, people, try await Self.create(registry, people))
            #expect(try await registry.lastSignature(operator: people.alice.id) == nil)

            let first = try await Self.signFirst(registry, people, order)
            #expect(first.state == .firstSigned)
            #expect(first.signatures.map(\.step) == [.first])
            #expect(first.signature(.first)?.signer == people.actor(people.alice))
            #expect(first.signature(.first)?.tokenSerial == "A1")
            #expect(first.signature(.first)?.certificateSHA256 == Orders.aliceCertificate)
            #expect(try await registry.orderSignedData(id: order.id) == [0x30, 0x01, 0x01])
            #expect(try await registry.lastSignature(operator: people.alice.id) == Timestamp.date("2026-11-20T10:00:00.000Z"))

            let second = try await Self.signSecond(registry, people, first)
            #expect(second.state == .payable)
            #expect(second.signatures.map(\.step) == [.first, .second])
            #expect(second.signatures[0] == first.signatures[0])
            #expect(second.signature(.second)?.signer == people.actor(people.bob))
            // The SignedData as it stands now: both SignerInfos.
            #expect(try await registry.orderSignedData(id: order.id) == [0x30, 0x02, 0x02, 0x02])
            #expect(try await registry.order(id: order.id) == second)
            #expect(try await registry.lastSignature(operator: people.bob.id) == Timestamp.date("2026-11-21T11:00:00.000Z"))
            #expect(try await registry.lastSignature(operator: people.rami.id) == nil)
            #expect(try await registry.unsafeStrings("SELECT step FROM order_signatures ORDER BY step") == ["first", "second"])

            let signatures = try await registry.auditEntries().compactMap { entry -> AuditEvent.Signature? in
                if case .signature(let detail) = entry.event { return detail }
                return nil
            }
            #expect(
                signatures == [
                    .init(
                        tokenSerial: "A1", certificateSHA256: Orders.aliceCertificate, documentSHA256: order.documentSHA256,
                        step: .first, fileNumber: order.fileNumber.grouped, orderID: order.id),
                    .init(
                        tokenSerial: "B0B", certificateSHA256: Orders.bobCertificate, documentSHA256: order.documentSHA256,
                        step: .second, fileNumber: order.fileNumber.grouped, orderID: order.id),
                ])
            #expect(try await registry.verifyJournal().isIntact)

            // Payable is final (D2): no third signature, no second review, no rejection.
            let third = await expectStoreError { try await Self.signSecond(registry, people, second) }
            #expect(third?.code == .wrongState)
            #expect(third?.message.contains("is payable") == true)
            #expect(await expectStoreError { try await Self.signFirst(registry, people, second) }?.code == .wrongState)
            let reject = await expectStoreError {
                try await registry.rejectOrder(id: order.id, reason: "Too late.", by: people.actor(people.bob), actor: Fixture.admin)
            }
            #expect(reject?.code == .wrongState)
            #expect(
                reject?.message
                    == "The order \(order.id) is payable; only a draft, reviewed or first-signed order can be rejected.")
        }
    }

    @Test("signing out of order is refused: first before review (D9), second before first (D2)")
    func wrongStateSignatures() async throws {
        try await withRegistry { registry, _ in
            let people = try await Orders.populate(registry)
            let draft = try await Self.create(registry, people)
            let head = try await registry.journalHead()

            let firstOnDraft = await expectStoreError { try await Self.signFirst(registry, people, draft) }
            #expect(firstOnDraft?.code == .wrongState)
            #expect(firstOnDraft?.rule == .d9)
            #expect(firstOnDraft?.message.contains("is a draft") == true)

            let secondOnDraft = await expectStoreError { try await Self.signSecond(registry, people, draft) }
            #expect(secondOnDraft?.code == .wrongState)
            #expect(secondOnDraft?.rule == .d2)

            let reviewed = try await Self.review(registry, people, draft)
            let secondBeforeFirst = await expectStoreError { try await Self.signSecond(registry, people, reviewed) }
            #expect(secondBeforeFirst?.code == .wrongState)
            #expect(secondBeforeFirst?.rule == .d2)
            #expect(
                secondBeforeFirst?.message
                    == "The order \(draft.id) is reviewed and has no first signature; the second signature comes after "
                    + "the first (rule D2).")

            let first = try await Self.signFirst(registry, people, reviewed)
            let firstTwice = await expectStoreError { try await Self.signFirst(registry, people, first) }
            #expect(firstTwice?.code == .wrongState)
            #expect(firstTwice?.message == "The order \(draft.id) is first-signed; a first signature is made only on a reviewed order.")

            let unknown = await expectStoreError {
                try await registry.recordSignature(
                    orderID: 999,
                    signature: Orders.signature(.first, by: people.actor(people.alice), token: "A1", certificate: Orders.aliceCertificate),
                    signedData: [1], by: Fixture.admin)
            }
            #expect(unknown?.code == .unknownOrder)
            let empty = await expectStoreError {
                try await registry.recordSignature(
                    orderID: first.id,
                    signature: Orders.signature(.second, by: people.actor(people.bob), token: "B0B", certificate: Orders.bobCertificate),
                    signedData: [], by: Fixture.admin)
            }
            #expect(empty?.field == "signedData")

            // The refusals wrote nothing: two changes since the head (review, first signature).
            let kinds = try await registry.auditEntries(after: head.seq).map(\.kind)
            #expect(kinds == [.orderReviewed, .signature])
            #expect(try await registry.unsafeStrings("SELECT COUNT(*) FROM order_signatures") == ["1"])
        }
    }

    struct SamePerson: Sendable, CustomTestStringConvertible {
        var label: String
        /// Who signs second: "alice" (the first signer herself), "beth" (alice under another Unix user), "bob".
        var signer: String
        var token: String
        var certificate: SHA256Hex
        var testDescription: String { label }
    }

    @Test(
        "the second signature is by a different person (D2): same operator, certificate, token or national ID refused",
        arguments: [
            SamePerson(label: "the same operator with another certificate", signer: "alice", token: "A2", certificate: Orders.bethCertificate),
            SamePerson(label: "another operator with the first signer's certificate", signer: "bob", token: "B0B", certificate: Orders.aliceCertificate),
            SamePerson(label: "another operator with the first signer's token", signer: "bob", token: "A1", certificate: Orders.bobCertificate),
            SamePerson(label: "the same person under another Unix user", signer: "beth", token: "BE", certificate: Orders.bethCertificate),
        ])
    func samePersonTwice(_ c: SamePerson) async throws {
        try await withRegistry { registry, _ in
            let people = try await Orders.populate(registry)
            let order = try await Self.signFirst(
                registry, people, try await Self.review(registry, people, try await Self.create(registry, people)))
            let head = try await registry.journalHead()
            let signer = [people.alice, people.beth, people.bob].first { $0.unixUser == c.signer }!
            let error = await expectStoreError {
                try await registry.recordSignature(
                    orderID: order.id,
                    signature: Orders.signature(.second, by: people.actor(signer), token: c.token, certificate: c.certificate),
                    signedData: [9, 9, 9], by: people.auditActor(signer),
                    idempotency: Orders.idempotency(key: "second-\(c.signer)"))
            }
            #expect(error?.code == .ruleViolated)
            #expect(error?.rule == .d2)
            #expect(error?.field == "signer")
            #expect(error?.message.contains("the second signature is by a different person (rule D2).") == true)
            #expect(error?.message.contains("signed first by 'alice'") == true)
            // Nothing written: state, SignedData, signature rows, journal, idempotency record.
            #expect(try await registry.order(id: order.id) == order)
            #expect(try await registry.orderSignedData(id: order.id) == [0x30, 0x01, 0x01])
            #expect(try await registry.journalHead() == head)
            #expect(try await registry.idempotencyRecord(uid: 1000, key: "second-\(c.signer)") == nil)
            print("\(c.label): \(error.map(String.init(describing:)) ?? "-")")
        }
    }

    @Test("reject: from draft, reviewed and first-signed, with a reason; never from rejected or payable")
    func reject() async throws {
        try await withRegistry { registry, _ in
            let people = try await Orders.populate(registry)
            let draft = try await Self.create(registry, people)
            let reviewed = try await Self.review(registry, people, try await Self.create(registry, people))
            let firstSigned = try await Self.signFirst(
                registry, people, try await Self.review(registry, people, try await Self.create(registry, people)))
            let rejecter = people.actor(people.bob)

            for order in [draft, reviewed, firstSigned] {
                let head = try await registry.journalHead()
                let rejected = try await registry.rejectOrder(
                    id: order.id, reason: "  The total does not match the disbursement form.  ", by: rejecter,
                    actor: people.auditActor(people.bob))
                #expect(rejected.state == .rejected)
                #expect(rejected.rejectedBy == rejecter)
                #expect(rejected.rejectionReason == "The total does not match the disbursement form.")
                #expect(rejected.rejectedAt != nil)
                #expect(rejected.signatures == order.signatures)
                #expect(try await registry.order(id: order.id) == rejected)
                #expect(
                    try await registry.auditEntries(after: head.seq).map(\.event) == [
                        .orderRejected(
                            .init(orderID: order.id, from: order.state, reason: "The total does not match the disbursement form."))
                    ])
            }

            let again = await expectStoreError {
                try await registry.rejectOrder(id: draft.id, reason: "Again.", by: rejecter, actor: Fixture.admin)
            }
            #expect(again?.code == .wrongState)
            #expect(again?.message.contains("is rejected") == true)
            // A rejected order is final: it is not reviewed or signed either.
            #expect(await expectStoreError { try await Self.review(registry, people, draft) }?.code == .wrongState)
            #expect(await expectStoreError { try await Self.signSecond(registry, people, firstSigned) }?.code == .wrongState)

            let other = try await Self.create(registry, people)
            for (reason, label) in [(" ", "blank"), (String(repeating: "x", count: 501), "too long"), ("a\nb", "control")] {
                let error = await expectStoreError {
                    try await registry.rejectOrder(id: other.id, reason: reason, by: rejecter, actor: Fixture.admin)
                }
                #expect(error?.code == .invalidField, "\(label)")
                #expect(error?.field == "reason", "\(label)")
            }
            #expect(
                await expectStoreError {
                    try await registry.rejectOrder(id: 999, reason: "No such order.", by: rejecter, actor: Fixture.admin)
                }?.code == .unknownOrder)
            #expect(try await registry.order(id: other.id)?.state == .draft)
        }
    }

    @Test("an idempotency record is saved in the change's transaction; a refused change saves none")
    func idempotencyInTheSameTransaction() async throws {
        let clock = sequenceClock(["2026-11-01T08:00:00.000Z"])
        try await withRegistry(clock: clock) { registry, _ in
            let people = try await Orders.populate(registry)
            let order = try await Self.create(registry, people, idempotency: Orders.idempotency(key: "create-1", status: 201))
            let saved = try #require(try await registry.idempotencyRecord(uid: 1000, key: "create-1"))
            #expect(saved.status == 201)
            #expect(saved.body == Array(#"{"id":\#(order.id),"state":"draft"}"#.utf8))
            #expect(saved.requestDigest == Fixture.digest)
            #expect(saved.createdAt == Timestamp.date("2026-11-01T08:00:00.000Z"))
            // Another uid has its own keys.
            #expect(try await registry.idempotencyRecord(uid: 1001, key: "create-1") == nil)

            // The same key again: the whole change is refused, no second order, no journal entry.
            var head = try await registry.journalHead()
            let duplicate = await expectStoreError {
                try await Self.create(registry, people, idempotency: Orders.idempotency(key: "create-1"))
            }
            #expect(duplicate?.code == .duplicate)
            #expect(duplicate?.field == "Idempotency-Key")
            #expect(try await registry.orders(OrderFilter()).map(\.id) == [order.id])
            #expect(try await registry.journalHead() == head)

            // A refused review saves no record.
            let wrong = await expectStoreError {
                try await registry.reviewOrder(
                    id: order.id, fileNumber: FileNumber(digest: Fixture.otherDigest), by: people.actor(people.rami),
                    actor: Fixture.admin, idempotency: Orders.idempotency(key: "review-1"))
            }
            #expect(wrong?.rule == .d9)
            #expect(try await registry.idempotencyRecord(uid: 1000, key: "review-1") == nil)

            // A maker that fails, or makes a bad record, refuses the change with it.
            struct MakerFailed: Error {}
            await #expect(throws: MakerFailed.self) {
                try await registry.reviewOrder(
                    id: order.id, fileNumber: order.fileNumber, by: people.actor(people.rami), actor: Fixture.admin,
                    idempotency: { _ in throw MakerFailed() })
            }
            let badKey = await expectStoreError {
                try await registry.reviewOrder(
                    id: order.id, fileNumber: order.fileNumber, by: people.actor(people.rami), actor: Fixture.admin,
                    idempotency: Orders.idempotency(key: "has space"))
            }
            #expect(badKey?.code == .invalidField)
            #expect(badKey?.field == "Idempotency-Key")
            #expect(try await registry.order(id: order.id)?.state == .draft)
            #expect(try await registry.journalHead() == head)

            // Review, sign and reject each save theirs with the change.
            let reviewed = try await registry.reviewOrder(
                id: order.id, fileNumber: order.fileNumber, by: people.actor(people.rami), actor: Fixture.admin,
                idempotency: Orders.idempotency(key: "review-1"))
            #expect(
                try await registry.idempotencyRecord(uid: 1000, key: "review-1")?.body
                    == Array(#"{"id":\#(order.id),"state":"reviewed"}"#.utf8))
            _ = try await registry.recordSignature(
                orderID: reviewed.id,
                signature: Orders.signature(.first, by: people.actor(people.alice), token: "A1", certificate: Orders.aliceCertificate),
                signedData: [1], by: Fixture.admin, idempotency: Orders.idempotency(key: "sign-1"))
            #expect(
                try await registry.idempotencyRecord(uid: 1000, key: "sign-1")?.body
                    == Array(#"{"id":\#(order.id),"state":"first-signed"}"#.utf8))
            // A second signature whose record collides is not recorded: the order stays first-signed.
            head = try await registry.journalHead()
            let collides = await expectStoreError {
                try await registry.recordSignature(
                    orderID: reviewed.id,
                    signature: Orders.signature(.second, by: people.actor(people.bob), token: "B0B", certificate: Orders.bobCertificate),
                    signedData: [2], by: Fixture.admin, idempotency: Orders.idempotency(key: "sign-1"))
            }
            #expect(collides?.code == .duplicate)
            #expect(try await registry.order(id: order.id)?.state == .firstSigned)
            #expect(try await registry.orderSignedData(id: order.id) == [1])
            #expect(try await registry.journalHead() == head)
            _ = try await registry.rejectOrder(
                id: order.id, reason: "Withdrawn.", by: people.actor(people.bob), actor: Fixture.admin,
                idempotency: Orders.idempotency(key: "reject-1"))
            #expect(
                try await registry.idempotencyRecord(uid: 1000, key: "reject-1")?.body
                    == Array(#"{"id":\#(order.id),"state":"rejected"}"#.utf8))
        }
    }

    @Test("the database refuses edits behind the store's back: signatures append-only, orders fixed and never deleted")
    func triggers() async throws {
        try await withRegistry { registry, _ in
            let people = try await Orders.populate(registry)
            let order = try await Self.signSecond(
                registry, people,
                try await Self.signFirst(
                    registry, people, try await Self.review(registry, people, try await Self.create(registry, people))))
            let refused = [
                "UPDATE order_signatures SET signerUser = 'mallory' WHERE orderID = \(order.id)",
                "UPDATE order_signatures SET certificateSHA256 = '\(Fixture.digest.hex)' WHERE step = 'second'",
                "DELETE FROM order_signatures WHERE orderID = \(order.id) AND step = 'second'",
                "DELETE FROM orders WHERE id = \(order.id)",
                "UPDATE orders SET file = X'00' WHERE id = \(order.id)",
                "UPDATE orders SET fileSHA256 = '\(Fixture.digest.hex)' WHERE id = \(order.id)",
                "UPDATE orders SET totalPiasters = 1 WHERE id = \(order.id)",
                "UPDATE orders SET document = X'00' WHERE id = \(order.id)",
                "UPDATE orders SET state = 'draft' WHERE id = \(order.id)",
                "UPDATE orders SET state = 'nonsense' WHERE id = \(order.id)",
            ]
            for sql in refused {
                await #expect(throws: (any Error).self, "\(sql)") { try await registry.unsafeExecute(sql) }
            }
            #expect(try await registry.order(id: order.id) == order)
            #expect(try await registry.orderFile(id: order.id) == Orders.file)
            #expect(try await registry.unsafeStrings("SELECT COUNT(*) FROM order_signatures") == ["2"])
        }
    }

    @Test("reopening the database keeps orders, files, documents, SignedData, signatures, holders and idempotency records")
    func reopen() async throws {
        try await withTemporaryDirectory { directory in
            let first = try await Registry.open(at: directory)
            let people = try await Orders.populate(first)
            let payable = try await Self.signSecond(
                first, people,
                try await Self.signFirst(
                    first, people,
                    try await Self.review(first, people, try await Self.create(first, people, idempotency: Orders.idempotency(key: "k1")))))
            let rejected = try await first.rejectOrder(
                id: try await Self.create(first, people, file: Orders.otherFile).id, reason: "Duplicate upload.",
                by: people.actor(people.rami), actor: Fixture.admin)
            try await first.registerToken(
                serial: "A1", label: "Alice", holder: people.alice.id, certificates: [try TestCertificates.alice.get()],
                by: Fixture.admin)
            let token = try await first.recordPINChange(tokenSerial: "A1", by: people.auditActor(people.alice))
            let operators = try await first.operators()
            let document = try await first.orderDocument(id: payable.id)
            let record = try await first.idempotencyRecord(uid: 1000, key: "k1")
            let head = try await first.journalHead()
            try first.close()

            let second = try await Registry.open(at: directory)
            defer { try? second.close() }
            #expect(try await second.order(id: payable.id) == payable)
            #expect(try await second.order(id: rejected.id) == rejected)
            #expect(try await second.orders(OrderFilter()) == [rejected, payable])
            #expect(try await second.orderFile(id: payable.id) == Orders.file)
            #expect(try await second.orderFile(id: rejected.id) == Orders.otherFile)
            #expect(try await second.orderDocument(id: payable.id) == document)
            #expect(try await second.orderSignedData(id: payable.id) == [0x30, 0x02, 0x02, 0x02])
            #expect(try await second.orderSignedData(id: rejected.id) == nil)
            #expect(try await second.idempotencyRecord(uid: 1000, key: "k1") == record)
            #expect(try await second.token(serial: "A1") == token)
            #expect(token.pinChangedAt != nil)
            #expect(try await second.operators() == operators)
            #expect(operators.first { $0.unixUser == "alice" }?.onSite == true)
            #expect(try await second.lastSignature(operator: people.bob.id) == payable.signature(.second)?.signedAt)
            #expect(try await second.journalHead() == head)
            #expect(try await second.verifyJournal() == .intact(entries: head.seq, head: head.hash))
        }
    }
}
