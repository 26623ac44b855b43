import PaysignAPI
import Foundation
import PaysignClient
import PaysignTestSupport
import Testing

/// The payment-order flow of `docs/rules.md` driven over the real paysignd's Unix socket, by the
/// people of the flow as distinct Unix users (`Tests/testbed/users.sh`: the daemon knows them by
/// SO_PEERCRED), on real SoftHSM tokens: upload (D13), review of the file number (D9), first and
/// second signatures (D2), who holds which token (D3, D5, D13), certificates (D6), PINs (D5).
///
/// Every refusal is checked for its HTTP status, problem type and rule, for the order left as it
/// was (read again), and, where the daemon journals it, for the journal entry it leaves.
///
/// One daemon per test, on its own state directory, with its socket group `nogroup` (the group the
/// clients run with). The tokens are a PKI of this suite's own (`TestPKI.forOrderFlow()`): it spends
/// wrong-PIN tries and changes a PIN, which no other suite must meet mid-signature.
/// Needs root (to run clients as the users), as `make test` runs.
@Suite("Payment orders over paysignd's socket, as the Unix users of the flow (D2-D13)", .serialized)
struct OrderFlowTests {
    let pki: TestPKI

    init() throws {
        try UnixUsers.ensure()
        pki = try TestPKI.forOrderFlow()
    }

    static let clerk = UnixUsers.clerk
    static let reviewer = UnixUsers.reviewer
    static let officer1 = UnixUsers.officer1
    static let officer2 = UnixUsers.officer2
    static let officer3 = UnixUsers.officer3
    static let ministry = UnixUsers.ministry

    // MARK: 1. The whole flow

    @Test("issue 21, D5: a first signature with a CKA_ALWAYS_AUTHENTICATE key through the daemon: the PIN presented again for each signature (two logins journaled per signature), OpenSSL verifies")
    func alwaysAuthenticateKey() throws {
        let desk = try Desk(pki)
        try desk.setUpEntity()
        // Officer one's second token, its key marked CKA_ALWAYS_AUTHENTICATE (Certs/make-test-pki.sh).
        try FlowSetup.registerActive(socket: desk.daemon.socket, [(pki.token("qualified").uri, Self.officer1)])
        for _ in 1...2 {
            let order = try desk.reviewedOrder()
            let mark = try desk.head()
            let signed = try desk.sign(Self.officer1, order.id, "first", token: "qualified")
            try #require(signed.status == 201, "\(signed.text)")
            let kinds = try desk.journal(after: mark).map(\.kind)
            #expect(kinds.filter { $0 == "login-succeeded" }.count == 2, "a user login and a context-specific one: \(kinds)")
            let document = try desk.get("/v1/orders/\(order.id)/document")
            let p7s = try desk.get("/v1/orders/\(order.id)/signature")
            #expect(try pki.openSSLVerifies(p7s: p7s.body, document: document.body))
        }
    }

