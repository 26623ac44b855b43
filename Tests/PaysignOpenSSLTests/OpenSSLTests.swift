import Foundation
import PaysignOpenSSL
import SwiftASN1
import Testing

@Suite("X.509 certificates, SHA-256 and ECDSA encoding through OpenSSL")
struct OpenSSLTests {
    static func openssl(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    @Test("a certificate reads as OpenSSL's command line prints it")
    func certificateFields() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-x509-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let pem = dir.appendingPathComponent("c.pem").path
        _ = try Self.openssl([
            "req", "-utf8", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", dir.appendingPathComponent("k.pem").path, "-days", "30", "-set_serial", "0x0A1B2C3D4E5F",
            "-subj", "/C=EG/O=Test Entity/CN=Officer Éa/serialNumber=28001010100011",
            "-addext", "keyUsage=critical,digitalSignature,nonRepudiation", "-out", pem,
        ])
        let certificate = try Certificate(pemEncoded: String(contentsOfFile: pem, encoding: .utf8))
        #expect(certificate.serialNumber == "0A1B2C3D4E5F")
        #expect(certificate.subject == "serialNumber=28001010100011,CN=Officer Éa,O=Test Entity,C=EG")
        #expect(certificate.subjectSerialNumber == "28001010100011")
        #expect(certificate.commonName == "Officer Éa")
        #expect(certificate.keyAlgorithm == .ec && certificate.keyBits == 256)
        #expect(certificate.keyUsage == [.digitalSignature, .nonRepudiation])
        let fingerprint = try Self.openssl(["x509", "-in", pem, "-noout", "-fingerprint", "-sha256"])
        let expected = fingerprint.split(separator: "=").last!.replacingOccurrences(of: ":", with: "").trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        #expect(SHA256.hex(certificate.sha256Fingerprint) == expected)
        #expect(certificate.validity(at: Date()) == .valid)
        #expect(certificate.validity(at: Date().addingTimeInterval(31 * 86400)) == .expired)
        #expect(certificate.validity(at: Date().addingTimeInterval(-86400)) == .notYetValid)
        // DER and PEM agree.
        #expect(try Certificate(derEncoded: certificate.derEncoded) == certificate)
        #expect(try Certificate(pemEncoded: certificate.pemEncoded) == certificate)
    }

    @Test("garbage is refused with OpenSSL's reason, never a crash", arguments: [
        [UInt8](), [0x30], [0x30, 0x82, 0xFF, 0xFF, 0x01], Array(repeating: 0x41, count: 1000),
    ])
    func garbage(bytes: [UInt8]) {
        do {
            _ = try Certificate(derEncoded: bytes)
            Issue.record("garbage parsed")
        } catch let error as OpenSSLError {
            #expect(error.code == .malformedCertificate)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("SHA-256 matches the standard vectors")
    func sha256() {
        #expect(SHA256.hex(SHA256.hash([UInt8]())) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("raw r‖s becomes a DER Ecdsa-Sig-Value with minimal, positive integers")
    func ecdsaDER() throws {
        var raw = [UInt8](repeating: 0, count: 64)
        raw[0] = 0x80  // r has its high bit set: DER needs a leading 0x00
        raw[31] = 0x01
        raw[62] = 0x01  // s = 0x0102 after leading zeros are dropped
        raw[63] = 0x02
        let der = try ECDSASignature(rawRepresentation: raw).derEncoded
        #expect(der[0] == 0x30)
        #expect(Array(der[2..<5]) == [0x02, 0x21, 0x00])  // INTEGER, 33 bytes, 0x00 pad
        #expect(Array(der.suffix(4)) == [0x02, 0x02, 0x01, 0x02])
        let parsed = try ECDSASignature(derEncoded: der)
        #expect(parsed.s == [0x01, 0x02])
        #expect(throws: (any Error).self) { _ = try ECDSASignature(rawRepresentation: [1, 2, 3]) }
    }
}

@Suite("Signature verification through EVP_DigestVerify")
struct VerificationTests {
    @Test("signatures made by openssl dgst verify; a changed message or signature does not",
          arguments: [("rsa:2048", SignatureScheme.rsaPKCS1SHA256, [String]()),
                      ("rsa:2048", .rsaPSSSHA256, ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]),
                      ("ec", .ecdsaSHA256, [])])
    func verify(keyType: String, scheme: SignatureScheme, options: [String]) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-verify-\(UUID().uuidString)")
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
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: signature)))
        #expect(try certificate.verify(signature: bytes, over: Array("journal head 42".utf8), scheme: scheme))
        #expect(try !certificate.verify(signature: bytes, over: Array("journal head 43".utf8), scheme: scheme))
        var broken = bytes
        broken[broken.count / 2] ^= 0x01
        #expect(try !certificate.verify(signature: broken, over: Array("journal head 42".utf8), scheme: scheme))
    }
}
