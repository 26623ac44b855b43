import PaysignAPI
import Foundation
import PaysignClient
import PaysignTestSupport
import Testing

/// The payment center's verification through the real paysignd's socket (`POST /v1/verifications`,
/// issue 6), on orders signed by the officers on real SoftHSM tokens through the same daemon, by
/// distinct Unix users (`Tests/testbed/users.sh`; the payment center is `paysign-officer3` mapped
/// to the role payment-center): the report is the offline one plus `not-presented-before`; a
/// presentation is recorded and journaled, a second one (same document, or same file number in
/// another document) is a replay; a check records nothing; the trusted time is the daemon's first
/// registration of the signatures, so a revocation after it does not undo an order and one before
/// it does (D6); roles and malformed requests are refused; `paysign verify --daemon` prints the
/// same report with the offline exit codes.
///
/// A PKI of this suite's own (it revokes the second signer's token and signs CRLs on the
/// `authority` token). One daemon per test. Needs root, as `make test` runs.
@Suite("The payment center's verification over paysignd's socket: trusted time of first registration, replays, roles (issue 6, D6, D9)", .serialized)
struct VerificationFlowTests {
    static let pkiResult = Result { try TestPKI.separate() }
    let pki: TestPKI

    init() throws {
        try UnixUsers.ensure()
        pki = try Self.pkiResult.get()
    }

    static let center = Desk.center.user

    // MARK: 1. Check, present, replay

    @Test("a check reports valid and records nothing; presented, the order is recorded and journaled (order-presented); presented again, or checked again, not-presented-before fails naming the first presentation and the verdict is invalid; the refused presentation is journaled")
    func presentAndReplay() throws {
        let desk = try Desk(pki)
        try desk.setUp()
        let order = try desk.payableOrder()

        // A check: valid, not recorded; the two signatures registered (first sighting, journaled).
        var mark = try desk.head()
        let check = try desk.verify(order, as: Self.center)
        try #require(check.status == 200, "\(check.text)")
        let report = try #require(check.object)
        #expect(report["schema"] as? String == "paysign-order-verification/1")
        #expect(report["verdict"] as? String == "valid", "\(check.text)")
        #expect(Desk.checkNames(report) == Desk.twelve + ["not-presented-before"])
        var presented = try #require(Desk.check(report, "not-presented-before"))
        #expect(presented["status"] as? String == "pass")
        #expect((presented["reason"] as? String)?.contains("nothing was recorded") == true, "\(presented)")
        let time = try #require(report["trustedTime"] as? [String: Any])
        #expect(time["source"] as? String == "given" && (time["note"] as? String)?.contains("first registered") == true, "\(time)")
        var entries = try desk.journal(after: mark)
        let registered = entries.filter { $0.kind == "signature-registered" }
        #expect(registered.count == 1 && (registered.first?.detail["signatures"] as? [String])?.count == 2, "\(entries.map(\.raw))")
        #expect(!entries.contains { $0.kind == "order-presented" || $0.kind == "refusal" })

        // Checked again: the same trusted time (the first registration), nothing journaled.
        mark = try desk.head()
        let again = try #require(try desk.verify(order, as: Self.center).object)
        #expect(again["verdict"] as? String == "valid")
        #expect((again["trustedTime"] as? [String: Any])?["date"] as? String == time["date"] as? String)
        #expect(try desk.journal(after: mark).isEmpty)

        // Presented for payment: recorded, journaled, with the payroll file checked too (D9).
        mark = try desk.head()
        let payment = try desk.verify(order, as: Self.center, present: true, file: true)
        let paid = try #require(payment.object, "\(payment.text)")
        #expect(paid["verdict"] as? String == "valid", "\(payment.text)")
        #expect(Desk.check(paid, "file-number")?["status"] as? String == "pass")
        presented = try #require(Desk.check(paid, "not-presented-before"))
        #expect(presented["status"] as? String == "pass")
        #expect((presented["notes"] as? [String]) == ["recorded as presentation 1"], "\(presented)")
        entries = try desk.journal(after: mark)
        let recorded = entries.filter { $0.kind == "order-presented" }
        #expect(recorded.count == 1, "\(entries.map(\.raw))")
        #expect((recorded.first?.detail["orderID"] as? NSNumber)?.int64Value == order.id)
        #expect(recorded.first?.detail["entityCode"] as? String == Desk.entity)
        #expect(recorded.first?.raw.contains(Self.center) == true, "the presenter is the actor: \(recorded.first?.raw ?? "")")

        // Presented again: a replay, invalid, naming the first presentation; the refusal journaled.
        mark = try desk.head()
        let replay = try #require(try desk.verify(order, as: Self.center, present: true).object)
        #expect(replay["verdict"] as? String == "invalid")
        let refused = try #require(Desk.check(replay, "not-presented-before"))
        #expect(refused["status"] as? String == "fail")
        let reason = refused["reason"] as? String ?? ""
        #expect(reason.contains("presentation 1") && reason.contains(Self.center) && reason.contains("replay") && reason.contains("same document"), "\(reason)")
        #expect(Desk.check(replay, "first-signature")?["status"] as? String == "pass", "only the replay fails")
        entries = try desk.journal(after: mark)
        #expect(entries.contains { $0.kind == "refusal" && ($0.detail["reason"] as? String)?.contains("not-presented-before") == true }, "\(entries.map(\.raw))")
        #expect(!entries.contains { $0.kind == "order-presented" })

        // A mere check after the payment says so too, and journals no refusal.
        mark = try desk.head()
        let late = try #require(try desk.verify(order, as: Self.center).object)
        #expect(late["verdict"] as? String == "invalid")
        #expect(Desk.check(late, "not-presented-before")?["status"] as? String == "fail")
        #expect(try desk.journal(after: mark).isEmpty)

        // The same payroll file in another order (another document, the same file number): a replay.
        let twin = try desk.payableOrder(seed: order.seed)
        #expect(twin.fileNumber == order.fileNumber && twin.document != order.document)
        mark = try desk.head()
        let second = try #require(try desk.verify(twin, as: Self.center, present: true).object)
        #expect(second["verdict"] as? String == "invalid")
        let twinCheck = try #require(Desk.check(second, "not-presented-before"))
        #expect(twinCheck["status"] as? String == "fail")
        #expect((twinCheck["reason"] as? String)?.contains("same file number") == true, "\(twinCheck)")
        #expect(!(try desk.journal(after: mark).contains { $0.kind == "order-presented" }))
    }

