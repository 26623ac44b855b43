import Foundation
import PaysignOpenSSL
import Synchronization
import Testing

/// `verifyReusingContext` (a batch's per-thread `EVP_PKEY_CTX`, reused signature after signature)
/// must say exactly what the one-shot `verify` says, in every scheme, whatever came before on the
/// same context: a failed verification must not leave the context refusing the next good one.
@Suite("Signature verification on a reused per-thread context")
struct ReusedVerifyContextTests {
    @Test("agrees with the one-shot EVP_DigestVerify on good, changed and broken signatures, in any order",
          arguments: [("rsa:2048", SignatureScheme.rsaPKCS1SHA256, [String]()),
                      ("rsa:2048", .rsaPSSSHA256, ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]),
                      ("ec", .ecdsaSHA256, [])])
    func agrees(keyType: String, scheme: SignatureScheme, options: [String]) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-reused-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("k.pem").path
        let cert = dir.appendingPathComponent("c.pem").path
        let message = dir.appendingPathComponent("m").path
        let signature = dir.appendingPathComponent("s").path
        let keyOptions = keyType == "ec" ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] : ["-newkey", keyType]
        _ = try OpenSSLTests.openssl(["req", "-x509"] + keyOptions + ["-nodes", "-keyout", key, "-subj", "/CN=v", "-days", "1", "-out", cert])
        try Data("journal head 42".utf8).write(to: URL(fileURLWithPath: message))
        _ = try OpenSSLTests.openssl(["dgst", "-sha256", "-sign", key] + options + ["-out", signature, message])
        let certificate = try Certificate(pemEncoded: String(contentsOfFile: cert, encoding: .utf8))
        let good = try [UInt8](Data(contentsOf: URL(fileURLWithPath: signature)))
        let broken = good.enumerated().map { $0 == good.count / 2 ? $1 ^ 0x01 : $1 }
        let cases: [([UInt8], String, Bool)] = [
            (good, "journal head 42", true), (good, "journal head 43", false), (broken, "journal head 42", false),
            (good, "journal head 42", true), ([], "journal head 42", false), (good, "journal head 42", true),
        ]
        for (bytes, text, expected) in cases {
            let message = Array(text.utf8)
            #expect(certificate.verifyReusingContext(signature: bytes, over: message, scheme: scheme) == expected)
            #expect(((try? certificate.verify(signature: bytes, over: message, scheme: scheme)) ?? false) == expected)
        }
        // Another scheme on the same key is its own context, and says no.
        let other: SignatureScheme = scheme == .rsaPKCS1SHA256 ? .rsaPSSSHA256 : .rsaPKCS1SHA256
        #expect(!certificate.verifyReusingContext(signature: good, over: Array("journal head 42".utf8), scheme: other))
        #expect(certificate.verifyReusingContext(signature: good, over: Array("journal head 42".utf8), scheme: scheme))
        // From other threads at once: each has its own context.
        let passed = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            let ok = certificate.verifyReusingContext(signature: good, over: Array("journal head 42".utf8), scheme: scheme)
            let refused = !certificate.verifyReusingContext(signature: broken, over: Array("journal head 42".utf8), scheme: scheme)
            if ok && refused { passed.add(1, ordering: .relaxed) }
        }
        #expect(passed.load(ordering: .relaxed) == 16)
    }
}
