import PaysignAPI
import Foundation
import PaysignClient
import PaysignTestSupport
import Testing

/// The certification authority's side of `docs/rules.md` driven over the real paysignd's Unix socket,
/// by the people of the flow as distinct Unix users (`Tests/testbed/users.sh`; the authority is
/// `paysign-authority`), on real SoftHSM tokens: the token lifecycle (D6), a revocation freeing a
/// first signer's place (D3), clearance after surrender and death notices within a week (D6),
/// revocation lists signed on the `authority` token and judged by OpenSSL, CRLs imported by
/// another daemon and applied to an order waiting for a revoked signer (D6), and the holders
/// report (D3, D4, D6); and, beyond the list, CRLs issued at once on the one authority token.
///
/// Every refusal is checked for its HTTP status, problem type and rule, for what it would have
/// changed read again (token, holder, order or CRL held), and for the journal entry it leaves.
///
/// One daemon per test (two or three where a CRL travels from the authority to an importer), each
/// on its own state directory with its socket group `nogroup`. The tokens are a PKI of this suite's
/// own (`TestPKI.forAuthorityFlow()`): it spends a wrong PIN on the authority token and signs on it
/// with `pkcs11-tool`, which no other suite must meet mid-signature. Needs root, as `make test` runs.
@Suite("The certification authority over paysignd's socket: token lifecycle, clearance, death notices, CRLs, holders report (D3, D4, D6)", .serialized)
struct AuthorityFlowTests {
    let pki: TestPKI

    init() throws {
        try UnixUsers.ensure()
        pki = try TestPKI.forAuthorityFlow()
    }

    static let authority = Bench.authority.user
    static let officer1 = UnixUsers.officer1
    static let officer2 = UnixUsers.officer2
    static let officer3 = UnixUsers.officer3
    static let ministry = UnixUsers.ministry

    // MARK: 1. The lifecycle

    @Test("D6: the authority suspends, resumes, surrenders (retirement) and revokes (loss, invalidity date) tokens over the socket: state and revocation fields, token-state-changed journaled and announced on /v1/events; a suspended token cannot sign, a resumed one can")
    func lifecycle() throws {
        let bench = try Bench(pki)
        try bench.setUpEntity()
        let events = AuthorityEvents(socket: bench.daemon.socket)
        let order = try bench.reviewedOrder()
        let officer2 = try bench.serial("officer2")
        let ministry = try bench.serial("ministry")

        // Registered in the holder's hands: active (issued → active is in the issuance test).
        #expect(try bench.registeredToken("officer2")?["state"] as? String == "active")

        // active → suspended (reported lost).
        var mark = try bench.head()
        let suspended = try bench.transition(officer2, "suspend", note: "reported lost by the holder")
        #expect(suspended.status == 200, "\(suspended.text)")
        #expect(suspended.object?["state"] as? String == "suspended")
        #expect(suspended.object?["revocation"] == nil, "a suspension is no revocation: \(suspended.text)")
        #expect(try bench.registeredToken("officer2")?["state"] as? String == "suspended")
        var changes = try bench.journal(after: mark).filter { $0.kind == "token-state-changed" }
        #expect(changes.count == 1)
        #expect(changes.first?.detail["serial"] as? String == officer2)
        #expect(changes.first?.detail["action"] as? String == "suspend")
        #expect(changes.first?.detail["from"] as? String == "active")
        #expect(changes.first?.detail["to"] as? String == "suspended")
        #expect(changes.first?.detail["note"] as? String == "reported lost by the holder")
        #expect(changes.first?.raw.contains(Self.authority) == true, "the actor is the authority: \(changes.first?.raw ?? "")")
        #expect(!(try bench.journal(after: mark).contains { $0.kind == "role-changed" }), "a suspension keeps the holder's role")
        #expect(events.wait(within: 3) { $0 == "token-state-changed" && $1["serial"] as? String == officer2 && $1["state"] as? String == "suspended" },
                "token-state-changed on /v1/events: \(events.all)")

        // A suspended token does not sign: D6, before any PIN reaches it.
        var before = try bench.orderBytes(order.id)
        mark = try bench.head()
        let whileSuspended = try bench.sign(Self.officer2, order.id, "first", token: "officer2")
        expectProblem(whileSuspended, 409, "rule-violated", rule: "D6", mentions: ["suspended"])
        #expect(try bench.orderBytes(order.id) == before)
        try bench.expectRefusalJournaled(after: mark, rule: "D6", noLogin: true)

