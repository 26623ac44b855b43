import Foundation
import PaysignTestSupport
import Testing

/// Issue 18, item 5 and its "done when": three paysign-center nodes and two entities, each in a
/// network namespace of its own (veth pairs to a bridge the test makes and removes), one
/// PostgreSQL. The entities are paysign-center-load processes run inside their namespaces.
/// Needs root (namespaces, the PostgreSQL user), as `make test` runs.
@Suite("three center nodes and two entities in network namespaces", .serialized)
struct ClusterTests {
    let pki: TestPKI
    var tls: URL { pki.directory.appendingPathComponent("tls") }

    init() throws {
        pki = try TestPKI.forCluster()
    }

    /// Orders of `entity` in a folder (order-01 …), numbered from `startAt` (distinct payroll files).
    func orders(_ count: Int, entity: String, startAt: Int, signers: [String] = []) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-orders-\(UUID().uuidString.prefix(8))")
        let made = try Shell.run(BuiltProducts.path("paysign-make-orders"), [
            "batch", "--pki", pki.directory.path, "--count", String(count), "--out", folder.path, "--payroll", "--entity", entity,
            "--start-at", String(startAt),
        ] + signers)
        guard made.status == 0 else { throw Shell.Failure(message: "paysign-make-orders: \(made.stderr)") }
        return folder
    }

    /// paysign-center-load inside `namespace` with `certificate`'s file key.
    func load(in namespace: String, _ mode: String, nodes: [String], certificate: String, _ extra: [String]) throws -> Shell.Result {
        try Shell.run("ip", [
            "netns", "exec", namespace, BuiltProducts.path("paysign-center-load"), mode,
            "--nodes", nodes.map { "\($0):8443" }.joined(separator: ","), "--server-name", "center.paysign.test",
            "--trust-anchors", pki.caPEM.path, "--certificate", tls.appendingPathComponent("\(certificate).pem").path,
            "--key", tls.appendingPathComponent("\(certificate).key").path,
            "--encryption-certificate", pki.directory.appendingPathComponent("certs/center-encryption.pem").path, "--oaep", "sha1",
        ] + extra)
    }

    struct Cluster {
        let network: NamespaceNetwork
        let database: ThrowawayPostgres
        var nodes: [CenterProcess]
        var addresses: [String]
    }

    func cluster() throws -> Cluster {
        let network = try NamespaceNetwork(names: ["psc-c1", "psc-c2", "psc-c3", "psc-e1", "psc-e2"])
        let database = try ThrowawayPostgres(listen: "\(network.prefix).1")
        var nodes: [CenterProcess] = []
        for (index, name) in ["psc-c1", "psc-c2", "psc-c3"].enumerated() {
            nodes.append(try CenterProcess(
                pki: pki, database: database, node: "node-\(index + 1)", port: 8443, arguments: ["--drain-seconds", "5", "--database-timeout-seconds", "5"], namespace: name,
                host: network.address(name), databaseHost: "\(network.prefix).1"))
        }
        return Cluster(network: network, database: database, nodes: nodes, addresses: ["psc-c1", "psc-c2", "psc-c3"].map(network.address))
    }

    /// The journal's chain links up (each entry names the previous one's hash), whatever node wrote it.
    func journalLinked(_ database: ThrowawayPostgres) throws -> Bool {
        try database.query("""
            SELECT count(*) FROM journal j JOIN journal p ON p.seq = j.seq - 1 WHERE j.previous_hash <> p.hash
            """) == ["0"]
            && database.query("SELECT count(*) = max(seq) FROM journal") == ["t"]
    }

    @Test("the same order sent to all three nodes at once, fifty times over, is accepted exactly once each time, while a second entity submits beside it")
    func acceptedOnceAcrossNodes() throws {
        let cluster = try cluster()
        defer {
            for node in cluster.nodes { node.stop() }
            cluster.database.stop()
            cluster.network.remove()
        }
        let first = try orders(50, entity: "EG-0101", startAt: 1)
        let second = try orders(20, entity: "EG-0202", startAt: 1001, signers: ["--first", "officer-b", "--second", "ministry-b"])
        defer {
            try? FileManager.default.removeItem(at: first)
            try? FileManager.default.removeItem(at: second)
        }
        let other = Thread.detachNewThreadResult {
            try? self.load(in: "psc-e2", "spread", nodes: cluster.addresses, certificate: "submission2-file",
                           ["--orders", second.path, "--count", "20", "--concurrency", "4"])
        }
        let same = try load(in: "psc-e1", "same-to-all", nodes: cluster.addresses, certificate: "submission-file",
                            ["--orders", first.path, "--rounds", "50"])
        #expect(same.status == 0, "\(same.stdout.suffix(800)) \(same.stderr.suffix(400))")
        #expect(same.stdout.contains("summary rounds=50 accepted-once=50 replays=100 reseal-refused=50 bad=0"), "\(same.stdout.suffix(300))")
        let spread = try #require(other.wait() ?? nil)
        #expect(spread.status == 0 && spread.stdout.contains("created=20") && spread.stdout.contains("accepted=20"), "\(spread.stdout) \(spread.stderr)")
        let perEntity = try cluster.database.query("SELECT entity_code, count(*) FROM acceptances GROUP BY entity_code ORDER BY 1")
        #expect(perEntity == ["EG-0101|50", "EG-0202|20"], "\(perEntity) \(spread.stdout)")
        #expect(try journalLinked(cluster.database))
        // Every node took part.
        #expect(Set(try cluster.database.query("SELECT DISTINCT actor FROM journal")).count == 3)
    }

    @Test("a node SIGKILLed mid-submission and PostgreSQL restarted mid-run: every order accepted exactly once, nothing lost")
    func killAndRestart() throws {
        let began = Date()
        func mark(_ what: String) { print("cluster kill/restart: \(what) at \(String(format: "%.1f", Date().timeIntervalSince(began))) s") }
        let cluster = try cluster()
        mark("cluster up")
        defer {
            for node in cluster.nodes { node.stop() }
            cluster.database.stop()
            cluster.network.remove()
        }
        let folder = try orders(60, entity: "EG-0101", startAt: 1)
        defer { try? FileManager.default.removeItem(at: folder) }
        mark("orders made")
        let run = Thread.detachNewThreadResult {
            try? self.load(in: "psc-e1", "spread", nodes: cluster.addresses, certificate: "submission-file",
                           ["--orders", folder.path, "--count", "60", "--concurrency", "6", "--retry-seconds", "120"])
        }
        // Once submissions are flowing, node 1 dies without warning; later PostgreSQL restarts.
        let deadline = Date().addingTimeInterval(60)
        while (try? cluster.database.query("SELECT count(*) FROM submissions").first.flatMap { Int($0) } ?? 0) ?? 0 < 10, Date() < deadline {
            usleep(20_000)
        }
        mark("submissions flowing")
        cluster.nodes[0].killHard()
        usleep(300_000)
        try cluster.database.restart()
        mark("node 1 killed, PostgreSQL restarted")
        let result = try #require(run.wait() ?? nil)
        print("cluster kill/restart: \(result.stdout.split(separator: "\n").last ?? "")")
        print("cluster kill/restart: retries\n\(result.stderr.suffix(3000))")
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("orders=60") && result.stdout.contains("failed=0") && result.stdout.contains("accepted=60"), "\(result.stdout)")
        #expect(!result.stdout.contains("retried=0 "), "the node was killed and PostgreSQL restarted while orders were in flight: some were sent again")
        #expect(try cluster.database.query("SELECT count(*), count(DISTINCT order_id) FROM acceptances") == ["60|60"])
        #expect(try cluster.database.query("SELECT count(*) FROM submissions") == ["60"])
        #expect(try journalLinked(cluster.database))
    }
}

extension Thread {
    /// Runs `body` on a thread of its own; `wait()` returns its result.
    static func detachNewThreadResult<T: Sendable>(_ body: @escaping @Sendable () -> T) -> ThreadResult<T> {
        let result = ThreadResult<T>()
        Thread.detachNewThread { result.set(body()) }
        return result
    }
}

final class ThreadResult<T: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: T?
    private var done = false

    func set(_ value: T) {
        condition.lock()
        self.value = value
        done = true
        condition.broadcast()
        condition.unlock()
    }

    func wait() -> T? {
        condition.lock()
        defer { condition.unlock() }
        while !done { condition.wait() }
        return value
    }
}
