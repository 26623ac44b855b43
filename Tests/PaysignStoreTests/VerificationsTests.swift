import Foundation
import PaysignDomain
import Testing

@testable import PaysignStore

/// The payment center's tables (v4-verifications): first sightings of signatures (the trusted
/// time of signing) and presentations for payment (replays), each with its journal entry.
@Suite("Registry: signature sightings and order presentations (issue 6)")
struct VerificationsTests {
    static let payer = AuditActor.user(uid: 1005, name: "payer", operatorID: nil)
    static func digest(_ byte: String) -> SHA256Hex { SHA256Hex(String(repeating: byte, count: 32))! }

    @Test("a signature's first sighting is kept: registered once, journaled once, never moved (a trigger refuses update and delete)")
    func sightings() async throws {
        let clock = sequenceClock(["2026-11-24T10:00:00.000Z", "2026-11-24T11:00:00.000Z", "2026-11-24T12:00:00.000Z"])
        try await withRegistry(clock: clock) { registry, _ in
            let (a, b, c, document) = (Self.digest("a1"), Self.digest("b2"), Self.digest("c3"), Self.digest("d4"))
            let first = try await registry.registerSignatures([a, b, a], document: document, by: Self.payer)
            #expect(first.count == 2 && first.allSatisfy(\.isNew))
            #expect(Set(first.map(\.firstSeenAt)) == [Timestamp.date("2026-11-24T10:00:00.000Z")!])
            let again = try await registry.registerSignatures([b, c], document: document, by: Self.payer)
            let byDigest = Dictionary(uniqueKeysWithValues: again.map { ($0.signature, $0) })
            #expect(byDigest[b]?.isNew == false && byDigest[b]?.firstSeenAt == Timestamp.date("2026-11-24T10:00:00.000Z"))
            #expect(byDigest[c]?.isNew == true && byDigest[c]?.firstSeenAt == Timestamp.date("2026-11-24T11:00:00.000Z"))
            // Seen already: nothing written, nothing journaled.
            #expect(try await registry.registerSignatures([a], document: document, by: Self.payer).first?.isNew == false)
            let kinds = try await registry.unsafeStrings("SELECT kind FROM audit ORDER BY seq")
            #expect(kinds == ["signature-registered", "signature-registered"])
            let detail = try await registry.unsafeStrings("SELECT detail FROM audit ORDER BY seq LIMIT 1").first ?? ""
            #expect(detail.contains(a.hex) && detail.contains(b.hex) && detail.contains(document.hex))
            #expect(try await registry.signatureSightings([a, Self.digest("ee")]).keys.sorted() == [a])
            for sql in ["UPDATE signature_sightings SET firstSeenAt = '2020-01-01T00:00:00.000Z'", "DELETE FROM signature_sightings"] {
                await #expect(throws: (any Error).self) { try await registry.unsafeExecute(sql) }
            }
            #expect(try await registry.signatureSightings([a])[a] == Timestamp.date("2026-11-24T10:00:00.000Z"))
        }
    }

    @Test("a presentation is recorded and journaled once; the same document, file number, or entity and order id is a replay that writes nothing")
    func presentations() async throws {
        try await withRegistry { registry, _ in
            let trusted = Date(timeIntervalSince1970: 1_790_000_000)
            func present(_ document: String, _ file: String, order: Int64, entity: String = Fixture.entity) async throws -> PresentationOutcome {
                try await registry.recordPresentation(
                    document: Self.digest(document), fileNumber: Self.digest(file), orderID: order, entityCode: entity, trustedTime: trusted,
                    presenterUID: 1005, presenter: "payer", presenterOperatorID: nil, by: Self.payer)
            }
            guard case .recorded(let first) = try await present("d1", "f1", order: 17) else {
                Issue.record("the first presentation is recorded")
                return
            }
            #expect(first.id == 1 && first.orderID == 17 && first.presenter == "payer" && first.trustedTime == trusted)
            #expect(try await present("d1", "f9", order: 99) == .replay(first), "same document")
            #expect(try await present("d2", "f1", order: 18) == .replay(first), "same file number")
            #expect(try await present("d3", "f3", order: 17) == .replay(first), "same entity and order id")
            guard case .recorded(let other) = try await present("d4", "f4", order: 17, entity: "MOF-0202") else {
                Issue.record("another entity's order 17 is another order")
                return
            }
            #expect(other.id == 2)
            #expect(try await registry.presentations().map(\.id) == [1, 2])
            #expect(try await registry.presentation(document: Self.digest("0f"), fileNumber: Self.digest("f4"), entityCode: nil, orderID: nil) == other)
            #expect(try await registry.unsafeStrings("SELECT kind FROM audit ORDER BY seq") == ["order-presented", "order-presented"])
            for sql in ["UPDATE order_presentations SET presenter = 'x'", "DELETE FROM order_presentations"] {
                await #expect(throws: (any Error).self) { try await registry.unsafeExecute(sql) }
            }
        }
    }
}
