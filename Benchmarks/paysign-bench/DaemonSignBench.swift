import Foundation
import Synchronization
import PaysignAPI
import PaysignClient

/// Signatures through the daemon: the flow of `scripts/demo.sh` (administrator, clerk, reviewer,
/// holder), each phase a subcommand that `scripts/bench.sh` runs as its own Unix user, since the
/// daemon tells people apart by the socket's peer credentials.
///
///   setup SOCKET                          as root: entity EG-0101, clerk, reviewer, officer1 and
///                                         officer2 as first signers, their tokens registered
///   orders SOCKET COUNT CSV [VALUE-DATE]  as paysign-clerk: COUNT supplier orders of the CSV file;
///                                         prints `ID FILE-NUMBER` per line
///   review SOCKET < ORDERS                as paysign-reviewer: confirms each file number; prints ids
///   sign SOCKET NAME CONCURRENCY TOKEN PIN [SECONDS] [--cached-login] < IDS
///                                         as the holder: the first signature on every order, from
///                                         CONCURRENCY threads (a new connection per request, as
///                                         `paysign sign` makes them), until the orders run out or
///                                         SECONDS pass (0: no limit). The first order is a warm-up,
///                                         signed with the PIN and not timed; with --cached-login the
///                                         others are sent without a PIN (the daemon's
///                                         pin-cache-seconds login).
enum DaemonSignBench {
    static let entity = "EG-0101"

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func check(_ response: DaemonResponse, _ what: String, expect: Set<Int> = [200, 201]) throws {
        guard expect.contains(response.status) else {
            let detail = response.problem?.detail ?? String(decoding: response.body.prefix(300), as: UTF8.self)
            throw Failure(description: "\(what): HTTP \(response.status): \(detail)")
        }
    }

    // MARK: setup (root, an administrator)

    struct NewEntity: Encodable { var code: String; var name: String }
    struct NewOperator: Encodable {
        var unixUser: String
        var nationalID: String
        var name: String
        var entity: String?
        var roles: [String]
    }
    struct NewHolder: Encodable {
        var unixUser: String
        var nationalID: String?
        var name: String?
        var entity: String
        var step: String
        var onSite: Bool?
    }
    struct Registration: Encodable { var token: String; var holder: String }

    static func setup(socket: String) throws {
        let client = DaemonClient(socketPath: socket, timeout: .seconds(60))
        try check(client.post("/v1/entities", NewEntity(code: entity, name: "Bench Entity \(entity)")), "entity")
        try check(client.post("/v1/operators", NewOperator(
            unixUser: "paysign-clerk", nationalID: "29505050100055", name: "Data Entry Clerk", entity: entity, roles: ["data-entry"])), "clerk")
        try check(client.post("/v1/operators", NewOperator(
            unixUser: "paysign-reviewer", nationalID: "29912120100066", name: "Accounts Reviewer", entity: entity, roles: ["reviewer"])), "reviewer")
        try check(client.post("/v1/holders", NewHolder(
            unixUser: "paysign-officer1", nationalID: "28001010100011", name: "Officer One", entity: entity, step: "first", onSite: true)), "holder officer1")
        try check(client.post("/v1/holders", NewHolder(
            unixUser: "paysign-officer2", nationalID: "28502020100022", name: "Officer Two", entity: entity, step: "first", onSite: nil)), "holder officer2")
        try check(client.post("/v1/registered-tokens", Registration(token: "pkcs11:token=officer1", holder: "paysign-officer1")), "token officer1")
        try check(client.post("/v1/registered-tokens", Registration(token: "pkcs11:token=officer2", holder: "paysign-officer2")), "token officer2")
    }

    // MARK: orders (data entry) and review (reviewer)

    struct OrderHead: Decodable {
        var id: Int64
        var fileNumber: String
    }

    /// Runs `body(index)` for 0..<count from `threads` threads; the results in index order.
    static func parallel<T: Sendable>(_ count: Int, threads: Int, _ body: @escaping @Sendable (Int) throws -> T) throws -> [T] {
        let next = Mutex(0)
        let results = Mutex<[Int: Result<T, any Error>]>([:])
        let group = DispatchGroup()
        for _ in 0..<max(1, min(threads, count)) {
            group.enter()
            Thread {
                while true {
                    let index = next.withLock { value -> Int in
                        defer { value += 1 }
                        return value
                    }
                    guard index < count else { break }
                    let result = Result { try body(index) }
                    results.withLock { $0[index] = result }
                    if case .failure = result { next.withLock { $0 = count } }
                }
                group.leave()
            }.start()
        }
        group.wait()
        let all = results.withLock { $0 }
        return try all.keys.sorted().map { try all[$0]!.get() }
    }