        // suspended → active (found again): it signs.
        mark = try bench.head()
        let resumed = try bench.transition(officer2, "resume")
        #expect(resumed.status == 200, "\(resumed.text)")
        #expect(resumed.object?["state"] as? String == "active")
        changes = try bench.journal(after: mark).filter { $0.kind == "token-state-changed" }
        #expect(changes.map { "\($0.detail["action"] ?? "") \($0.detail["from"] ?? "")→\($0.detail["to"] ?? "")" } == ["resume suspended→active"])
        #expect(events.wait(within: 3) { $0 == "token-state-changed" && $1["serial"] as? String == officer2 && $1["state"] as? String == "active" },
                "\(events.all)")
        let signed = try bench.sign(Self.officer2, order.id, "first", token: "officer2")
        #expect(signed.status == 201, "\(signed.text)")

        // active → surrendered (retirement): the revocation fields, and the holder's role goes (D3).
        mark = try bench.head()
        let surrendered = try bench.transition(officer2, "surrender", cause: "retirement", note: "handed back at retirement")
        #expect(surrendered.status == 200, "\(surrendered.text)")
        #expect(surrendered.object?["state"] as? String == "surrendered")
        let surrender = surrendered.object?["revocation"] as? [String: Any]
        #expect(surrender?["cause"] as? String == "retirement")
        #expect(surrender?["reason"] as? String == "cessationOfOperation")
        #expect(surrender?["invalidityDate"] == nil)
        #expect(Bench.isRecent(surrender?["at"]), "revocation.at is now: \(surrendered.text)")
        var entries = try bench.journal(after: mark)
        changes = entries.filter { $0.kind == "token-state-changed" }
        #expect(changes.count == 1)
        #expect(changes.first?.detail["action"] as? String == "surrender")
        #expect(changes.first?.detail["cause"] as? String == "retirement")
        #expect(changes.first?.detail["reason"] as? String == "cessationOfOperation")
        let roles = entries.filter { $0.kind == "role-changed" }
        #expect(roles.count == 1 && roles.first?.detail["unixUser"] as? String == Self.officer2, "\(entries.map(\.kind))")
        #expect(!(try bench.holders().contains(Self.officer2)), "officer2 no longer holds a signing role")
        #expect(events.wait(within: 3) { $0 == "token-state-changed" && $1["serial"] as? String == officer2 && $1["state"] as? String == "surrendered" },
                "\(events.all)")

        // active → revoked (loss), with the day the key stopped being trustworthy, by the CLI as the authority.
        mark = try bench.head()
        let today = Bench.day(0)
        let cli = try UnixUsers.paysign(
            as: Self.authority,
            ["token", "revoke", ministry, "--cause", "loss", "--invalidity-date", today, "--note", "token lost", "--socket", bench.daemon.socket])
        #expect(cli.status == 0, "\(cli.stderr)")
        #expect(cli.stdout.contains("is now revoked") && cli.stdout.contains("keyCompromise"), "\(cli.stdout)")
        let revoked = try #require(try bench.registeredToken("ministry"))
        #expect(revoked["state"] as? String == "revoked")
        let revocation = revoked["revocation"] as? [String: Any]
        #expect(revocation?["cause"] as? String == "loss")
        #expect(revocation?["reason"] as? String == "keyCompromise")
        #expect(revocation?["invalidityDate"] as? String == "\(today)T00:00:00Z", "\(revoked)")
        #expect(Bench.isRecent(revocation?["at"]))
        entries = try bench.journal(after: mark)
        changes = entries.filter { $0.kind == "token-state-changed" }
        #expect(changes.count == 1)
        #expect(changes.first?.detail["serial"] as? String == ministry)
        #expect(changes.first?.detail["action"] as? String == "revoke")
        #expect(changes.first?.detail["from"] as? String == "active" && changes.first?.detail["to"] as? String == "revoked")
        #expect(changes.first?.detail["cause"] as? String == "loss")
        #expect(changes.first?.detail["reason"] as? String == "keyCompromise")
        #expect((changes.first?.detail["invalidityDate"] as? String)?.hasPrefix(today) == true, "\(changes.first?.raw ?? "")")
        #expect(entries.contains { $0.kind == "role-changed" && $0.detail["unixUser"] as? String == Self.ministry })
        #expect(events.wait(within: 3) { $0 == "token-state-changed" && $1["serial"] as? String == ministry && $1["state"] as? String == "revoked" },
                "\(events.all)")

        // The revoked second signer cannot finish the order (D6, not "no role").
        before = try bench.orderBytes(order.id)
        mark = try bench.head()
        let afterRevocation = try bench.sign(Self.ministry, order.id, "second", token: "ministry", fileNumber: order.fileNumber)
        expectProblem(afterRevocation, 409, "rule-violated", rule: "D6", mentions: ["revoked", "loss"])
        #expect(try bench.orderBytes(order.id) == before)
        try bench.expectRefusalJournaled(after: mark, rule: "D6", noLogin: true)
    }

    // MARK: 2. Refusals

    @Test("D6: a transition its state does not allow → 409 wrong-state naming the allowed actions; a revocation without cause → 422; a revocation by a first signer or an administrator → 403; nothing changes, each refusal journaled")
    func refusedTransitions() throws {
        let bench = try Bench(pki)
        try bench.setUpEntity()
        let officer1 = try bench.serial("officer1")
        let officer2 = try bench.serial("officer2")
        let ministry = try bench.serial("ministry")

        // From active: activate and resume are not allowed; the answer names what is.
        for action in ["activate", "resume"] {
            let tokens = try bench.tokensBytes()
            let mark = try bench.head()
            let answer = try bench.transition(officer1, action)
            expectProblem(answer, 409, "wrong-state", rule: "D6", mentions: ["is active", "allowed: suspend, surrender, revoke"])
            #expect(try bench.tokensBytes() == tokens, "\(action) changed nothing")
            try bench.expectRefusalJournaled(after: mark, rule: "D6")
            #expect(!(try bench.journal(after: mark).contains { $0.kind == "token-state-changed" }))
        }

        // From suspended: suspend again is not allowed.
        #expect(try bench.transition(officer2, "suspend").status == 200)
        var tokens = try bench.tokensBytes()
        var mark = try bench.head()
        expectProblem(try bench.transition(officer2, "suspend"), 409, "wrong-state", rule: "D6", mentions: ["is suspended", "allowed: resume, surrender, revoke"])
        #expect(try bench.tokensBytes() == tokens)
        try bench.expectRefusalJournaled(after: mark, rule: "D6")

        // From revoked, nothing at all.
        #expect(try bench.transition(officer2, "revoke", cause: "loss").status == 200)
        tokens = try bench.tokensBytes()
        for (action, cause) in [("activate", nil), ("suspend", nil), ("resume", nil), ("surrender", "retirement"), ("revoke", "loss")] as [(String, String?)] {
            mark = try bench.head()
            let answer = try bench.transition(officer2, action, cause: cause)
            expectProblem(answer, 409, "wrong-state", rule: "D6", mentions: ["is revoked", "out of service for good"])
            #expect(try bench.tokensBytes() == tokens, "\(action) from revoked changed nothing")
            try bench.expectRefusalJournaled(after: mark, rule: "D6")
            #expect(!(try bench.journal(after: mark).contains { $0.kind == "token-state-changed" }))
        }

        // A revocation or a surrender without a cause; a cause or invalidity date on a suspension;
        // an invalidity date in the future; words that are no action or cause.
        let malformed: [(fields: [String: Any], mentions: [String])] = [
            (["action": "revoke"], ["cause"]),
            (["action": "surrender"], ["cause"]),
            (["action": "suspend", "cause": "loss"], ["revocation or a surrender only"]),
            (["action": "revoke", "cause": "loss", "invalidityDate": Bench.day(5)], ["future"]),
            (["action": "revoke", "cause": "loss", "invalidityDate": "yesterday"], ["invalidityDate"]),
            (["action": "destroy"], ["action must be one of"]),
            (["action": "revoke", "cause": "boredom"], ["cause must be one of"]),
        ]
        for (fields, mentions) in malformed {
            tokens = try bench.tokensBytes()
            mark = try bench.head()
            let answer = try bench.post(Self.authority, "/v1/registered-tokens/\(ministry)/transitions", fields)
            expectProblem(answer, 422, "invalid-field", rule: nil, mentions: mentions)
            #expect(try bench.tokensBytes() == tokens, "\(fields) changed nothing")
            #expect(!(try bench.journal(after: mark).contains { $0.kind == "token-state-changed" || $0.kind == "role-changed" }))
        }
        // The store's own refusal (no cause) is journaled as a refusal.
        mark = try bench.head()
        _ = try bench.transition(ministry, "revoke")
        try bench.expectRefusalJournaled(after: mark, rule: nil)
        expectProblem(try bench.transition("0000000000000000", "suspend"), 404, "not-found", rule: nil, mentions: ["0000000000000000"])

        // Not the authority: a first signer, and root (an administrator), may not revoke (D6).
        for user in [Self.officer1, "root"] {
            tokens = try bench.tokensBytes()
            mark = try bench.head()
            let answer = try bench.transition(ministry, "revoke", cause: "loss", as: user)
            expectProblem(answer, 403, "not-authorized", rule: "D6", mentions: ["certification-authority"])
            #expect(try bench.tokensBytes() == tokens)
            let entries = try bench.journal(after: mark)
            #expect(entries.contains { $0.kind == "access-denied" && ($0.detail["action"] as? String)?.contains("/transitions") == true }, "\(entries.map(\.raw))")
            #expect(!entries.contains { $0.kind == "token-state-changed" })
        }
        // The same through the CLI, as the demo shows it.
        let cli = try UnixUsers.paysign(as: Self.officer1, ["token", "revoke", ministry, "--cause", "loss", "--socket", bench.daemon.socket])
        #expect(cli.status != 0)
        #expect(cli.stderr.contains("certification-authority"), "\(cli.stderr)")
        #expect(try bench.registeredToken("ministry")?["state"] as? String == "active")
        #expect(try bench.holders().contains(Self.ministry), "the refusals took no role away")
    }

    // MARK: 3. D3

    @Test("D3, D6: revoking one of two first signers' tokens frees the place: a third first signer can be added; the revoked holder is refused with D6, not 'no role'")
    func revocationFreesFirstSignerPlace() throws {
        let bench = try Bench(pki)
        try bench.setUpEntity()
        let order = try bench.reviewedOrder()

        // Two first signers already: the third is refused (D3).
        expectProblem(try bench.post("root", "/v1/holders", Bench.holder(Bench.officer3, step: "first")), 409, "rule-violated", rule: "D3", mentions: ["at most two"])
        #expect(!(try bench.holders().contains(Self.officer3)))

        // The authority revokes officer2's token (signing right withdrawn): officer2's role goes.
        let mark = try bench.head()
        let revoked = try bench.transition(try bench.serial("officer2"), "revoke", cause: "withdrawal", note: "signing right withdrawn")
        #expect(revoked.status == 200, "\(revoked.text)")
        #expect((revoked.object?["revocation"] as? [String: Any])?["reason"] as? String == "privilegeWithdrawn")
        let roleChange = try bench.journal(after: mark).filter { $0.kind == "role-changed" }
        #expect(roleChange.count == 1)
        #expect((roleChange.first?.detail["after"] as? [String])?.contains("first-signer") == false, "\(roleChange.map(\.raw))")
        #expect(try bench.holders().sorted() == [Self.ministry, Self.officer1])

        // The place is free: officer3 becomes a first signer.
        let third = try bench.post("root", "/v1/holders", Bench.holder(Bench.officer3, step: "first"))
        #expect(third.status == 201, "\(third.text)")
        #expect(try bench.holders().sorted() == [Self.ministry, Self.officer1, Self.officer3])

        // officer2, right token, right PIN: refused because of the revocation (D6), before any login.
        let before = try bench.orderBytes(order.id)
        let refusalMark = try bench.head()
        let answer = try bench.sign(Self.officer2, order.id, "first", token: "officer2")
        expectProblem(answer, 409, "rule-violated", rule: "D6", mentions: ["revoked", "withdrawal"])
        #expect(answer.rule != "D3" && !(answer.detail ?? "").contains("does not hold"), "not a confusing 'no role': \(answer.text)")
        #expect(try bench.orderBytes(order.id) == before)
        try bench.expectRefusalJournaled(after: refusalMark, rule: "D6", noLogin: true)
        // The remaining first signer still signs.
        #expect(try bench.sign(Self.officer1, order.id, "first", token: "officer1").status == 201)
    }

    // MARK: 3b. Issuing a certificate (the key made on the holder's token)

    @Test("D3, D5, D6, D13: paysign token request on the holder's token, token issue by the authority (the key must be on the named token), token install; the token is registered as issued and signs only once activated; every refusal named and journaled")
    func issuance() throws {
        let bench = try Bench(pki)
        try bench.setUpEntity()
        let order = try bench.reviewedOrder()
        let folder = try Bench.scratch()
        chmod(folder.path, 0o777)
        let spare = pki.token("spare")
        let local = ["--module", TestPKI.softHSMModule]

        // officer2's token is revoked as superseded; the place it frees goes to officer3 (D3).
        #expect(try bench.transition(try bench.serial("officer2"), "revoke", cause: "replaced").status == 200)
        #expect(try bench.post("root", "/v1/holders", Bench.holder(Bench.officer3, step: "first")).status == 201)

        // The request is made on the spare token, in process, with its PIN (the key never leaves it).
        let csr = folder.appendingPathComponent("officer3.csr").path
        let request = try Shell.run(
            TestPKI.paysignBinary, ["token", "request", "--token", spare.uri, "--name", "Officer Three", "--out", csr, "--pin-fd", "0"] + local,
            stdin: Data(spare.pin.utf8), environment: pki.softHSMEnvironment)
        try #require(request.status == 0, "\(request.stderr)")
        chmod(csr, 0o644)
        let pem = try String(contentsOfFile: csr, encoding: .utf8)
        #expect(pem.hasPrefix("-----BEGIN CERTIFICATE REQUEST-----"))
        let authorityPIN = pki.token("authority").pin
        func issue(_ holder: String, token: String, pin: String = authorityPIN, as user: String = Bench.authority.user) throws -> HTTPAnswer {
            try bench.post(user, "/v1/certificates", ["csr": pem, "holder": holder, "token": token, "pin": pin])
        }

        // Refused, each named, journaled, and nothing registered.
        let refusals: [(String, () throws -> HTTPAnswer, Int, String, String?, [String])] = [
            ("the request's key is not on the token named", { try issue(Self.officer3, token: self.pki.token("ministry").uri) }, 422, "invalid-field", "D5", ["not on token ministry"]),
            ("a token registered to another holder", { try issue(Self.officer3, token: self.pki.token("officer1").uri) }, 422, "invalid-field", "D5", ["not on token officer1"]),
            ("data-entry staff (D13)", { try issue(Bench.clerk.user, token: spare.uri) }, 409, "rule-violated", "D13", ["data-entry"]),
            ("a reviewer, who holds no signing role (D3)", { try issue(Bench.reviewer.user, token: spare.uri) }, 409, "rule-violated", "D3", ["no signing role"]),
            ("a first signer is not the authority", { try issue(Self.officer3, token: spare.uri, as: Self.officer1) }, 403, "not-authorized", "D3", ["certification-authority"]),
            ("a wrong authority PIN", { try issue(Self.officer3, token: spare.uri, pin: "000000") }, 403, "wrong-pin", "D5", []),
        ]
        for (what, send, status, type, rule, mentions) in refusals {
            let tokens = try bench.tokensBytes()
            let mark = try bench.head()
            let answer = try send()
            expectProblem(answer, status, type, rule: rule, mentions: mentions, sourceLocation: #_sourceLocation)
            #expect(try bench.tokensBytes() == tokens, "\(what): nothing registered")
            let entries = try bench.journal(after: mark)
            #expect(!entries.contains { $0.kind == "certificate-issued" }, "\(what): \(entries.map(\.kind))")
            #expect(entries.contains { ["refusal", "access-denied", "login-failed"].contains($0.kind) }, "\(what) is journaled: \(entries.map(\.kind))")
        }

        // Issued by the authority through the CLI, the holder's token present.
        let certificate = folder.appendingPathComponent("officer3.pem").path
        let mark = try bench.head()
        let issued = try UnixUsers.paysign(
            as: Bench.authority.user,
            ["token", "issue", "--csr", csr, "--holder", Self.officer3, "--token", spare.uri, "--out", certificate, "--pin-fd", "0",
             "--socket", bench.daemon.socket], stdin: Data(authorityPIN.utf8))
        try #require(issued.status == 0, "\(issued.stderr)")
        #expect(issued.stdout.contains("registered to \(Self.officer3) as issued"), "\(issued.stdout)")
        let subject = try ForgedCRL.subject(of: URL(fileURLWithPath: certificate))
        // The entity's code in organizationIdentifier, what the payment center matches (D3).
        for part in ["serialNumber=29004040100044", "O=Test Entity EG-0101", "organizationIdentifier=EG-0101", "OU=first-signature", "CN=Officer Three"] {
            #expect(subject.contains(part), "\(subject)")
        }
        let verified = try Shell.run("openssl", ["verify", "-CAfile", pki.caPEM.path, certificate])
        #expect(verified.status == 0, "OpenSSL verifies the certificate against the test root: \(verified.stdout) \(verified.stderr)")
        let entries = try bench.journal(after: mark)
        #expect(entries.contains { $0.kind == "certificate-issued" && $0.detail["unixUser"] as? String == Self.officer3 }, "\(entries.map(\.raw))")
        let registered = try #require(try bench.registeredToken("spare"))
        #expect(registered["state"] as? String == "issued")
        let serial = try #require(registered["serial"] as? String)

        // Issuing again on the same token is refused (one token, one certificate).
        expectProblem(try issue(Self.officer3, token: spare.uri), 409, "conflict", rule: "D6", mentions: ["already registered"])

        // The holder installs it beside the key.
        let install = try Shell.run(
            TestPKI.paysignBinary, ["token", "install", "--token", spare.uri, "--cert", certificate, "--pin-fd", "0"] + local,
            stdin: Data(spare.pin.utf8), environment: pki.softHSMEnvironment)
        #expect(install.status == 0, "\(install.stderr)")

        // An issued token does not sign until the authority activates it (D6).
        let before = try bench.orderBytes(order.id)
        expectProblem(try bench.sign(Self.officer3, order.id, "first", token: "spare"), 409, "rule-violated", rule: "D6", mentions: ["issued"])
        #expect(try bench.orderBytes(order.id) == before)
        let activated = try bench.transition(serial, "activate")
        #expect(activated.status == 200 && activated.object?["state"] as? String == "active", "\(activated.text)")
        let signed = try bench.sign(Self.officer3, order.id, "first", token: "spare")
        #expect(signed.status == 201, "\(signed.text)")

        // POST /v1/registered-tokens takes issued or active, nothing else.
        expectProblem(try bench.post("root", "/v1/registered-tokens", ["token": pki.token("expired").uri, "holder": Self.officer1, "state": "revoked"]),
                      422, "invalid-field", rule: nil, mentions: ["issued or active"])
    }

    // MARK: 3c. The issued certificate's file (issue 15): never a stranded token

    /// officer2's token revoked as superseded, officer3 a first signer in the freed place (D3), and
    /// a request made on the spare token in a scratch folder every user may write in: what an
    /// issuance needs. The request's path and the folder.
    private func spareRequest(_ bench: Bench) throws -> (csr: String, folder: URL) {
        try bench.setUpEntity()
        #expect(try bench.transition(try bench.serial("officer2"), "revoke", cause: "replaced").status == 200)
        #expect(try bench.post("root", "/v1/holders", Bench.holder(Bench.officer3, step: "first")).status == 201)
        let folder = try Bench.scratch()
        chmod(folder.path, 0o777)
        let spare = pki.token("spare")
        let csr = folder.appendingPathComponent("officer3.csr").path
        let request = try Shell.run(
            TestPKI.paysignBinary, ["token", "request", "--token", spare.uri, "--name", "Officer Three", "--out", csr, "--pin-fd", "0", "--module", TestPKI.softHSMModule],
            stdin: Data(spare.pin.utf8), environment: pki.softHSMEnvironment)
        try #require(request.status == 0, "\(request.stderr)")
        chmod(csr, 0o644)
        return (csr, folder)
    }

    /// The arguments of `paysign token issue` for officer3 on the spare token.
    private func issueArguments(_ bench: Bench, csr: String, out: String, holder: String = Self.officer3) -> [String] {
        ["token", "issue", "--csr", csr, "--holder", holder, "--token", pki.token("spare").uri, "--out", out, "--pin-fd", "0",
         "--socket", bench.daemon.socket]
    }

    @Test("issue 15, D6: paysign token issue refuses an --out it could not write (a missing folder, a file that exists, a symbolic link to nowhere or to a file, a folder the authority may not write in) before anything is sent: one sentence, exit 2, nothing issued, registered or journaled, the file and the link untouched; a request the daemon refuses (D3) leaves no file behind")
    func issueRefusesAnOutputItCannotWrite() throws {
        let bench = try Bench(pki)
        let (csr, folder) = try spareRequest(bench)
        let authorityPIN = Data(pki.token("authority").pin.utf8)
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

        let existing = path("existing.pem")
        try Data("not a certificate; must stay as it is\n".utf8).write(to: URL(fileURLWithPath: existing))
        chmod(existing, 0o666)
        let dangling = path("dangling.pem"), nowhere = path("nowhere.pem")
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: nowhere)
        let toExisting = path("to-existing.pem")
        try FileManager.default.createSymbolicLink(atPath: toExisting, withDestinationPath: existing)
        let closed = path("closed")
        try FileManager.default.createDirectory(atPath: closed, withIntermediateDirectories: false)
        chmod(closed, 0o755)  // root's: the authority's user may enter it, not write in it

        let cases: [(what: String, out: String, mentions: [String])] = [
            ("a folder that does not exist", path("missing/officer3.pem"), ["does not exist"]),
            ("a file that exists", existing, ["already exists"]),
            ("a symbolic link to nowhere", dangling, ["symbolic link"]),
            ("a symbolic link to a file", toExisting, ["symbolic link"]),
            ("a folder the authority may not write in", closed + "/officer3.pem", ["may not create files"]),
        ]
        for (what, out, mentions) in cases {
            let tokens = try bench.tokensBytes()
            let mark = try bench.head()
            let result = try UnixUsers.paysign(as: Bench.authority.user, issueArguments(bench, csr: csr, out: out), stdin: authorityPIN)
            #expect(result.status == 2, "\(what): \(result.status) \(result.stderr)")
            #expect(result.stderr.hasPrefix("paysign: ") && result.stderr.split(separator: "\n").count == 1, "\(what): one sentence: \(result.stderr)")
            for word in mentions + ["nothing was sent"] {
                #expect(result.stderr.contains(word), "\(what): should mention '\(word)': \(result.stderr)")
            }
            #expect(result.stdout.isEmpty, "\(what): \(result.stdout)")
            #expect(try bench.tokensBytes() == tokens, "\(what): nothing registered")
            let entries = try bench.journal(after: mark)
            #expect(!entries.contains { ["certificate-issued", "token-registered", "refusal", "access-denied"].contains($0.kind) || $0.kind.hasPrefix("login-") },
                    "\(what): nothing reached paysignd: \(entries.map(\.kind))")
        }
        #expect(try String(contentsOfFile: existing, encoding: .utf8) == "not a certificate; must stay as it is\n")
        #expect(!FileManager.default.fileExists(atPath: nowhere), "the link's target was not created")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: dangling)) == nowhere)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: closed)) == [])
        #expect(!FileManager.default.fileExists(atPath: path("missing")))
        #expect(try bench.registeredToken("spare") == nil)

        // The output is fine, the daemon refuses (a reviewer holds no signing role, D3): the empty
        // file made before sending goes.
        let refusedOut = path("reviewer.pem")
        let mark = try bench.head()
        let refused = try UnixUsers.paysign(as: Bench.authority.user, issueArguments(bench, csr: csr, out: refusedOut, holder: Bench.reviewer.user), stdin: authorityPIN)
        #expect(refused.status == 1 && refused.stderr.contains("no signing role") && refused.stderr.contains("(rule D3)"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: refusedOut), "a refused issuance leaves no file")
        try bench.expectRefusalJournaled(after: mark, rule: "D3")
        #expect(try bench.registeredToken("spare") == nil)
    }

    @Test("issue 15, D6: a certificate issued to a new file (mode 0644) is fetched again by the authority (paysign token certificate, GET /v1/registered-tokens/{serial}/certificate as JSON, PEM, DER) and by an administrator: the same DER bytes; the fetch's --out is as careful; the holder, a clerk or a reviewer get 403, journaled; an unknown serial 404, a bad sha256 or format 422")
    func issuedCertificateFetchedAgain() throws {
        let bench = try Bench(pki)
        let (csr, folder) = try spareRequest(bench)
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        let out = path("officer3.pem")
        let issued = try UnixUsers.paysign(as: Bench.authority.user, issueArguments(bench, csr: csr, out: out), stdin: Data(pki.token("authority").pin.utf8))
        try #require(issued.status == 0, "\(issued.stderr)")
        var info = stat()
        #expect(lstat(out, &info) == 0 && info.st_mode & S_IFMT == S_IFREG && info.st_mode & 0o7777 == 0o644, "mode \(String(info.st_mode, radix: 8))")
        let written = try String(contentsOfFile: out, encoding: .utf8)
        let der = try #require(Self.der(fromPEM: written))
        let serial = try bench.serial("spare")
        let route = "/v1/registered-tokens/\(serial)/certificate"

        // As JSON, by the authority.
        let answer = try bench.get(route, as: Bench.authority.user)
        #expect(answer.status == 200, "\(answer.text)")
        let object = try #require(answer.object)
        #expect(object["pem"] as? String == written)
        #expect(object["sha256"] as? String == (try Self.fingerprint(out)))
        #expect(object["holder"] as? String == Self.officer3)
        #expect((object["token"] as? [String: Any])?["state"] as? String == "issued")
        #expect((object["token"] as? [String: Any])?["serial"] as? String == serial)
        // DER and PEM, by an administrator.
        let derAnswer = try bench.get(route + "?format=der")
        #expect(derAnswer.status == 200 && derAnswer.headers["content-type"] == "application/pkix-cert" && derAnswer.body == der, "\(derAnswer.status)")
        let pemAnswer = try bench.get(route + "?format=pem")
        #expect(pemAnswer.status == 200 && pemAnswer.text == written)
        let sha = try Self.fingerprint(out)
        #expect(sha.count == 64)
        #expect(try bench.get(route + "?sha256=\(sha.uppercased())").object?["sha256"] as? String == sha)

        // By the client, into a new file: the same bytes.
        let again = path("again.pem")
        let fetched = try UnixUsers.paysign(as: Bench.authority.user, ["token", "certificate", serial, "--out", again, "--socket", bench.daemon.socket])
        #expect(fetched.status == 0, "\(fetched.stderr)")
        #expect(Self.der(fromPEM: try String(contentsOfFile: again, encoding: .utf8)) == der)
        #expect(lstat(again, &info) == 0 && info.st_mode & 0o7777 == 0o644)
        let stdout = try UnixUsers.paysign(as: Bench.authority.user, ["token", "certificate", serial, "--socket", bench.daemon.socket])
        #expect(stdout.status == 0 && stdout.stdout == written, "\(stdout.stderr)")
        // The fetch never overwrites either.
        let clash = try UnixUsers.paysign(as: Bench.authority.user, ["token", "certificate", serial, "--out", out, "--socket", bench.daemon.socket])
        #expect(clash.status == 2 && clash.stderr.hasPrefix("paysign: ") && clash.stderr.contains("already exists"), "\(clash.stderr)")
        #expect(try String(contentsOfFile: out, encoding: .utf8) == written)

        // Without the role: the holder himself, a clerk, a reviewer (journaled as access-denied).
        for user in [Self.officer3, Bench.clerk.user, Bench.reviewer.user] {
            let mark = try bench.head()
            expectProblem(try bench.get(route, as: user), 403, "not-authorized", rule: nil, mentions: ["certification-authority"])
            #expect(try bench.journal(after: mark).contains { $0.kind == "access-denied" }, "\(user)'s attempt is journaled")
        }
        let stolen = path("stolen.pem")
        let denied = try UnixUsers.paysign(as: Self.officer3, ["token", "certificate", serial, "--out", stolen, "--socket", bench.daemon.socket])
        #expect(denied.status == 1 && denied.stderr.hasPrefix("paysign: ") && denied.stderr.contains("lacks the role"), "\(denied.stderr)")
        #expect(!FileManager.default.fileExists(atPath: stolen), "a refused fetch leaves no file")

        expectProblem(try bench.get("/v1/registered-tokens/NO-SUCH-TOKEN/certificate"), 404, "not-found", rule: nil, mentions: ["NO-SUCH-TOKEN"])
        expectProblem(try bench.get(route + "?sha256=abc"), 422, "invalid-field", rule: nil, mentions: ["64 hex digits"])
        expectProblem(try bench.get(route + "?sha256=" + String(repeating: "0", count: 64)), 404, "not-found", rule: nil)
        expectProblem(try bench.get(route + "?format=xml"), 422, "invalid-field", rule: nil, mentions: ["json, pem or der"])
    }

    @Test("issue 15, D6: when the certificate cannot be written after issuance (a file size limit: EFBIG), paysign token issue says it was issued and gives the command that fetches it again, exit 3, and leaves no partial file; that command writes the same DER the registry holds")
    func writeFailingAfterIssuanceNamesTheWayBack() throws {
        let bench = try Bench(pki)
        let (csr, folder) = try spareRequest(bench)
        let out = folder.appendingPathComponent("officer3.pem").path
        let mark = try bench.head()
        // RLIMIT_FSIZE 0 with SIGXFSZ ignored: creating the empty file works, writing to it fails
        // with EFBIG (the pipes to the test are not files, so stdout and stderr still work).
        let limited = try UnixUsers.run(
            as: Bench.authority.user, "/bin/sh", ["-c", "ulimit -f 0; trap '' XFSZ; exec \"$0\" \"$@\"", try UnixUsers.paysignPath()] + issueArguments(bench, csr: csr, out: out),
            stdin: Data(pki.token("authority").pin.utf8))
        #expect(limited.status == 3, "\(limited.status) \(limited.stderr)")
        #expect(limited.stderr.hasPrefix("paysign: ") && limited.stderr.split(separator: "\n").count == 1, "\(limited.stderr)")
        #expect(limited.stderr.contains("was issued") && limited.stderr.contains("registered to \(Self.officer3) as issued"), "\(limited.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out), "no partial file")
        #expect(try bench.journal(after: mark).contains { $0.kind == "certificate-issued" })
        let serial = try bench.serial("spare")

        // The command the sentence gives, run as it stands.
        let marker = "fetch the certificate again with: "
        let command = try #require(limited.stderr.range(of: marker).map { String(limited.stderr[$0.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines) })
        let words = command.split(separator: " ").map(String.init)
        #expect(words == ["paysign", "token", "certificate", serial, "--out", out], "\(command)")
        let fetched = try UnixUsers.paysign(as: Bench.authority.user, Array(words.dropFirst()) + ["--socket", bench.daemon.socket])
        #expect(fetched.status == 0, "\(fetched.stderr)")
        let registryDER = try bench.get("/v1/registered-tokens/\(serial)/certificate?format=der").body
        #expect(Self.der(fromPEM: try String(contentsOfFile: out, encoding: .utf8)) == registryDER)
        #expect(!registryDER.isEmpty)
    }

    /// The SHA-256 of a PEM certificate's DER, as OpenSSL computes it (lower-case hex).
    static func fingerprint(_ pemFile: String) throws -> String {
        let result = try Shell.run("openssl", ["x509", "-in", pemFile, "-noout", "-fingerprint", "-sha256"])
        try #require(result.status == 0, "\(result.stderr)")
        let value = result.stdout.split(separator: "=", maxSplits: 1).last ?? ""
        return value.replacingOccurrences(of: ":", with: "").trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    /// The DER inside a PEM certificate.
    static func der(fromPEM text: String) -> Data? {
        let body = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        return Data(base64Encoded: body)
    }

    // MARK: 4. Clearance

    @Test("D6: clearance (POST /v1/holders/{user}/clearance) is refused while the holder's token is active or suspended, allowed once it is surrendered; only the authority or an administrator clears")
    func clearance() throws {
        let bench = try Bench(pki)
        try bench.setUpEntity()
        let ministry = try bench.serial("ministry")

        var operators = try bench.operatorsBytes()
        var mark = try bench.head()
        let early = try bench.post(Self.authority, "/v1/holders/\(Self.ministry)/clearance", [:])
        expectProblem(early, 409, "rule-violated", rule: "D6", mentions: [ministry, "active", "surrendered"])
        #expect(try bench.operatorsBytes() == operators, "nothing changed")
        try bench.expectRefusalJournaled(after: mark, rule: "D6")
        #expect(!(try bench.journal(after: mark).contains { $0.kind == "holder-cleared" }))

        // Suspended is still in service.
        #expect(try bench.transition(ministry, "suspend").status == 200)
        operators = try bench.operatorsBytes()
        mark = try bench.head()
        expectProblem(try bench.post("root", "/v1/holders/\(Self.ministry)/clearance", [:]), 409, "rule-violated", rule: "D6", mentions: ["suspended"])
        #expect(try bench.operatorsBytes() == operators)
        try bench.expectRefusalJournaled(after: mark, rule: "D6")

        // Nor may a first signer clear anyone.
        expectProblem(try bench.post(Self.officer1, "/v1/holders/\(Self.ministry)/clearance", [:]), 403, "not-authorized", rule: "D6")
        #expect(try bench.operatorsBytes() == operators)

        // Surrendered (retirement): cleared, every role removed.
        #expect(try bench.transition(ministry, "surrender", cause: "retirement").status == 200)
        mark = try bench.head()
        let cleared = try bench.post(Self.authority, "/v1/holders/\(Self.ministry)/clearance", [:])
        #expect(cleared.status == 200, "\(cleared.text)")
        #expect((cleared.object?["roles"] as? [Any])?.isEmpty == true, "\(cleared.text)")
        #expect(Bench.isRecent((cleared.object?["service"] as? [String: Any])?["clearedAt"]), "\(cleared.text)")
        let entry = try bench.journal(after: mark).filter { $0.kind == "holder-cleared" }
        #expect(entry.count == 1 && entry.first?.detail["unixUser"] as? String == Self.ministry)
        #expect(!(try bench.holders().contains(Self.ministry)))
        let row = try bench.reportRows().first { $0["unixUser"] as? String == Self.ministry }
        #expect(row?["cleared"] as? Bool == true, "\(row ?? [:])")
        #expect(row?["tokenStates"] as? [String] == ["surrendered"])
    }

    // MARK: 5. Death notices

    @Test("D6: a death notified 7 days after is on time; 8 days after is accepted but late (warning, death-notified late, flagged in the holders report); the holder's tokens are revoked with cause death")
    func deathNotices() throws {
        let bench = try Bench(pki)
        try bench.setUpEntity()
        let officer2 = try bench.serial("officer2")
        let ministry = try bench.serial("ministry")
        let today = Bench.day(0)
        let events = AuthorityEvents(socket: bench.daemon.socket)

        // Seven days: on time.
        var mark = try bench.head()
        let onTime = try bench.post(Self.authority, "/v1/holders/\(Self.officer2)/death-notice",
                                    ["dateOfDeath": Bench.day(-7), "notifiedOn": today, "reference": "EG-0101/HR/2026/17"])
        #expect(onTime.status == 200, "\(onTime.text)")
        #expect(onTime.object?["late"] as? Bool == false)
        #expect(onTime.object?["delayDays"] as? Int == 7)
        #expect(onTime.object?["warning"] == nil, "\(onTime.text)")
        #expect(onTime.object?["revokedTokens"] as? [String] == [officer2])
        var entries = try bench.journal(after: mark)
        var notice = entries.filter { $0.kind == "death-notified" }
        #expect(notice.count == 1)
        #expect(notice.first?.detail["late"] as? Bool == false && notice.first?.detail["delayDays"] as? Int == 7, "\(notice.map(\.raw))")
        var revocations = entries.filter { $0.kind == "token-state-changed" }
        #expect(revocations.map { $0.detail["serial"] as? String } == [officer2])
        #expect(revocations.first?.detail["cause"] as? String == "death" && revocations.first?.detail["reason"] as? String == "cessationOfOperation")
        let token2 = try #require(try bench.registeredToken("officer2"))
        #expect(token2["state"] as? String == "revoked")
        #expect((token2["revocation"] as? [String: Any])?["cause"] as? String == "death")
        #expect((token2["revocation"] as? [String: Any])?["invalidityDate"] as? String == "\(Bench.day(-7))T00:00:00Z", "invalid from the date of death: \(token2)")
        #expect(events.wait(within: 3) { $0 == "token-state-changed" && $1["serial"] as? String == officer2 && $1["state"] as? String == "revoked" },
                "a death notice's revocation is announced on /v1/events: \(events.all)")

        // Eight days: accepted, late.
        mark = try bench.head()
        let late = try bench.post(Self.authority, "/v1/holders/\(Self.ministry)/death-notice",
                                  ["dateOfDeath": Bench.day(-8), "notifiedOn": today, "reference": "MOF/REP/2026/3"])
        #expect(late.status == 200, "\(late.text)")
        #expect(late.object?["late"] as? Bool == true)
        #expect(late.object?["delayDays"] as? Int == 8)
        #expect((late.object?["warning"] as? String)?.contains("8 days") == true, "\(late.text)")
        #expect((late.object?["warning"] as? String)?.contains("D6") == true)
        #expect(late.object?["revokedTokens"] as? [String] == [ministry])
        entries = try bench.journal(after: mark)
        notice = entries.filter { $0.kind == "death-notified" }
        #expect(notice.count == 1)
        #expect(notice.first?.detail["late"] as? Bool == true && notice.first?.detail["delayDays"] as? Int == 8, "\(notice.map(\.raw))")
        #expect(notice.first?.detail["unixUser"] as? String == Self.ministry)
        revocations = entries.filter { $0.kind == "token-state-changed" }
        #expect(revocations.map { $0.detail["serial"] as? String } == [ministry])
        #expect(revocations.first?.detail["cause"] as? String == "death")
        #expect(try bench.registeredToken("ministry")?["state"] as? String == "revoked")

        // The holders report flags the late notice only.
        let rows = try bench.reportRows()
        let ministryRow = rows.first { $0["unixUser"] as? String == Self.ministry }
        let officer2Row = rows.first { $0["unixUser"] as? String == Self.officer2 }
        #expect(ministryRow?["lateDeathNotice"] as? Bool == true, "\(rows)")
        #expect((ministryRow?["deathNotice"] as? String)?.contains("8 days") == true)
        #expect(ministryRow?["tokenStates"] as? [String] == ["revoked"])
        #expect(officer2Row?["lateDeathNotice"] as? Bool == false, "\(rows)")
        #expect((officer2Row?["deathNotice"] as? String)?.contains("7 days") == true)
        let text = try bench.get("/v1/reports/holders?format=text", as: Self.authority).text
        #expect(text.components(separatedBy: "LATE DEATH NOTICE (D6)").count - 1 == 1, "\(text)")

        // A second notice for the same holder; a notice dated before the death or in the future;
        // anyone but the authority.
        let operators = try bench.operatorsBytes()
        mark = try bench.head()
        expectProblem(try bench.post(Self.authority, "/v1/holders/\(Self.ministry)/death-notice",
                                     ["dateOfDeath": Bench.day(-8), "notifiedOn": today, "reference": "again"]), 409, "conflict", rule: nil)
        expectProblem(try bench.post(Self.authority, "/v1/holders/\(Self.officer1)/death-notice",
                                     ["dateOfDeath": today, "notifiedOn": Bench.day(-1), "reference": "r"]), 422, "invalid-field", rule: nil, mentions: ["before the death"])
        expectProblem(try bench.post(Self.authority, "/v1/holders/\(Self.officer1)/death-notice",
                                     ["dateOfDeath": today, "notifiedOn": Bench.day(2), "reference": "r"]), 422, "invalid-field", rule: nil, mentions: ["future"])
        expectProblem(try bench.post("root", "/v1/holders/\(Self.officer1)/death-notice",
                                     ["dateOfDeath": today, "notifiedOn": today, "reference": "r"]), 403, "not-authorized", rule: "D6")
        #expect(try bench.operatorsBytes() == operators)
        #expect(try bench.registeredToken("officer1")?["state"] as? String == "active")
        #expect(!(try bench.journal(after: mark).contains { $0.kind == "death-notified" || $0.kind == "token-state-changed" }))
    }

    // MARK: 6. Issuing a CRL

    @Test("D6: POST /v1/crl signs a CRL on the authority token (201): OpenSSL verifies it with the test root and finds the revoked serial, its reason and invalidity date; a wrong PIN issues nothing; the next CRL has the next number")
    func crlIssue() throws {
        let bench = try Bench(pki)
        try bench.setUpEntity()
        let work = try Bench.scratch()
        defer { try? FileManager.default.removeItem(at: work) }
        expectProblem(try bench.get("/v1/crl"), 404, "not-found", rule: nil)

        let today = Bench.day(0)
        #expect(try bench.transition(try bench.serial("officer2"), "revoke", cause: "loss", invalidityDate: today).status == 200)

        var mark = try bench.head()
        let issued = try bench.issueCRL(pin: pki.token("authority").pin)
        #expect(issued.status == 201, "\(issued.text)")
        #expect(issued.object?["number"] as? String == "1")
        #expect(issued.object?["entries"] as? Int == 1)
        #expect((issued.object?["issuer"] as? String)?.contains("paysign Test Root CA") == true)
        var entries = try bench.journal(after: mark)
        #expect(entries.filter { $0.kind == "crl-issued" }.map { $0.detail["number"] as? String } == ["1"])
        #expect(entries.contains { $0.kind == "login-succeeded" })

        let first = try bench.get("/v1/crl")
        #expect(first.status == 200)
        #expect(first.headers["content-type"] == "application/pkix-crl")
        let checked = try Bench.opensslCRL(first.body, pki: pki, in: work)
        #expect(checked.verified, "openssl crl -CAfile: \(checked.output)")
        let officer2Serial = pki.token("officer2").certificateSerial
        #expect(checked.text.contains("Serial Number: \(officer2Serial)"), "\(checked.text)")
        #expect(checked.text.contains("Key Compromise"), "\(checked.text)")
        #expect(checked.text.contains("Invalidity Date"), "\(checked.text)")
        #expect(checked.text.contains(Bench.opensslDay(0) + " 00:00:00"), "the invalidity date is \(today): \(checked.text)")
        #expect(Bench.crlNumber(checked.text) == 1, "\(checked.text)")
        #expect(checked.text.contains("Next Update"))
        #expect(try bench.get("/v1/crl?format=pem").text.hasPrefix("-----BEGIN X509 CRL-----"))

        // A wrong authority PIN: wrong-pin, one failed login, nothing issued.
        mark = try bench.head()
        let wrong = try bench.issueCRL(pin: "Zq81wX")
        expectProblem(wrong, 403, "wrong-pin", rule: "D5")
        #expect(try bench.get("/v1/crl").body == first.body, "the held list is unchanged")
        entries = try bench.journal(after: mark)
        #expect(entries.filter { $0.kind == "login-failed" }.count == 1, "\(entries.map(\.kind))")
        #expect(!entries.contains { $0.kind == "crl-issued" })
        // No PIN, or not the authority: refused before the token.
        expectProblem(try bench.post(Self.authority, "/v1/crl", [:]), 422, "invalid-field", rule: nil, mentions: ["PIN"])
        expectProblem(try bench.post("root", "/v1/crl", ["pin": pki.token("authority").pin]), 403, "not-authorized", rule: nil)
        expectProblem(try bench.post(Self.officer1, "/v1/crl", ["pin": pki.token("authority").pin]), 403, "not-authorized", rule: nil)
        #expect(try bench.get("/v1/crl").body == first.body)
        #expect(!(try bench.journal(after: mark).contains { $0.kind == "crl-issued" }))

        // A surrender, then the next list through the CLI as the authority: number 2, two entries.
        #expect(try bench.transition(try bench.serial("ministry"), "surrender", cause: "retirement").status == 200)
        let cli = try UnixUsers.paysign(as: Self.authority, ["crl", "issue", "--pin-fd", "0", "--socket", bench.daemon.socket],
                                        stdin: Data((pki.token("authority").pin + "\n").utf8))
        #expect(cli.status == 0, "\(cli.stderr)")
        #expect(cli.stdout.contains("CRL number 2") && cli.stdout.contains("2 revoked"), "\(cli.stdout)")
        let second = try bench.get("/v1/crl")
        #expect(second.body != first.body)
        let again = try Bench.opensslCRL(second.body, pki: pki, in: work)
        #expect(again.verified, "\(again.output)")
        #expect(Bench.crlNumber(again.text) == 2, "\(again.text)")
        #expect(again.text.contains("Serial Number: \(officer2Serial)") && again.text.contains("Serial Number: \(pki.token("ministry").certificateSerial)"))
        #expect(again.text.contains("Cessation Of Operation"), "the surrender's reason: \(again.text)")
        #expect(try bench.journal().filter { $0.kind == "crl-issued" }.map { $0.detail["number"] as? String } == ["1", "2"])

        // D5: neither the authority's PIN nor the wrong one is in the journal or the daemon's log
        // (hex runs of 16 digits or more, digests and serials, are left out first).
        let log = (try? String(contentsOf: bench.daemon.logFile, encoding: .utf8)) ?? ""
        var journalText = ""
        for entry in try bench.journal() { journalText += entry.raw + "\n" }
        for (name, text) in [("the log", log), ("the journal", journalText)] {
            let scrubbed = text.replacingOccurrences(of: "[0-9A-Fa-f]{16,}", with: "#", options: .regularExpression)
            for pin in [pki.token("authority").pin, "Zq81wX"] {
                #expect(!scrubbed.contains(pin), "\(name) holds a PIN (\(pin))")
            }
        }
    }

    // MARK: 6b. CRLs issued at once

    /// Beyond the list: the authority's token is one token with one login state per process, and
    /// CRL numbers are handed out before the list is stored; requests at once must not trip on each other.
    @Test("D6: four CRLs issued at once on the one authority token: each answered 201 with its own number, or refused cleanly (409); never a token failure nor an internal error; the journal numbers them 1, 2, … in order and the held list verifies")
    func concurrentCRLIssues() throws {
        let bench = try Bench(pki)
        try bench.setUpEntity()
        let work = try Bench.scratch()
        defer { try? FileManager.default.removeItem(at: work) }
        #expect(try bench.transition(try bench.serial("officer2"), "revoke", cause: "loss").status == 200)
        let socket = bench.daemon.socket
        let body = try Bench.json(["pin": pki.token("authority").pin])
        let answers = Bench.parallel((0..<4).map { _ in
            { try UnixUsers.request(as: Bench.authority.user, socket: socket, "POST", "/v1/crl", body: body, contentType: "application/json") }
        })
        for answer in answers {
            #expect(answer?.status == 201 || answer?.status == 409, "\(answer?.text ?? "no answer")")
        }
        let numbers = answers.compactMap { $0?.status == 201 ? $0?.object?["number"] as? String : nil }
        #expect(Set(numbers).count == numbers.count, "each list its own number: \(numbers)")
        #expect(!numbers.isEmpty)
        let issued = try bench.journal().filter { $0.kind == "crl-issued" }.compactMap { $0.detail["number"] as? String }
        #expect(issued == (1...max(1, issued.count)).map(String.init), "\(issued)")
        let held = try Bench.opensslCRL(try bench.get("/v1/crl").body, pki: pki, in: work)
        #expect(held.verified, "\(held.output)")
        #expect(Bench.crlNumber(held.text) == issued.count)
        // The token is still usable afterwards.
        #expect(try bench.issueCRL(pin: pki.token("authority").pin).status == 201)
        #expect(bench.daemon.isRunning)
    }

    // MARK: 7. Importing CRLs

    @Test("D6: a second daemon (no authority token, same trust anchors) imports list 1, then list 2; list 1 again is stale (409) and the held list stays list 2; another CA's list, a list forged under the root's name, garbage and an expired list are refused (422)")
    func crlImportOrdering() throws {
        let authority = try Bench(pki)
        try authority.setUpEntity()
        let importer = try Bench(pki, authority: false)
        try importer.setUpEntity()
        let work = try Bench.scratch()
        defer { try? FileManager.default.removeItem(at: work) }

        // Two lists from the authority.
        #expect(try authority.transition(try authority.serial("officer2"), "revoke", cause: "loss").status == 200)
        try #require(try authority.issueCRL(pin: pki.token("authority").pin).status == 201)
        let list1 = try authority.get("/v1/crl").body
        #expect(try authority.transition(try authority.serial("ministry"), "revoke", cause: "transfer").status == 200)
        try #require(try authority.issueCRL(pin: pki.token("authority").pin).status == 201)
        let list2 = try authority.get("/v1/crl").body
        try #require(list1 != list2)

        // The importer is not the authority: it signs no list.
        expectProblem(try importer.issueCRL(pin: pki.token("authority").pin), 503, "unavailable", rule: nil)

        var mark = try importer.head()
        let one = try importer.importCRL(list1)
        #expect(one.status == 201, "\(one.text)")
        #expect(one.object?["number"] as? String == "1" && one.object?["entries"] as? Int == 1)
        #expect(try importer.get("/v1/crl").body == list1)
        let two = try importer.importCRL(list2, contentType: "application/pkix-crl")
        #expect(two.status == 201, "\(two.text)")
        #expect(two.object?["number"] as? String == "2" && two.object?["entries"] as? Int == 2)
        #expect(try importer.get("/v1/crl").body == list2)
        var imported = try importer.journal(after: mark).filter { $0.kind == "crl-imported" }
        #expect(imported.map { $0.detail["number"] as? String } == ["1", "2"])

        // Older, or the same again: stale, the held list stays.
        for (name, list) in [("list 1", list1), ("list 2 again", list2)] {
            mark = try importer.head()
            let stale = try importer.importCRL(list)
            #expect(stale.status == 409, "\(name) is stale: \(stale.text)")
            #expect(["urn:paysign:problem:conflict", "urn:paysign:problem:stale-crl"].contains(stale.problemType ?? ""), "\(stale.text)")
            #expect(stale.detail?.contains("not newer") == true, "\(stale.text)")
            #expect(try importer.get("/v1/crl").body == list2, "the held list is still list 2")
            #expect(!(try importer.journal(after: mark).contains { $0.kind == "crl-imported" }))
        }

        // Another CA's list; a list under the test root's very name signed by another key; bytes
        // that are no CRL; an expired list truly signed on the authority's token.
        let other = try ForgedCRL.otherAuthority(in: work, named: "/C=EG/O=Somewhere Else/CN=Another CA")
        let foreign = try ForgedCRL.list(by: other, in: work, number: 7, lastUpdate: -1, nextUpdate: 6)
        let twin = try ForgedCRL.otherAuthority(in: work, named: try ForgedCRL.subject(of: pki.caPEM))
        let impostor = try ForgedCRL.list(by: twin, in: work, number: 99, lastUpdate: -1, nextUpdate: 6, authorityKeyID: try ForgedCRL.keyID(of: pki.caPEM))
        let expired = try ForgedCRL.resignedOnAuthorityToken(
            try ForgedCRL.list(by: twin, in: work, number: 50, lastUpdate: -10, nextUpdate: -3, authorityKeyID: try ForgedCRL.keyID(of: pki.caPEM)),
            pki: pki, in: work)
        // The expired list is genuine: OpenSSL verifies it with the test root (it is refused for its date alone).
        #expect(try Bench.opensslCRL(expired, pki: pki, in: work).verified)
        #expect(!(try Bench.opensslCRL(impostor, pki: pki, in: work).verified))
        let refused: [(String, Data, String?, [String])] = [
            ("another CA's list", foreign, "D6", ["not signed by a trusted authority", "Another CA"]),
            ("a list forged under the root's name", impostor, "D6", ["not signed by a trusted authority"]),
            ("garbage", Data("this is not a revocation list".utf8), nil, ["not an X.509 revocation list"]),
            ("a PEM block of garbage", Data("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n".utf8), nil, ["not an X.509 revocation list"]),
            ("an expired list", expired, nil, ["expired", "nextUpdate"]),
        ]
        for (name, bytes, rule, mentions) in refused {
            mark = try importer.head()
            let answer = try importer.importCRL(bytes)
            #expect(answer.status == 422, "\(name): \(answer.text)")
            expectProblem(answer, 422, "invalid-field", rule: rule, mentions: mentions)
            #expect(try importer.get("/v1/crl").body == list2, "\(name): the held list is still list 2")
            #expect(!(try importer.journal(after: mark).contains { $0.kind == "crl-imported" }), "\(name)")
        }
        expectProblem(try importer.importCRL(Data()), 422, "invalid-field", rule: nil)
        // Only the authority, an administrator or the payment center imports.
        expectProblem(try importer.importCRL(list2, as: Self.officer1), 403, "not-authorized", rule: "D6")
        imported = try importer.journal().filter { $0.kind == "crl-imported" }
        #expect(imported.count == 2)
    }

    // MARK: 8. A CRL reaching a waiting order

    @Test("D6: a CRL from another trusted issuer that lists a serial colliding with officer1's certificate revokes nothing here (entries are issuer and serial together)")
    func foreignCRLWithCollidingSerial() throws {
        // A second authority, trusted too, made with openssl ca: its list revokes a certificate of
        // its own whose serial is the same number as officer1's.
        let folder = try Bench.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        func openssl(_ arguments: [String]) throws {
            let result = try Shell.run("openssl", arguments)
            guard result.status == 0 else { throw Shell.Failure(message: "openssl \(arguments.first ?? ""): \(result.stderr)") }
        }
        let dir = folder.path
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", dir + "/other.key",
                     "-subj", "/C=EG/O=Another Authority/CN=Another CA", "-days", "30", "-out", dir + "/other-ca.pem"])
        let serial = pki.token("officer1").certificateSerial.uppercased()
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = .gmt
        formatter.dateFormat = "yyMMddHHmmss'Z'"
        let expiry = formatter.string(from: Date().addingTimeInterval(86_400 * 300))
        let revoked = formatter.string(from: Date().addingTimeInterval(-3600))
        try "R\t\(expiry)\t\(revoked),keyCompromise\t\(serial)\tunknown\t/CN=Someone Else\n".write(toFile: dir + "/index.txt", atomically: true, encoding: .utf8)
        try "01\n".write(toFile: dir + "/crlnumber", atomically: true, encoding: .utf8)
        try """
            [ca]
            default_ca = other
            [other]
            database = \(dir)/index.txt
            crlnumber = \(dir)/crlnumber
            default_md = sha256
            default_crl_days = 30
            crl_extensions = ext
            [ext]
            authorityKeyIdentifier = keyid:always
            """.write(toFile: dir + "/ca.cnf", atomically: true, encoding: .utf8)
        try openssl(["ca", "-config", dir + "/ca.cnf", "-gencrl", "-keyfile", dir + "/other.key", "-cert", dir + "/other-ca.pem",
                     "-out", dir + "/other.pem"])
        try openssl(["crl", "-in", dir + "/other.pem", "-outform", "DER", "-out", dir + "/other.crl"])
        let listed = try Shell.run("openssl", ["crl", "-in", dir + "/other.pem", "-noout", "-text"])
        #expect(listed.stdout.contains("Serial Number: \(serial)"), "the other list names officer1's serial: \(listed.stdout)")
        let anchors = folder.appendingPathComponent("anchors")
        try FileManager.default.createDirectory(at: anchors, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: pki.caPEM, to: anchors.appendingPathComponent("paysign-test.pem"))
        try FileManager.default.copyItem(atPath: dir + "/other-ca.pem", toPath: anchors.appendingPathComponent("other.pem").path)

        let bench = try Bench(pki, authority: false, arguments: ["--trust-anchors", anchors.path])
        try bench.setUpEntity()
        let order = try bench.reviewedOrder()
        let imported = try bench.importCRL(try Data(contentsOf: URL(fileURLWithPath: dir + "/other.crl")))
        #expect(imported.status == 201, "\(imported.text)")
        #expect(try bench.registeredToken("officer1")?["state"] as? String == "active", "officer1's token is not revoked by another issuer's list")
        #expect(try bench.sign(Self.officer1, order.id, "first", token: "officer1").status == 201, "officer1 still signs")
    }

    @Test("D6: a daemon that imports the authority's CRL (by the API, then through its crl-watch folder) while an order waits for officer1's first signature refuses officer1's signature with D6; the order is unchanged")
    func crlReachesWaitingOrder() throws {
        let authority = try Bench(pki)
        try authority.setUpEntity()
        #expect(try authority.transition(try authority.serial("officer1"), "revoke", cause: "pin-disclosed", invalidityDate: Bench.day(-1)).status == 200)
        try #require(try authority.issueCRL(pin: pki.token("authority").pin).status == 201)
        let crl = try authority.get("/v1/crl").body
        try #require(!crl.isEmpty)

        // By the API: officer1 signs one order before the list arrives; another waits.
        let importer = try Bench(pki, authority: false)
        try importer.setUpEntity()
        let importerEvents = AuthorityEvents(socket: importer.daemon.socket)
        let signedBefore = try importer.reviewedOrder()
        #expect(try importer.sign(Self.officer1, signedBefore.id, "first", token: "officer1").status == 201, "officer1's token signs before the list")
        let waiting = try importer.reviewedOrder()
        let officer1 = try importer.serial("officer1")
        #expect(try importer.importCRL(crl).status == 201)
        try expectRevokedSignerRefused(importer, waiting)
        // The importer's registry (and so its holders report) has the token revoked too, with the
        // list's reason and invalidity date; journaled and announced.
        let revoked = try #require(try importer.registeredToken("officer1"))
        #expect(revoked["state"] as? String == "revoked", "\(revoked)")
        let revocation = revoked["revocation"] as? [String: Any]
        #expect(revocation?["cause"] as? String == "other")
        #expect(revocation?["invalidityDate"] as? String == "\(Bench.day(-1))T00:00:00Z", "\(revoked)")
        let change = try importer.journal().filter { $0.kind == "token-state-changed" && $0.detail["serial"] as? String == officer1 }
        #expect(change.count == 1)
        #expect((change.first?.detail["note"] as? String)?.contains("revocation list") == true, "\(change.map(\.raw))")
        #expect((change.first?.detail["note"] as? String)?.contains("keyCompromise") == true, "\(change.map(\.raw))")
        #expect(importerEvents.wait(within: 3) { $0 == "token-state-changed" && $1["serial"] as? String == officer1 && $1["state"] as? String == "revoked" },
                "\(importerEvents.all)")
        #expect(try importer.registeredToken("officer2")?["state"] as? String == "active", "a token not on the list stays active")
        // officer2 is not on the list and signs the waiting order.
        #expect(try importer.sign(Self.officer2, waiting.id, "first", token: "officer2").status == 201)

        // Through the crl-watch folder. First what an attacker who can write there would put
        // (issue 16): a link to a file the daemon may read but must not, a file far larger than
        // any list, a FIFO that would block a reader. None is read; each is named once in the log.
        let folder = try Bench.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("a-link.crl").path, withDestinationPath: "/etc/shadow")
        let huge = folder.appendingPathComponent("b-huge.crl")
        _ = FileManager.default.createFile(atPath: huge.path, contents: nil)
        let handle = try FileHandle(forWritingTo: huge)
        try handle.truncate(atOffset: 200 << 20)
        try handle.close()
        #expect(mkfifo(folder.appendingPathComponent("c-fifo.crl").path, 0o644) == 0)
        let watcher = try Bench(pki, authority: false, arguments: ["--crl-watch", folder.path])
        try watcher.setUpEntity()
        let order = try watcher.reviewedOrder()
        expectProblem(try watcher.get("/v1/crl"), 404, "not-found", rule: nil)
        let planted = Date().addingTimeInterval(12)
        while !watcher.daemon.log(tail: 400).contains("c-fifo.crl") && Date() < planted { usleep(200_000) }
        let log = watcher.daemon.log(tail: 400)
        #expect(log.contains("a-link.crl: a symbolic link"), "\(log.suffix(1500))")
        #expect(log.contains("b-huge.crl: 209715200 bytes, more than"), "\(log.suffix(1500))")
        #expect(log.contains("c-fifo.crl: not a regular file"), "\(log.suffix(1500))")
        #expect(watcher.daemon.isRunning)
        // Written beside the folder, then renamed in: the watcher never sees half a file.
        let staged = folder.deletingLastPathComponent().appendingPathComponent("staged-\(UUID().uuidString.prefix(8)).crl")
        try crl.write(to: staged)
        try FileManager.default.moveItem(at: staged, to: folder.appendingPathComponent("authority.crl"))
        let deadline = Date().addingTimeInterval(12)
        while try watcher.get("/v1/crl").status != 200 && Date() < deadline { usleep(200_000) }
        #expect(try watcher.get("/v1/crl").body == crl, "imported from the folder within 12 s")
        #expect(watcher.daemon.log(tail: 2000).components(separatedBy: "a-link.crl: a symbolic link").count == 2,
                "the planted link is named once, not at every scan")
        let entry = try watcher.journal().filter { $0.kind == "crl-imported" }
        #expect(entry.count == 1, "\(entry.map(\.raw))")
        try expectRevokedSignerRefused(watcher, order)
        // A daemon with its periodic services running (the folder watched, the idempotency
        // records pruned) stops cleanly: their end at shutdown is no failure.
        #expect(watcher.daemon.stop() == 0, "paysignd exited non-zero on SIGTERM: \(watcher.daemon.log(tail: 5))")
    }

    private func expectRevokedSignerRefused(_ bench: Bench, _ order: Bench.OrderRef, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = try bench.orderBytes(order.id)
        let mark = try bench.head()
        let answer = try bench.sign(Self.officer1, order.id, "first", token: "officer1")
        expectProblem(answer, 409, "rule-violated", rule: "D6", mentions: ["revoked", "revocation list", pki.token("officer1").certificateSerial, "keyCompromise"],
                      sourceLocation: sourceLocation)
        #expect(try bench.orderBytes(order.id) == before, "the order is unchanged", sourceLocation: sourceLocation)
        #expect(try bench.state(order.id) == "reviewed", sourceLocation: sourceLocation)
        try bench.expectRefusalJournaled(after: mark, rule: "D6", noLogin: true, sourceLocation: sourceLocation)
    }

    // MARK: 9. The holders report

    @Test("D3, D4, D6: the holders report in json, csv and text: holders, steps, on site, token states, last signature, PIN age, dormant, due to surrender; an entity left without an on-site first signer")
    func holdersReport() throws {
        let bench = try Bench(pki, arguments: ["--dormant-days", "1", "--retirement-warning-days", "60"])
        try bench.setUpEntity()
        let order = try bench.reviewedOrder()
        #expect(try bench.sign(Self.officer1, order.id, "first", token: "officer1").status == 201)

        // Retirement dates: the second signer within the 60 days is due to surrender; a first
        // signer is not (D6 names the second-signature holder); a date beyond the window is not.
        var mark = try bench.head()
        let set = try bench.call(Self.authority, "PUT", "/v1/holders/\(Self.ministry)/retirement-date",
                                 body: try Bench.json(["retirementDate": Bench.day(30)]), contentType: "application/json")
        #expect(set.status == 200, "\(set.text)")
        #expect((set.object?["service"] as? [String: Any])?["retirementDate"] as? String == Bench.day(30))
        let journaled = try bench.journal(after: mark).filter { $0.kind == "retirement-date-set" }
        #expect(journaled.count == 1 && journaled.first?.detail["retirementDate"] as? String == Bench.day(30), "\(journaled.map(\.raw))")
        #expect(try bench.call("root", "PUT", "/v1/holders/\(Self.officer2)/retirement-date",
                               body: try Bench.json(["retirementDate": Bench.day(30)]), contentType: "application/json").status == 200)
        #expect(try bench.call("root", "PUT", "/v1/holders/\(Self.officer1)/retirement-date",
                               body: try Bench.json(["retirementDate": Bench.day(400)]), contentType: "application/json").status == 200)
        let operators = try bench.operatorsBytes()
        expectProblem(try bench.call(Self.authority, "PUT", "/v1/holders/\(Self.ministry)/retirement-date",
                                     body: try Bench.json(["retirementDate": "30/12/2026"]), contentType: "application/json"), 422, "invalid-field", rule: nil)
        expectProblem(try bench.call(Self.officer1, "PUT", "/v1/holders/\(Self.ministry)/retirement-date",
                                     body: try Bench.json(["retirementDate": Bench.day(1)]), contentType: "application/json"), 403, "not-authorized", rule: nil)
        #expect(try bench.operatorsBytes() == operators)

        // JSON.
        let report = try #require(try bench.get("/v1/reports/holders?format=json", as: Self.authority).object)
        #expect(report["dormantDays"] as? Int == 1 && report["retirementWarningDays"] as? Int == 60)
        #expect((report["entitiesWithoutOnSiteFirstSigner"] as? [String])?.isEmpty == true)
        let rows = report["holders"] as? [[String: Any]] ?? []
        #expect(rows.map { $0["unixUser"] as? String ?? "" } == [Self.ministry, Self.officer1, Self.officer2], "holders only, sorted: \(rows)")
        func row(_ user: String) -> [String: Any] { rows.first { $0["unixUser"] as? String == user } ?? [:] }
        for (user, label, steps, onSite) in [(Self.officer1, "officer1", ["first"], true), (Self.officer2, "officer2", ["first"], false), (Self.ministry, "ministry", ["second"], false)] {
            let r = row(user)
            #expect(r["entity"] as? String == Bench.entity)
            #expect(r["steps"] as? [String] == steps, "\(user): \(r)")
            #expect(r["onSite"] as? Bool == onSite, "\(user)")
            #expect(r["tokens"] as? [String] == [try bench.serial(label)], "\(user)")
            #expect(r["tokenStates"] as? [String] == ["active"], "\(user)")
            #expect(r["pinAgeDays"] as? Int == 0, "\(user): a PIN as old as the registration")
            #expect(r["dormant"] as? Bool == false, "\(user): added today, not dormant after 1 day (D4): \(r)")
            #expect(r["cleared"] as? Bool == false && r["lateDeathNotice"] as? Bool == false)
        }
        #expect(Bench.isRecent(row(Self.officer1)["lastSignature"]), "officer1 signed just now: \(row(Self.officer1))")
        #expect(row(Self.officer2)["lastSignature"] == nil, "officer2 never signed")
        #expect(row(Self.ministry)["dueToSurrender"] as? Bool == true, "\(row(Self.ministry))")
        #expect(row(Self.officer2)["dueToSurrender"] as? Bool == false, "a first signer is not due (D6 names the second signer)")
        #expect(row(Self.officer1)["dueToSurrender"] as? Bool == false, "retiring in 400 days")
        #expect(row(Self.ministry)["retirementDate"] as? String == Bench.day(30))

        // CSV: the same rows, one a line, and the CLI prints exactly what the API answers.
        let csvAnswer = try bench.get("/v1/reports/holders?format=csv", as: Self.authority)
        #expect(csvAnswer.headers["content-type"]?.hasPrefix("text/csv") == true)
        let lines = csvAnswer.text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(lines.first == "entity,user,name,steps,on_site,tokens,token_states,last_signature,pin_age_days,dormant,retirement_date,due_to_surrender,cleared,death_notice,late_death_notice")
        #expect(lines.count == 4, "\(lines)")
        let csv = Dictionary(lines.dropFirst().map { line in (line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)) }.map { ($0[1], $0) }) { a, _ in a }
        #expect(csv[Self.officer1]?[3] == "first" && csv[Self.officer1]?[4] == "yes" && csv[Self.officer1]?[6] == "active")
        #expect(csv[Self.officer1]?[7] != "never" && csv[Self.officer2]?[7] == "never", "\(lines)")
        #expect(csv[Self.officer1]?[8] == "0" && csv[Self.officer1]?[9] == "no")
        #expect(csv[Self.ministry]?[3] == "second" && csv[Self.ministry]?[10] == Bench.day(30) && csv[Self.ministry]?[11] == "yes", "\(lines)")
        #expect(csv[Self.officer2]?[11] == "no")
        let cli = try UnixUsers.paysign(as: Self.authority, ["report", "holders", "--format", "csv", "--socket", bench.daemon.socket])
        #expect(cli.status == 0, "\(cli.stderr)")
        #expect(cli.stdout == csvAnswer.text)

        // Text.
        let text = try bench.get("/v1/reports/holders?format=text", as: Self.authority).text
        #expect(text.contains("dormant after 1 days, D4") && text.contains("retirement within 60 days, D6"), "\(text)")
        #expect(text.contains("\(Self.officer1) (Officer One)  first signer, on site"), "\(text)")
        #expect(text.contains("\(Self.ministry) (MoF Representative)  second signer"), "\(text)")
        #expect(text.components(separatedBy: "DUE TO SURRENDER (D6)").count - 1 == 1, "\(text)")
        #expect(text.components(separatedBy: "last signature: never").count - 1 == 2, "officer2 and ministry never signed: \(text)")
        #expect(text.contains("\(try bench.serial("officer1")) active") && text.contains("PIN 0 days old"))
        #expect(!text.contains("DORMANT"))

        // Who may read it (D4: the authority, auditors, administrators), and in which formats.
        expectProblem(try bench.get("/v1/reports/holders", as: Self.officer1), 403, "not-authorized", rule: "D4")
        expectProblem(try bench.get("/v1/reports/holders?format=xml", as: Self.authority), 422, "invalid-field", rule: nil, mentions: ["json, csv or text"])

        // Surrendering the on-site first signer's token leaves the entity without one (D3): the
        // report says so, and the due flag goes with a surrendered token.
        mark = try bench.head()
        #expect(try bench.transition(try bench.serial("officer1"), "surrender", cause: "transfer").status == 200)
        #expect(try bench.transition(try bench.serial("ministry"), "surrender", cause: "retirement").status == 200)
        let after = try #require(try bench.get("/v1/reports/holders", as: Self.authority).object)
        #expect(after["entitiesWithoutOnSiteFirstSigner"] as? [String] == [Bench.entity], "\(after)")
        let afterRows = after["holders"] as? [[String: Any]] ?? []
        let ministryAfter = afterRows.first { $0["unixUser"] as? String == Self.ministry }
        #expect(ministryAfter?["dueToSurrender"] as? Bool == false, "\(ministryAfter ?? [:])")
        #expect(ministryAfter?["tokenStates"] as? [String] == ["surrendered"])
        #expect(try bench.get("/v1/reports/holders?format=text", as: Self.authority).text.contains("entity \(Bench.entity) has no on-site first signer (D3)"))
        #expect(try bench.get("/v1/reports/holders?entity=EG-9999", as: Self.authority).object?["holders"] as? [Any] != nil)
    }
}

