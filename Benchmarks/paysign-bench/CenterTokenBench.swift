// The payment center's reference (issue 18): what its token alone does per submission, one
// C_Decrypt (RSAES-OAEP, the envelope's content key) and one C_Sign (the receipt), raw, on the
// token's thread, nothing of paysign's around them.
import Foundation
import PaysignOpenSSL
@_spi(Benchmark) import PaysignPKCS11
import PaysignSecrets
import PaysignTokens

enum CenterTokenBench {
    /// `paysign-bench center-token PKI-DIR MODULE [SECONDS]`
    static func run(pki: URL, module: String, seconds: Double) async throws {
        setenv("SOFTHSM2_CONF", pki.appendingPathComponent("softhsm2.conf").path, 1)
        let pin = try String(contentsOf: pki.appendingPathComponent("tokens.tsv"), encoding: .utf8)
            .split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }.first { $0.first == "center" }?[2] ?? ""
        let service = try TokenService(modules: .path(module))
        defer { service.close() }
        let decrypter = try await service.signer(for: PKCS11URI("pkcs11:token=center;id=%02"))
        let receipts = try await service.signer(for: PKCS11URI("pkcs11:token=center;id=%01"))
        try await decrypter.login(pin: PIN(pin))
        try await receipts.login(pin: PIN(pin))
        // A real envelope's encrypted content key, as the center receives it.
        let sealed = try AuthEnvelope.parse(try AuthEnvelope.seal(Array(repeating: 1, count: 64), to: decrypter.certificate, oaep: .sha1))
        let encryptedKey = try sealed.recipient(for: decrypter.certificate).encryptedKey
        let decryptKey = try await decrypter.privateKey()
        let signKey = try await receipts.privateKey()
        let mechanism = DecryptionMechanism(oaep: .sha1)
        let probe = try decrypter.session.rawDecryptLoop(encryptedKey, mechanism: mechanism, key: decryptKey, count: 20)
        let count = max(50, Int(seconds / 2 / max(probe / 20, 1e-6)))
        let decrypt = try decrypter.session.rawDecryptLoop(encryptedKey, mechanism: mechanism, key: decryptKey, count: count)
        let message = Array("a canonical receipt".utf8)
        let sign = try receipts.session.rawSignLoop(message, mechanism: .sha256RSAPKCS, key: signKey, count: count)
        print("bench center_c_decrypt_raw \(Bench.format(Double(count) / decrypt)) op/s")
        print("bench center_c_sign_raw \(Bench.format(Double(count) / sign)) op/s")
        print("bench center_token_decrypt_plus_sign \(Bench.format(Double(count) / (decrypt + sign))) op/s")
        await decrypter.session.close()
        await receipts.session.close()
    }
}
