import Foundation
import Logging
import PaysignCenterStore
import PaysignDomain
import PaysignTestSupport
import PostgresNIO
import Testing

typealias PostgresServer = ThrowawayPostgres

extension ThrowawayPostgres {
    /// A client as one node of the center would have: its own pool, over loopback TCP.
    func client() -> PostgresClient {
        var configuration = PostgresClient.Configuration(
            host: "127.0.0.1", port: port, username: "paysign", password: nil, database: "center", tls: .disable)
        configuration.options.maximumConnections = 8
        return PostgresClient(configuration: configuration, backgroundLogger: Logger(label: "test.postgres"))
    }
}

/// Issue 18, item 5: an order is accepted for payment once across the center's nodes, decided by
/// PostgreSQL's constraints in the acceptance's transaction; the center's journal stays one chain
/// when nodes append at once. Three nodes are three connection pools on one real PostgreSQL.
@Suite("the payment center's store on a real PostgreSQL", .serialized)
struct CenterStoreTests {
    static let logger = Logger(label: "test.center")

    /// Runs `body` with `nodes` stores, each on a pool of its own, the schema migrated.
    func withNodes(_ nodes: Int, on server: PostgresServer, _ body: @Sendable ([CenterStore]) async throws -> Void) async throws {
        let clients = (0..<nodes).map { _ in server.client() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in clients { group.addTask { await client.run() } }
            // No time bound on the database here: fifty transactions queue on the journal's lock, and a
            // machine running every suite at once may take its time.
            let stores = clients.map { CenterStore(client: $0, logger: Self.logger, timeout: .seconds(600)) }
            // Every node migrates at start-up, at once: each step is applied once.
            let applied = try await withThrowingTaskGroup(of: [String].self) { migrations in
                for store in stores { migrations.addTask { try await store.migrate() } }
                return try await migrations.reduce(into: []) { $0 += $1 }
            }
            #expect(Set(applied).count == applied.count, "a migration applied twice: \(applied)")
            try await body(stores)
            group.cancelAll()
        }
    }

    static func submission(_ n: Int, order: Int64, document: String = "doc-A", fileNumber: String = "fn-A") -> (envelope: String, document: String, fileNumber: String, order: Int64) {
        ("envelope-\(order)-\(n)", document, fileNumber, order)
    }