// MARK: - Events

/// Every event `GET /v1/events` sends one listener (a thread of its own, as root), until the daemon stops.
fileprivate final class AuthorityEvents: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [(name: String, detail: [String: Any])] = []  // guarded by lock

    init(socket: String) {
        let client = DaemonClient(socketPath: socket)
        Thread { [self] in
            _ = try? client.events("/v1/events") { name, data in
                let object = (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any]
                let detail = object?["detail"] as? [String: Any] ?? [:]
                self.lock.withLock { self.events.append((name, detail)) }
                return true
            }
        }.start()
        // Subscribed once the daemon answered the request; give it a moment.
        usleep(300_000)
    }

    var all: [String] { lock.withLock { events.map { "\($0.name) \($0.detail)" } } }

    /// True once an event matches, waiting at most `seconds`.
    func wait(within seconds: Double, _ matches: (String, [String: Any]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if lock.withLock({ events.contains { matches($0.name, $0.detail) } }) { return true }
            usleep(20_000)
        }
        return false
    }
}

// MARK: - Revocation lists made outside paysign

/// CRLs for the refusals: another authority's (a throw-away CA made by OpenSSL, `openssl ca
/// -gencrl`), one under the test root's name signed by another key, and an expired one whose
/// signature is truly the test root's (made by `openssl ca`, then its TBSCertList re-signed on the
/// `authority` token with `pkcs11-tool` and spliced back).
fileprivate enum ForgedCRL {
    struct Authority {
        var key: URL
        var certificate: URL
        var directory: URL
    }

    static func openssl(_ arguments: [String]) throws -> Shell.Result {
        let result = try Shell.run("openssl", arguments)
        guard result.status == 0 else { throw Shell.Failure(message: "openssl \(arguments.prefix(2).joined(separator: " ")): \(result.stderr)") }
        return result
    }

    /// The subject of a certificate as `openssl req -subj` takes it (/C=…/O=…), in order.
    static func subject(of certificate: URL) throws -> String {
        let line = try openssl(["x509", "-in", certificate.path, "-noout", "-subject", "-nameopt", "RFC2253"]).stdout
        let rfc2253 = line.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "subject=", with: "")
        // RFC 2253 lists the RDNs last first, comma-separated (no commas inside these test names).
        return rfc2253.split(separator: ",").reversed().map { "/" + $0 }.joined()
    }

    /// The subject key identifier as hex pairs joined by ':' (for `DER:` in an OpenSSL config).
    static func keyID(of certificate: URL) throws -> String {
        let text = try openssl(["x509", "-in", certificate.path, "-noout", "-ext", "subjectKeyIdentifier"]).stdout
        guard let line = text.split(separator: "\n").last?.trimmingCharacters(in: .whitespaces), line.contains(":") else {
            throw Shell.Failure(message: "no subject key identifier in \(certificate.path)")
        }
        return line
    }

    static func otherAuthority(in work: URL, named subject: String) throws -> Authority {
        let directory = work.appendingPathComponent("ca-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("req.cnf")
        try """
            [req]
            distinguished_name = dn
            [dn]
            [root]
            basicConstraints = critical,CA:TRUE
            keyUsage = critical,keyCertSign,cRLSign
            subjectKeyIdentifier = hash

            """.write(to: config, atomically: true, encoding: .utf8)
        let key = directory.appendingPathComponent("ca.key"), certificate = directory.appendingPathComponent("ca.pem")
        _ = try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key.path, "-sha256", "-days", "30",
                         "-subj", subject, "-config", config.path, "-extensions", "root", "-out", certificate.path])
        return Authority(key: key, certificate: certificate, directory: directory)
    }

    /// A DER CRL by `authority` with no entries, CRL number `number`, lastUpdate and nextUpdate
    /// that many days from now, and an authorityKeyIdentifier (given, or the issuer's own).
    static func list(by authority: Authority, in work: URL, number: Int, lastUpdate: Int, nextUpdate: Int, authorityKeyID: String? = nil) throws -> Data {
        let directory = authority.directory
        let index = directory.appendingPathComponent("index.txt"), numbers = directory.appendingPathComponent("crlnumber")
        try Data().write(to: index)
        try String(format: "%02X\n", number).write(to: numbers, atomically: true, encoding: .utf8)
        let aki = authorityKeyID.map { "2.5.29.35 = DER:30:16:80:14:\($0)" } ?? "authorityKeyIdentifier = keyid:always"
        let config = directory.appendingPathComponent("ca.cnf")
        try """
            [ca]
            default_ca = d
            [d]
            database = \(index.path)
            crlnumber = \(numbers.path)
            default_md = sha256
            crl_extensions = crl_ext
            [crl_ext]
            \(aki)

            """.write(to: config, atomically: true, encoding: .utf8)
        let pem = directory.appendingPathComponent("list-\(number).pem"), der = directory.appendingPathComponent("list-\(number).der")
        _ = try openssl(["ca", "-config", config.path, "-gencrl", "-keyfile", authority.key.path, "-cert", authority.certificate.path,
                         "-crl_lastupdate", time(days: lastUpdate), "-crl_nextupdate", time(days: nextUpdate), "-out", pem.path])
        _ = try openssl(["crl", "-in", pem.path, "-outform", "DER", "-out", der.path])
        return try Data(contentsOf: der)
    }

    static func time(days: Int) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHHmmss'Z'"
        return formatter.string(from: Date().addingTimeInterval(Double(days) * 86_400))
    }

    /// The CRL with its TBSCertList signed again by the test root's key on the `authority` token
    /// (sha256WithRSAEncryption, as `openssl ca` made it).
    static func resignedOnAuthorityToken(_ crl: Data, pki: TestPKI, in work: URL) throws -> Data {
        let bytes = [UInt8](crl)
        guard let outer = tlv(bytes, at: 0), bytes[0] == 0x30,
              let tbs = tlv(bytes, at: outer.content), let algorithm = tlv(bytes, at: tbs.end)
        else { throw Shell.Failure(message: "not a DER CRL") }
        let tbsURL = work.appendingPathComponent("tbs-\(UUID().uuidString.prefix(8)).der")
        let signatureURL = work.appendingPathComponent("sig-\(UUID().uuidString.prefix(8)).bin")
        try Data(bytes[tbs.start..<tbs.end]).write(to: tbsURL)
        let token = pki.token("authority")
        let signed = try Shell.run("pkcs11-tool", [
            "--module", TestPKI.softHSMModule, "--token-label", "authority", "--login", "--pin", token.pin,
            "--sign", "--mechanism", "SHA256-RSA-PKCS", "--id", "01", "-i", tbsURL.path, "-o", signatureURL.path,
        ], environment: pki.softHSMEnvironment)
        guard signed.status == 0 else { throw Shell.Failure(message: "pkcs11-tool --sign: \(signed.stderr)") }
        let signature = [UInt8](try Data(contentsOf: signatureURL))
        let bitString = [0x03] + length(signature.count + 1) + [0x00] + signature
        let content = Array(bytes[tbs.start..<algorithm.end]) + bitString
        return Data([0x30] + length(content.count) + content)
    }

    /// One DER TLV at `index`: where it starts, where its content starts, where it ends.
    static func tlv(_ bytes: [UInt8], at index: Int) -> (start: Int, content: Int, end: Int)? {
        guard index + 2 <= bytes.count else { return nil }
        var cursor = index + 1
        var count = Int(bytes[cursor])
        cursor += 1
        if count & 0x80 != 0 {
            let octets = count & 0x7F
            guard (1...4).contains(octets), cursor + octets <= bytes.count else { return nil }
            count = bytes[cursor..<(cursor + octets)].reduce(0) { $0 << 8 | Int($1) }
            cursor += octets
        }
        guard cursor + count <= bytes.count else { return nil }
        return (index, cursor, cursor + count)
    }

    static func length(_ count: Int) -> [UInt8] {
        guard count >= 0x80 else { return [UInt8(count)] }
        var octets: [UInt8] = []
        var rest = count
        while rest > 0 {
            octets.insert(UInt8(rest & 0xFF), at: 0)
            rest >>= 8
        }
        return [0x80 | UInt8(octets.count)] + octets
    }
}