    @Test("D2, D9: 1,000 salaries uploaded by the clerk, reviewed, signed first by officer1 and second by the MoF representative (the paysign CLI as each user); OpenSSL verifies both signers")
    func happyPath() throws {
        let desk = try Desk(pki)
        try desk.setUpEntity()
        let socket = desk.daemon.socket
        let csv = try Desk.payroll(1000, seed: 101)
        let path = try UnixUsers.shareFile("payroll-\(UUID().uuidString.prefix(8)).csv", csv)
        defer { try? FileManager.default.removeItem(atPath: path) }

        // Upload (data entry, D13).
        let valueDate = try Desk.salaryDate()
        let created = try UnixUsers.paysign(
            as: Self.clerk,
            ["order", "create", path, "--entity", Desk.entity, "--kind", "salary", "--value-date", valueDate, "--socket", socket, "--json"])
        try #require(created.status == 0, "\(created.stderr)")
        let order = try #require(try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])
        let id = try #require((order["id"] as? NSNumber)?.int64Value)
        let fileNumber = try #require(order["fileNumber"] as? String)
        #expect(order["state"] as? String == "draft")
        #expect(order["lineCount"] as? Int == 1000)
        #expect((order["totalPiasters"] as? NSNumber)?.int64Value == Desk.total(csv))
        // D9: the file number is the SHA-256 of the bytes uploaded, as OpenSSL computes it.
        let digest = try Shell.run("openssl", ["dgst", "-sha256", "-r", path]).stdout.split(separator: " ").first.map(String.init)
        #expect(fileNumber.replacingOccurrences(of: "-", with: "") == digest)
        // The reviewer reads back the file, byte for byte.
        let file = try desk.get("/v1/orders/\(id)/file", as: Self.reviewer)
        #expect(file.status == 200 && file.body == csv)

        // Review (D9), then the two signatures (D2), each through the CLI as its user.
        let reviewed = try UnixUsers.paysign(as: Self.reviewer, ["order", "review", String(id), "--file-number", fileNumber, "--socket", socket])
        #expect(reviewed.status == 0, "\(reviewed.stderr)")
        #expect(reviewed.stdout.contains("order \(id) reviewed"))
        let first = try UnixUsers.paysign(
            as: Self.officer1, ["sign", String(id), "--first", "--token", pki.token("officer1").uri, "--pin-fd", "0", "--socket", socket],
            stdin: Data((pki.token("officer1").pin + "\n").utf8))
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("now first-signed"), "\(first.stdout)")
        #expect(!first.stdout.contains("warning"), "\(first.stdout)")
        let second = try UnixUsers.paysign(
            as: Self.ministry,
            ["sign", String(id), "--second", "--file-number", fileNumber, "--token", pki.token("ministry").uri, "--pin-fd", "0", "--socket", socket],
            stdin: Data((pki.token("ministry").pin + "\n").utf8))
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("now payable"), "\(second.stdout)")

        let payable = try desk.orderObject(id)
        #expect(payable["state"] as? String == "payable")
        // D8: payable, and queued for the payment center in the same transaction.
        let outbox = try #require(try JSONSerialization.jsonObject(with: try desk.get("/v1/outbox").body) as? [[String: Any]])
        #expect(outbox.contains { ($0["orderID"] as? NSNumber)?.int64Value == id && $0["state"] as? String == "pending" }, "\(outbox)")
        let signatures = payable["signatures"] as? [[String: Any]] ?? []
        #expect(signatures.map { $0["step"] as? String } == ["first", "second"])
        #expect(signatures.map { ($0["signer"] as? [String: Any])?["unixUser"] as? String } == [Self.officer1, Self.ministry])

        // The payment center's check, with OpenSSL alone: both signatures over the document, each
        // chaining to the test root (D7, D15: the signed record is the evidence).
        let work = try Desk.scratch()
        defer { try? FileManager.default.removeItem(at: work) }
        let document = try desk.get("/v1/orders/\(id)/document")
        let p7s = try desk.get("/v1/orders/\(id)/signature")
        try #require(document.status == 200 && p7s.status == 200)
        #expect(p7s.headers["content-type"] == "application/pkcs7-signature")
        #expect(document.text.contains(fileNumber), "the document names the file number the signers vouch for")
        let documentURL = work.appendingPathComponent("order.txt")
        let p7sURL = work.appendingPathComponent("order.p7s")
        let signersURL = work.appendingPathComponent("signers.pem")
        try document.body.write(to: documentURL)
        try p7s.body.write(to: p7sURL)
        let verified = try Shell.run("openssl", [
            "cms", "-verify", "-binary", "-inform", "DER", "-content", documentURL.path, "-in", p7sURL.path,
            "-CAfile", pki.caPEM.path, "-signer", signersURL.path, "-out", "/dev/null",
        ])
        #expect(verified.status == 0, "\(verified.stderr)")
        #expect(verified.stderr.contains("Verification successful"), "\(verified.stderr)")
        let signerCertificates = (try? String(contentsOf: signersURL, encoding: .utf8)) ?? ""
        #expect(signerCertificates.components(separatedBy: "BEGIN CERTIFICATE").count - 1 == 2)
        for label in ["officer1", "ministry"] {
            #expect(signerCertificates.contains(try Desk.pemBody(pki.certificatePEM(label))), "\(label) signed")
        }
        let cades = try Shell.run("openssl", [
            "cms", "-verify", "-cades", "-binary", "-inform", "DER", "-content", documentURL.path, "-in", p7sURL.path,
            "-CAfile", pki.caPEM.path, "-out", "/dev/null",
        ])
        #expect(cades.status == 0, "CAdES-BES (signing-certificate-v2) on both signers: \(cades.stderr)")
        let printed = try Shell.run("openssl", ["cms", "-cmsout", "-print", "-inform", "DER", "-in", p7sURL.path])
        #expect(printed.status == 0)
        #expect(Desk.signerInfoCount(printed.stdout, marker: "signatureAlgorithm:") == 2, "\(printed.stdout.prefix(3000))")
        // CAdES-BES: each SignerInfo carries signing-certificate-v2.
        #expect(Desk.signerInfoCount(printed.stdout, marker: "signingCertificateV2") == 2)
        // A document changed by one byte does not verify.
        var forged = document.body
        forged[forged.count / 2] ^= 0x01
        try forged.write(to: documentURL)
        let tampered = try Shell.run("openssl", [
            "cms", "-verify", "-binary", "-inform", "DER", "-content", documentURL.path, "-in", p7sURL.path,
            "-CAfile", pki.caPEM.path, "-out", "/dev/null",
        ])
        #expect(tampered.status != 0)

        // The journal: created, reviewed, two logins, two signatures of this order.
        let kinds = try desk.journal().map(\.kind)
        for kind in ["order-created", "order-reviewed"] { #expect(kinds.filter { $0 == kind }.count == 1, "\(kind)") }
        #expect(kinds.filter { $0 == "login-succeeded" }.count == 2)
        let signed = try desk.journal().filter { $0.kind == "signature" }
        #expect(signed.map { $0.detail["step"] as? String } == ["first", "second"])
        #expect(signed.allSatisfy { ($0.detail["orderID"] as? NSNumber)?.int64Value == id })
        #expect(!kinds.contains("refusal") && !kinds.contains("login-failed"))
    }

    // MARK: 2. A malformed file

    @Test("D10, D12, D13: a file with many bad lines: every problem reported at once, by line and rule; nothing stored")
    func malformedFile() throws {
        let desk = try Desk(pki)
        try desk.setUpEntity()
        let csv = Data("""
            beneficiary_id,id_type,name,account,amount_piasters
            28001010100011,national-id,Good Line,1234567890123456,500000
            12345,national-id,Short ID,1234567890123456,500000
            29502020100022,national-id,Zero Amount,1234567890123456,0
            28001010100011,national-id,Paid Twice,1234567890123456,100000
            28502020100022,national-id,Above Maximum,1234567890123456,3000000
            27503030100033,national-id,Bad Account,12,100000

            """.utf8)
        let before = try desk.head()
        // A salary order on the 1st of a month breaks D10 as well: the metadata is judged with the lines.
        let answer = try desk.upload(csv, kind: "salary", valueDate: try Desk.salaryDate(day: 1))
        expectProblem(answer, 422, "invalid-order", rule: nil, mentions: ["nothing was stored"])
        let violations = answer.object?["violations"] as? [[String: Any]] ?? []
        let lines = violations.compactMap { ($0["line"] as? NSNumber)?.intValue }
        // Header on line 1: the bad lines are 3 to 7, each once; the good line 2 is not named.
        #expect(Set(lines) == [3, 4, 5, 6, 7], "\(violations)")
        #expect(lines.count == 5, "one violation per bad line: \(violations)")
        let byLine = Dictionary(violations.compactMap { v in (v["line"] as? NSNumber).map { ($0.intValue, v) } }, uniquingKeysWith: { a, _ in a })
        #expect(byLine[3]?["field"] as? String == "beneficiary_id")
        #expect(byLine[4]?["field"] as? String == "amount_piasters")
        #expect((byLine[5]?["message"] as? String)?.contains("line 2") == true, "the duplicate names the earlier line")
        #expect(byLine[6]?["rule"] as? String == "D12")
        #expect(byLine[7]?["field"] as? String == "account")
        let calendar = violations.filter { $0["line"] == nil || $0["line"] is NSNull }
        #expect(calendar.count == 1 && calendar.first?["rule"] as? String == "D10", "\(calendar)")
        #expect(violations.count == 6)
        // Nothing was stored: no order for anyone, no order-created entry.
        for user in ["root", Self.clerk] {
            let list = try desk.get("/v1/orders", as: user)
            #expect(list.status == 200 && (try? JSONSerialization.jsonObject(with: list.body) as? [Any])?.isEmpty == true, "\(list.text)")
        }
        #expect(try desk.journal(after: before).allSatisfy { $0.kind != "order-created" })
    }

    // MARK: 3. D3

    @Test("D3: a first-signer set with no on-site holder is refused; a third first-signature holder is refused, naming the two")
    func firstSignerHolders() throws {
        let desk = try Desk(pki)
        #expect(try desk.post("root", "/v1/entities", ["code": Desk.entity, "name": "Test Entity"]).status == 201)
        // The only first signer, not on site: nobody would be present.
        let absent = try desk.post("root", "/v1/holders", Desk.holder(Desk.officer1, step: "first", onSite: false))
        expectProblem(absent, 409, "rule-violated", rule: "D3", mentions: ["on-site"])
        #expect(try desk.holders().isEmpty, "the refused holder was not added")
        #expect(try desk.operatorNames().isEmpty)

        #expect(try desk.post("root", "/v1/holders", Desk.holder(Desk.officer1, step: "first", onSite: true)).status == 201)
        #expect(try desk.post("root", "/v1/holders", Desk.holder(Desk.officer2, step: "first")).status == 201)
        let before = try desk.head()
        let third = try desk.post("root", "/v1/holders", Desk.holder(Desk.officer3, step: "first", onSite: true))
        expectProblem(third, 409, "rule-violated", rule: "D3", mentions: [Self.officer1, Self.officer2, "at most two"])
        #expect(try desk.holders().map(\.user).sorted() == [Self.officer1, Self.officer2])
        #expect(!(try desk.operatorNames().contains(Self.officer3)), "the third holder was not added as an operator either")
        // The on-site holder cannot stop being on site while the other is not.
        let leaving = try desk.post("root", "/v1/holders", Desk.holder(Desk.officer1, step: "first", onSite: false))
        expectProblem(leaving, 409, "rule-violated", rule: "D3", mentions: ["on-site"])
        #expect(try desk.holders().first { $0.user == Self.officer1 }?.onSite == true)
        #expect(try desk.journal(after: before).allSatisfy { !["operator-added", "role-changed", "on-site-changed"].contains($0.kind) })
        // Nor can the on-site holder be removed, leaving officer2 alone off site.
        let removed = try desk.call("root", "DELETE", "/v1/holders/\(Self.officer1)")
        expectProblem(removed, 409, "rule-violated", rule: "D3", mentions: ["on-site"])
        #expect(try desk.holders().map(\.user).sorted() == [Self.officer1, Self.officer2])
    }

    // MARK: 4. D9

    @Test("D9: no signature before review; a wrong file number is refused at review and at the second signature, which must state one")
    func reviewChain() throws {
        let desk = try Desk(pki)
        try desk.setUpEntity()
        let order = try desk.draft()

        var mark = try desk.head()
        var before = try desk.orderBytes(order.id)
        let early = try desk.sign(Self.officer1, order.id, "first", token: "officer1")
        expectProblem(early, 409, "wrong-state", rule: "D9", mentions: ["not been reviewed"])
        #expect(try desk.orderBytes(order.id) == before)
        try desk.expectRefusalJournaled(after: mark, rule: "D9", noLogin: true)

        // A reviewer who confirms another number.
        mark = try desk.head()
        let wrong = try desk.post(Self.reviewer, "/v1/orders/\(order.id)/review", ["fileNumber": Desk.otherNumber(order.fileNumber)])
        expectProblem(wrong, 409, "rule-violated", rule: "D9", mentions: [order.fileNumber])
        #expect(try desk.orderBytes(order.id) == before)
        try desk.expectRefusalJournaled(after: mark, rule: "D9")
        let garbled = try desk.post(Self.reviewer, "/v1/orders/\(order.id)/review", ["fileNumber": "12-34"])
        expectProblem(garbled, 422, "invalid-field", rule: "D9")
        #expect(try desk.orderBytes(order.id) == before)
        // Only a reviewer reviews.
        let byOfficer = try desk.post(Self.officer1, "/v1/orders/\(order.id)/review", ["fileNumber": order.fileNumber])
        expectProblem(byOfficer, 403, "not-authorized", rule: "D9")
        #expect(try desk.orderBytes(order.id) == before)

        let reviewed = try desk.post(Self.reviewer, "/v1/orders/\(order.id)/review", ["fileNumber": order.fileNumber.replacingOccurrences(of: "-", with: " ")])
        #expect(reviewed.status == 200, "\(reviewed.text)")
        #expect(reviewed.object?["state"] as? String == "reviewed")
        let again = try desk.post(Self.reviewer, "/v1/orders/\(order.id)/review", ["fileNumber": order.fileNumber])
        expectProblem(again, 409, "wrong-state", rule: "D9")

        // A first signer who states a wrong number is refused too (D9: do not sign what you did not review).
        mark = try desk.head()
        before = try desk.orderBytes(order.id)
        let firstWrong = try desk.sign(Self.officer1, order.id, "first", token: "officer1", fileNumber: Desk.otherNumber(order.fileNumber))
        expectProblem(firstWrong, 409, "rule-violated", rule: "D9")
        #expect(try desk.orderBytes(order.id) == before)
        try desk.expectRefusalJournaled(after: mark, rule: "D9", noLogin: true)
        #expect(try desk.sign(Self.officer1, order.id, "first", token: "officer1").status == 201)

        // The second signer must state the number, and the right one; no PIN reaches the token before.
        before = try desk.orderBytes(order.id)
        mark = try desk.head()
        let missing = try desk.sign(Self.ministry, order.id, "second", token: "ministry")
        expectProblem(missing, 422, "invalid-field", rule: "D9", mentions: ["fileNumber"])
        #expect(try desk.orderBytes(order.id) == before)
        try desk.expectRefusalJournaled(after: mark, rule: "D9", noLogin: true)
        mark = try desk.head()
        let mismatch = try desk.sign(Self.ministry, order.id, "second", token: "ministry", fileNumber: Desk.otherNumber(order.fileNumber))
        expectProblem(mismatch, 409, "rule-violated", rule: "D9", mentions: [order.fileNumber])
        #expect(try desk.orderBytes(order.id) == before)
        try desk.expectRefusalJournaled(after: mark, rule: "D9", noLogin: true)

        let done = try desk.sign(Self.ministry, order.id, "second", token: "ministry", fileNumber: order.fileNumber)
        #expect(done.status == 201, "\(done.text)")
        #expect(try desk.state(order.id) == "payable")
    }

    // MARK: 5. D2

    @Test("D2: no second signature before the first; the first signer, even holding both roles, never signs second; nor the same person under another user")
    func twoDifferentSigners() throws {
        let desk = try Desk(pki)
        try desk.setUpEntity()
        let order = try desk.reviewedOrder()

        var mark = try desk.head()
        var before = try desk.orderBytes(order.id)
        let secondFirst = try desk.sign(Self.ministry, order.id, "second", token: "ministry", fileNumber: order.fileNumber)
        expectProblem(secondFirst, 409, "wrong-state", rule: "D2", mentions: ["first signature"])
        #expect(try desk.orderBytes(order.id) == before)
        try desk.expectRefusalJournaled(after: mark, rule: "D2", noLogin: true)
        // The MoF representative does not hold the first-signer role.
        let ministryFirst = try desk.sign(Self.ministry, order.id, "first", token: "ministry")
        expectProblem(ministryFirst, 403, "not-authorized", rule: "D3", mentions: ["first-signer"])
        #expect(try desk.orderBytes(order.id) == before)

        #expect(try desk.sign(Self.officer1, order.id, "first", token: "officer1").status == 201)
        mark = try desk.head()
        before = try desk.orderBytes(order.id)
        let again = try desk.sign(Self.officer1, order.id, "first", token: "officer1")
        expectProblem(again, 409, "wrong-state", rule: "D2", mentions: ["already has its first signature"])
        let firstAsSecond = try desk.sign(Self.officer1, order.id, "second", token: "officer1", fileNumber: order.fileNumber)
        expectProblem(firstAsSecond, 403, "not-authorized", rule: "D2", mentions: ["second-signer"])
        #expect(try desk.orderBytes(order.id) == before)
        try desk.expectRefusalJournaled(after: mark, rule: "D2", noLogin: true)

        // The same person (national ID) as the first signer, under another Unix user, holding the
        // second-signer role: refused before any token is used.
        let twin = try desk.post("root", "/v1/holders", [
            "unixUser": Self.officer3, "nationalID": Desk.officer1.nationalID, "name": "Officer One Again",
            "entity": Desk.entity, "step": "second",
        ])
        #expect(twin.status == 201, "the registry lets one person have two users (\(twin.text))")
        if twin.status == 201 {
            mark = try desk.head()
            let sameperson = try desk.sign(Self.officer3, order.id, "second", token: "clerk", fileNumber: order.fileNumber)
            expectProblem(sameperson, 409, "rule-violated", rule: "D2", mentions: ["same person"])
            #expect(try desk.orderBytes(order.id) == before)
            try desk.expectRefusalJournaled(after: mark, rule: "D2", noLogin: true)
        }

        // An operator holding BOTH signer roles: officer2 becomes a second signer too (the
        // registry allows it), signs first, and is refused the second on the same order.
        let both = try desk.post("root", "/v1/holders", ["unixUser": Self.officer2, "entity": Desk.entity, "step": "second"])
        #expect(both.status == 201, "\(both.text)")
        #expect(Set(both.object?["steps"] as? [String] ?? []) == ["first", "second"])
        let other = try desk.reviewedOrder()
        #expect(try desk.sign(Self.officer2, other.id, "first", token: "officer2").status == 201)
        mark = try desk.head()
        before = try desk.orderBytes(other.id)
        let self2 = try desk.sign(Self.officer2, other.id, "second", token: "officer2", fileNumber: other.fileNumber)
        expectProblem(self2, 409, "rule-violated", rule: "D2", mentions: ["different person"])
        #expect(try desk.orderBytes(other.id) == before)
        try desk.expectRefusalJournaled(after: mark, rule: "D2", noLogin: true)

        // The MoF representative completes both orders.
        for o in [order, other] {
            let done = try desk.sign(Self.ministry, o.id, "second", token: "ministry", fileNumber: o.fileNumber)
            #expect(done.status == 201, "\(done.text)")
            #expect(try desk.state(o.id) == "payable")
        }
    }

    // MARK: 6. D5, D13

    @Test("D5, D13: the clerk with the officer's token and right PIN, an officer with another's token and PIN, an unregistered token: all refused before any login; data-entry staff never hold a token")
    func whoseToken() throws {
        let desk = try Desk(pki)
        try desk.setUpEntity()
        let order = try desk.reviewedOrder()
        let before = try desk.orderBytes(order.id)

        // The clerk knows officer1's PIN and has the token: refused (D13: data entry never signs).
        var mark = try desk.head()
        let clerk = try desk.sign(Self.clerk, order.id, "first", token: "officer1")
        expectProblem(clerk, 403, "not-authorized", rule: "D13", mentions: [Self.clerk])
        #expect(try desk.orderBytes(order.id) == before)
        var entries = try desk.journal(after: mark)
        // The signing route lets SigningPolicy refuse (so each refusal names its own rule): a refusal entry.
        #expect(entries.contains { $0.kind == "refusal" && $0.raw.contains("D13") }, "\(entries.map(\.kind))")
        #expect(!entries.contains { $0.kind.hasPrefix("login-") }, "no PIN reached the token")
        #expect(clerk.rule == "D13")

        // officer2, a first signer, with officer1's token and officer1's PIN (D5).
        mark = try desk.head()
        let borrowed = try desk.sign(Self.officer2, order.id, "first", token: "officer1")
        expectProblem(borrowed, 403, "not-authorized", rule: "D5", mentions: ["not issued to \(Self.officer2)"])
        #expect(try desk.orderBytes(order.id) == before)
        try desk.expectRefusalJournaled(after: mark, rule: "D5", noLogin: true)

        // A token registered to nobody (the clerk's token, with its right PIN).
        mark = try desk.head()
        let unregistered = try desk.sign(Self.officer1, order.id, "first", token: "clerk")
        expectProblem(unregistered, 403, "not-authorized", rule: "D5", mentions: ["not registered"])
        #expect(try desk.orderBytes(order.id) == before)
        try desk.expectRefusalJournaled(after: mark, rule: "D5", noLogin: true)

        // Data-entry staff cannot become holders, nor be given a token (D5, D13).
        mark = try desk.head()
        let holder = try desk.post("root", "/v1/holders", ["unixUser": Self.clerk, "entity": Desk.entity, "step": "second"])
        expectProblem(holder, 409, "rule-violated", rule: "D13")
        let token = try desk.post("root", "/v1/registered-tokens", ["token": pki.token("clerk").uri, "holder": Self.clerk])
        expectProblem(token, 409, "rule-violated", rule: "D13")
        // Nor can a token holder be made data-entry staff.
        let officer1ID = try #require(try desk.operatorID(Self.officer1))
        let roles = try desk.call("root", "PUT", "/v1/operators/\(officer1ID)/roles", body: try Desk.json(["roles": ["first-signer", "data-entry"]]), contentType: "application/json")
        expectProblem(roles, 409, "rule-violated", rule: "D13")
        entries = try desk.journal(after: mark)
        #expect(entries.allSatisfy { !["role-changed", "token-registered", "operator-added"].contains($0.kind) }, "\(entries.map(\.kind))")
        #expect(try desk.registeredTokens().sorted() == ["ministry", "officer1", "officer2"])
        #expect(try desk.holders().allSatisfy { $0.user != Self.clerk })

        // The rightful holder still signs.
        #expect(try desk.sign(Self.officer1, order.id, "first", token: "officer1").status == 201)
    }

    // MARK: 7. D6

    @Test("D6: a token registered to its holder but with an expired certificate is refused, before any login")
    func expiredCertificate() throws {
        let desk = try Desk(pki)
        try desk.setUpEntity(officer2: false)
        // officer3 is the person the expired certificate names (national ID 29004040100044).
        #expect(try desk.post("root", "/v1/holders", Desk.holder(Desk.officer3, step: "first")).status == 201)
        try FlowSetup.registerActive(socket: desk.daemon.socket, [(pki.token("expired").uri, Self.officer3)])
        let order = try desk.reviewedOrder()
        let before = try desk.orderBytes(order.id)
        let mark = try desk.head()
        let expired = try desk.sign(Self.officer3, order.id, "first", token: "expired")
        expectProblem(expired, 409, "rule-violated", rule: "D6", mentions: ["expired"])
        #expect(try desk.orderBytes(order.id) == before)
        try desk.expectRefusalJournaled(after: mark, rule: "D6", noLogin: true)
    }

    // MARK: 8. A wrong PIN

    @Test("D5: a wrong PIN is one C_Login, never retried: wrong-pin, login-failed journaled, order unchanged; the right PIN then signs")
    func wrongPIN() throws {
        let desk = try Desk(pki)
        try desk.setUpEntity()
        let order = try desk.reviewedOrder()
        let before = try desk.orderBytes(order.id)
        let mark = try desk.head()
        let wrong = try desk.sign(Self.officer1, order.id, "first", token: "officer1", pin: "000000")
        expectProblem(wrong, 403, "wrong-pin", rule: "D5")
        #expect(try desk.orderBytes(order.id) == before)
        let entries = try desk.journal(after: mark)
        let failed = entries.filter { $0.kind == "login-failed" }
        #expect(failed.count == 1, "exactly one login, not retried: \(entries.map(\.kind))")
        #expect(failed.first?.detail["tokenSerial"] as? String == Desk.serial(pki.token("officer1")))
        #expect(!entries.contains { $0.kind == "login-succeeded" || $0.kind == "signature" })
        // No PIN at all: refused before the token (the daemon keeps no PIN, D5).
        let noPIN = try desk.post(Self.officer1, "/v1/orders/\(order.id)/signatures", ["step": "first", "token": pki.token("officer1").uri])
        expectProblem(noPIN, 422, "invalid-field", rule: "D5", mentions: ["PIN"])
        #expect(try desk.orderBytes(order.id) == before)
        #expect(try desk.journal(after: mark).filter { $0.kind.hasPrefix("login-") }.count == 1)
        let right = try desk.sign(Self.officer1, order.id, "first", token: "officer1")
        #expect(right.status == 201, "\(right.text)")
        #expect(try desk.state(order.id) == "first-signed")

        // That it was one C_Login, counted at the PKCS#11 seam of a daemon whose second C_Login
        // answers CKR_PIN_LOCKED: a retry of the wrong PIN would have met it.
        let seam = try Desk(pki, environment: ["PAYSIGN_PKCS11_FAULTS": "C_Login=CKR_PIN_LOCKED@1x1"])
        try seam.setUpEntity()
        let other = try seam.reviewedOrder()
        let untouched = try seam.orderBytes(other.id)
        expectProblem(try seam.sign(Self.officer1, other.id, "first", token: "officer1", pin: "000000"), 403, "wrong-pin", rule: "D5")
        // The next C_Login is the second the daemon made: so the wrong PIN took exactly one.
        expectProblem(try seam.sign(Self.officer1, other.id, "first", token: "officer1"), 423, "pin-locked", rule: "D5")
        #expect(try seam.orderBytes(other.id) == untouched)
        #expect(try seam.sign(Self.officer1, other.id, "first", token: "officer1").status == 201)
        #expect(try seam.journal().filter { $0.kind == "login-failed" }.count == 2)
    }

    // MARK: 9. The final try, a token pulled out

    @Test("D5: on its final PIN try the token is not logged in to without confirmFinalTry; with it, it signs")
    func finalTry() throws {
        let desk = try Desk(pki, environment: ["PAYSIGN_PKCS11_FAULTS": "C_GetTokenInfo+final-try"])
        try desk.setUpEntity()
        let order = try desk.reviewedOrder()
        let before = try desk.orderBytes(order.id)
        let mark = try desk.head()
        let unconfirmed = try desk.sign(Self.officer1, order.id, "first", token: "officer1")
        expectProblem(unconfirmed, 423, "pin-locked", rule: "D5", mentions: ["final"])
        #expect(try desk.orderBytes(order.id) == before)
        try desk.expectRefusalJournaled(after: mark, rule: "D5", noLogin: true)
        let explicitNo = try desk.sign(Self.officer1, order.id, "first", token: "officer1", confirmFinalTry: false)
        expectProblem(explicitNo, 423, "pin-locked", rule: "D5")
        #expect(try desk.journal(after: mark).allSatisfy { !$0.kind.hasPrefix("login-") })
        let confirmed = try desk.sign(Self.officer1, order.id, "first", token: "officer1", confirmFinalTry: true)
        #expect(confirmed.status == 201, "\(confirmed.text)")
        #expect(try desk.state(order.id) == "first-signed")
    }

    @Test("A token pulled out mid-signature (C_Sign = CKR_DEVICE_REMOVED): a problem answer, the order unchanged, the daemon still serving")
    func tokenRemovedMidSign() throws {
        let desk = try Desk(pki, environment: ["PAYSIGN_PKCS11_FAULTS": "C_Sign=CKR_DEVICE_REMOVED@0x1"])
        try desk.setUpEntity()
        let order = try desk.reviewedOrder()
        let before = try desk.orderBytes(order.id)
        let mark = try desk.head()
        let pulled = try desk.sign(Self.officer1, order.id, "first", token: "officer1")
        expectProblem(pulled, 409, "token-absent", rule: nil)
        #expect(try desk.orderBytes(order.id) == before)
        #expect(try desk.get("/v1/orders/\(order.id)/signature").status == 404, "no SignedData was stored")
        let entries = try desk.journal(after: mark)
        #expect(entries.contains { $0.kind == "login-succeeded" }, "the PIN was right: \(entries.map(\.kind))")
        #expect(entries.contains { $0.kind == "refusal" }, "the failed signature is journaled: \(entries.map(\.kind))")
        #expect(!entries.contains { $0.kind == "signature" })
        #expect(desk.daemon.isRunning)
        #expect(try desk.get("/v1/health").status == 200)
        let retried = try desk.sign(Self.officer1, order.id, "first", token: "officer1")
        #expect(retried.status == 201, "\(retried.text)")
        #expect(try desk.state(order.id) == "first-signed")
    }

    // MARK: 10. Idempotency

    @Test("Idempotency-Key: a repeated signature request gets the first answer byte for byte and signs once; the key with another body is refused")
    func idempotentSignature() throws {
        let desk = try Desk(pki)
        try desk.setUpEntity()
        // The upload too: twice with one key, one order.
        let csv = try Desk.payroll(3, seed: 1001)
        let upload1 = try desk.upload(csv, key: "upload-1")
        let upload2 = try desk.upload(csv, key: "upload-1")
        #expect(upload1.status == 201 && upload2.status == 201, "\(upload2.text)")
        #expect(upload2.body == upload1.body && upload2.headers["idempotency-replayed"] == "true")
        #expect((try? JSONSerialization.jsonObject(with: try desk.get("/v1/orders").body) as? [Any])?.count == 1)
        let id = try #require((upload1.object?["id"] as? NSNumber)?.int64Value)
        let fileNumber = try #require(upload1.object?["fileNumber"] as? String)
        #expect(try desk.post(Self.reviewer, "/v1/orders/\(id)/review", ["fileNumber": fileNumber]).status == 200)

        let body = try Desk.json(["step": "first", "token": pki.token("officer1").uri, "pin": pki.token("officer1").pin])
        let key = [("Idempotency-Key", "sign-\(id)-first")]
        // A refusal is not saved under the key: the retry with the right PIN is judged anew.
        let mistyped = try Desk.json(["step": "first", "token": pki.token("officer1").uri, "pin": "000000"])
        let refused = try desk.call(Self.officer1, "POST", "/v1/orders/\(id)/signatures", body: mistyped, contentType: "application/json", headers: key)
        expectProblem(refused, 403, "wrong-pin", rule: "D5")
        let first = try desk.call(Self.officer1, "POST", "/v1/orders/\(id)/signatures", body: body, contentType: "application/json", headers: key)
        #expect(first.status == 201, "\(first.text)")
        #expect(first.headers["idempotency-replayed"] == nil)
        let again = try desk.call(Self.officer1, "POST", "/v1/orders/\(id)/signatures", body: body, contentType: "application/json", headers: key)
        #expect(again.status == 201)
        #expect(again.body == first.body, "byte-identical")
        #expect(again.headers["idempotency-replayed"] == "true")
        let entries = try desk.journal()
        #expect(entries.filter { $0.kind == "signature" && ($0.detail["orderID"] as? NSNumber)?.int64Value == id }.count == 1)
        #expect(entries.filter { $0.kind == "login-succeeded" }.count == 1, "the replay did not log in again")
        #expect((try desk.orderObject(id)["signatures"] as? [Any])?.count == 1)

        // The same key with another body (the final try confirmed): refused, nothing done.
        let before = try desk.orderBytes(id)
        let changed = try Desk.json(["step": "first", "token": pki.token("officer1").uri, "pin": pki.token("officer1").pin, "confirmFinalTry": true])
        let reused = try desk.call(Self.officer1, "POST", "/v1/orders/\(id)/signatures", body: changed, contentType: "application/json", headers: key)
        expectProblem(reused, 422, "idempotency-key-reused", rule: nil)
        #expect(try desk.orderBytes(id) == before)
        // The key is the user's own: the MoF representative's same key is a new request.
        let second = try Desk.json(["step": "second", "token": pki.token("ministry").uri, "pin": pki.token("ministry").pin, "fileNumber": fileNumber])
        let other = try desk.call(Self.ministry, "POST", "/v1/orders/\(id)/signatures", body: second, contentType: "application/json", headers: key)
        #expect(other.status == 201, "\(other.text)")
        #expect(other.headers["idempotency-replayed"] == nil)
        #expect(try desk.state(id) == "payable")
    }

    // MARK: 11. PIN age and PIN changes

    @Test("D5: a fresh PIN signs with no warning; near maximum-pin-age-days the answer warns")
    func pinAge() throws {
        let plain = try Desk(pki, arguments: ["--maximum-pin-age-days", "180"])
        try plain.setUpEntity()
        let order = try plain.reviewedOrder()
        let signed = try plain.sign(Self.officer1, order.id, "first", token: "officer1")
        #expect(signed.status == 201, "\(signed.text)")
        #expect((signed.object?["warnings"] as? [Any])?.isEmpty == true, "\(signed.text)")

        let strict = try Desk(pki, arguments: ["--maximum-pin-age-days", "1", "--pin-age-warning-days", "5"])
        try strict.setUpEntity()
        let other = try strict.reviewedOrder()
        let warned = try strict.sign(Self.officer1, other.id, "first", token: "officer1")
        #expect(warned.status == 201, "\(warned.text)")
        let warnings = warned.object?["warnings"] as? [String] ?? []
        #expect(warnings.count == 1 && warnings.first?.contains("D5") == true && warnings.first?.contains("paysign pin change") == true, "\(warned.text)")
    }

    @Test("D5: the holder changes the PIN through the daemon (pinChangedAt recorded); anyone else is refused; the PIN is put back")
    func pinChange() throws {
        let desk = try Desk(pki)
        try desk.setUpEntity()
        let token = pki.token("officer1")
        let newPIN = "5Tq82kx"
        #expect(try desk.registeredToken("officer1")?["pinChangedAt"] == nil)

        // Someone else: another officer, the clerk, knowing the PIN.
        for user in [Self.officer2, Self.clerk] {
            let mark = try desk.head()
            let refused = try desk.post(user, "/v1/pin-changes", ["token": token.uri, "oldPin": token.pin, "newPin": newPIN])
            expectProblem(refused, 403, "not-authorized", rule: "D5", mentions: ["only its holder"])
            try desk.expectRefusalJournaled(after: mark, rule: "D5")
        }
        #expect(try desk.registeredToken("officer1")?["pinChangedAt"] == nil)

        // The holder, with a "new" PIN that is the old one, or too short: refused, nothing changed.
        let same = try desk.post(Self.officer1, "/v1/pin-changes", ["token": token.uri, "oldPin": token.pin, "newPin": token.pin])
        expectProblem(same, 422, "invalid-field", rule: "D5")
        let short = try desk.post(Self.officer1, "/v1/pin-changes", ["token": token.uri, "oldPin": token.pin, "newPin": "12"])
        expectProblem(short, 422, "invalid-field", rule: nil)
        #expect(try desk.registeredToken("officer1")?["pinChangedAt"] == nil)

        // The holder.
        var changedBack = false
        defer {
            if !changedBack { Desk.resetPIN(pki, "officer1") }
        }
        let changed = try desk.post(Self.officer1, "/v1/pin-changes", ["token": token.uri, "oldPin": token.pin, "newPin": newPIN])
        #expect(changed.status == 200, "\(changed.text)")
        #expect(changed.object?["pinChangedAt"] as? String != nil)
        #expect(try desk.registeredToken("officer1")?["pinChangedAt"] as? String != nil)
        #expect(try desk.journal().contains { $0.kind == "pin-changed" })
        // The old PIN no longer logs in; the new one signs.
        let order = try desk.reviewedOrder()
        expectProblem(try desk.sign(Self.officer1, order.id, "first", token: "officer1"), 403, "wrong-pin", rule: "D5")
        #expect(try desk.sign(Self.officer1, order.id, "first", token: "officer1", pin: newPIN).status == 201)
        // And back, for the other tests of this PKI.
        let back = try desk.post(Self.officer1, "/v1/pin-changes", ["token": token.uri, "oldPin": newPIN, "newPin": token.pin])
        #expect(back.status == 200, "\(back.text)")
        changedBack = back.status == 200
    }

    // MARK: 12. The PIN never leaks

    @Test("D5: no PIN in the daemon's debug log, in the journal, or in any problem detail")
    func pinNeverLeaks() throws {
        let desk = try Desk(pki)
        try desk.setUpEntity()
        let order = try desk.reviewedOrder()
        let wrongPIN = "Wq9z4Lm7"
        let escaped = "Ek3\\u0037Rr"
        let uri = pki.token("officer1").uri
        let path = "/v1/orders/\(order.id)/signatures"
        // Wrong, malformed and misplaced PINs, refusals that quote the request, then a good one.
        expectProblem(try desk.sign(Self.officer1, order.id, "first", token: "officer1", pin: wrongPIN), 403, "wrong-pin", rule: "D5")
        expectProblem(try desk.sign(Self.officer2, order.id, "first", token: "officer1"), 403, "not-authorized", rule: "D5")
        expectProblem(try desk.sign(Self.officer1, order.id, "third", token: "officer1", pin: wrongPIN), 422, "invalid-field", rule: "D2")
        let unknownField = try desk.post(Self.officer1, path, ["step": "first", "token": uri, "pin": wrongPIN, "pim": wrongPIN])
        expectProblem(unknownField, 422, "invalid-field", rule: nil)
        let withEscape = try desk.call(Self.officer1, "POST", path, body: Data("{\"step\":\"first\",\"token\":\"\(uri)\",\"pin\":\"\(escaped)\"}".utf8), contentType: "application/json")
        expectProblem(withEscape, 422, "invalid-field", rule: nil)
        let inURI = try desk.post(Self.officer1, path, ["step": "first", "token": uri + "?pin-value=" + wrongPIN, "pin": wrongPIN])
        #expect(inURI.status == 422, "\(inURI.text)")
        let broken = try desk.call(Self.officer1, "POST", path, body: Data("{\"pin\":\"\(wrongPIN)\",".utf8), contentType: "application/json")
        #expect(broken.status >= 400)
        let badChange = try desk.post(Self.officer1, "/v1/pin-changes", ["token": uri, "oldPin": wrongPIN, "newPin": wrongPIN + "x"])
        expectProblem(badChange, 403, "wrong-pin", rule: "D5")
        #expect(try desk.sign(Self.officer1, order.id, "first", token: "officer1").status == 201)
        #expect(try desk.sign(Self.ministry, order.id, "second", token: "ministry", fileNumber: order.fileNumber).status == 201)

        // What the daemon wrote and said. Long hex and digit runs (hashes, serials, accounts) are
        // left out first, so a digits-only PIN is not "found" inside a SHA-256.
        let pins = [wrongPIN, wrongPIN + "x", "Ek37Rr", escaped, pki.token("officer1").pin, pki.token("ministry").pin, pki.token("officer2").pin]
        let log = (try? String(contentsOf: desk.daemon.logFile, encoding: .utf8)) ?? ""
        #expect(log.contains("debug") || log.contains("DEBUG") || log.count > 200, "the daemon logged at debug level: \(log.prefix(300))")
        let journal = try desk.journalText()
        #expect(journal.contains("login-failed") && journal.contains("signature"))
        let problems = desk.answers.filter { $0.status >= 400 }.map(\.text).joined(separator: "\n")
        #expect(problems.count > 100)
        for (name, text) in [("the log", log), ("the journal", journal), ("the problem details", problems)] {
            let scrubbed = Desk.withoutLongRuns(text)
            for pin in pins {
                #expect(!scrubbed.contains(pin), "\(name) holds a PIN (\(pin))")
            }
        }
    }

    @Test("D5: a PIN typed into the token URI is refused and never echoed back, even when the URI is malformed")
    func pinInsideTokenURI() throws {
        let desk = try Desk(pki)
        try desk.setUpEntity()
        let order = try desk.reviewedOrder()
        let before = try desk.orderBytes(order.id)
        let pin = "Kx93Qp"
        let path = "/v1/orders/\(order.id)/signatures"
        let wellFormed = try desk.post(Self.officer1, path, ["step": "first", "token": "pkcs11:token=officer1?pin-value=\(pin)", "pin": pin])
        expectProblem(wellFormed, 422, "invalid-field", rule: "D5", mentions: ["carries a PIN"])
        #expect(!wellFormed.text.contains(pin))
        // The same URI pasted with a leading space is not a PKCS#11 URI; the answer quotes it.
        let malformed = try desk.post(Self.officer1, path, ["step": "first", "token": " pkcs11:token=officer1?pin-value=\(pin)", "pin": pin])
        expectProblem(malformed, 422, "invalid-field", rule: nil)
        #expect(!malformed.text.contains(pin), "\(malformed.text)")
        // A query attribute typed with ':' for '=' is not name=value; the answer quotes it too.
        let colon = try desk.post(Self.officer1, path, ["step": "first", "token": "pkcs11:token=officer1?pin-value:\(pin)", "pin": pin])
        expectProblem(colon, 422, "invalid-field", rule: nil)
        #expect(!colon.text.contains(pin), "\(colon.text)")
        #expect(try desk.orderBytes(order.id) == before)
        #expect(!(try desk.journalText().contains(pin)))
    }

    @Test("D5: POST /v1/pin-changes on a token at its final PIN try is refused without confirmation, like a login (no C_SetPIN)")
    func pinChangeOnFinalTry() throws {
        let desk = try Desk(pki, environment: ["PAYSIGN_PKCS11_FAULTS": "C_GetTokenInfo+final-try"])
        try desk.setUpEntity()
        let token = pki.token("officer1")
        let mark = try desk.head()
        // A mistyped current PIN: on a real token on its final try, this C_SetPIN would lock it.
        let answer = try desk.post(Self.officer1, "/v1/pin-changes", ["token": token.uri, "oldPin": "000000", "newPin": "5Tq82kx"])
        expectProblem(answer, 423, "pin-locked", rule: "D5", mentions: ["final PIN try"])
        try desk.expectRefusalJournaled(after: mark, rule: "D5", noLogin: true)
        // Confirmed, the one try is used (SoftHSM does not really lock): the wrong PIN is judged, once.
        let confirmedMark = try desk.head()
        let confirmed = try desk.post(Self.officer1, "/v1/pin-changes", ["token": token.uri, "oldPin": "000000", "newPin": "5Tq82kx", "confirmFinalTry": true])
        expectProblem(confirmed, 403, "wrong-pin", rule: "D5")
        #expect(try desk.journal(after: confirmedMark).filter { $0.kind == "login-failed" }.count == 1)
        #expect(try desk.registeredToken("officer1")?["pinChangedAt"] == nil, "nothing was changed")
    }

    // MARK: Beyond the list: concurrency and the PIN cache

    @Test("Concurrent requests: one officer signs three orders at once (one login at a time per token); two signatures of one order at once make exactly one")
    func concurrentSignatures() throws {
        let desk = try Desk(pki)
        try desk.setUpEntity()
        let orders = try (0..<3).map { _ in try desk.reviewedOrder() }
        let token = pki.token("officer1")
        let body = try Desk.json(["step": "first", "token": token.uri, "pin": token.pin])
        let socket = desk.daemon.socket
        let answers = Desk.parallel(orders.map { order in
            { try UnixUsers.request(as: UnixUsers.officer1, socket: socket, "POST", "/v1/orders/\(order.id)/signatures", body: body, contentType: "application/json") }
        })
        for (order, answer) in zip(orders, answers) {
            #expect(answer?.status == 201, "\(answer?.text ?? "no answer")")
            #expect(try desk.state(order.id) == "first-signed")
        }
        let same = try desk.reviewedOrder()
        let twice = Desk.parallel((0..<2).map { _ in
            { try UnixUsers.request(as: UnixUsers.officer1, socket: socket, "POST", "/v1/orders/\(same.id)/signatures", body: body, contentType: "application/json") }
        })
        #expect(twice.compactMap { $0?.status }.sorted() == [201, 409], "\(twice.map { $0?.text ?? "none" })")
        let loser = twice.first { $0?.status == 409 } ?? nil
        #expect(["urn:paysign:problem:conflict", "urn:paysign:problem:wrong-state"].contains(loser?.problemType ?? ""))
        let signatures = try desk.journal().filter { $0.kind == "signature" && ($0.detail["orderID"] as? NSNumber)?.int64Value == same.id }
        #expect(signatures.count == 1)
        #expect((try desk.orderObject(same.id)["signatures"] as? [Any])?.count == 1)
        #expect(desk.daemon.isRunning)
    }

    @Test("D5, D13: a login kept by --pin-cache-seconds serves its own holder only, never another person")
    func pinCacheServesItsHolderOnly() throws {
        let desk = try Desk(pki, arguments: ["--pin-cache-seconds", "60"])
        try desk.setUpEntity()
        let a = try desk.reviewedOrder()
        let b = try desk.reviewedOrder()
        #expect(try desk.sign(Self.officer1, a.id, "first", token: "officer1").status == 201)
        let before = try desk.orderBytes(b.id)
        // officer2 sends no PIN, for officer1's token or their own: officer1's login is not theirs.
        for label in ["officer1", "officer2"] {
            let mark = try desk.head()
            let riding = try desk.post(Self.officer2, "/v1/orders/\(b.id)/signatures", ["step": "first", "token": pki.token(label).uri])
            expectProblem(riding, 422, "invalid-field", rule: "D5", mentions: ["PIN"])
            #expect(try desk.orderBytes(b.id) == before)
            #expect(try desk.journal(after: mark).allSatisfy { $0.kind != "signature" && !$0.kind.hasPrefix("login-") })
        }
        // officer2 with officer1's token and its PIN is refused as ever (D5).
        expectProblem(try desk.sign(Self.officer2, b.id, "first", token: "officer1"), 403, "not-authorized", rule: "D5")
        #expect(try desk.orderBytes(b.id) == before)
        // officer1 signs again without the PIN, on the login kept for them.
        let cached = try desk.post(Self.officer1, "/v1/orders/\(b.id)/signatures", ["step": "first", "token": pki.token("officer1").uri])
        #expect(cached.status == 201, "\(cached.text)")
        #expect(try desk.journal().filter { $0.kind == "login-succeeded" }.count == 1, "one login served both signatures")
    }

    // MARK: 13. Rejection

    @Test("Rejection with a reason takes a draft, a reviewed and a first-signed order to rejected; a rejected order is never signed")
    func rejection() throws {
        let desk = try Desk(pki)
        try desk.setUpEntity()
        let draft = try desk.draft()
        let reviewed = try desk.reviewedOrder()
        let firstSigned = try desk.reviewedOrder()
        #expect(try desk.sign(Self.officer1, firstSigned.id, "first", token: "officer1").status == 201)

        // No reason, or the clerk: refused.
        let before = try desk.orderBytes(draft.id)
        expectProblem(try desk.post(Self.reviewer, "/v1/orders/\(draft.id)/reject", ["reason": ""]), 422, "invalid-field", rule: nil)
        expectProblem(try desk.post(Self.clerk, "/v1/orders/\(draft.id)/reject", ["reason": "mine"]), 403, "not-authorized", rule: nil)
        #expect(try desk.orderBytes(draft.id) == before)

        for (order, user, from) in [(draft, Self.reviewer, "draft"), (reviewed, Self.officer1, "reviewed"), (firstSigned, Self.ministry, "first-signed")] {
            let reason = "line 2 pays the wrong account (\(from))"
            let rejected = try desk.post(user, "/v1/orders/\(order.id)/reject", ["reason": reason])
            #expect(rejected.status == 200, "\(rejected.text)")
            let now = try desk.orderObject(order.id)
            #expect(now["state"] as? String == "rejected")
            #expect(now["rejectionReason"] as? String == reason)
            #expect((now["rejectedBy"] as? [String: Any])?["unixUser"] as? String == user)
        }
        let journaled = try desk.journal().filter { $0.kind == "order-rejected" }
        #expect(journaled.count == 3)

        // Signing a rejected order, at either step.
        for (order, user, step, token) in [(reviewed, Self.officer1, "first", "officer1"), (firstSigned, Self.ministry, "second", "ministry")] {
            let mark = try desk.head()
            let before = try desk.orderBytes(order.id)
            let answer = try desk.sign(user, order.id, step, token: token, fileNumber: step == "second" ? order.fileNumber : nil)
            expectProblem(answer, 409, "wrong-state", rule: nil, mentions: ["rejected"])
            #expect(try desk.orderBytes(order.id) == before)
            try desk.expectRefusalJournaled(after: mark, rule: nil, noLogin: true)
        }
        // Nor is a rejected order reviewed or rejected again, nor a payable one rejected.
        expectProblem(try desk.post(Self.reviewer, "/v1/orders/\(draft.id)/review", ["fileNumber": draft.fileNumber]), 409, "wrong-state", rule: "D9")
        expectProblem(try desk.post(Self.reviewer, "/v1/orders/\(draft.id)/reject", ["reason": "again"]), 409, "wrong-state", rule: nil)
        let payable = try desk.reviewedOrder()
        #expect(try desk.sign(Self.officer1, payable.id, "first", token: "officer1").status == 201)
        #expect(try desk.sign(Self.ministry, payable.id, "second", token: "ministry", fileNumber: payable.fileNumber).status == 201)
        let late = try desk.post(Self.reviewer, "/v1/orders/\(payable.id)/reject", ["reason": "too late"])
        expectProblem(late, 409, "wrong-state", rule: nil)
        #expect(try desk.state(payable.id) == "payable")
    }
}