    static func orders(socket: String, count: Int, csv: String, valueDate: String?) throws {
        guard let file = FileManager.default.contents(atPath: csv) else { throw Failure(description: "cannot read \(csv)") }
        let date = valueDate ?? {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyy-MM-dd"
            return formatter.string(from: Date())
        }()
        let path = "/v1/orders?entity=\(entity)&kind=supplier&currency=EGP&valueDate=\(date)"
        let client = DaemonClient(socketPath: socket, timeout: .seconds(60))
        let start = DispatchTime.now().uptimeNanoseconds
        let heads = try parallel(count, threads: 4) { _ in
            let response = try client.send("POST", path, body: file, contentType: "text/csv")
            try check(response, "order upload")
            return try JSONDecoder().decode(OrderHead.self, from: response.body)
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        FileHandle.standardError.write(Data("bench: \(count) orders uploaded in \(Bench.format(elapsed, digits: 2)) s\n".utf8))
        print(heads.map { "\($0.id) \($0.fileNumber)" }.joined(separator: "\n"))
    }

    struct Review: Encodable { var fileNumber: String }

    static func review(socket: String) throws {
        let pairs = stdinLines().map { $0.split(separator: " ").map(String.init) }.filter { $0.count == 2 }
        let client = DaemonClient(socketPath: socket, timeout: .seconds(60))
        let start = DispatchTime.now().uptimeNanoseconds
        let ids = try parallel(pairs.count, threads: 4) { index in
            try check(client.post("/v1/orders/\(pairs[index][0])/review", Review(fileNumber: pairs[index][1])), "review of order \(pairs[index][0])")
            return pairs[index][0]
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        FileHandle.standardError.write(Data("bench: \(ids.count) orders reviewed in \(Bench.format(elapsed, digits: 2)) s\n".utf8))
        print(ids.joined(separator: "\n"))
    }

    static func stdinLines() -> [String] {
        var lines: [String] = []
        while let line = readLine() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if !trimmed.isEmpty { lines.append(trimmed) }
        }
        return lines
    }

    // MARK: sign (the holder)

    /// The body of `POST /v1/orders/{id}/signatures` (the `paysign sign` client's, field for field).
    static func signatureBody(token: String, pin: String?) -> Data {
        var fields = "{\"confirmFinalTry\":false,\"step\":\"first\",\"token\":\"\(token)\""
        if let pin { fields += ",\"pin\":\"\(pin)\"" }
        return Data((fields + "}").utf8)
    }

    struct SignFigures {
        var signed: Int
        var errors: Int
        var seconds: Double
        var p50: Double
        var p99: Double
        var rate: Double { seconds > 0 ? Double(signed) / seconds : 0 }
    }

    static func sign(socket: String, concurrency: Int, token: String, pin: String, seconds: Double, cachedLogin: Bool) throws -> SignFigures {
        let ids = stdinLines().map { String($0.split(separator: " ")[0]) }
        guard ids.count >= 2 else { throw Failure(description: "sign needs at least two order ids on stdin (the first is a warm-up)") }
        let client = DaemonClient(socketPath: socket, timeout: .seconds(120))
        // Warm-up with the PIN: first connection, first session; with --cached-login also the
        // login the daemon keeps for the others.
        try check(client.send("POST", "/v1/orders/\(ids[0])/signatures", body: signatureBody(token: token, pin: pin), contentType: "application/json"),
                  "warm-up signature of order \(ids[0])")
        let body = signatureBody(token: token, pin: cachedLogin ? nil : pin)
        let work = Array(ids.dropFirst())
        let next = Mutex(0)
        let results = Mutex<(latencies: [Double], errors: Int, firstError: String?)>(([], 0, nil))
        let start = DispatchTime.now().uptimeNanoseconds
        // SECONDS 0: no time limit, every order is signed (the script's calibration).
        let deadline = seconds > 0 ? start + UInt64(seconds * 1e9) : UInt64.max
        let group = DispatchGroup()
        for _ in 0..<concurrency {
            group.enter()
            Thread {
                var mine: [Double] = []
                var failed = 0
                var firstError: String?
                while DispatchTime.now().uptimeNanoseconds < deadline {
                    let index = next.withLock { value -> Int in
                        defer { value += 1 }
                        return value
                    }
                    guard index < work.count else { break }
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    do {
                        let response = try client.send("POST", "/v1/orders/\(work[index])/signatures", body: body, contentType: "application/json")
                        try check(response, "signature of order \(work[index])")
                        mine.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                    } catch {
                        failed += 1
                        if firstError == nil { firstError = "\(error)" }
                    }
                }
                results.withLock {
                    $0.latencies += mine
                    $0.errors += failed
                    if $0.firstError == nil { $0.firstError = firstError }
                }
                group.leave()
            }.start()
        }
        group.wait()
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let (unsorted, errors, firstError) = results.withLock { $0 }
        if let firstError { FileHandle.standardError.write(Data("bench: \(errors) signature request(s) failed; first: \(firstError)\n".utf8)) }
        if seconds > 0 && unsorted.count == work.count {
            FileHandle.standardError.write(Data("bench: every order was signed before the time was up (\(Bench.format(elapsed, digits: 2)) s); give more orders\n".utf8))
        }
        let latencies = unsorted.sorted()
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
        }
        return SignFigures(signed: latencies.count, errors: errors, seconds: elapsed, p50: percentile(0.5), p99: percentile(0.99))
    }
}
