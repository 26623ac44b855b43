import Foundation
import PaysignClient
import PaysignTestSupport
import Testing

/// Token faults (issue 8): what hardware makes hard to produce, through the fault seam under the
/// PKCS#11 calls (`PAYSIGN_PKCS11_FAULTS`, debug builds only). Each must end in a named problem
/// (never an internal error) in one sentence, leave the order unchanged, leave the daemon serving,
/// and the token must sign again once the fault is gone (the seam fires once). A card pulled out of
/// its reader and pcscd restarted are in PaysignPCSCTests and DaemonTests. Needs root.
@Suite("Token faults: a named problem, the order unchanged, the daemon serving, the token usable again", .serialized)
struct FaultTests {
    let pki: TestPKI

    init() throws {
        try UnixUsers.ensure()
        pki = try TestPKI.forOrderFlow()
    }

    struct Fault: CustomTestStringConvertible, Sendable {
        var rule: String
        var status: Int
        var type: String
        var testDescription: String { rule }
    }

    static let faults: [Fault] = [
        Fault(rule: "C_Sign=CKR_DEVICE_REMOVED@0x1", status: 409, type: "token-absent"),
        Fault(rule: "C_Sign=CKR_SESSION_HANDLE_INVALID@0x1", status: 409, type: "token-absent"),
        Fault(rule: "C_Sign=CKR_GENERAL_ERROR@0x1", status: 502, type: "token-failed"),
        Fault(rule: "C_Login=CKR_PIN_LOCKED@0x1", status: 423, type: "pin-locked"),
        Fault(rule: "C_Login=CKR_DEVICE_REMOVED@0x1", status: 409, type: "token-absent"),
        Fault(rule: "C_Login=CKR_GENERAL_ERROR@0x1", status: 502, type: "token-failed"),
    ]

    @Test("a PKCS#11 fault while signing", arguments: faults)
    func fault(_ fault: Fault) throws {
        let daemon = try DaemonProcess(pki: pki, environment: ["PAYSIGN_PKCS11_FAULTS": fault.rule], socketGroup: UnixUsers.group)
        defer { daemon.stop() }
        try FlowSetup.setUpEntity(socket: daemon.socket, pki: pki)
        let order = try FlowSetup.reviewedOrder(socket: daemon.socket, seed: 71_000 + Self.faults.firstIndex { $0.rule == fault.rule }!)
        let before = try FlowSetup.call(daemon.socket, "GET", "/v1/orders/\(order.id)").body

        let failed = try sign(daemon, order.id)
        #expect(failed.status == fault.status, "\(fault.rule): \(failed.status) \(failed.text)")
        #expect(failed.headers["content-type"]?.hasPrefix("application/problem+json") == true)
        #expect((failed.object?["type"] as? String)?.hasSuffix(":\(fault.type)") == true, "\(fault.rule): \(failed.text)")
        let detail = failed.object?["detail"] as? String ?? ""
        #expect(!detail.isEmpty, "one sentence says what happened")
        #expect(try FlowSetup.call(daemon.socket, "GET", "/v1/orders/\(order.id)").body == before, "the order is unchanged")
        #expect(try FlowSetup.call(daemon.socket, "GET", "/v1/orders/\(order.id)/signature").status == 404)
        #expect(daemon.isRunning)
        #expect(try FlowSetup.call(daemon.socket, "GET", "/v1/health").status == 200)

        // The fault is gone: the same request signs.
        let again = try sign(daemon, order.id)
        #expect(again.status == 201, "\(fault.rule), then: \(again.text)")
    }

    @Test("issue 21: a token that offers only CKM_RSA_PKCS signs (the DigestInfo made by paysign) and OpenSSL verifies; one without the mechanism the key needs is refused before its PIN is used")
    func mechanismsFromTheToken() throws {
        // SoftHSM offers every mechanism: the seam hides all but CKM_RSA_PKCS (no hashing on the
        // token, as many USB tokens), then all but CKM_ECDSA (an RSA key cannot sign there).
        let rsaOnly = try DaemonProcess(
            pki: pki, environment: ["PAYSIGN_PKCS11_FAULTS": "C_GetMechanismList:only=CKM_RSA_PKCS"], socketGroup: UnixUsers.group)
        defer { _ = rsaOnly.stop() }
        try FlowSetup.setUpEntity(socket: rsaOnly.socket, pki: pki)
        let order = try FlowSetup.reviewedOrder(socket: rsaOnly.socket, seed: 72_001)
        let signed = try sign(rsaOnly, order.id)
        try #require(signed.status == 201, "\(signed.text)")
        let document = try FlowSetup.call(rsaOnly.socket, "GET", "/v1/orders/\(order.id)/document").body
        let p7s = try FlowSetup.call(rsaOnly.socket, "GET", "/v1/orders/\(order.id)/signature").body
        #expect(try pki.openSSLVerifies(p7s: p7s, document: document))

        let ecOnly = try DaemonProcess(
            pki: pki, environment: ["PAYSIGN_PKCS11_FAULTS": "C_GetMechanismList:only=CKM_ECDSA"], socketGroup: UnixUsers.group)
        defer { _ = ecOnly.stop() }
        try FlowSetup.setUpEntity(socket: ecOnly.socket, pki: pki)
        let refusedOrder = try FlowSetup.reviewedOrder(socket: ecOnly.socket, seed: 72_002)
        let refused = try sign(ecOnly, refusedOrder.id)
        #expect(refused.status == 502, "\(refused.text)")
        let detail = refused.object?["detail"] as? String ?? ""
        #expect(detail.contains("neither CKM_SHA256_RSA_PKCS nor CKM_RSA_PKCS") && detail.contains("no PIN was used"), "\(detail)")
        let journal = try FlowSetup.call(ecOnly.socket, "GET", "/v1/audit?limit=1000").text
        #expect(!journal.contains("login-succeeded") && !journal.contains("login-failed"), "no login was made")
    }

    private func sign(_ daemon: DaemonProcess, _ id: Int64) throws -> HTTPAnswer {
        try UnixUsers.request(
            as: UnixUsers.officer1, socket: daemon.socket, "POST", "/v1/orders/\(id)/signatures",
            body: try JSONSerialization.data(withJSONObject: [
                "step": "first", "token": pki.token("officer1").uri, "pin": pki.token("officer1").pin,
            ]), contentType: "application/json")
    }
}
