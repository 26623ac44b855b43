import PaysignSecrets
import Foundation
import PaysignOpenSSL
import PaysignPKCS11
import PaysignTestSupport
import Testing

@testable import PaysignTokens

/// Everything that touches the SoftHSM tokens or the process-wide fault seam runs one test at a
/// time: SoftHSM's login state is per process, and the seam is global.
@Suite("SoftHSM2 tokens through p11-kit", .serialized, .softHSMInProcess)
struct TokenTests {
    let pki: TestPKI
    let service: TokenService

    init() throws {
        pki = try TestPKI.get()
        FaultSeam.reset()
        service = try TokenService(modules: .path(TestPKI.softHSMModule))
    }

    func signer(_ label: String) async throws -> TokenSigner {
        try await service.signer(for: PKCS11URI("pkcs11:token=\(label)"))
    }

    @Test("every token of the test PKI is listed, with its certificate, key and URI")
    func listsTokens() async throws {
        defer { service.close() }
        let inventory = await service.inventory(readers: false)
        let labels = Set(inventory.tokens.map(\.label))
        #expect(labels == ["officer1", "officer2", "ministry", "expired", "clerk", "spare", "authority", "qualified", "center", "submission", "submission2", "officer-b", "ministry-b"])
        let officer1 = try #require(inventory.tokens.first { $0.label == "officer1" })
        #expect(officer1.model == "SoftHSM v2")
        #expect(officer1.pinState == [.initialized])
        #expect(officer1.uri.serial == officer1.serial)
        let cert = try #require(officer1.certificates.first)
        #expect(cert.subject.contains("CN=Officer One"))
        #expect(cert.serial == pki.token("officer1").certificateSerial)
        #expect(cert.validity == "valid")
        #expect(cert.keyAlgorithm == "rsa" && cert.keyBits == 2048)
        let key = try #require(officer1.keys.first)
        #expect(key.hasCertificate && key.type == "rsa" && key.bits == 2048)
        #expect(key.uri.description.contains("id=%01"))
        #expect(key.uri.description.contains("type=private"))
        let officer2 = try #require(inventory.tokens.first { $0.label == "officer2" })
        #expect(officer2.keys.first?.type == "ec" && officer2.keys.first?.bits == 256)
        let expired = try #require(inventory.tokens.first { $0.label == "expired" })
        #expect(expired.certificates.first?.validity == "expired")
        // A key with no certificate yet (the issuance tests certify it).
        let spare = try #require(inventory.tokens.first { $0.label == "spare" })
        #expect(spare.certificates.isEmpty && spare.keys.first?.hasCertificate == false)
    }

    @Test("the inventory's JSON round-trips, with URIs as text")
    func inventoryJSON() async throws {
        defer { service.close() }
        let inventory = await service.inventory(readers: false)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(inventory)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let tokens = try #require(object["tokens"] as? [[String: Any]])
        #expect((tokens.first?["uri"] as? String)?.hasPrefix("pkcs11:") == true)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let back = try decoder.decode(Inventory.self, from: data)
        #expect(back.tokens.map(\.uri) == inventory.tokens.map(\.uri))
    }

    @Test("tokens are found by label, by serial, and never by slot id")
    func selection() async throws {
        defer { service.close() }
        let officer2 = pki.token("officer2")
        let bySerial = try await service.library.token(matching: PKCS11URI(officer2.uri))
        #expect(try await bySerial.tokenInfo().label == "officer2")
        await #expect(throws: PKCS11Error.self) { try await service.library.token(matching: PKCS11URI("pkcs11:token=nobody")) }
        do {
            _ = try await service.library.token(matching: PKCS11URI("pkcs11:model=SoftHSM%20v2"))
            Issue.record("five tokens matched one token URI")
        } catch let error as PKCS11Error {
            #expect(error.code == .ambiguousToken)
            #expect(error.message.contains("officer1") && error.message.contains("serial"))
        }
        do {
            _ = try await service.library.token(matching: PKCS11URI("pkcs11:slot-id=0"))
            Issue.record("slot-id was accepted")
        } catch let error as PKCS11Error {
            #expect(error.code == .invalidURI)
        }
    }