    @Test("a presentation retried with the same Idempotency-Key gets its first answer back byte for byte, not a replay of itself; another order under the same key is refused")
    func idempotentPresentation() throws {
        let desk = try Desk(pki)
        try desk.setUp()
        let order = try desk.payableOrder()
        let first = try desk.verify(order, as: Self.center, present: true, headers: [("Idempotency-Key", "pay-1")])
        #expect(first.object?["verdict"] as? String == "valid", "\(first.text)")
        let retry = try desk.verify(order, as: Self.center, present: true, headers: [("Idempotency-Key", "pay-1")])
        #expect(retry.status == 200 && retry.body == first.body, "\(retry.text)")
        #expect(retry.headers["idempotency-replayed"] == "true")
        let other = try desk.payableOrder()
        let reused = try desk.verify(other, as: Self.center, present: true, headers: [("Idempotency-Key", "pay-1")])
        #expect(reused.status == 422 && reused.problemType == "urn:paysign:problem:idempotency-key-reused", "\(reused.text)")
        #expect(try desk.journal().filter { $0.kind == "order-presented" }.count == 1)
    }

    // MARK: 2. Trusted time

    @Test("D6: a signature first registered before its certificate's revocation (invalidity date later) stays valid when checked again after the CRL arrives, at the trusted time of first registration; an order whose signatures are first seen after the revocation is refused")
    func trustedTimeOfFirstRegistration() throws {
        let desk = try Desk(pki)
        try desk.setUp()
        let early = try desk.payableOrder()
        let late = try desk.payableOrder()

        // The early order is seen (checked) before the revocation: its trusted time is now.
        let seen = try #require(try desk.verify(early, as: Self.center).object)
        #expect(seen["verdict"] as? String == "valid", "\(seen)")
        let registeredText = try #require((seen["trustedTime"] as? [String: Any])?["date"] as? String)
        let registered = try #require(try? Date(registeredText, strategy: .iso8601))

        // The second signer's token is revoked, invalid from a moment after that registration.
        Thread.sleep(forTimeInterval: 2.2)
        let invalidFrom = Desk.iso(registered.addingTimeInterval(1))
        let revoked = try desk.post(Desk.authority.user, "/v1/registered-tokens/\(try desk.serial("ministry"))/transitions",
                                    ["action": "revoke", "cause": "loss", "invalidityDate": invalidFrom])
        try #require(revoked.status == 200, "\(revoked.text)")
        let crl = try desk.post(Desk.authority.user, "/v1/crl", ["pin": pki.token("authority").pin])
        try #require(crl.status == 201 || crl.status == 200, "\(crl.text)")

        // Checked again: judged at the first registration, before the invalidity date: valid,
        // with the revocation noted.
        let again = try #require(try desk.verify(early, as: Self.center, present: true).object)
        #expect(again["verdict"] as? String == "valid", "\(again)")
        #expect((again["trustedTime"] as? [String: Any])?["date"] as? String == registeredText)
        let revocation = try #require(Desk.check(again, "revocation-at-trusted-time"))
        #expect(revocation["status"] as? String == "pass")
        #expect(!((revocation["notes"] as? [String]) ?? []).isEmpty, "a note says the revocation came after the trusted time: \(revocation)")

        // The late order, signed before the revocation but first seen after it: refused (D6).
        let refused = try #require(try desk.verify(late, as: Self.center, present: true).object)
        #expect(refused["verdict"] as? String == "invalid", "\(refused)")
        #expect(Desk.check(refused, "revocation-at-trusted-time")?["status"] as? String == "fail")
        #expect(Desk.check(refused, "revocation-at-trusted-time")?["rule"] as? String == "D6")
        #expect(Desk.check(refused, "not-presented-before")?["status"] as? String == "pass")
        let entries = try desk.journal()
        #expect(entries.contains { $0.kind == "refusal" && $0.detail["rule"] as? String == "D6" }, "\(entries.map(\.raw))")
        #expect(entries.filter { $0.kind == "order-presented" }.count == 1)
    }

