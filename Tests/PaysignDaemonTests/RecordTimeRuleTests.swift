import Foundation
import PaysignClient
import PaysignTestSupport
import Synchronization
import Testing

/// Rules decided where the act is recorded (issue 15): whether this operator may apply this
/// signature to this order with this token is decided again inside the write transaction that
/// records it, so a change made while signatures wait for the token (the signer's roles taken
/// away, the token revoked or suspended) refuses every one recorded after it.
///
/// The real daemon on its socket, a real SoftHSM token made slow by the debug seam under the C
/// calls (`C_Sign~60`: 60 ms before each C_Sign, so 70 requests queue on the token for about five
/// seconds), the signer and the authority as their own Unix users, OpenSSL as the judge of every
/// signature recorded.
@Suite("Rules decided inside the transaction that records the act (D2, D3, D6)", .serialized)
struct RecordTimeRuleTests {
    enum Change: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case rolesRemoved = "the signer's roles removed"
        case tokenRevoked = "the token revoked"
        case tokenSuspended = "the token suspended"
        var testDescription: String { rawValue }
        /// The journal entry the change leaves, and the rule every later request is refused under.
        var entryKind: String { self == .rolesRemoved ? "role-changed" : "token-state-changed" }
        var rule: String { self == .rolesRemoved ? "D3" : "D6" }
    }

    static let authorityUser = "paysign-authority"
    static let signer = UnixUsers.officer2
    static let requests = 70

    @Test("a change while at least 50 signatures by the signer wait on the token: none recorded after the change's entry, every waiting request refused naming the rule, OpenSSL verifies every recorded one",
          arguments: Change.allCases)
    func changeWhileSignaturesWait(_ change: Change) throws {
        // 60 requests of one user at once: more than a user's default share of work (16), which
        // this test lifts to make them all wait on the token.
        let flow = try FlowDaemon(
            arguments: ["--max-requests-per-user", "128", "--max-connections-per-user", "128"],
            environment: ["PAYSIGN_PKCS11_FAULTS": "C_Sign~60"])
        defer { flow.close() }
        let (pki, daemon) = (flow.pki, flow.daemon)
        let bench = LoadBench(pki: pki, daemon: daemon)
        // The authority's operator (Self.authorityUser) is the flow's: FlowSetup registered the tokens as it.
        let orders = try bench.reviewedOrders(Self.requests, tag: change == .rolesRemoved ? "r" : change == .tokenRevoked ? "v" : "s")

        // What the change needs is looked up before the signatures start, so it follows the first
        // one closely.
        let operators = try #require(try FlowSetup.call(daemon.socket, "GET", "/v1/operators").array)
        let signerID = try #require(operators.first { $0["unixUser"] as? String == Self.signer }?["id"] as? NSNumber)
        let serial = try #require(
            try FlowSetup.call(daemon.socket, "GET", "/v1/registered-tokens").array?.first { $0["label"] as? String == "officer2" }?["serial"] as? String)

        // 70 first signatures by officer2 at once; each brings the PIN, so each waits its turn on
        // the token (one login-sign-logout at a time).
        let token = pki.token("officer2")
        let requests: [[String: Any]] = orders.map { ref in
            ["id": String(ref.id), "method": "POST", "path": "/v1/orders/\(ref.id)/signatures", "ctype": "application/json",
             "body": ["step": "first", "token": token.uri, "pin": token.pin]]
        }
        let input = try requests.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }.joined(separator: "\n") + "\n"
        let count = requests.count
        let answers = Mutex<[Answer]?>(nil)
        let signing = Thread {
            let result = Result { try Self.send(as: Self.signer, input: input, count: count, socket: daemon.socket) }
            answers.withLock { $0 = (try? result.get()) ?? [] }
        }
        signing.start()

        // As soon as the first signature is recorded, the change.
        let deadline = ContinuousClock.now + .seconds(120)
        var firstSignature: Int64?
        while firstSignature == nil, ContinuousClock.now < deadline {
            firstSignature = try Self.journal(daemon.socket).first { $0.kind == "signature" }?.seq
            if firstSignature == nil { Thread.sleep(forTimeInterval: 0.005) }
        }
        try #require(firstSignature != nil, "no signature was recorded")
        let changed: HTTPAnswer
        switch change {
        case .rolesRemoved:
            changed = try FlowSetup.call(daemon.socket, "PUT", "/v1/operators/\(signerID)/roles", json: ["roles": [String]()])
        case .tokenRevoked, .tokenSuspended:
            let body: [String: Any] = change == .tokenRevoked ? ["action": "revoke", "cause": "loss"] : ["action": "suspend"]
            changed = try UnixUsers.request(
                as: Self.authorityUser, socket: daemon.socket, "POST", "/v1/registered-tokens/\(serial)/transitions",
                body: try JSONSerialization.data(withJSONObject: body), contentType: "application/json")
        }
        try #require(changed.status == 200, "the change: \(changed.text)")

        while answers.withLock({ $0 == nil }) { Thread.sleep(forTimeInterval: 0.05) }
        let all = answers.withLock { $0 ?? [] }
        try #require(all.count == Self.requests, "answers: \(all.count)")

        // The journal: the change's entry, and no signature after it.
        let entries = try Self.journal(daemon.socket)
        let changeSeq = try #require(entries.first { $0.kind == change.entryKind && $0.seq > firstSignature! }?.seq, "\(entries.map(\.kind))")
        let signatures = entries.filter { $0.kind == "signature" }
        let after = signatures.filter { $0.seq > changeSeq }
        #expect(after.isEmpty, "\(after.count) signatures recorded after the \(change.entryKind) entry")

        // Every answer: a signature recorded before the change, or a refusal naming the rule.
        let signed = all.filter { $0.status == 201 }
        let refused = all.filter { $0.status != 201 }
        #expect(signed.count == signatures.count, "201 answers \(signed.count), signature entries \(signatures.count)")
        #expect(refused.count >= 50, "only \(refused.count) requests were still waiting at the change")
        for answer in refused {
            let problem = answer.object
            #expect([403, 409].contains(answer.status), "\(answer.id): \(answer.status) \(answer.body.prefix(300))")
            #expect(problem?["rule"] as? String == change.rule, "\(answer.id): \(answer.body.prefix(300))")
        }
        // Each refusal is journaled with its rule, and nothing else of the order changed.
        let refusals = entries.filter { $0.kind == "refusal" && $0.seq > changeSeq }
        #expect(refusals.count >= refused.count, "refusal entries \(refusals.count) for \(refused.count) refused requests")
        #expect(refusals.allSatisfy { $0.raw.contains("\"\(change.rule)\"") }, "\(refusals.prefix(3).map(\.raw))")
        for answer in refused.prefix(10) {
            let order = try FlowSetup.call(daemon.socket, "GET", "/v1/orders/\(answer.id)")
            #expect(order.object?["state"] as? String == "reviewed", "order \(answer.id): \(order.text.prefix(200))")
            #expect(try FlowSetup.call(daemon.socket, "GET", "/v1/orders/\(answer.id)/signature").status == 404)
        }

        // OpenSSL verifies every signature that was recorded.
        for answer in signed {
            let document = try FlowSetup.call(daemon.socket, "GET", "/v1/orders/\(answer.id)/document")
            let p7s = try FlowSetup.call(daemon.socket, "GET", "/v1/orders/\(answer.id)/signature")
            try #require(document.status == 200 && p7s.status == 200)
            #expect(try pki.openSSLVerifies(p7s: p7s.body, document: document.body), "order \(answer.id)")
        }
        print("record-time rules (\(change.rawValue)): \(signed.count) signed before the change, \(refused.count) refused after it")
    }

    // MARK: Helpers

    struct Answer: Sendable {
        var id: String
        var status: Int
        var body: String
        var object: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] }
    }

    /// Every request (JSON lines) at once, one thread each, as `user`; the answers.
    static func send(as user: String, input: String, count: Int, socket: String) throws -> [Answer] {
        let result = try UnixUsers.run(
            as: user, UnixUsers.python, ["-c", LoadBench.client, socket, String(count), "600"], stdin: Data(input.utf8))
        guard result.status == 0 else { throw Shell.Failure(message: "client as \(user): \(result.stderr.suffix(500))") }
        return result.stdout.split(separator: "\n").compactMap { line in
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { return nil }
            return Answer(id: object["id"] as? String ?? "?", status: object["status"] as? Int ?? 0,
                          body: object["body"] as? String ?? object["error"] as? String ?? "")
        }
    }

    struct Entry {
        var seq: Int64
        var kind: String
        var raw: String
    }

    /// The whole journal, as root (an administrator).
    static func journal(_ socket: String) throws -> [Entry] {
        var entries: [Entry] = []
        var cursor: Int64 = 0
        while true {
            let answer = try FlowSetup.call(socket, "GET", "/v1/audit?after=\(cursor)&limit=1000")
            guard answer.status == 200, let page = answer.object else { throw Shell.Failure(message: "audit: \(answer.text)") }
            let list = page["entries"] as? [[String: Any]] ?? []
            for entry in list {
                entries.append(Entry(
                    seq: (entry["seq"] as? NSNumber)?.int64Value ?? 0, kind: entry["kind"] as? String ?? "",
                    raw: entry["detail"] as? String ?? ""))
            }
            guard let next = (page["next"] as? NSNumber)?.int64Value, list.count == 1000 else { return entries }
            cursor = next
        }
    }
}
