import PaysignSecrets
import Foundation
import PaysignOpenSSL
import PaysignPKCS11
import PaysignTestSupport
import Testing

@testable import PaysignTokens

/// Detached CAdES-BES payment-order signatures made on the SoftHSM tokens, judged by the real
/// `openssl cms` command. They touch SoftHSM, so they belong to the serialized `TokenTests` suite.
extension TokenTests {
    @Test("first signature on a token, second by the ministry over the same content: openssl cms verifies both",
          arguments: [
            ("officer1", SignatureAlgorithm.rsaPKCS1SHA256),
            ("officer2", .ecdsaSHA256),
            ("officer1", .rsaPSSSHA256),
          ])
    func cmsFirstAndSecondSignature(first label: String, algorithm: SignatureAlgorithm) async throws {
        defer { service.close() }
        let judge = try CMSJudge(pki: pki)
        defer { judge.remove() }
        let anchors = [try Certificate(pemEncoded: String(contentsOf: pki.caPEM, encoding: .utf8))]
        let content = Array("PAYMENT ORDER 2026/000417\nentity 0412 payroll arrears\nEGP 1,250,000.00\n\u{0}\u{1}\u{FF}".utf8)
        let signingTime = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))

        // First signature.
        let officer = try await signer(label)
        try await officer.login(pin: PIN(pki.token(label).pin))
        let first = try await officer.signCMS(content: content, role: "first", algorithm: algorithm, signingTime: signingTime)
        #expect(first.signers.count == 1)
        let one = try #require(first.signers.first)
        #expect(one.certificate == officer.certificate)
        #expect(one.scheme == algorithm.scheme)
        #expect(one.role == "first")
        #expect(one.commitment == .proofOfApproval)
        #expect(one.signingTime == signingTime)
        #expect(one.messageDigest == SHA256.hash(content))
        #expect(one.precedingSignatureDigest == nil && one.precededBy == nil)

        let firstFile = try judge.write(first, name: "first")
        let contentFile = try judge.write(content, name: "order.txt")
        for cades in [false, true] {
            let verdict = try await judge.verify(firstFile, content: contentFile, cades: cades)
            #expect(verdict.status == 0, "openssl cms -verify\(cades ? " -cades" : ""): \(verdict.stderr)")
            #expect(verdict.stderr.contains("Verification successful"))
        }
        let firstCheck = try first.verify(content: content, trustAnchors: anchors)
        #expect(firstCheck.isValid, "\(firstCheck.signers.flatMap(\.problems)) \(firstCheck.openSSLReasons)")
        let printedFirst = try await judge.print(firstFile)
        #expect(printedFirst.components(separatedBy: "d.issuerAndSerialNumber:").count - 1 == 1)
        if algorithm == .rsaPSSSHA256 {
            // OpenSSL 3.0 prints the parameters with asn1parse: sha256, mgf1 with sha256, salt 0x20.
            #expect(printedFirst.contains("rsassaPss (1.2.840.113549.1.1.10)"))
            let parameterLines = printedFirst.split(separator: "\n").filter { $0.contains(":d=") }
                .map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(parameterLines.filter { $0.hasSuffix(":sha256") }.count == 2)
            #expect(parameterLines.contains { $0.hasSuffix(":mgf1") })
            #expect(parameterLines.contains { $0.contains("INTEGER") && $0.hasSuffix(":20") })
        }

        // Second signature, bound to the first.
        let ministry = try await signer("ministry")
        try await ministry.login(pin: PIN(pki.token("ministry").pin))
        let second = try await ministry.signCMS(content: content, role: "second", bindTo: first, signingTime: signingTime + 60)
        #expect(second.signers.count == 2)
        // DER sorts SignerInfos by their bytes; the order of signing comes from the binding.
        let order = try #require(second.signingOrder, "the binding proves the order")
        let carried = order[0]
        #expect(carried.signature == one.signature && carried.certificate == one.certificate)
        #expect(carried.role == "first" && carried.signingTime == signingTime && carried.scheme == algorithm.scheme)
        let two = order[1]
        #expect(two.certificate == ministry.certificate)
        #expect(two.role == "second")
        #expect(two.scheme == .rsaPKCS1SHA256)
        #expect(two.signingTime == signingTime + 60)
        #expect(two.precedingSignatureDigest == SHA256.hash(one.signature))
        #expect(two.precededBy == carried.index)

        let secondFile = try judge.write(second, name: "second")
        for cades in [false, true] {
            let verdict = try await judge.verify(secondFile, content: contentFile, cades: cades)
            #expect(verdict.status == 0, "openssl cms -verify\(cades ? " -cades" : "") (2 signers): \(verdict.stderr)")
        }
        let printed = try await judge.print(secondFile)
        #expect(printed.components(separatedBy: "d.issuerAndSerialNumber:").count - 1 == 2, "two SignerInfos")
        #expect(printed.contains("1.3.6.1.4.1.99999.1.1"))

        // The binding as OpenSSL's own parser sees it: the OCTET STRING after the paysign OID in the
        // file equals the SHA-256 of the first SignerInfo's signature as `openssl cms -print` shows it.
        let bound = try await judge.octetStringAfter(oid: "1.3.6.1.4.1.99999.1.1", in: secondFile)
        let firstSignature = try #require(CMSJudge.signatureHexDumps(printedFirst).first)
        #expect(firstSignature == one.signature)
        #expect(bound == SHA256.hash(firstSignature))
        #expect(Set(CMSJudge.signatureHexDumps(printed)) == Set(second.signers.map(\.signature)))

        // In-process verification agrees with OpenSSL.
        let secondCheck = try second.verify(content: content, trustAnchors: anchors)
        #expect(secondCheck.isValid, "\(secondCheck.signers.flatMap(\.problems)) \(secondCheck.openSSLReasons)")
        #expect(secondCheck.signers.map(\.signatureValid) == [true, true])
        #expect(secondCheck.signers.allSatisfy { $0.certificateTrusted && $0.signingCertificateMatches && $0.bindingResolved })

        // One changed byte of content: OpenSSL refuses, and so does paysign.
        var changed = content
        changed[changed.count / 2] ^= 0x01
        let changedFile = try judge.write(changed, name: "changed.txt")
        for file in [firstFile, secondFile] {
            let refusal = try await judge.verify(file, content: changedFile, cades: true)
            #expect(refusal.status != 0)
            #expect(refusal.stderr.contains("Verification failure"), "\(refusal.stderr)")
        }
        let changedCheck = try second.verify(content: changed, trustAnchors: anchors)
        #expect(!changedCheck.isValid && !changedCheck.openSSLVerified)
        #expect(changedCheck.signers.map(\.contentMatches) == [false, false])
        #expect(changedCheck.signers.map(\.signatureValid) == [true, true], "the signatures themselves still hold")

        // Without the right trust anchor, neither OpenSSL nor paysign trusts the signers.
        let untrusted = try second.verify(content: content, trustAnchors: [])
        #expect(!untrusted.isValid && !untrusted.openSSLVerified)
        #expect(untrusted.signers.allSatisfy { !$0.certificateTrusted })

        // The file parses back to the same summaries.
        let reread = try SignedDocument(derEncoded: Array(Data(contentsOf: secondFile)))
        #expect(reread.signers == second.signers)
        #expect(reread.derEncoded == second.derEncoded)
    }

    @Test("the second signature is refused over other content, by the same person, or after a broken one (rule D2)")
    func cmsSecondSignatureRefusals() async throws {
        defer { service.close() }
        let content = Array("PAYMENT ORDER 2026/000418".utf8)
        let officer = try await signer("officer1")
        try await officer.login(pin: PIN(pki.token("officer1").pin))
        let first = try await officer.signCMS(content: content, role: "first")
        let ministry = try await signer("ministry")
        try await ministry.login(pin: PIN(pki.token("ministry").pin))

        do {
            _ = try await ministry.signCMS(content: content + [0x0A], role: "second", bindTo: first)
            Issue.record("a second signature over other content was made")
        } catch let error as CMSError {
            #expect(error.code == .contentMismatch)
            #expect(error.message.contains("other content"))
        }
        do {
            _ = try await officer.signCMS(content: content, role: "second", bindTo: first)
            Issue.record("the first signer signed second")
        } catch let error as CMSError {
            #expect(error.code == .sameSigner)
            #expect(error.message.contains("different person"))
        }

        // A first signature whose bytes were tampered with: nobody signs after it.
        var tampered = first.derEncoded
        let signature = try #require(first.signers.first?.signature)
        let at = try #require(CMSJudge.range(of: signature, in: tampered))
        tampered[at.lowerBound + 10] ^= 0xFF
        let broken = try SignedDocument(derEncoded: tampered)
        do {
            _ = try await ministry.signCMS(content: content, role: "second", bindTo: broken)
            Issue.record("a second signature was made after a broken first one")
        } catch let error as CMSError {
            #expect(error.code == .previousSignatureInvalid)
        }
    }

    @Test("an expired certificate makes no CMS signature, and a PSS request on an EC key is refused")
    func cmsRefusedSigners() async throws {
        defer { service.close() }
        let expired = try await signer("expired")
        try await expired.login(pin: PIN(pki.token("expired").pin))
        await #expect(throws: TokenError.self) { _ = try await expired.signCMS(content: [1, 2, 3], role: "first") }
        let ec = try await signer("officer2")
        try await ec.login(pin: PIN(pki.token("officer2").pin))
        do {
            _ = try await ec.signCMS(content: [1, 2, 3], role: "first", algorithm: .rsaPSSSHA256)
            Issue.record("PSS on an EC key")
        } catch let error as TokenError {
            #expect(error.code == .algorithmMismatch)
        }
    }
}