    // MARK: 3. Refusals

    @Test("roles: a first signer gets 403 (journaled as access-denied); an administrator and an auditor may check but not present; malformed JSON 400, bad base64, unknown or missing fields 422, another media type 415")
    func refusals() throws {
        let desk = try Desk(pki)
        try desk.setUp()
        let order = try desk.payableOrder()

        var mark = try desk.head()
        let signer = try desk.verify(order, as: Desk.officer1.user)
        Desk.expectProblem(signer, 403, "not-authorized", mentions: ["payment-center"])
        #expect(try desk.journal(after: mark).contains { $0.kind == "access-denied" })

        #expect(try desk.verify(order, as: "root").object?["verdict"] as? String == "valid", "an administrator checks")
        mark = try desk.head()
        let administrator = try desk.verify(order, as: "root", present: true)
        Desk.expectProblem(administrator, 403, "not-authorized", mentions: ["only the payment center presents"])
        #expect(try desk.journal(after: mark).contains { $0.kind == "access-denied" })
        #expect(try desk.verify(order, as: Desk.reviewer.user).object?["verdict"] as? String == "valid", "the auditor (reviewer, also auditor here) checks")
        Desk.expectProblem(try desk.verify(order, as: Desk.reviewer.user, present: true), 403, "not-authorized")
        #expect(!(try desk.journal().contains { $0.kind == "order-presented" }))

        let document = order.document.base64EncodedString(), signature = order.signature.base64EncodedString()
        let malformed: [(body: Data, contentType: String, status: Int, type: String, mentions: [String])] = [
            (Data("{\"document\":".utf8), "application/json", 400, "invalid-json", []),
            (try Desk.json(["document": "not base64!", "signature": signature]), "application/json", 422, "invalid-field", ["document", "base64"]),
            (try Desk.json(["document": document, "signature": "%%%"]), "application/json", 422, "invalid-field", ["signature"]),
            (try Desk.json(["document": document, "signature": signature, "file": "@"]), "application/json", 422, "invalid-field", ["file"]),
            (try Desk.json(["document": document]), "application/json", 422, "invalid-field", ["signature", "missing"]),
            (try Desk.json(["document": document, "signature": signature, "pay": true]), "application/json", 422, "invalid-field", ["unknown field 'pay'"]),
            (try Desk.json(["document": document, "signature": signature, "present": "yes"]), "application/json", 422, "invalid-field", ["present"]),
            (Data("x".utf8), "text/plain", 415, "unsupported-media-type", []),
        ]
        for case let (body, contentType, status, type, mentions) in malformed {
            let answer = try desk.call(Self.center, "POST", "/v1/verifications", body: body, contentType: contentType)
            Desk.expectProblem(answer, status, type, mentions: mentions)
        }
        // Garbage that is well-formed base64 is no request problem: a report, invalid.
        let garbage = try desk.call(Self.center, "POST", "/v1/verifications",
                                    body: try Desk.json(["document": "AAAA", "signature": "AAAA"]), contentType: "application/json")
        #expect(garbage.status == 200 && garbage.object?["verdict"] as? String == "invalid", "\(garbage.text)")
    }

