// paysign-center-load: drives paysign-center nodes as entities would (issue 18): the cluster test
// (every node at once, a node killed, PostgreSQL restarted) and `make bench`'s submission rate.
// A test tool, not part of the product: it takes a file key for the link and seals orders made by
// paysign-make-orders to the center's encryption certificate.
//
//   paysign-center-load same-to-all --nodes A,B,C LINK --orders DIR --rounds N
//       each round seals order N once and sends that one envelope to every node at once, then a
//       second envelope of the same order to one node; prints what each answered, then a summary.
//   paysign-center-load spread --nodes A,B LINK --orders DIR --count N --concurrency C [--retry-seconds S]
//       sends N orders (sealed before the clock starts), each to the next node, retrying another
//       node on no answer or 503 until it is answered for good; prints the rate.
//
// LINK: --server-name NAME --trust-anchors CA.pem --certificate CERT.pem --key KEY.pem
//       --encryption-certificate CENTER-ENC.pem [--oaep sha1|sha256]
import ArgumentParser
import Foundation
import NIOCore
import NIOSSL
import PaysignCenterLink
import PaysignOpenSSL

@main
struct CenterLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paysign-center-load", abstract: "Drive paysign-center nodes as entities would (tests, benchmarks).",
        subcommands: [SameToAll.self, Spread.self])
}

struct Link: ParsableArguments {
    @Option(help: "The nodes, HOST:PORT separated by commas.") var nodes: String
    @Option(name: .customLong("server-name")) var serverName: String = "center.paysign.test"
    @Option(name: .customLong("trust-anchors")) var trustAnchors: String
    @Option var certificate: String
    @Option var key: String
    @Option(name: .customLong("encryption-certificate")) var encryptionCertificate: String
    @Option var oaep: String = "sha1"
    @Option(name: .customLong("keep-idle"), help: "Connections kept open between submissions, per node (0: a new TLS connection each).") var keepIdle: Int = 16

    func clients() throws -> [CenterClient] {
        let anchors = try NIOSSLCertificate.fromPEMFile(trustAnchors)
        let chain = try NIOSSLCertificate.fromPEMFile(certificate)
        let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        return try nodes.split(separator: ",").map {
            try CenterClient(
                endpoint: try CenterEndpoint(parsing: String($0), serverName: serverName), anchors: anchors, chain: chain, key: privateKey,
                timeout: .seconds(30), keepIdle: keepIdle)
        }
    }

    /// The orders of a paysign-make-orders folder, in order (order-1 or order-01 …).
    static func names(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("order-") && $0.hasSuffix(".txt") }
            .map { String($0.dropLast(4)) }.sorted { Int($0.dropFirst(6)) ?? 0 < Int($1.dropFirst(6)) ?? 0 }
    }

    /// Order `number` (1-based) of the folder, sealed to the center.
    /// `names`: the folder's listing when the caller has it (read once, not once per order).
    func seal(_ directory: String, _ number: Int, names: [String]? = nil) throws -> [UInt8] {
        let all = try names ?? Self.names(directory)
        guard number >= 1, number <= all.count else { throw ValidationError("\(directory) holds \(all.count) orders, not \(number)") }
        let name = "\(directory)/\(all[number - 1])"
        func read(_ suffix: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: name + suffix))) }
        let package = SubmissionPackage(document: try read(".txt"), signature: try read(".p7s"), payrollFile: try read(".csv"))
        let recipient = try Certificate(pemEncoded: String(contentsOfFile: encryptionCertificate, encoding: .utf8))
        return try AuthEnvelope.seal(package.derEncoded, to: recipient, oaep: oaep == "sha256" ? .sha256 : .sha1)
    }
}