// MARK: - One daemon and the people of entity EG-0101

/// A paysignd with its socket open to group `nogroup`, and what the tests do with it.
fileprivate final class Desk {
    static let entity = "EG-0101"

    struct Person {
        var user: String
        var nationalID: String
        var name: String
    }

    // The national IDs are those the test certificates carry (make-test-pki.sh): a token is
    // registered only to the person its certificate names (D5).
    static let clerk = Person(user: UnixUsers.clerk, nationalID: "29505050100055", name: "Data Entry Clerk")
    static let reviewer = Person(user: UnixUsers.reviewer, nationalID: "29912120100066", name: "Accounts Reviewer")
    static let officer1 = Person(user: UnixUsers.officer1, nationalID: "28001010100011", name: "Officer One")
    static let officer2 = Person(user: UnixUsers.officer2, nationalID: "28502020100022", name: "Officer Two")
    static let officer3 = Person(user: UnixUsers.officer3, nationalID: "29004040100044", name: "Officer Three")
    static let ministry = Person(user: UnixUsers.ministry, nationalID: "27503030100033", name: "MoF Representative")

    let pki: TestPKI
    let daemon: DaemonProcess
    /// Every answer this desk received, to look for PINs in them (D5).
    private(set) var answers: [HTTPAnswer] = []
    private var seed = 0

    init(_ pki: TestPKI, arguments: [String] = [], environment: [String: String] = [:]) throws {
        self.pki = pki
        daemon = try DaemonProcess(pki: pki, arguments: arguments, environment: environment, socketGroup: UnixUsers.group)
    }

    // MARK: Requests

    /// A request as `user`: root in process (an administrator), anyone else through a client
    /// process running as that Unix user.
    func call(_ user: String, _ method: String, _ path: String, body: Data? = nil, contentType: String? = nil, headers: [(String, String)] = []) throws -> HTTPAnswer {
        let answer: HTTPAnswer
        if user == "root" {
            let response = try DaemonClient(socketPath: daemon.socket).send(method, path, body: body, contentType: contentType, headers: headers)
            answer = HTTPAnswer(status: response.status, headers: response.headers, body: response.body)
        } else {
            answer = try UnixUsers.request(as: user, socket: daemon.socket, method, path, body: body, contentType: contentType, headers: headers)
        }
        answers.append(answer)
        return answer
    }

    static func json(_ fields: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    func post(_ user: String, _ path: String, _ fields: [String: Any], key: String? = nil) throws -> HTTPAnswer {
        try call(user, "POST", path, body: try Self.json(fields), contentType: "application/json", headers: key.map { [("Idempotency-Key", $0)] } ?? [])
    }

    func get(_ path: String, as user: String = "root") throws -> HTTPAnswer { try call(user, "GET", path) }

    // MARK: The registry

    static func holder(_ person: Person, step: String, onSite: Bool? = nil) -> [String: Any] {
        var fields: [String: Any] = ["unixUser": person.user, "nationalID": person.nationalID, "name": person.name, "entity": entity, "step": step]
        if let onSite { fields["onSite"] = onSite }
        return fields
    }

    /// The entity; its clerk (data-entry) and reviewer; first-signature holders officer1 (on site)
    /// and officer2; the MoF representative (second); and their tokens, registered by root.
    func setUpEntity(officer2: Bool = true) throws {
        func created(_ answer: HTTPAnswer, _ what: String) throws {
            try #require(answer.status == 201, "\(what): \(answer.text)")
        }
        try created(try post("root", "/v1/entities", ["code": Self.entity, "name": "Test Entity \(Self.entity)"]), "entity")
        for (person, role) in [(Self.clerk, "data-entry"), (Self.reviewer, "reviewer")] {
            try created(try post("root", "/v1/operators", [
                "unixUser": person.user, "nationalID": person.nationalID, "name": person.name, "entity": Self.entity, "roles": [role],
            ]), person.user)
        }
        try created(try post("root", "/v1/holders", Self.holder(Self.officer1, step: "first", onSite: true)), "officer1")
        if officer2 { try created(try post("root", "/v1/holders", Self.holder(Self.officer2, step: "first")), "officer2") }
        try created(try post("root", "/v1/holders", Self.holder(Self.ministry, step: "second")), "ministry")
        var tokens = [("officer1", Self.officer1.user), ("ministry", Self.ministry.user)]
        if officer2 { tokens.append(("officer2", Self.officer2.user)) }
        // Active, as the certification authority registers them (D6).
        try FlowSetup.registerActive(socket: daemon.socket, tokens.map { (pki.token($0.0).uri, $0.1) })
    }

    func holders() throws -> [(user: String, onSite: Bool)] {
        let answer = try get("/v1/holders")
        let list = (try? JSONSerialization.jsonObject(with: answer.body) as? [[String: Any]]) ?? []
        return list.map { ($0["unixUser"] as? String ?? "", $0["onSite"] as? Bool ?? false) }
    }

    func operatorNames() throws -> [String] {
        let list = (try? JSONSerialization.jsonObject(with: try get("/v1/operators").body) as? [[String: Any]]) ?? []
        return list.compactMap { $0["unixUser"] as? String }
    }

    func operatorID(_ user: String) throws -> Int64? {
        let list = (try? JSONSerialization.jsonObject(with: try get("/v1/operators").body) as? [[String: Any]]) ?? []
        return list.first { $0["unixUser"] as? String == user }.flatMap { ($0["id"] as? NSNumber)?.int64Value }
    }

    func registeredTokens() throws -> [String] {
        let list = (try? JSONSerialization.jsonObject(with: try get("/v1/registered-tokens").body) as? [[String: Any]]) ?? []
        return list.compactMap { $0["label"] as? String }
    }

    func registeredToken(_ label: String) throws -> [String: Any]? {
        let list = (try? JSONSerialization.jsonObject(with: try get("/v1/registered-tokens").body) as? [[String: Any]]) ?? []
        return list.first { $0["label"] as? String == label }
    }

    // MARK: Orders

    struct OrderRef {
        var id: Int64
        var fileNumber: String
    }

    /// A payroll file from scripts/make-payroll.py (every line valid).
    static func payroll(_ lines: Int, seed: Int) throws -> Data {
        let script = TestPKI.repositoryRoot.appendingPathComponent("scripts/make-payroll.py").path
        let result = try Shell.run("python3", [script, String(lines), String(seed)])
        guard result.status == 0 else { throw Shell.Failure(message: "make-payroll.py: \(result.stderr)") }
        return Data(result.stdout.utf8)
    }

    /// The sum of the amounts (the last field of every line after the header).
    static func total(_ csv: Data) -> Int64 {
        String(decoding: csv, as: UTF8.self).split(separator: "\n").dropFirst()
            .compactMap { $0.split(separator: ",").last.flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) } }
            .reduce(0, +)
    }

    /// A salary value date the D10 calendar accepts: a working day (not Friday or Saturday) from
    /// the 24th to the 28th of next month; `day` instead gives that day of next month.
    static func salaryDate(day: Int? = nil) throws -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Africa/Cairo")!
        let next = try #require(calendar.date(byAdding: .month, value: 1, to: Date()))
        var parts = calendar.dateComponents([.year, .month], from: next)
        for candidate in day.map({ [$0] }) ?? Array(24...28) {
            parts.day = candidate
            guard let date = calendar.date(from: parts) else { continue }
            let weekday = calendar.component(.weekday, from: date)  // 1 Sunday … 6 Friday, 7 Saturday
            if day != nil || (weekday != 6 && weekday != 7) {
                return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, candidate)
            }
        }
        throw Shell.Failure(message: "no working day from the 24th to the 28th next month")
    }

    /// Uploads as the clerk (a supplier order: no calendar window).
    func upload(_ csv: Data, kind: String = "supplier", valueDate: String? = nil, as user: String = UnixUsers.clerk, key: String? = nil) throws -> HTTPAnswer {
        let date = try valueDate ?? Self.salaryDate()
        return try call(user, "POST", "/v1/orders?entity=\(Self.entity)&kind=\(kind)&valueDate=\(date)", body: csv, contentType: "text/csv",
                        headers: key.map { [("Idempotency-Key", $0)] } ?? [])
    }

    /// A new draft order of a few lines (each with a file of its own).
    func draft(lines: Int = 3) throws -> OrderRef {
        seed += 1
        let answer = try upload(try Self.payroll(lines, seed: seed))
        try #require(answer.status == 201, "upload: \(answer.text)")
        let id = try #require((answer.object?["id"] as? NSNumber)?.int64Value)
        let number = try #require(answer.object?["fileNumber"] as? String)
        return OrderRef(id: id, fileNumber: number)
    }

    /// A new order the reviewer has confirmed (D9).
    func reviewedOrder() throws -> OrderRef {
        let order = try draft()
        let answer = try post(UnixUsers.reviewer, "/v1/orders/\(order.id)/review", ["fileNumber": order.fileNumber])
        try #require(answer.status == 200, "review: \(answer.text)")
        return order
    }

    /// POST /v1/orders/{id}/signatures as `user` with the token labelled `label` (its own PIN
    /// unless `pin` is given).
    func sign(_ user: String, _ id: Int64, _ step: String, token label: String, pin: String? = nil, fileNumber: String? = nil,
              confirmFinalTry: Bool? = nil, key: String? = nil) throws -> HTTPAnswer {
        var fields: [String: Any] = ["step": step, "token": pki.token(label).uri, "pin": pin ?? pki.token(label).pin]
        if let fileNumber { fields["fileNumber"] = fileNumber }
        if let confirmFinalTry { fields["confirmFinalTry"] = confirmFinalTry }
        return try post(user, "/v1/orders/\(id)/signatures", fields, key: key)
    }

    /// The order as GET /v1/orders/{id} answers it, byte for byte (to prove a refusal changed nothing).
    func orderBytes(_ id: Int64) throws -> Data {
        let answer = try get("/v1/orders/\(id)")
        try #require(answer.status == 200, "\(answer.text)")
        return answer.body
    }

    func orderObject(_ id: Int64) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: try orderBytes(id)) as? [String: Any])
    }

    func state(_ id: Int64) throws -> String? { try orderObject(id)["state"] as? String }

    /// Another valid file number: the order's with its last digit changed.
    static func otherNumber(_ number: String) -> String {
        String(number.dropLast()) + (number.last == "0" ? "1" : "0")
    }

    /// The token's serial, from its URI.
    static func serial(_ token: TestPKI.Token) -> String? {
        token.uri.split(separator: ":").last?.split(separator: ";").first { $0.hasPrefix("serial=") }.map { String($0.dropFirst(7)) }
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

    /// Every page of GET /v1/audit, as the daemon sent it.
    func journalText() throws -> String {
        var text = ""
        var cursor: Int64 = 0
        while true {
            let answer = try get("/v1/audit?after=\(cursor)&limit=1000")
            text += answer.text
            let page = answer.object ?? [:]
            guard let next = (page["next"] as? NSNumber)?.int64Value, (page["entries"] as? [Any])?.count == 1000 else { return text }
            cursor = next
        }
    }

    /// The newest entry's number.
    func head() throws -> Int64 { try journal().last?.seq ?? 0 }

    /// After `mark`: a `refusal` entry with `rule` (nil: one without a rule) and, with `noLogin`,
    /// no login at all (the refusal came before any PIN reached a token) and no signature.
    func expectRefusalJournaled(after mark: Int64, rule: String?, noLogin: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let entries = try journal(after: mark)
        let refusals = entries.filter { $0.kind == "refusal" }
        #expect(refusals.contains { $0.detail["rule"] as? String == rule }, "refusals: \(refusals.map(\.raw)); all: \(entries.map(\.kind))", sourceLocation: sourceLocation)
        if noLogin {
            #expect(!entries.contains { $0.kind.hasPrefix("login-") || $0.kind == "signature" }, "\(entries.map(\.kind))", sourceLocation: sourceLocation)
        }
    }

    // MARK: Parallel requests

    /// Runs each request on a thread of its own, all at once; the answers in order (nil: it threw).
    static func parallel(_ requests: [@Sendable () throws -> HTTPAnswer]) -> [HTTPAnswer?] {
        let box = AnswerBox(count: requests.count)
        let group = DispatchGroup()
        for (index, request) in requests.enumerated() {
            group.enter()
            Thread {
                box.set(index, try? request())
                group.leave()
            }.start()
        }
        group.wait()
        return box.all
    }

    final class AnswerBox: @unchecked Sendable {
        private let lock = NSLock()
        private var answers: [HTTPAnswer?]  // guarded by lock
        init(count: Int) { answers = Array(repeating: nil, count: count) }
        func set(_ index: Int, _ answer: HTTPAnswer?) { lock.withLock { answers[index] = answer } }
        var all: [HTTPAnswer?] { lock.withLock { answers } }
    }

    // MARK: Files and tools

    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-flow-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The base64 lines of a PEM certificate, joined.
    static func pemBody(_ url: URL) throws -> String {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined(separator: "\n")
    }

    /// How many times `marker` occurs in the SignerInfos `openssl cms -cmsout -print` shows
    /// (`signatureAlgorithm:` once per SignerInfo).
    static func signerInfoCount(_ printed: String, marker: String) -> Int {
        guard let range = printed.range(of: "signerInfos:") else { return 0 }
        return printed[range.upperBound...].components(separatedBy: marker).count - 1
    }

    /// The text with runs of 16 or more hex digits removed (digests, serials, account numbers).
    static func withoutLongRuns(_ text: String) -> String {
        text.replacingOccurrences(of: "[0-9A-Fa-f]{16,}", with: "#", options: .regularExpression)
    }

    /// Puts a token's user PIN back with its SO PIN (only if a test failed to change it back).
    static func resetPIN(_ pki: TestPKI, _ label: String) {
        let token = pki.token(label)
        _ = try? Shell.run("pkcs11-tool", [
            "--module", TestPKI.softHSMModule, "--token-label", label, "--login", "--login-type", "so", "--so-pin", token.soPIN,
            "--init-pin", "--new-pin", token.pin,
        ], environment: ProcessInfo.processInfo.environment.merging(["SOFTHSM2_CONF": pki.directory.appendingPathComponent("softhsm2.conf").path]) { $1 })
    }
}

