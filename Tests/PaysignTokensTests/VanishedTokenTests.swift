import PaysignSecrets
import Foundation
import PaysignPKCS11
import PaysignTestSupport
import Testing

@testable import PaysignTokens

extension TokenTests {
    /// SoftHSM 2.6 answers `CKR_GENERAL_ERROR` to `C_GetTokenInfo` once a token's folder vanished
    /// (the daemon test `VanishingTokenTests` moves a real folder away); here the fault seam gives
    /// that answer, so the shared test tokens never go away.
    @Test("a token that can no longer be read ends its sessions; its module is re-initialized once per interval, and the logins it held are asked for again")
    func vanishedTokenAndReinitialization() async throws {
        defer {
            FaultSeam.reset()
            service.close()
        }
        let officer1 = try PKCS11URI("pkcs11:token=officer1")
        let message = Array("order".utf8)

        // Logged in, its key handle found: SoftHSM answers the next C_SignInit with
        // CKR_OBJECT_HANDLE_INVALID, and C_GetTokenInfo with CKR_GENERAL_ERROR.
        let signing = try await service.keptSigner(for: officer1)
        try await signing.login(pin: PIN(pki.token("officer1").pin))
        _ = try await signing.sign(message)
        FaultSeam.install(FaultSeam.parse("C_SignInit=CKR_OBJECT_HANDLE_INVALID,C_GetTokenInfo=CKR_GENERAL_ERROR"))
        do {
            _ = try await signing.sign(message)
            Issue.record("signed on a token that cannot be read")
        } catch let error as PKCS11Error {
            #expect(error.code == .tokenRemoved)
            #expect(error.message.contains("C_SignInit answered CKR_OBJECT_HANDLE_INVALID, and C_GetTokenInfo answered CKR_GENERAL_ERROR"), "\(error.message)")
        }
        #expect(!signing.isUsable)
        FaultSeam.reset()

        let kept = try await service.keptSigner(for: officer1)
        #expect(kept !== signing)
        let other = try await service.keptSigner(for: PKCS11URI("pkcs11:token=officer2"))
        try await other.login(pin: PIN(pki.token("officer2").pin))

        FaultSeam.install(FaultSeam.parse("C_GetTokenInfo=CKR_GENERAL_ERROR"))
        // The login finds the token unreadable before the PIN reaches it.
        do {
            try await kept.login(pin: PIN(pki.token("officer1").pin))
            Issue.record("logged in on a token that cannot be read")
        } catch let error as PKCS11Error {
            #expect(error.code == .tokenRemoved)
            #expect(error.message.contains("can no longer be read"), "\(error.message)")
        }
        #expect(FaultSeam.calls(to: "C_Login") == 0)
        #expect(!kept.isUsable, "the kept signer is no longer handed out")

        // The search finds no token: the module is re-initialized once, then searched again.
        let searching = ContinuousClock.now
        for _ in 1...3 {
            do {
                _ = try await service.keptSigner(for: officer1)
                Issue.record("found a token that cannot be read")
            } catch let error as PKCS11Error {
                #expect(error.code == .tokenNotFound)
                #expect(error.message.contains("once it is back, retry"), "\(error.message)")
            }
        }
        // Once, unless a loaded machine took longer than the interval over the three searches.
        let intervals = Int((ContinuousClock.now - searching) / service.library.reinitializationInterval) + 1
        #expect((1...intervals).contains(FaultSeam.calls(to: "C_Finalize")),
                "once per \(service.library.reinitializationInterval), not per request (\(intervals) interval(s) passed)")
        #expect(FaultSeam.calls(to: "C_Initialize") == FaultSeam.calls(to: "C_Finalize"))

        // The re-initialization ended officer2's session and login: a sentence asks for the PIN
        // again, and nothing logs in by itself (D5).
        #expect(!other.isUsable)
        do {
            _ = try await other.sign(Array("order".utf8))
            Issue.record("signed on a session the re-initialization ended")
        } catch let error as PKCS11Error {
            #expect(error.code == .sessionInvalid)
            #expect(error.message.contains("give the PIN again"), "\(error.message)")
        }
        #expect(FaultSeam.calls(to: "C_Login") == 0)

        // The token answers again: found, logged in with the PIN, signing.
        FaultSeam.reset()
        let again = try await service.keptSigner(for: officer1)
        #expect(again !== kept)
        try await again.login(pin: PIN(pki.token("officer1").pin))
        let signature = try await again.sign(message)
        #expect(try Shell.opensslVerifies(signature: signature.bytes, message: message, certificate: pki.certificatePEM("officer1")))
    }
}