    // MARK: 4. The client

    @Test("paysign verify --daemon prints the daemon's report (JSON byte for byte) with the offline exit codes: 0 valid, --present records, 1 for the replay naming not-presented-before; --present without --daemon is a usage error")
    func client() throws {
        let desk = try Desk(pki)
        try desk.setUp()
        let order = try desk.payableOrder()
        let name = "vf-\(UUID().uuidString.prefix(8))"
        let documentPath = try UnixUsers.shareFile("\(name).txt", order.document)
        let signaturePath = try UnixUsers.shareFile("\(name).p7s", order.signature)
        let filePath = try UnixUsers.shareFile("\(name).csv", order.file)
        let base = ["verify", "--daemon", documentPath, signaturePath, "--socket", desk.daemon.socket]
        // Seen once before, so that the two reports below say the same about the trusted time.
        #expect(try desk.verify(order, as: Self.center).status == 200)

        let checked = try UnixUsers.paysign(as: Self.center, base + ["--json"])
        #expect(checked.status == 0, "\(checked.stderr)")
        let json = try #require((try? JSONSerialization.jsonObject(with: Data(checked.stdout.utf8))) as? [String: Any], "\(checked.stdout)")
        #expect(json["order"] as? String == documentPath && json["verdict"] as? String == "valid")
        let direct = try desk.call(Self.center, "POST", "/v1/verifications", body: try Desk.json([
            "document": order.document.base64EncodedString(), "signature": order.signature.base64EncodedString(), "name": documentPath,
            "present": false,
        ]), contentType: "application/json")
        #expect(checked.stdout == direct.text + "\n", "the client prints the daemon's JSON as it came")

        let paid = try UnixUsers.paysign(as: Self.center, base + ["--file", filePath, "--present"])
        #expect(paid.status == 0, "\(paid.stderr)")
        #expect(paid.stdout.contains("not-presented-before") && paid.stdout.contains("recorded"), "\(paid.stdout)")

        let replay = try UnixUsers.paysign(as: Self.center, base + ["--present"])
        #expect(replay.status == 1, "\(replay.stdout)\(replay.stderr)")
        #expect(replay.stderr.contains("not-presented-before failed"), "\(replay.stderr)")

        let denied = try UnixUsers.paysign(as: Desk.officer1.user, base)
        #expect(denied.status == 1 && denied.stderr.contains("payment-center"), "\(denied.stderr)")
        let usage = try UnixUsers.paysign(as: Self.center, ["verify", documentPath, signaturePath, "--present"])
        #expect(usage.status != 0 && usage.stderr.contains("--daemon"), "\(usage.stderr)")
    }
}

// MARK: - One daemon, entity EG-0101, its signers, the authority and the payment center