/// Issue 18, D8: the road to the payment center, end to end. A real paysignd (the entity) and a
/// real paysign-center (its keys on the same test PKI's SoftHSM "center" token, a throw-away
/// PostgreSQL): the order is uploaded, reviewed and signed twice through the daemon's socket; the
/// daemon's delivery service seals it (AuthEnvelopedData, AES-256-GCM, RSAES-OAEP) and sends it
/// over mutual TLS 1.3 whose client key is the entity's submission key on its token (PIN from the
/// credential submission-pin); the center accepts it; the daemon keeps the receipt, which OpenSSL
/// verifies; `paysign order show` says where the order stands.
@Suite("delivery to the payment center (D8)", .serialized)
struct DeliveryTests {
    let pki: TestPKI

    init() throws {
        try UnixUsers.ensure()
        pki = try TestPKI.forDelivery()
    }

    fileprivate func entityDaemon(center: CenterProcess?, port: Int? = nil, pin: String? = nil) throws -> (Desk, URL) {
        let credentials = FileManager.default.temporaryDirectory.appendingPathComponent("paysignd-credentials-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: credentials, withIntermediateDirectories: true)
        try Data(((pin ?? pki.token("submission").pin) + "\n").utf8).write(to: credentials.appendingPathComponent("submission-pin"))
        let certs = pki.directory.appendingPathComponent("certs")
        let desk = try Desk(pki, arguments: [
            "--center", "127.0.0.1:\(port ?? center?.port ?? 1)", "--center-name", "center.paysign.test",
            "--center-encryption-certificate", certs.appendingPathComponent("center-encryption.pem").path,
            "--center-receipt-certificate", certs.appendingPathComponent("center-receipt.pem").path,
            "--center-oaep-hash", "sha1", "--submission-key", "pkcs11:token=submission", "--delivery-interval-seconds", "0.2",
        ], environment: ["CREDENTIALS_DIRECTORY": credentials.path])
        return (desk, credentials)
    }

    fileprivate func payable(_ desk: Desk) throws -> Int64 {
        let order = try desk.reviewedOrder()
        let first = try desk.sign(UnixUsers.officer1, order.id, "first", token: "officer1")
        try #require(first.status == 201, "\(first.text)")
        let second = try desk.sign(UnixUsers.ministry, order.id, "second", token: "ministry", fileNumber: order.fileNumber)
        try #require(second.status == 201, "\(second.text)")
        return order.id
    }

    /// The order's `delivery` once it has `outcome` (waits at most `seconds`).
    fileprivate func delivery(_ desk: Desk, _ id: Int64, seconds: Double = 30, until done: ([String: Any]) -> Bool) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let delivery = try desk.orderObject(id)["delivery"] as? [String: Any] ?? [:]
            if done(delivery) || Date() > deadline { return delivery }
            usleep(100_000)
        }
    }

    @Test("a payable order travels sealed over mutual TLS, the center accepts it once, the receipt verifies with openssl, order show says so")
    func roadToTheCenter() throws {
        let database = try ThrowawayPostgres()
        defer { database.stop() }
        let center = try CenterProcess(pki: pki, database: database)
        let (desk, credentials) = try entityDaemon(center: center)
        defer { try? FileManager.default.removeItem(at: credentials) }
        try desk.setUpEntity()
        let id = try payable(desk)

        let answer = try delivery(desk, id) { $0["state"] as? String == "delivered" }
        #expect(answer["outcome"] as? String == "accepted", "\(answer) \(desk.daemon.log(tail: 10)) \(center.log(tail: 10))")
        #expect(answer["centerState"] as? String == "accepted")
        #expect((answer["submissionID"] as? NSNumber) != nil)

        // The receipt kept by the entity, judged by OpenSSL against the test root.
        let receipt = try desk.get("/v1/orders/\(id)/receipt")
        try #require(receipt.status == 200, "\(receipt.text)")
        #expect(receipt.headers["content-type"] == "application/cms")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("receipt-\(id)-\(UUID().uuidString.prefix(6)).p7m")
        defer { try? FileManager.default.removeItem(at: file) }
        try receipt.body.write(to: file)
        let verified = try Shell.run("openssl", ["cms", "-verify", "-inform", "DER", "-in", file.path, "-CAfile", pki.caPEM.path, "-purpose", "any", "-binary"])
        #expect(verified.status == 0, "\(verified.stderr)")
        #expect(verified.stdout.contains("\"accepted\":true") && verified.stdout.contains("\"entity\":\"EG-0101\""), "\(verified.stdout)")
        let signer = try Shell.run("openssl", ["cms", "-cmsout", "-print", "-inform", "DER", "-in", file.path])
        #expect(signer.stdout.contains("Receipts"), "the receipt's signer is the center's receipt certificate")

        // What the people see.
        let shown = try UnixUsers.paysign(as: "root", ["order", "show", String(id), "--socket", desk.daemon.socket])
        #expect(shown.stdout.contains("center       accepted for payment (submission"), "\(shown.stdout)")

        // The center's operator marks it paid; the entity's daemon learns it on its next poll.
        let tls = pki.directory.appendingPathComponent("tls")
        let added = try Shell.run(BuiltProducts.path("paysign-center"), [
            "staff", "add", "--database-host", "127.0.0.1", "--database-port", String(database.port),
            "--certificate", tls.appendingPathComponent("operator.pem").path, "--name", "Center Operator", "--role", "operator",
        ])
        try #require(added.status == 0, "\(added.stderr)")
        let submission = try #require((answer["submissionID"] as? NSNumber)?.int64Value)
        let paid = try Shell.run(TestPKI.paysignBinary, [
            "center", "pay", String(submission), "--center", "127.0.0.1:\(center.port)", "--center-name", "center.paysign.test",
            "--trust-anchors", pki.caPEM.path, "--certificate", tls.appendingPathComponent("operator.pem").path,
            "--key", tls.appendingPathComponent("operator.key").path,
        ])
        #expect(paid.status == 0, "\(paid.stderr)")
        let learned = try delivery(desk, id, seconds: 20) { $0["centerState"] as? String == "paid" }
        #expect(learned["centerState"] as? String == "paid", "\(learned) \(desk.daemon.log(tail: 5))")
        let shownPaid = try UnixUsers.paysign(as: "root", ["order", "show", String(id), "--socket", desk.daemon.socket])
        #expect(shownPaid.stdout.contains("center       paid by the center (submission \(submission))"), "\(shownPaid.stdout)")
        // The center holds one acceptance; the daemon's journal says delivered.
        #expect(try database.query("SELECT count(*) FROM acceptances WHERE entity_code = 'EG-0101' AND order_id = \(id)") == ["1"])
        let delivered = try desk.journal().filter { $0.kind == "order-delivered" }
        #expect(delivered.count == 1 && delivered.first?.detail["outcome"] as? String == "accepted", "\(delivered.map(\.raw))")
        #expect(try desk.journal().filter { $0.kind == "center-state-changed" }.count == 1)
        #expect(center.stop() == 0)
    }

    /// The value of an unlabelled sample in Prometheus's text format.
    static func figure(_ text: String, _ name: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test("a center that is down: the order waits with back-off, then goes when the center comes up; nothing is lost")
    func centerDownThenUp() throws {
        let database = try ThrowawayPostgres()
        defer { database.stop() }
        let port = try CenterProcess.freePort()
        let (desk, credentials) = try entityDaemon(center: nil, port: port)
        defer { try? FileManager.default.removeItem(at: credentials) }
        try desk.setUpEntity()
        let id = try payable(desk)
        let waiting = try delivery(desk, id, seconds: 15) { ($0["attempts"] as? Int ?? 0) >= 1 }
        #expect(waiting["state"] as? String == "pending", "\(waiting)")
        #expect((waiting["lastError"] as? String ?? "").contains("cannot be reached"), "\(waiting)")
        #expect(waiting["nextAttemptAt"] != nil)
        let shown = try UnixUsers.paysign(as: "root", ["order", "show", String(id), "--socket", desk.daemon.socket])
        #expect(shown.stdout.contains("not delivered yet"), "\(shown.stdout)")
        // The outbox for its administrator, readable and as Prometheus's text (GET /v1/metrics).
        let listed = try UnixUsers.paysign(as: "root", ["outbox", "--socket", desk.daemon.socket])
        #expect(listed.status == 0 && listed.stdout.contains("order \(id)\tEG-0101\tpending"), "\(listed.stdout) \(listed.stderr)")
        let waitingFigures = try UnixUsers.paysign(as: "root", ["outbox", "--metrics", "--socket", desk.daemon.socket])
        #expect(waitingFigures.stdout.contains("paysign_outbox_pending 1.0\n"), "\(waitingFigures.stdout)")
        #expect(Self.figure(waitingFigures.stdout, "paysign_outbox_oldest_pending_seconds") ?? 0 > 0)
        #expect(Self.figure(waitingFigures.stdout, "paysign_outbox_pending_attempts") ?? 0 >= 1)

        let center = try CenterProcess(pki: pki, database: database, port: port)
        // The back-off after one failure is 5-6 s, after two 10-12 s.
        let delivered = try delivery(desk, id, seconds: 40) { $0["state"] as? String == "delivered" }
        #expect(delivered["outcome"] as? String == "accepted", "\(delivered) \(desk.daemon.log(tail: 5))")
        #expect(try database.query("SELECT count(*) FROM acceptances") == ["1"])
        let figures = try desk.get("/v1/metrics")
        #expect(figures.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(figures.text.contains("paysign_outbox_pending 0.0\n"), "\(figures.text)")
        #expect(figures.text.contains("paysign_outbox_delivered{outcome=\"accepted\"} 1.0\n"), "\(figures.text)")
        #expect(figures.text.contains("paysign_outbox_center_state{state=\"accepted\"} 1.0\n"), "\(figures.text)")
        #expect(center.stop() == 0)
    }
}