    @Test("signatures made on each token verify with OpenSSL against the token's certificate",
          arguments: [
            ("officer1", SignatureAlgorithm.rsaPKCS1SHA256, [String]()),
            ("officer1", .rsaPSSSHA256, ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]),
            ("officer2", .ecdsaSHA256, []),
            ("ministry", .rsaPKCS1SHA256, []),
            ("clerk", .ecdsaSHA256, []),
          ])
    func signAndVerify(label: String, algorithm: SignatureAlgorithm, opensslOptions: [String]) async throws {
        defer { service.close() }
        let signer = try await signer(label)
        let report = try await signer.login(pin: PIN(pki.token(label).pin))
        #expect(report.before.summary == "ok" && report.after.summary == "ok")
        let message = Array("payment order \(label) \(algorithm)".utf8)
        let signature = try await signer.sign(message, algorithm: algorithm)
        #expect(signature.algorithm == algorithm)
        #expect(try Shell.opensslVerifies(signature: signature.bytes, message: message, certificate: pki.certificatePEM(label), extra: opensslOptions))
        // A changed message must not verify: the judge is really judging.
        #expect(try !Shell.opensslVerifies(signature: signature.bytes, message: message + [0x20], certificate: pki.certificatePEM(label), extra: opensslOptions))
    }

    @Test("issue 21: a key with CKA_ALWAYS_AUTHENTICATE signs with one context-specific login per signature; OpenSSL verifies; without the PIN again it is refused before C_SignInit")
    func alwaysAuthenticate() async throws {
        defer {
            FaultSeam.reset()
            service.close()
        }
        let signer = try await signer("qualified")
        let pin = pki.token("qualified").pin
        try await signer.login(pin: PIN(pin))
        #expect(try await signer.privateKey().alwaysAuthenticate)
        FaultSeam.reset()
        for n in 1...2 {
            let message = Array("payment order \(n), qualified".utf8)
            let signature = try await signer.sign(message, again: ContextLogin(pin: PIN(pin), confirmFinalTry: false))
            #expect(try Shell.opensslVerifies(signature: signature.bytes, message: message, certificate: pki.certificatePEM("qualified")))
            #expect(FaultSeam.calls(to: "C_Login/context") == n, "one context-specific login per signature")
        }
        #expect(FaultSeam.calls(to: "C_Login") == 0, "never a second user login")
        // No PIN for this signature: refused before the token is asked to sign.
        let initsBefore = FaultSeam.calls(to: "C_SignInit")
        do {
            _ = try await signer.sign(Array("no PIN again".utf8))
            Issue.record("a CKA_ALWAYS_AUTHENTICATE key signed on the session's login")
        } catch let error as PKCS11Error {
            #expect(error.code == .pinRequired)
            #expect(error.message.contains("CKA_ALWAYS_AUTHENTICATE"), "\(error.message)")
        }
        #expect(FaultSeam.calls(to: "C_SignInit") == initsBefore)
        #expect(FaultSeam.calls(to: "C_Login/context") == 2)
        // Other keys ignore the PIN given again: no context-specific login.
        let officer = try await self.signer("officer1")
        try await officer.login(pin: PIN(pki.token("officer1").pin))
        _ = try await officer.sign([1, 2, 3], again: ContextLogin(pin: PIN(pki.token("officer1").pin), confirmFinalTry: false))
        #expect(FaultSeam.calls(to: "C_Login/context") == 2)
    }

    @Test("issue 21: a wrong PIN at the context-specific login is refused with the token's state after exactly one try, never retried")
    func alwaysAuthenticateWrongPIN() async throws {
        defer {
            FaultSeam.reset()
            service.close()
        }
        let signer = try await signer("qualified")
        let pin = pki.token("qualified").pin
        try await signer.login(pin: PIN(pin))
        FaultSeam.reset()
        do {
            _ = try await signer.sign(Array("wrong PIN again".utf8), again: ContextLogin(pin: PIN("000000"), confirmFinalTry: false))
            Issue.record("a wrong PIN signed")
        } catch let error as PKCS11Error {
            #expect(error.code == .pinIncorrect)
            #expect(error.function == "C_Login")
            #expect(error.message.contains("wrong PIN for token 'qualified'"), "\(error.message)")
            #expect(!error.description.contains("000000"))
        }
        #expect(FaultSeam.calls(to: "C_Login/context") == 1)
        #expect(FaultSeam.calls(to: "C_Sign") == 0)
        // The token counted the wrong PIN; the right one resets the count (SoftHSM), so later tests
        // meet a fresh token.
        let fresh = try await self.signer("qualified")
        try await fresh.login(pin: PIN(pin))
        _ = try await fresh.sign([1], again: ContextLogin(pin: PIN(pin), confirmFinalTry: false))
    }

    @Test("issue 21: a PIN outside the token's ulMinPinLen…ulMaxPinLen is refused before C_Login and costs no try",
          arguments: ["123", String(repeating: "7", count: 256)])
    func pinOutsideLimits(pin: String) async throws {
        defer {
            FaultSeam.reset()
            service.close()
        }
        let signer = try await signer("officer1")
        FaultSeam.reset()
        do {
            try await signer.login(pin: PIN(pin))
            Issue.record("a PIN of \(pin.count) characters was sent")
        } catch let error as PKCS11Error {
            #expect(error.code == .pinInvalid)
            #expect(error.message.contains("takes 4 to 255"), "\(error.message)")
            #expect(error.message.contains("cost no try"))
        }
        #expect(FaultSeam.calls(to: "C_Login") == 0)
        let report = try await signer.login(pin: PIN(pki.token("officer1").pin))
        #expect(report.before.summary == "ok", "no try was counted")
    }

    @Test("issue 21: the mechanism comes from what the token offers: CKM_RSA_PKCS over a DigestInfo when the token does not hash; a missing one refused before any login")
    func mechanismChoice() async throws {
        defer {
            FaultSeam.reset()
            service.close()
        }
        #expect(try await signer("officer1").mechanism() == .sha256RSAPKCS, "SoftHSM hashes on the token")
        FaultSeam.install(FaultSeam.parse("C_GetMechanismList:only=CKM_RSA_PKCS|CKM_ECDSA"))
        let rsa = try await signer("officer1")
        #expect(try await rsa.mechanism() == .rsaPKCSDigestInfo)
        try await rsa.login(pin: PIN(pki.token("officer1").pin))
        let message = Array("a payment order, hashed by paysign".utf8)
        let signature = try await rsa.sign(message)
        #expect(try Shell.opensslVerifies(signature: signature.bytes, message: message, certificate: pki.certificatePEM("officer1")))
        let ec = try await signer("officer2")
        #expect(try await ec.mechanism() == .ecdsa)
        await #expect(throws: TokenError.self) { _ = try await ec.mechanism(for: .rsaPSSSHA256) }
        FaultSeam.install(FaultSeam.parse("C_GetMechanismList:only=CKM_ECDSA"))
        let lacking = try await signer("ministry")
        do {
            _ = try await lacking.mechanism()
            Issue.record("an RSA key was given a mechanism the token does not offer")
        } catch let error as TokenError {
            #expect(error.code == .mechanismMissing)
            #expect(error.message.contains("neither CKM_SHA256_RSA_PKCS nor CKM_RSA_PKCS"), "\(error.message)")
            #expect(error.message.contains("2048-bit"))
        }
        #expect(FaultSeam.calls(to: "C_Login") == 0)
    }

    @Test("a wrong PIN is refused with the token's PIN state, after exactly one C_Login (rule D5)")
    func wrongPIN() async throws {
        defer { service.close() }
        let signer = try await signer("ministry")
        FaultSeam.reset()
        do {
            try await signer.login(pin: PIN("000000"))
            Issue.record("a wrong PIN logged in")
        } catch let error as PKCS11Error {
            #expect(error.code == .pinIncorrect)
            #expect(error.returnValue == .pinIncorrect)
            #expect(error.message.contains("wrong PIN for token 'ministry'"))
            #expect(!error.description.contains("000000"))
        }
        #expect(FaultSeam.calls(to: "C_Login") == 1)
        // Nothing was signed: the private key is not even visible.
        await #expect(throws: TokenError.self) { _ = try await signer.sign([1, 2, 3]) }
    }

    @Test("a login proves its own PIN even while the token is already logged in (rules D5, D13)")
    func noRidingOnAnotherLogin() async throws {
        defer { service.close() }
        let officer = try await signer("officer1")
        try await officer.login(pin: PIN(pki.token("officer1").pin))
        let intruder = try await signer("officer1")
        await #expect(throws: PKCS11Error.self) { try await intruder.login(pin: PIN("999999")) }
    }

    @Test("the final PIN try is used only when the caller confirms it")
    func finalTry() async throws {
        defer {
            FaultSeam.reset()
            service.close()
        }
        let signer = try await signer("officer2")
        FaultSeam.install([FaultSeam.Rule(function: "C_GetTokenInfo", addPINState: [.countLow, .finalTry])])
        do {
            try await signer.login(pin: PIN(pki.token("officer2").pin))
            Issue.record("final try used without confirmation")
        } catch let error as PKCS11Error {
            #expect(error.code == .pinFinalTry)
            #expect(error.pinState?.contains(.finalTry) == true)
        }
        #expect(FaultSeam.calls(to: "C_Login") == 0)
        do {
            try await signer.login(pin: PIN("000000"), confirmFinalTry: true)
            Issue.record("wrong PIN accepted")
        } catch let error as PKCS11Error {
            #expect(error.code == .pinIncorrect)
            #expect(error.message.contains("one more wrong PIN locks the token"))
        }
        let report = try await signer.login(pin: PIN(pki.token("officer2").pin), confirmFinalTry: true)
        #expect(report.before.contains(.finalTry))
    }

    @Test("a locked PIN, a token pulled out mid-sign and a misbehaving token are named errors",
          arguments: [
            ("C_Login=CKR_PIN_LOCKED", PKCS11Error.Code.pinLocked, "locked"),
            ("C_Sign=CKR_DEVICE_REMOVED!", .tokenRemoved, "was removed"),
            ("C_Sign=CKR_GENERAL_ERROR!", .tokenMalfunction, "failed (CKR_GENERAL_ERROR)"),
            ("C_SignInit=CKR_SESSION_HANDLE_INVALID", .sessionInvalid, "session"),
            ("C_Sign=CKR_DEVICE_ERROR!", .tokenMalfunction, "CKR_DEVICE_ERROR"),
          ])
    func injectedFaults(rule: String, code: PKCS11Error.Code, phrase: String) async throws {
        #expect(FaultSeam.isAvailable, "the fault seam is compiled into debug builds")
        defer {
            FaultSeam.reset()
            service.close()
        }
        let signer = try await signer("officer1")
        FaultSeam.install(FaultSeam.parse(rule))
        do {
            try await signer.login(pin: PIN(pki.token("officer1").pin))
            _ = try await signer.sign(Array("order".utf8))
            Issue.record("\(rule) did not fail")
        } catch let error as PKCS11Error {
            #expect(error.code == code)
            #expect(error.message.contains(phrase), "\(error.message)")
        }
        // The token is usable again once the fault is gone (a new session after a removal).
        FaultSeam.reset()
        let again = try await self.signer("officer1")
        try await again.login(pin: PIN(pki.token("officer1").pin))
        let message = Array("order".utf8)
        let signature = try await again.sign(message)
        #expect(try Shell.opensslVerifies(signature: signature.bytes, message: message, certificate: pki.certificatePEM("officer1")))
    }

    @Test("a removed token invalidates its session at once; a signature in flight is discarded")
    func removalInvalidatesSession() async throws {
        defer { service.close() }
        let signer = try await signer("officer2")
        try await signer.login(pin: PIN(pki.token("officer2").pin))
        signer.session.slot.invalidateSessions(reason: "card removed from reader 'Virtual PCD 00 00'")
        #expect(signer.session.invalidated != nil)
        do {
            _ = try await signer.sign(Array("x".utf8))
            Issue.record("signed on an invalidated session")
        } catch let error as PKCS11Error {
            #expect(error.code == .tokenRemoved)
            #expect(error.message.contains("card removed"))
        }
    }

    @Test("an expired certificate cannot sign, whatever the PIN")
    func expiredCertificate() async throws {
        defer { service.close() }
        let signer = try await signer("expired")
        try await signer.login(pin: PIN(pki.token("expired").pin))
        do {
            _ = try await signer.sign(Array("x".utf8))
            Issue.record("an expired certificate signed")
        } catch let error as TokenError {
            #expect(error.code == .certificateExpired)
            #expect(error.message.contains("expired on 2020-12-31"))
        }
    }

    @Test("algorithms that do not fit the key, and PINs inside URIs, are refused")
    func refusals() async throws {
        defer { service.close() }
        let ec = try await signer("officer2")
        try await ec.login(pin: PIN(pki.token("officer2").pin))
        await #expect(throws: TokenError.self) { _ = try await ec.sign([1], algorithm: .rsaPSSSHA256) }
        do {
            _ = try await service.signer(for: PKCS11URI("pkcs11:token=officer2?pin-value=222222"))
            Issue.record("a URI with a PIN was accepted")
        } catch let error as TokenError {
            #expect(error.code == .pinInURI)
            #expect(!error.message.contains("222222"))
        }
    }

    @Test("the PIN is changed with C_SetPIN; the old one stops working")
    func changePIN() async throws {
        defer { service.close() }
        let slot = try await service.library.token(matching: PKCS11URI("pkcs11:token=clerk"))
        let session = try await slot.openSession(readWrite: true)
        let old = pki.token("clerk").pin
        try await session.changePIN(old: PIN(old), new: PIN("987654"))
        await #expect(throws: PKCS11Error.self) { try await session.login(pin: PIN(old)) }
        try await session.login(pin: PIN("987654"))
        try await session.logout()
        try await session.changePIN(old: PIN("987654"), new: PIN(old))
        try await session.login(pin: PIN(old))
        await session.close()
    }

    @Test("one token's signatures are serialized; two tokens sign side by side")
    func concurrentSigning() async throws {
        defer { service.close() }
        let a = try await signer("officer1")
        let b = try await signer("officer2")
        try await a.login(pin: PIN(pki.token("officer1").pin))
        try await b.login(pin: PIN(pki.token("officer2").pin))
        let signatures = try await withThrowingTaskGroup(of: (String, [UInt8], [UInt8]).self) { group in
            for i in 0..<24 {
                let signer = i.isMultiple(of: 2) ? a : b
                group.addTask {
                    let message = Array("order \(i)".utf8)
                    return (signer.session.token.label, message, try await signer.sign(message).bytes)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(signatures.count == 24)
        for (label, message, signature) in signatures.prefix(4) {
            #expect(try Shell.opensslVerifies(signature: signature, message: message, certificate: pki.certificatePEM(label)))
        }
    }
}