// MARK: - One daemon and the people of entity EG-0101

/// A paysignd with its socket open to group `nogroup`, the authority's token (unless `authority`
/// is false: an importer) and the test root as trust anchor, and what the tests do with it.
fileprivate final class Bench {
    static let entity = "EG-0101"

    struct Person {
        var user: String
        var nationalID: String
        var name: String
    }

    // The national IDs are those the test certificates carry (make-test-pki.sh).
    static let clerk = Person(user: UnixUsers.clerk, nationalID: "29505050100055", name: "Data Entry Clerk")
    static let reviewer = Person(user: UnixUsers.reviewer, nationalID: "29912120100066", name: "Accounts Reviewer")
    static let officer1 = Person(user: UnixUsers.officer1, nationalID: "28001010100011", name: "Officer One")
    static let officer2 = Person(user: UnixUsers.officer2, nationalID: "28502020100022", name: "Officer Two")
    static let officer3 = Person(user: UnixUsers.officer3, nationalID: "29004040100044", name: "Officer Three")
    static let ministry = Person(user: UnixUsers.ministry, nationalID: "27503030100033", name: "MoF Representative")
    /// The certification authority's operator (as `scripts/demo.sh` adds it).
    static let authority = Person(user: "paysign-authority", nationalID: "28806060100066", name: "e-Certification Unit")

    let pki: TestPKI
    let daemon: DaemonProcess
    private var seed = 0

    init(_ pki: TestPKI, authority: Bool = true, arguments: [String] = []) throws {
        self.pki = pki
        let authorityArguments = authority ? ["--authority-token", "pkcs11:token=authority"] : []
        daemon = try DaemonProcess(
            pki: pki, arguments: authorityArguments + ["--trust-anchors", pki.caPEM.path] + arguments, socketGroup: UnixUsers.group)
    }

    // MARK: Requests

    /// A request as `user`: root in process (an administrator), anyone else through a client
    /// process running as that Unix user.
    func call(_ user: String, _ method: String, _ path: String, body: Data? = nil, contentType: String? = nil) throws -> HTTPAnswer {
        if user == "root" {
            let response = try DaemonClient(socketPath: daemon.socket).send(method, path, body: body, contentType: contentType, headers: [])
            return HTTPAnswer(status: response.status, headers: response.headers, body: response.body)
        }
        return try UnixUsers.request(as: user, socket: daemon.socket, method, path, body: body, contentType: contentType)
    }

    static func json(_ fields: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    func post(_ user: String, _ path: String, _ fields: [String: Any]) throws -> HTTPAnswer {
        try call(user, "POST", path, body: try Self.json(fields), contentType: "application/json")
    }

    func get(_ path: String, as user: String = "root") throws -> HTTPAnswer { try call(user, "GET", path) }

    // MARK: The registry

    static func holder(_ person: Person, step: String, onSite: Bool? = nil) -> [String: Any] {
        var fields: [String: Any] = ["unixUser": person.user, "nationalID": person.nationalID, "name": person.name, "entity": entity, "step": step]
        if let onSite { fields["onSite"] = onSite }
        return fields
    }

    /// The entity; its clerk and reviewer; first signers officer1 (on site) and officer2; the MoF
    /// representative (second); their tokens; and the certification authority's operator.
    func setUpEntity() throws {
        func created(_ answer: HTTPAnswer, _ what: String) throws {
            try #require(answer.status == 201, "\(what): \(answer.text)")
        }
        try created(try post("root", "/v1/entities", ["code": Self.entity, "name": "Test Entity \(Self.entity)"]), "entity")
        for (person, role) in [(Self.clerk, "data-entry"), (Self.reviewer, "reviewer")] {
            try created(try post("root", "/v1/operators", [
                "unixUser": person.user, "nationalID": person.nationalID, "name": person.name, "entity": Self.entity, "roles": [role],
            ]), person.user)
        }
        try created(try post("root", "/v1/operators", [
            "unixUser": Self.authority.user, "nationalID": Self.authority.nationalID, "name": Self.authority.name, "roles": ["certification-authority"],
        ]), "authority")
        try created(try post("root", "/v1/holders", Self.holder(Self.officer1, step: "first", onSite: true)), "officer1")
        try created(try post("root", "/v1/holders", Self.holder(Self.officer2, step: "first")), "officer2")
        try created(try post("root", "/v1/holders", Self.holder(Self.ministry, step: "second")), "ministry")
        for (label, holder) in [("officer1", Self.officer1.user), ("officer2", Self.officer2.user), ("ministry", Self.ministry.user)] {
            // The authority registers them active (an administrator's would start issued, D6).
            try created(try post(Self.authority.user, "/v1/registered-tokens", ["token": pki.token(label).uri, "holder": holder]), label)
        }
    }

    /// The Unix users holding a signing role (GET /v1/holders).
    func holders() throws -> [String] {
        let list = (try? JSONSerialization.jsonObject(with: try get("/v1/holders").body) as? [[String: Any]]) ?? []
        return list.compactMap { $0["unixUser"] as? String }
    }

    /// GET /v1/operators byte for byte (roles, service: to prove a refusal changed nothing).
    func operatorsBytes() throws -> Data { try get("/v1/operators").body }

    /// GET /v1/registered-tokens byte for byte.
    func tokensBytes() throws -> Data { try get("/v1/registered-tokens").body }

    func registeredToken(_ label: String) throws -> [String: Any]? {
        let list = (try? JSONSerialization.jsonObject(with: try tokensBytes()) as? [[String: Any]]) ?? []
        return list.first { $0["label"] as? String == label }
    }

    /// The token's serial, as the registry knows it.
    func serial(_ label: String) throws -> String {
        try #require(try registeredToken(label)?["serial"] as? String, "token \(label) is registered")
    }

    /// POST /v1/registered-tokens/{serial}/transitions (the authority unless `user` is given).
    func transition(_ serial: String, _ action: String, cause: String? = nil, invalidityDate: String? = nil, note: String? = nil,
                    as user: String = Bench.authority.user) throws -> HTTPAnswer {
        var fields: [String: Any] = ["action": action]
        if let cause { fields["cause"] = cause }
        if let invalidityDate { fields["invalidityDate"] = invalidityDate }
        if let note { fields["note"] = note }
        return try post(user, "/v1/registered-tokens/\(serial)/transitions", fields)
    }

    func reportRows() throws -> [[String: Any]] {
        let answer = try get("/v1/reports/holders?format=json", as: Self.authority.user)
        try #require(answer.status == 200, "\(answer.text)")
        return answer.object?["holders"] as? [[String: Any]] ?? []
    }

    // MARK: Revocation lists

    func issueCRL(pin: String, as user: String = Bench.authority.user) throws -> HTTPAnswer {
        try post(user, "/v1/crl", ["pin": pin])
    }

    func importCRL(_ bytes: Data, contentType: String = "application/pkix-crl", as user: String = "root") throws -> HTTPAnswer {
        try call(user, "POST", "/v1/crl/imports", body: bytes, contentType: contentType)
    }

    /// `openssl crl -CAfile` on the list: whether OpenSSL printed "verify OK" (OpenSSL 3.0 exits
    /// 0 even when verification fails), what it printed, and the list as text.
    static func opensslCRL(_ der: Data, pki: TestPKI, in work: URL) throws -> (verified: Bool, output: String, text: String) {
        let file = work.appendingPathComponent("crl-\(UUID().uuidString.prefix(8)).der")
        try der.write(to: file)
        let verify = try Shell.run("openssl", ["crl", "-inform", "DER", "-in", file.path, "-CAfile", pki.caPEM.path, "-noout"])
        let text = try Shell.run("openssl", ["crl", "-inform", "DER", "-in", file.path, "-noout", "-text"])
        let output = verify.stdout + verify.stderr
        return (output.contains("verify OK") && !output.contains("verify failure"), output, text.stdout)
    }

    /// The CRL Number `openssl crl -text` shows.
    static func crlNumber(_ text: String) -> Int? {
        let lines = text.components(separatedBy: "\n")
        guard let index = lines.firstIndex(where: { $0.contains("X509v3 CRL Number") }), index + 1 < lines.count else { return nil }
        return Int(lines[index + 1].trimmingCharacters(in: .whitespaces))
    }

    // MARK: Orders

    struct OrderRef {
        var id: Int64
        var fileNumber: String
    }

    static func payroll(_ lines: Int, seed: Int) throws -> Data {
        let script = TestPKI.repositoryRoot.appendingPathComponent("scripts/make-payroll.py").path
        let result = try Shell.run("python3", [script, String(lines), String(seed)])
        guard result.status == 0 else { throw Shell.Failure(message: "make-payroll.py: \(result.stderr)") }
        return Data(result.stdout.utf8)
    }

    /// A supplier order of a few lines, uploaded by the clerk and confirmed by the reviewer (D9).
    func reviewedOrder() throws -> OrderRef {
        seed += 1
        let upload = try call(UnixUsers.clerk, "POST", "/v1/orders?entity=\(Self.entity)&kind=supplier&valueDate=\(try Self.valueDate())",
                              body: try Self.payroll(3, seed: 500 + seed), contentType: "text/csv")
        try #require(upload.status == 201, "upload: \(upload.text)")
        let id = try #require((upload.object?["id"] as? NSNumber)?.int64Value)
        let number = try #require(upload.object?["fileNumber"] as? String)
        let review = try post(UnixUsers.reviewer, "/v1/orders/\(id)/review", ["fileNumber": number])
        try #require(review.status == 200, "review: \(review.text)")
        return OrderRef(id: id, fileNumber: number)
    }

    func sign(_ user: String, _ id: Int64, _ step: String, token label: String, fileNumber: String? = nil) throws -> HTTPAnswer {
        var fields: [String: Any] = ["step": step, "token": pki.token(label).uri, "pin": pki.token(label).pin]
        if let fileNumber { fields["fileNumber"] = fileNumber }
        return try post(user, "/v1/orders/\(id)/signatures", fields)
    }

    func orderBytes(_ id: Int64) throws -> Data {
        let answer = try get("/v1/orders/\(id)")
        try #require(answer.status == 200, "\(answer.text)")
        return answer.body
    }

    func state(_ id: Int64) throws -> String? {
        ((try? JSONSerialization.jsonObject(with: try orderBytes(id))) as? [String: Any])?["state"] as? String
    }

    /// A value date the D10 calendar accepts: a working day (not Friday or Saturday) from the
    /// 24th to the 28th of next month (as OrderFlowTests uploads).
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

    /// After `mark`: a `refusal` entry with `rule` (nil: one without a rule) and, with `noLogin`,
    /// no login at all and no signature.
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

    // MARK: Days and files

    /// Today plus `offset` days, UTC, as YYYY-MM-DD.
    static func day(_ offset: Int) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: Date().addingTimeInterval(Double(offset) * 86_400))
    }

    /// Today plus `offset` days as `openssl crl -text` prints a day ("Nov  2 … 2026" without the time).
    static func opensslDay(_ offset: Int) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let date = Date().addingTimeInterval(Double(offset) * 86_400)
        let parts = calendar.dateComponents([.month, .day], from: date)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let day = parts.day ?? 1
        return months[(parts.month ?? 1) - 1] + (day < 10 ? "  " : " ") + String(day)
    }

    /// An ISO 8601 time from the API within the last two minutes.
    static func isRecent(_ value: Any?) -> Bool {
        guard let text = value as? String, let date = try? Date(text, strategy: .iso8601) else { return false }
        return abs(date.timeIntervalSinceNow) < 120
    }

    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-authority-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