    @Test("the same order submitted to three nodes at once, fifty times over, is accepted exactly once; the others are refused naming it (D2, D9)")
    func acceptedOnce() async throws {
        let server = try PostgresServer()
        defer { server.stop() }
        try await withNodes(3, on: server) { stores in
            for round in 0..<3 {
                let order = Int64(100 + round)
                let document = "document-\(round)"
                let fileNumber = "file-number-\(round)"
                let outcomes = try await withThrowingTaskGroup(of: Result<Bool, RuleRefusal>.self) { group in
                    for n in 0..<50 {
                        let store = stores[n % stores.count]
                        group.addTask {
                            do {
                                let outcome = try await store.record(
                                    id: try await store.nextSubmissionID(), envelopeSHA256: "envelope-\(round)-\(n)", entityCode: "EG-0101", orderID: order,
                                    documentSHA256: document, fileNumber: fileNumber, verdict: "valid", failedChecks: [],
                                    receipt: Array("receipt \(n)".utf8), receivedAt: Date(), node: "node-\(n % stores.count)")
                                if case .recorded(_, let accepted) = outcome { return .success(accepted) }
                                return .success(false)
                            } catch let refusal as RuleRefusal {
                                return .failure(refusal)
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let accepted = outcomes.filter { if case .success(true) = $0 { return true } else { return false } }
                let refused = outcomes.compactMap { if case .failure(let refusal) = $0 { return refusal } else { return nil } }
                #expect(accepted.count == 1, "round \(round): \(accepted.count) acceptances")
                #expect(refused.count == 49)
                #expect(refused.allSatisfy { $0.message.contains("accepted for payment already (submission ") }, "\(refused.first?.message ?? "")")
                #expect(try await stores[0].acceptances(entityCode: "EG-0101", orderID: order) == 1)
            }
            // A different document under an accepted entity and order id: refused, naming the first.
            do {
                _ = try await stores[1].record(
                    id: try await stores[1].nextSubmissionID(), envelopeSHA256: "envelope-other", entityCode: "EG-0101", orderID: 100, documentSHA256: "another document",
                    fileNumber: "another file number", verdict: "valid", failedChecks: [], receipt: [1], receivedAt: Date(), node: "node-1")
                Issue.record("a second document was accepted under order 100")
            } catch let refusal as RuleRefusal {
                #expect(refusal.message.hasPrefix("order 100 of entity EG-0101 was accepted for payment already"), "\(refusal.message)")
                #expect(refusal.rule == .d2)
            }
            // The same file number under another order: D9.
            do {
                _ = try await stores[2].record(
                    id: try await stores[2].nextSubmissionID(), envelopeSHA256: "envelope-fn", entityCode: "EG-0202", orderID: 7, documentSHA256: "a third document",
                    fileNumber: "file-number-0", verdict: "valid", failedChecks: [], receipt: [1], receivedAt: Date(), node: "node-2")
                Issue.record("a file number was accepted twice")
            } catch let refusal as RuleRefusal {
                #expect(refusal.rule == .d9)
            }
            // The center's journal: one chain, whatever node appended.
            let journal = try await stores[0].verifyJournal()
            #expect(journal.brokenAt == nil)
            #expect(journal.entries == 3, "one entry per acceptance; refusals by constraint write nothing")
        }
    }

    @Test("the identical envelope again returns its first record and receipt, on any node, writing nothing")
    func replayReturnsTheFirstReceipt() async throws {
        let server = try PostgresServer()
        defer { server.stop() }
        try await withNodes(2, on: server) { stores in
            let first = try await stores[0].record(
                id: try await stores[0].nextSubmissionID(), envelopeSHA256: "the-envelope", entityCode: "EG-0101", orderID: 1, documentSHA256: "d", fileNumber: "f",
                verdict: "valid", failedChecks: [], receipt: Array("first receipt".utf8), receivedAt: Date(), node: "node-0")
            guard case .recorded(let recorded, accepted: true) = first else {
                Issue.record("not accepted: \(first)")
                return
            }
            for store in stores {
                let again = try await store.record(
                    id: try await store.nextSubmissionID(), envelopeSHA256: "the-envelope", entityCode: "EG-0101", orderID: 1, documentSHA256: "d", fileNumber: "f",
                    verdict: "valid", failedChecks: [], receipt: Array("second receipt".utf8), receivedAt: Date(), node: "node-x")
                #expect(again == .replay(recorded))
            }
            #expect(try await stores[1].verifyJournal().entries == 1)
            // An invalid order is recorded with its receipt, and accepts nothing.
            let invalid = try await stores[1].record(
                id: try await stores[1].nextSubmissionID(), envelopeSHA256: "bad-envelope", entityCode: "EG-0101", orderID: 2, documentSHA256: "d2", fileNumber: "f2",
                verdict: "invalid", failedChecks: ["second-signature"], receipt: [2], receivedAt: Date(), node: "node-1")
            guard case .recorded(let refused, accepted: false) = invalid else {
                Issue.record("an invalid order was accepted: \(invalid)")
                return
            }
            #expect(refused.failedChecks == ["second-signature"])
            #expect(try await stores[0].acceptances(entityCode: "EG-0101", orderID: 2) == 0)
        }
    }

    @Test("PostgreSQL restarted between submissions: nothing lost, nothing accepted twice")
    func survivesARestart() async throws {
        let server = try PostgresServer()
        defer { server.stop() }
        try await withNodes(1, on: server) { stores in
            let store = stores[0]
            _ = try await store.record(
                id: try await store.nextSubmissionID(), envelopeSHA256: "e1", entityCode: "EG-0101", orderID: 1, documentSHA256: "d1", fileNumber: "f1",
                verdict: "valid", failedChecks: [], receipt: [1], receivedAt: Date(), node: "node-0")
            try server.restart()
            // The pool reconnects; a request that meets the restart may fail once and is retried.
            var second: CenterStore.Outcome?
            for _ in 0..<20 where second == nil {
                second = try? await store.record(
                    id: try await store.nextSubmissionID(), envelopeSHA256: "e2", entityCode: "EG-0101", orderID: 2, documentSHA256: "d2", fileNumber: "f2",
                    verdict: "valid", failedChecks: [], receipt: [2], receivedAt: Date(), node: "node-0")
                if second == nil { try await Task.sleep(for: .milliseconds(250)) }
            }
            #expect(second != nil, "the store works again after the restart")
            #expect(try await store.acceptances(entityCode: "EG-0101", orderID: 1) == 1)
            #expect(try await store.acceptances(entityCode: "EG-0101", orderID: 2) == 1)
            #expect(try await store.verifyJournal() == (2, nil))
        }
    }
}
