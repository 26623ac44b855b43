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
        #expect(labels == ["officer1", "officer2", "ministry", "expired", "clerk", "spare", "authority"])
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