/// Sends until answered for good (not 503, not a link failure), moving to the next node.
func submitWithRetry(_ clients: [CenterClient], start: Int, envelope: [UInt8], retrySeconds: Double) async -> (status: Int, body: [UInt8], tries: Int, accepted: Bool) {
    let deadline = Date().addingTimeInterval(retrySeconds)
    var node = start
    var tries = 0
    while true {
        tries += 1
        let began = Date()
        let client = clients[node % clients.count]
        do {
            let answer = try await client.send("POST", "/v1/submissions", headers: [("Content-Type", "application/cms")], body: envelope)
            if answer.status != 503 { return (answer.status, answer.body, tries, answer.header("Paysign-Accepted") == "true") }
            let detail = (try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])?["detail"] as? String
            FileHandle.standardError.write(Data("retry: \(client.endpoint.host) answered 503 after \(String(format: "%.2f", Date().timeIntervalSince(began))) s: \(detail ?? "")\n".utf8))
        } catch {
            FileHandle.standardError.write(Data("retry: \(client.endpoint.host) failed after \(String(format: "%.2f", Date().timeIntervalSince(began))) s: \(error)\n".utf8))
        }
        guard Date() < deadline else { return (0, [], tries, false) }
        node += 1
        try? await Task.sleep(for: .milliseconds(200))
    }
}

struct SameToAll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "same-to-all")
    @OptionGroup var link: Link
    @Option var orders: String
    @Option var rounds: Int = 50
    @Option(name: .customLong("retry-seconds")) var retrySeconds: Double = 60

    func run() async throws {
        let clients = try link.clients()
        var created = 0, replays = 0, conflicts = 0, bad = 0
        for round in 1...rounds {
            let envelope = try link.seal(orders, round)
            let answers = await withTaskGroup(of: (Int, [UInt8]).self) { group in
                for index in clients.indices {
                    group.addTask {
                        let answer = await submitWithRetry(clients, start: index, envelope: envelope, retrySeconds: retrySeconds)
                        return (answer.status, answer.body)
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let statuses = answers.map(\.0).sorted()
            let receipts = Set(answers.filter { $0.0 == 200 || $0.0 == 201 }.map(\.1))
            let once = statuses.filter { $0 == 201 }.count == 1 && statuses.filter { $0 == 200 }.count == clients.count - 1 && receipts.count == 1
            // The same order in another envelope: refused as accepted before.
            let resealed = try link.seal(orders, round)
            let second = await submitWithRetry(clients, start: round, envelope: resealed, retrySeconds: retrySeconds)
            print("round \(round): \(statuses.map(String.init).joined(separator: " ")) one-receipt=\(receipts.count == 1) reseal=\(second.status)")
            if once { created += 1 } else { bad += 1 }
            replays += statuses.filter { $0 == 200 }.count
            if second.status == 409 { conflicts += 1 }
        }
        print("summary rounds=\(rounds) accepted-once=\(created) replays=\(replays) reseal-refused=\(conflicts) bad=\(bad)")
        if bad > 0 || conflicts != rounds { throw ExitCode(1) }
    }
}

struct Spread: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "spread")
    @OptionGroup var link: Link
    @Option var orders: String
    @Option var count: Int
    @Option var first: Int = 1
    @Option var concurrency: Int = 8
    @Option(name: .customLong("retry-seconds")) var retrySeconds: Double = 120

    func run() async throws {
        let clients = try link.clients()
        let names = try Link.names(orders)
        let envelopes = try (first..<(first + count)).map { try link.seal(orders, $0, names: names) }
        let start = Date()
        let next = NextIndex()
        let results = await withTaskGroup(of: [(Int, Int, Bool)].self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var mine: [(Int, Int, Bool)] = []
                    while let index = next.take(below: envelopes.count) {
                        let answer = await submitWithRetry(clients, start: index, envelope: envelopes[index], retrySeconds: retrySeconds)
                        mine.append((answer.status, answer.tries, answer.accepted))
                    }
                    return mine
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        let seconds = Date().timeIntervalSince(start)
        let created = results.filter { $0.0 == 201 }.count
        let replays = results.filter { $0.0 == 200 }.count
        let failed = results.filter { $0.0 != 201 && $0.0 != 200 }
        let retried = results.filter { $0.1 > 1 }.count
        let accepted = results.filter(\.2).count
        print("summary orders=\(count) created=\(created) replays=\(replays) accepted=\(accepted) failed=\(failed.count) retried=\(retried) seconds=\(String(format: "%.3f", seconds)) rate=\(String(format: "%.2f", Double(count) / seconds))")
        if !failed.isEmpty {
            print("failed statuses: \(failed.map { String($0.0) }.joined(separator: " "))")
            throw ExitCode(1)
        }
    }
}

final class NextIndex: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take(below limit: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard value < limit else { return nil }
        defer { value += 1 }
        return value
    }
}