/// A temporary folder of content and `.p7s` files, and the `openssl` commands that judge them.
struct CMSJudge {
    let directory: URL
    let caPEM: URL

    init(pki: TestPKI) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-cms-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        caPEM = pki.caPEM
    }

    /// Removes the folder, unless `PAYSIGN_CMS_KEEP` is set (to look at the files by hand).
    func remove() {
        if ProcessInfo.processInfo.environment["PAYSIGN_CMS_KEEP"] != nil {
            Swift.print("CMS files kept in \(directory.path)")
            return
        }
        try? FileManager.default.removeItem(at: directory)
    }

    func write(_ document: SignedDocument, name: String) throws -> URL {
        try write(document.derEncoded, name: name + ".p7s")
    }

    func write(_ bytes: [UInt8], name: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    /// `openssl cms -verify -binary -inform DER -content CONTENT -in FILE -CAfile CA -purpose any -out /dev/null [-cades]`
    func verify(_ file: URL, content: URL, cades: Bool) async throws -> Shell.Result {
        try await Shell.exec("openssl", [
            "cms", "-verify", "-binary", "-inform", "DER", "-content", content.path, "-in", file.path,
            "-CAfile", caPEM.path, "-purpose", "any", "-out", "/dev/null",
        ] + (cades ? ["-cades"] : []))
    }

    /// `openssl cms -cmsout -print -inform DER -in FILE`
    func print(_ file: URL) async throws -> String {
        let result = try await Shell.exec("openssl", ["cms", "-cmsout", "-print", "-inform", "DER", "-in", file.path])
        guard result.status == 0 else { throw Shell.Failure(message: "openssl cms -print: \(result.stderr)") }
        return result.stdout
    }

    /// The OCTET STRING that `openssl asn1parse` shows after the first occurrence of `oid`.
    func octetStringAfter(oid: String, in file: URL) async throws -> [UInt8] {
        let result = try await Shell.exec("openssl", ["asn1parse", "-inform", "DER", "-in", file.path])
        let lines = result.stdout.split(separator: "\n")
        guard let at = lines.firstIndex(where: { $0.hasSuffix(":" + oid) }),
            let octets = lines[at...].first(where: { $0.contains("OCTET STRING") && $0.contains("[HEX DUMP]:") }),
            let hex = octets.split(separator: ":").last
        else { throw Shell.Failure(message: "no OCTET STRING after \(oid) in asn1parse output") }
        return Self.bytes(hex: String(hex))
    }

    /// The `signature:` hex dumps of every SignerInfo in `openssl cms -print` output, in order.
    static func signatureHexDumps(_ printed: String) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var current: [UInt8]?
        let lines = printed.split(separator: "\n", omittingEmptySubsequences: false)
        // Certificates also print a "signature:"; the SignerInfos come after "signerInfos:".
        guard let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "signerInfos:" }) else { return [] }
        for line in lines[start...] {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed == "signature:" {
                current = []
                continue
            }
            guard current != nil else { continue }
            // "0000 - 78 65 8b ... 50-b3 6d ...   xe....5P": offset, dash, hex bytes, 3 spaces, text.
            let parts = trimmed.split(separator: " ", maxSplits: 2)
            if parts.count == 3, parts[0].count == 4, parts[0].allSatisfy(\.isHexDigit), parts[1] == "-" {
                let hexPart = parts[2].components(separatedBy: "   ")[0].replacingOccurrences(of: "-", with: " ")
                current! += hexPart.split(separator: " ").map { UInt8($0, radix: 16) ?? 0 }
            } else {
                result.append(current!)
                current = nil
            }
        }
        if let current { result.append(current) }
        return result
    }

    static func bytes(hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex), index < hex.endIndex {
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return bytes
    }

    static func range(of needle: [UInt8], in haystack: [UInt8]) -> Range<Int>? {
        guard needle.count <= haystack.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start..<(start + needle.count)
        }
        return nil
    }
}