fileprivate final class Desk {
    static let entity = "EG-0101"

    struct Person {
        var user: String
        var nationalID: String
        var name: String
    }

    // The national IDs the test certificates carry (make-test-pki.sh).
    static let clerk = Person(user: UnixUsers.clerk, nationalID: "29505050100055", name: "Data Entry Clerk")
    static let reviewer = Person(user: UnixUsers.reviewer, nationalID: "29912120100066", name: "Accounts Reviewer")
    static let officer1 = Person(user: UnixUsers.officer1, nationalID: "28001010100011", name: "Officer One")
    static let ministry = Person(user: UnixUsers.ministry, nationalID: "27503030100033", name: "MoF Representative")
    static let authority = Person(user: "paysign-authority", nationalID: "28806060100066", name: "e-Certification Unit")
    /// The payment center: a Unix user of the test bed that signs nothing in this suite.
    static let center = Person(user: UnixUsers.officer3, nationalID: "29004040100044", name: "Payment Center")

    static let twelve = [
        "cms-structure", "order-document", "first-signature", "second-signature", "certificate-chain", "validity-at-trusted-time",
        "revocation-at-trusted-time", "signer-count-and-order", "binding", "distinct-signers", "roles", "file-number",
    ]

    let pki: TestPKI
    let daemon: DaemonProcess
    private var seed = 0

    init(_ pki: TestPKI) throws {
        self.pki = pki
        daemon = try DaemonProcess(
            pki: pki, arguments: ["--authority-token", "pkcs11:token=authority", "--trust-anchors", pki.caPEM.path],
            socketGroup: UnixUsers.group)
    }

    // MARK: Requests

    func call(_ user: String, _ method: String, _ path: String, body: Data? = nil, contentType: String? = nil,
              headers: [(String, String)] = []) throws -> HTTPAnswer {
        if user == "root" {
            let response = try DaemonClient(socketPath: daemon.socket).send(method, path, body: body, contentType: contentType, headers: headers)
            return HTTPAnswer(status: response.status, headers: response.headers, body: response.body)
        }
        return try UnixUsers.request(as: user, socket: daemon.socket, method, path, body: body, contentType: contentType, headers: headers)
    }

    static func json(_ fields: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    func post(_ user: String, _ path: String, _ fields: [String: Any]) throws -> HTTPAnswer {
        try call(user, "POST", path, body: try Self.json(fields), contentType: "application/json")
    }

    func get(_ path: String) throws -> HTTPAnswer { try call("root", "GET", path) }

    /// POST /v1/verifications with the order's document and signature (and its payroll file).
    func verify(_ order: SignedOrder, as user: String, present: Bool? = nil, file: Bool = false, headers: [(String, String)] = []) throws -> HTTPAnswer {
        var fields: [String: Any] = ["document": order.document.base64EncodedString(), "signature": order.signature.base64EncodedString()]
        if let present { fields["present"] = present }
        if file { fields["file"] = order.file.base64EncodedString() }
        return try call(user, "POST", "/v1/verifications", body: try Self.json(fields), contentType: "application/json", headers: headers)
    }

    static func checkNames(_ report: [String: Any]) -> [String] {
        (report["checks"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
    }

    static func check(_ report: [String: Any], _ name: String) -> [String: Any]? {
        (report["checks"] as? [[String: Any]] ?? []).first { $0["name"] as? String == name }
    }

    static func expectProblem(_ answer: HTTPAnswer, _ status: Int, _ type: String, mentions: [String] = [],
                              sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(answer.status == status, "\(answer.text)", sourceLocation: sourceLocation)
        #expect(answer.problemType == "urn:paysign:problem:" + type, "\(answer.text)", sourceLocation: sourceLocation)
        #expect(answer.headers["content-type"]?.hasPrefix("application/problem+json") == true, sourceLocation: sourceLocation)
        for word in mentions {
            #expect(answer.detail?.contains(word) == true, "detail should mention '\(word)': \(answer.text)", sourceLocation: sourceLocation)
        }
    }

    // MARK: The registry

    /// The entity, its clerk and reviewer (also auditor), first signer officer1 (on site), the MoF
    /// representative, their tokens; the authority; the payment center; and a first CRL (without
    /// one, revocation cannot be checked and every verdict is indeterminate).
    func setUp() throws {
        func created(_ answer: HTTPAnswer, _ what: String) throws {
            try #require(answer.status == 201, "\(what): \(answer.text)")
        }
        try created(try post("root", "/v1/entities", ["code": Self.entity, "name": "Test Entity \(Self.entity)"]), "entity")
        for (person, roles) in [(Self.clerk, ["data-entry"]), (Self.reviewer, ["reviewer", "auditor"])] {
            try created(try post("root", "/v1/operators", [
                "unixUser": person.user, "nationalID": person.nationalID, "name": person.name, "entity": Self.entity, "roles": roles,
            ]), person.user)
        }
        for (person, role) in [(Self.authority, "certification-authority"), (Self.center, "payment-center")] {
            try created(try post("root", "/v1/operators", [
                "unixUser": person.user, "nationalID": person.nationalID, "name": person.name, "roles": [role],
            ]), person.user)
        }
        for (person, step, onSite) in [(Self.officer1, "first", true), (Self.ministry, "second", false)] {
            var fields: [String: Any] = ["unixUser": person.user, "nationalID": person.nationalID, "name": person.name, "entity": Self.entity, "step": step]
            if onSite { fields["onSite"] = true }
            try created(try post("root", "/v1/holders", fields), person.user)
        }
        for (label, holder) in [("officer1", Self.officer1.user), ("ministry", Self.ministry.user)] {
            // The authority registers them active (an administrator's would start issued, D6).
            try created(try post(Self.authority.user, "/v1/registered-tokens", ["token": pki.token(label).uri, "holder": holder]), label)
        }
        let crl = try post(Self.authority.user, "/v1/crl", ["pin": pki.token("authority").pin])
        try #require(crl.status == 201 || crl.status == 200, "first CRL: \(crl.text)")
    }

    func serial(_ label: String) throws -> String {
        let list = (try? JSONSerialization.jsonObject(with: try get("/v1/registered-tokens").body) as? [[String: Any]]) ?? []
        return try #require(list.first { $0["label"] as? String == label }?["serial"] as? String, "token \(label) is registered")
    }

    // MARK: Orders

    struct SignedOrder {
        var id: Int64
        var fileNumber: String
        var seed: Int
        var document: Data
        var signature: Data
        var file: Data
    }

    static func payroll(_ lines: Int, seed: Int) throws -> Data {
        let script = TestPKI.repositoryRoot.appendingPathComponent("scripts/make-payroll.py").path
        let result = try Shell.run("python3", [script, String(lines), String(seed)])
        guard result.status == 0 else { throw Shell.Failure(message: "make-payroll.py: \(result.stderr)") }
        return Data(result.stdout.utf8)
    }

    /// A supplier order uploaded by the clerk, reviewed, signed first by officer1 and second by the
    /// MoF representative on their SoftHSM tokens: its document, signatures and payroll file.
    /// `seed`: the payroll file of an earlier order (the same file number, another document).
    func payableOrder(seed given: Int? = nil) throws -> SignedOrder {
        seed += 1
        let fileSeed = given ?? (900 + seed)
        let file = try Self.payroll(3, seed: fileSeed)
        let upload = try call(Self.clerk.user, "POST", "/v1/orders?entity=\(Self.entity)&kind=supplier&valueDate=\(try Self.valueDate())",
                              body: file, contentType: "text/csv")
        try #require(upload.status == 201, "upload: \(upload.text)")
        let id = try #require((upload.object?["id"] as? NSNumber)?.int64Value)
        let number = try #require(upload.object?["fileNumber"] as? String)
        try #require(try post(Self.reviewer.user, "/v1/orders/\(id)/review", ["fileNumber": number]).status == 200)
        let first = try post(Self.officer1.user, "/v1/orders/\(id)/signatures",
                             ["step": "first", "token": pki.token("officer1").uri, "pin": pki.token("officer1").pin])
        try #require(first.status == 201, "first signature: \(first.text)")
        let second = try post(Self.ministry.user, "/v1/orders/\(id)/signatures",
                              ["step": "second", "token": pki.token("ministry").uri, "pin": pki.token("ministry").pin, "fileNumber": number])
        try #require(second.status == 201, "second signature: \(second.text)")
        let document = try get("/v1/orders/\(id)/document")
        let signature = try get("/v1/orders/\(id)/signature")
        try #require(document.status == 200 && signature.status == 200)
        return SignedOrder(id: id, fileNumber: number, seed: fileSeed, document: document.body, signature: signature.body, file: file)
    }

    /// A working day from the 24th to the 28th of next month (D10), as the other flows upload.
    static func valueDate() throws -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Africa/Cairo")!
        let next = try #require(calendar.date(byAdding: .month, value: 1, to: Date()))
        var parts = calendar.dateComponents([.year, .month], from: next)
        for candidate in 24...28 {
            parts.day = candidate
            guard let date = calendar.date(from: parts) else { continue }
            let weekday = calendar.component(.weekday, from: date)
            if weekday != 6 && weekday != 7 {
                return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, candidate)
            }
        }
        throw Shell.Failure(message: "no working day from the 24th to the 28th next month")
    }

    static func iso(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!))
    }

    // MARK: The journal

    struct Entry {
        var seq: Int64
        var kind: String
        var detail: [String: Any]
        var raw: String
    }

    func journal(after: Int64 = 0) throws -> [Entry] {
        var entries: [Entry] = []
        var cursor = after
        while true {
            let answer = try get("/v1/audit?after=\(cursor)&limit=1000")
            try #require(answer.status == 200, "\(answer.text)")
            let page = try #require(answer.object)
            let list = page["entries"] as? [[String: Any]] ?? []
            for entry in list {
                let detailText = entry["detail"] as? String ?? "{}"
                let detail = (try? JSONSerialization.jsonObject(with: Data(detailText.utf8))) as? [String: Any] ?? [:]
                entries.append(Entry(
                    seq: (entry["seq"] as? NSNumber)?.int64Value ?? 0, kind: entry["kind"] as? String ?? "", detail: detail,
                    raw: "\(entry["actor"] as? String ?? "") \(detailText)"))
            }
            guard let next = (page["next"] as? NSNumber)?.int64Value, list.count == 1000 else { return entries }
            cursor = next
        }
    }

    func head() throws -> Int64 { try journal().last?.seq ?? 0 }
}
