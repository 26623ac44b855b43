import Foundation
import PaysignClient
import PaysignTestSupport
import Synchronization
import Testing

/// Every operator has a scope (D3, D9, D13), and authorization comes before any side effect
/// (issue 15), over the real daemon's socket with the flow's people as their own Unix users:
/// - operators of an older registry left without an entity are named at start-up and act on no
///   entity's orders (they read none either);
/// - the event stream carries an entity's order events only to callers whose scope covers it;
/// - a caller with no role hammering an order while its signer signs never makes the signer hear
///   409, and its refusals do not flood the journal.
@Suite("Scopes and authorization before side effects (D3, D9, D13)", .serialized)
struct ScopeTests {
    static let entity = FlowSetup.entity
    static let otherEntity = "EG-0202"

    @Test("D13, D9: entity-less operators of an older registry are named at start-up, refused every act on an order naming the rule, and read no order")
    func entityLessOperators() throws {
        try UnixUsers.ensure()
        let pki = try TestPKI.separate()
        defer { try? FileManager.default.removeItem(at: pki.directory) }
        let first = try DaemonProcess(pki: pki, socketGroup: UnixUsers.group)
        try FlowSetup.setUpEntity(socket: first.socket, pki: pki)
        let draft = try Self.upload(first.socket)
        #expect(first.stop() == 0)

        // A registry from before every operator had a scope: the clerk and the reviewer lose their entity.
        let database = URL(fileURLWithPath: first.stateDirectory).appendingPathComponent("paysign.sqlite").path
        let update = try Shell.run("python3", ["-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            db.execute("UPDATE operators SET entityCode = NULL WHERE unixUser IN (?, ?)", (sys.argv[2], sys.argv[3]))
            db.commit()
            """, database, UnixUsers.clerk, UnixUsers.reviewer])
        try #require(update.status == 0, "\(update.stderr)")

        let daemon = try DaemonProcess(pki: pki, socketGroup: UnixUsers.group, directory: first.directory)
        defer {
            daemon.stop()
            try? FileManager.default.removeItem(at: daemon.directory)
        }
        let log = daemon.log(tail: 200)
        #expect(log.contains(UnixUsers.clerk) && log.contains(UnixUsers.reviewer) && log.contains("but no entity"), "\(log)")
        let mark = try Self.head(daemon.socket)

        // The clerk uploads for no entity (D13), the reviewer reviews for none (D9).
        let csv = try Self.payroll(seed: 7_101)
        let upload = try UnixUsers.request(
            as: UnixUsers.clerk, socket: daemon.socket, "POST", "/v1/orders?entity=\(Self.entity)&kind=supplier&valueDate=\(FlowSetup.valueDate())",
            body: Data(csv.utf8), contentType: "text/csv")
        expectProblem(upload, 403, "not-authorized", rule: "D13", mentions: ["belongs to no entity"])
        // The draft is not even visible to the reviewer: no scope reads it.
        let review = try UnixUsers.request(
            as: UnixUsers.reviewer, socket: daemon.socket, "POST", "/v1/orders/\(draft.id)/review",
            body: try JSONSerialization.data(withJSONObject: ["fileNumber": draft.fileNumber]), contentType: "application/json")
        #expect(review.status == 404, "\(review.text)")
        let list = try UnixUsers.request(as: UnixUsers.reviewer, socket: daemon.socket, "GET", "/v1/orders")
        #expect(list.status == 200 && list.array?.isEmpty == true, "an unscoped reviewer lists no order: \(list.text.prefix(300))")
        // Nothing changed but the refusal entry; the order is still a draft.
        let order = try FlowSetup.call(daemon.socket, "GET", "/v1/orders/\(draft.id)")
        #expect(order.object?["state"] as? String == "draft")
        let orders = try FlowSetup.call(daemon.socket, "GET", "/v1/orders")
        #expect(orders.array?.count == 1, "no order was stored for the refused upload")
        let entries = try Self.journal(daemon.socket, after: mark)
        #expect(entries.contains { $0.kind == "refusal" && $0.detail.contains("\"D13\"") }, "\(entries.map(\.kind))")
        #expect(!entries.contains { $0.kind == "order-created" || $0.kind == "order-reviewed" }, "\(entries.map(\.kind))")

        // An administrator gives them back an entity by their roles (the registry refuses an
        // entity-less reviewer now): removing the entity role is allowed, adding it back is not.
        let operators = try #require(try FlowSetup.call(daemon.socket, "GET", "/v1/operators").array)
        let reviewerID = try #require(operators.first { $0["unixUser"] as? String == UnixUsers.reviewer }?["id"] as? NSNumber)
        let back = try FlowSetup.call(daemon.socket, "PUT", "/v1/operators/\(reviewerID)/roles", json: ["roles": ["reviewer"]])
        #expect(back.status == 409 && back.rule == "D9", "\(back.text)")
    }

    @Test("D3, D13: GET /v1/events carries an entity's order events only to callers whose scope covers it")
    func eventsByScope() throws {
        let flow = try FlowDaemon()
        defer { flow.close() }
        let daemon = flow.daemon
        // officer3 reviews for another entity.
        #expect(try FlowSetup.call(daemon.socket, "POST", "/v1/entities", json: ["code": Self.otherEntity, "name": "Other Entity"]).status == 201)
        let other = try FlowSetup.call(daemon.socket, "POST", "/v1/operators", json: [
            "unixUser": UnixUsers.officer3, "nationalID": "29101010100099", "name": "Other Reviewer", "entity": Self.otherEntity,
            "roles": ["reviewer"],
        ])
        try #require(other.status == 201, "\(other.text)")

        // Two listeners for 7 seconds: the entity's reviewer and the other entity's.
        let heard = Mutex<[String: String]>([:])
        let listeners = [UnixUsers.reviewer, UnixUsers.officer3].map { user in
            Thread {
                let result = try? UnixUsers.run(as: user, UnixUsers.python, ["-c", Self.listener, daemon.socket, "7"])
                heard.withLock { $0[user] = result?.stdout ?? "" }
            }
        }
        for listener in listeners { listener.start() }
        Thread.sleep(forTimeInterval: 1)
        let created = try Self.upload(daemon.socket)
        // A token of EG-0101's holder suspended: an event about its serial.
        // The authority's operator (paysign-authority) is the flow's: FlowSetup registered the tokens as it.
        let serial = try #require(
            try FlowSetup.call(daemon.socket, "GET", "/v1/registered-tokens").array?.first { $0["label"] as? String == "officer2" }?["serial"] as? String)
        let suspended = try UnixUsers.request(
            as: "paysign-authority", socket: daemon.socket, "POST", "/v1/registered-tokens/\(serial)/transitions",
            body: try JSONSerialization.data(withJSONObject: ["action": "suspend"]), contentType: "application/json")
        try #require(suspended.status == 200, "\(suspended.text)")
        while heard.withLock({ $0.count }) < 2 { Thread.sleep(forTimeInterval: 0.1) }
        let mine = heard.withLock { $0[UnixUsers.reviewer] ?? "" }
        let theirs = heard.withLock { $0[UnixUsers.officer3] ?? "" }
        #expect(mine.contains("order-state-changed") && mine.contains("\"order\":\"\(created.id)\""), "the entity's reviewer hears its order: \(mine)")
        #expect(!theirs.contains("order-state-changed") && !theirs.contains(Self.entity), "another entity's reviewer hears nothing of it: \(theirs)")
        #expect(theirs.contains("paysignd events"), "the other listener was connected: \(theirs)")
        #expect(mine.contains("token-state-changed") && mine.contains(serial), "the entity's reviewer hears of its holder's token: \(mine)")
        #expect(!theirs.contains("token-state-changed") && !theirs.contains(serial), "another entity's reviewer does not: \(theirs)")
    }

    @Test("a caller with no role hammering an order while its signer signs: the signer is never answered 409, and the journal keeps one refusal a minute, with a count")
    func strangerDoesNotBlockTheSigner() throws {
        let flow = try FlowDaemon(environment: ["PAYSIGN_PKCS11_FAULTS": "C_Sign~40"])
        defer { flow.close() }
        let (pki, daemon) = (flow.pki, flow.daemon)
        let orders = try (0..<5).map { try FlowSetup.reviewedOrder(socket: daemon.socket, seed: 7_200 + $0) }
        let mark = try Self.head(daemon.socket)
        let token = pki.token("officer1")

        // officer3 has no role: 8 threads, 400 signature requests on the orders officer1 signs.
        let stranger = Mutex<String?>(nil)
        let strangerInput = try (0..<400).map { index in
            String(decoding: try JSONSerialization.data(withJSONObject: [
                "id": "s\(index)", "method": "POST", "path": "/v1/orders/\(orders[index % orders.count].id)/signatures",
                "ctype": "application/json", "body": ["step": "first", "token": token.uri, "pin": "000000"],
            ] as [String: Any]), as: UTF8.self)
        }.joined(separator: "\n") + "\n"
        let hammer = Thread {
            let result = try? UnixUsers.run(as: UnixUsers.officer3, UnixUsers.python, ["-c", LoadBench.client, daemon.socket, "8", "120"],
                                            stdin: Data(strangerInput.utf8))
            stranger.withLock { $0 = result?.stdout ?? "" }
        }
        hammer.start()
        Thread.sleep(forTimeInterval: 0.2)
        // The signer signs each order in turn, meanwhile.
        for order in orders {
            let answer = try UnixUsers.request(
                as: UnixUsers.officer1, socket: daemon.socket, "POST", "/v1/orders/\(order.id)/signatures",
                body: try JSONSerialization.data(withJSONObject: ["step": "first", "token": token.uri, "pin": token.pin]),
                contentType: "application/json")
            #expect(answer.status == 201, "order \(order.id): \(answer.status) \(answer.text.prefix(300))")
        }
        while stranger.withLock({ $0 == nil }) { Thread.sleep(forTimeInterval: 0.05) }
        let lines = stranger.withLock { $0 ?? "" }.split(separator: "\n")
        #expect(lines.count >= 100, "the stranger's requests: \(lines.count)")
        #expect(lines.allSatisfy { $0.contains("\"status\": 403") }, "every stranger's request is refused: \(lines.prefix(3))")

        // The journal: one refusal of the stranger (the minute's first), not hundreds.
        let entries = try Self.journal(daemon.socket, after: mark)
        let refusals = entries.filter { $0.kind == "refusal" && $0.raw.contains(UnixUsers.officer3) }
        #expect((1...2).contains(refusals.count), "\(refusals.count) refusals of the stranger journaled")
        #expect(!entries.contains { $0.kind.hasPrefix("login-") && $0.raw.contains(UnixUsers.officer3) }, "no PIN of the stranger reached a token")
        #expect(entries.filter { $0.kind == "signature" }.count == orders.count)
    }

    @Test("authorization before the body: a caller without the route's role is answered 403 from the head, its announced body never read")
    func refusedFromTheHead() throws {
        let flow = try FlowDaemon()
        defer { flow.close() }
        let daemon = flow.daemon
        // officer3 has no role; the clerk has one, but not the payment center's.
        // The clerk of EG-0101 uploading for EG-0202: refused by scope from the query (D13).
        for (user, path) in [(UnixUsers.officer3, "/v1/orders?entity=\(Self.entity)&kind=supplier&valueDate=\(FlowSetup.valueDate())"),
                             (UnixUsers.clerk, "/v1/verifications"),
                             (UnixUsers.clerk, "/v1/orders?entity=\(Self.otherEntity)&kind=supplier&valueDate=\(FlowSetup.valueDate())")] {
            let result = try UnixUsers.run(as: user, UnixUsers.python, ["-c", Self.headOnly, daemon.socket, path])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.hasPrefix("HTTP/1.1 403"), "\(user) \(path): \(result.stdout.prefix(300))")
            #expect(result.stdout.contains("not-authorized"), "\(result.stdout.prefix(300))")
        }
        // A signature, a route open to every caller: someone who is no operator, and data entry,
        // are refused from the head (D13); the announced body (within the route's limit) and the
        // PIN it would carry are never read.
        for user in [UnixUsers.officer3, UnixUsers.clerk] {
            let result = try UnixUsers.run(as: user, UnixUsers.python, ["-c", Self.headOnly, daemon.socket, "/v1/orders/1/signatures", "4096"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.hasPrefix("HTTP/1.1 403"), "\(user): \(result.stdout.prefix(300))")
            #expect(result.stdout.contains("\"rule\":\"D13\""), "\(result.stdout.prefix(400))")
        }
        #expect(daemon.isRunning)
        let entries = try Self.journal(daemon.socket, after: 0)
        #expect(entries.contains { $0.kind == "refusal" && $0.raw.contains(Self.otherEntity) && $0.detail.contains("\"D13\"") },
                "the scope refusal from the head is journaled: \(entries.suffix(5).map(\.raw))")
        #expect(entries.contains { $0.kind == "refusal" && $0.raw.contains(UnixUsers.clerk) && $0.detail.contains("data entry never signs") },
                "the clerk's signature refused from the head is journaled")
    }

    // MARK: Helpers

    /// argv: socket, path[, length]. Sends a POST head announcing `length` bytes (40 MiB by
    /// default) and no body, and prints the answer received within 5 s (empty when none came).
    static let headOnly = #"""
        import socket, sys, time
        length = int(sys.argv[3]) if len(sys.argv) > 3 else 41943040
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sys.argv[1])
        s.sendall(("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n" % (sys.argv[2], length)).encode())
        s.settimeout(5)
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        sys.stdout.write(data.decode("utf-8", "replace"))
        """#

    /// argv: socket, seconds. Subscribes to /v1/events and prints what arrives until the time is up.
    static let listener = #"""
        import socket, sys, time
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sys.argv[1])
        s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        s.settimeout(0.2)
        deadline = time.monotonic() + float(sys.argv[2])
        data = b""
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            except socket.timeout:
                pass
        sys.stdout.write(data.decode("utf-8", "replace"))
        """#

    static func payroll(seed: Int) throws -> String {
        let script = TestPKI.repositoryRoot.appendingPathComponent("scripts/make-payroll.py").path
        let csv = try Shell.run("python3", [script, "1", String(seed)])
        guard csv.status == 0 else { throw Shell.Failure(message: "make-payroll.py: \(csv.stderr)") }
        return csv.stdout
    }

    /// A draft uploaded by the clerk: its id and file number.
    static func upload(_ socket: String) throws -> (id: Int64, fileNumber: String) {
        let answer = try UnixUsers.request(
            as: UnixUsers.clerk, socket: socket, "POST", "/v1/orders?entity=\(entity)&kind=supplier&valueDate=\(FlowSetup.valueDate())",
            body: Data(try payroll(seed: Int.random(in: 10_000...99_999)).utf8), contentType: "text/csv")
        guard answer.status == 201, let id = (answer.object?["id"] as? NSNumber)?.int64Value,
            let fileNumber = answer.object?["fileNumber"] as? String
        else { throw Shell.Failure(message: "upload: \(answer.text)") }
        return (id, fileNumber)
    }

    struct Entry {
        var seq: Int64
        var kind: String
        var detail: String
        var raw: String
    }

    static func journal(_ socket: String, after: Int64) throws -> [Entry] {
        let answer = try FlowSetup.call(socket, "GET", "/v1/audit?after=\(after)&limit=1000")
        guard answer.status == 200 else { throw Shell.Failure(message: "audit: \(answer.text)") }
        return (answer.object?["entries"] as? [[String: Any]] ?? []).map { entry in
            let detail = entry["detail"] as? String ?? ""
            return Entry(
                seq: (entry["seq"] as? NSNumber)?.int64Value ?? 0, kind: entry["kind"] as? String ?? "", detail: detail,
                raw: "\(entry["actor"] as? String ?? "") \(detail)")
        }
    }

    static func head(_ socket: String) throws -> Int64 {
        var cursor: Int64 = 0
        while true {
            let page = try journal(socket, after: cursor)
            guard let last = page.last?.seq else { return cursor }
            cursor = last
            if page.count < 1000 { return cursor }
        }
    }
}
