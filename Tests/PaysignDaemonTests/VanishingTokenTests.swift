import Foundation
import PaysignClient
import PaysignPKCS11
import PaysignTestSupport
import Testing

/// A SoftHSM token whose folder vanishes mid-session and comes back (issue 8, "SoftHSM token
/// folder made unreadable mid-session"). SoftHSM 2.6 then forgets the token: `C_GetTokenInfo`
/// answers `CKR_GENERAL_ERROR`, a kept key handle `CKR_OBJECT_HANDLE_INVALID`, and it does not see
/// the token again, folder back or not, until the module is finalized and initialized again. As
/// root `chmod` stops no read, so "unreadable" is the folder renamed away. The real daemon, over
/// its socket, with its own test PKI (no other suite meets the token while it is gone). Needs root.
@Suite("A SoftHSM token folder that vanishes mid-session and comes back", .serialized)
struct VanishingTokenTests {
    let pki: TestPKI

    init() throws {
        try UnixUsers.ensure()
        pki = try TestPKI.forVanishingToken()
    }

    @Test("a named problem, the order unchanged, the daemon serving, one re-initialization, then the token signs again")
    func folderVanishesAndComesBack() throws {
        // A login kept by --pin-cache-seconds shows what a re-initialization does to logins.
        let daemon = try DaemonProcess(pki: pki, arguments: ["--pin-cache-seconds", "60"], socketGroup: UnixUsers.group)
        defer { daemon.stop() }
        try FlowSetup.setUpEntity(socket: daemon.socket, pki: pki)
        let used = try FlowSetup.reviewedOrder(socket: daemon.socket, seed: 73_000)
        let target = try FlowSetup.reviewedOrder(socket: daemon.socket, seed: 73_001)
        let byOfficer2 = try FlowSetup.reviewedOrder(socket: daemon.socket, seed: 73_002)
        let pinless = try FlowSetup.reviewedOrder(socket: daemon.socket, seed: 73_003)

        // The daemon has used both tokens: officer1's kept signer is open, officer2's login is kept.
        #expect(try sign(daemon, UnixUsers.officer1, used.id, token: "officer1").status == 201)
        #expect(try sign(daemon, UnixUsers.officer2, byOfficer2.id, token: "officer2").status == 201)
        let before = try FlowSetup.call(daemon.socket, "GET", "/v1/orders/\(target.id)").body
        #expect(reinitializations(daemon) == 0)

        let folder = try pki.tokenFolder("officer1")
        // Out of SoftHSM's token folder: any folder inside it is a token to SoftHSM.
        let away = pki.directory.appendingPathComponent("officer1-token-away")
        try FileManager.default.moveItem(at: folder, to: away)
        defer { if FileManager.default.fileExists(atPath: away.path) { try? FileManager.default.moveItem(at: away, to: folder) } }

        // 1. The kept signer's session finds the token unreadable. 2. The daemon looks for it,
        // re-initializes SoftHSM once, and still finds none. 3. Within the interval: no new
        // re-initialization for a token that is really gone.
        var searchesStarted = ContinuousClock.now
        for attempt in 1...3 {
            if attempt == 2 { searchesStarted = .now }
            let failed = try sign(daemon, UnixUsers.officer1, target.id, token: "officer1")
            #expect(failed.status == 409, "attempt \(attempt): \(failed.status) \(failed.text)")
            #expect(failed.headers["content-type"]?.hasPrefix("application/problem+json") == true)
            #expect((failed.object?["type"] as? String)?.hasSuffix(":token-absent") == true, "attempt \(attempt): \(failed.text)")
            let detail = failed.object?["detail"] as? String ?? ""
            #expect(detail.contains("officer1") && detail.contains("once it is back, retry"), "attempt \(attempt): \(detail)")
        }
        let lastFailure = ContinuousClock.now
        if lastFailure - searchesStarted < PKCS11Library.defaultReinitializationInterval {
            #expect(reinitializations(daemon) == 1, "\(daemon.log(tail: 30))")
        } else {
            // A machine so loaded that the two searches took longer than the interval.
            #expect((1...2).contains(reinitializations(daemon)), "\(daemon.log(tail: 30))")
        }

        // Nothing of the order changed, and the daemon still serves.
        #expect(try FlowSetup.call(daemon.socket, "GET", "/v1/orders/\(target.id)").body == before, "the order is unchanged")
        #expect(try FlowSetup.call(daemon.socket, "GET", "/v1/orders/\(target.id)/signature").status == 404, "no SignedData")
        #expect(daemon.isRunning)
        #expect(try FlowSetup.call(daemon.socket, "GET", "/v1/health").status == 200)
        #expect(try FlowSetup.call(daemon.socket, "GET", "/v1/orders/\(used.id)").status == 200)

        // The re-initialization ended officer2's kept login: the daemon never logs in again by
        // itself (D5), it asks for the PIN, in a sentence; with the PIN, officer2's token signs.
        let noPIN = try UnixUsers.request(
            as: UnixUsers.officer2, socket: daemon.socket, "POST", "/v1/orders/\(pinless.id)/signatures",
            body: try JSONSerialization.data(withJSONObject: ["step": "first", "token": pki.token("officer2").uri]),
            contentType: "application/json")
        #expect(noPIN.status == 409, "\(noPIN.text)")
        let noPINDetail = noPIN.object?["detail"] as? String ?? ""
        #expect(noPINDetail.contains("give the PIN again"), "\(noPIN.text)")
        #expect(try sign(daemon, UnixUsers.officer2, pinless.id, token: "officer2").status == 201)
        #expect(try FlowSetup.call(daemon.socket, "GET", "/v1/orders/\(target.id)").body == before)

        // The folder comes back. Once the interval since the last re-initialization is over, the
        // next request re-initializes the module again, finds the token and signs with the PIN.
        try FileManager.default.moveItem(at: away, to: folder)
        let wait = PKCS11Library.defaultReinitializationInterval - (ContinuousClock.now - lastFailure)
        if wait > .zero { Thread.sleep(forTimeInterval: Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18 + 0.1) }
        let reinitializedBefore = reinitializations(daemon)
        let signed = try sign(daemon, UnixUsers.officer1, target.id, token: "officer1")
        #expect(signed.status == 201, "\(signed.text)\n\(daemon.log(tail: 20))")
        #expect(reinitializations(daemon) == reinitializedBefore + 1, "the token came back through one re-initialization")

        // The payment center's judge: OpenSSL verifies the signature over the order's document.
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-vanish-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let document = try FlowSetup.call(daemon.socket, "GET", "/v1/orders/\(target.id)/document")
        let p7s = try FlowSetup.call(daemon.socket, "GET", "/v1/orders/\(target.id)/signature")
        try #require(document.status == 200 && p7s.status == 200)
        try document.body.write(to: work.appendingPathComponent("order.txt"))
        try p7s.body.write(to: work.appendingPathComponent("order.p7s"))
        let verified = try Shell.run("openssl", [
            "cms", "-verify", "-cades", "-binary", "-inform", "DER",
            "-content", work.appendingPathComponent("order.txt").path, "-in", work.appendingPathComponent("order.p7s").path,
            "-CAfile", pki.caPEM.path, "-out", "/dev/null",
        ])
        #expect(verified.status == 0, "\(verified.stderr)")
        #expect(verified.stderr.contains("Verification successful"), "\(verified.stderr)")
    }

    private func sign(_ daemon: DaemonProcess, _ user: String, _ id: Int64, token label: String) throws -> HTTPAnswer {
        try UnixUsers.request(
            as: user, socket: daemon.socket, "POST", "/v1/orders/\(id)/signatures",
            body: try JSONSerialization.data(withJSONObject: [
                "step": "first", "token": pki.token(label).uri, "pin": pki.token(label).pin,
            ]), contentType: "application/json")
    }

    /// How many times the daemon re-initialized a PKCS#11 module, from its log.
    private func reinitializations(_ daemon: DaemonProcess) -> Int {
        let text = (try? String(contentsOf: daemon.logFile, encoding: .utf8)) ?? ""
        return text.components(separatedBy: "re-initialized the PKCS#11 module").count - 1
    }
}
