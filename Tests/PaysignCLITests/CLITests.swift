import Foundation
import PaysignTestSupport
import Testing

/// The `paysign` client as a user runs it: a separate process, its own SOFTHSM2_CONF, real tokens.
@Suite("paysign, the command-line client")
struct CLITests {
    let pki: TestPKI

    init() throws { pki = try TestPKI.forOtherProcesses() }

    static var binary: String { TestPKI.paysignBinary }

    /// Runs the client with this suite's tokens. Only SoftHSM is loaded (PAYSIGN_PKCS11_MODULE)
    /// unless `allModules`: OpenSC, also registered with p11-kit, takes seconds to probe a card.
    func paysign(_ arguments: [String], stdin: String? = nil, allModules: Bool = false) async throws -> Shell.Result {
        var environment = ProcessInfo.processInfo.environment
        environment["SOFTHSM2_CONF"] = pki.directory.appendingPathComponent("softhsm2.conf").path
        environment["PAYSIGN_PKCS11_MODULE"] = allModules ? nil : TestPKI.softHSMModule
        return try await Shell.exec(Self.binary, arguments, stdin: stdin.map { Data($0.utf8) }, environment: environment)
    }

    @Test("paysign tokens --json lists the SoftHSM tokens of the SOFTHSM2_CONF it is given")
    func tokensJSON() async throws {
        let result = try await paysign(["tokens", "--local", "--json", "--no-readers"], allModules: true)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let tokens = try #require(object["tokens"] as? [[String: Any]])
        let labels = Set(tokens.compactMap { $0["label"] as? String })
        #expect(labels.isSuperset(of: ["officer1", "officer2", "ministry", "expired", "clerk"]))
        let officer1 = try #require(tokens.first { $0["label"] as? String == "officer1" })
        #expect(officer1["pinState"] as? String == "ok")
        let certificates = try #require(officer1["certificates"] as? [[String: Any]])
        #expect(certificates.first?["serial"] as? String == pki.token("officer1").certificateSerial)
        #expect((officer1["uri"] as? String)?.hasPrefix("pkcs11:") == true)
        let modules = try #require(object["modules"] as? [[String: Any]])
        #expect(modules.contains { $0["name"] as? String == "softhsm2" })
    }

    @Test("paysign tokens prints readable text")
    func tokensText() async throws {
        let result = try await paysign(["tokens", "--local", "--no-readers"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Token 'officer1'"))
        #expect(result.stdout.contains("CN=Officer One"))
        #expect(result.stdout.contains("(expired)"))
    }

    @Test("paysign sign writes a signature that OpenSSL verifies; the PIN comes on a file descriptor")
    func sign() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let message = dir.appendingPathComponent("order.txt")
        try Data("order 1".utf8).write(to: message)
        let signature = dir.appendingPathComponent("order.sig")
        let result = try await paysign(
            ["sign-file", "--key", "pkcs11:token=officer2;id=%01", "--in", message.path, "--out", signature.path,
             "--pin-fd", "0", "--json"], stdin: pki.token("officer2").pin + "\n")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"algorithm\" : \"ecdsa-sha256\""))
        #expect(!result.stdout.contains(pki.token("officer2").pin))
        let bytes = try [UInt8](Data(contentsOf: signature))
        #expect(try Shell.opensslVerifies(signature: bytes, message: Array("order 1".utf8), certificate: pki.certificatePEM("officer2")))
    }

    @Test("bad input: one sentence on stderr and the documented exit status", arguments: [
        (["tokens", "--local", "--module", "/nonexistent/libnothing.so"], Int32(2), "does not exist"),
        (["sign-file", "--key", "token=officer1", "--in", "/etc/hostname", "--out", "/tmp/x"], 2, "must start with 'pkcs11:'"),
        (["sign-file", "--key", "pkcs11:token=nobody", "--in", "/etc/hostname", "--out", "/tmp/x", "--pin-fd", "0"], 1, "no token matches"),
        (["sign-file", "--key", "pkcs11:token=ministry", "--in", "/etc/hostname", "--out", "/tmp/paysign-never", "--pin-fd", "0"], 1, "wrong PIN for token 'ministry'"),
        (["sign-file", "--key", "pkcs11:token=expired", "--in", "/etc/hostname", "--out", "/tmp/paysign-never", "--pin-fd", "0"], 1, "expired on 2020-12-31"),
        (["sign-file", "--key", "pkcs11:token=officer1?pin-value=111111", "--in", "/etc/hostname", "--out", "/tmp/x"], 1, "rule D5"),
        (["sign-file", "--key", "pkcs11:token=officer1", "--in", "/nonexistent", "--out", "/tmp/x"], 2, "cannot read /nonexistent"),
        // The argument parser's usage errors (issue 17): status 2 and one sentence, as the README says.
        (["helth"], 2, "Unexpected argument 'helth'"),
        (["health", "--jsn"], 2, "Unknown option '--jsn'"),
        (["sign", "1", "--first", "--second", "--token", "pkcs11:token=officer1"], 2, "exactly one of --first and --second"),
        (["order", "list", "--limit", "abc"], 2, "--limit"),
        (["order", "export", "1", "--format", "xml"], 2, "pdf, xlsx, html, csv, file, document, p7s, p7s-pem"),
        (["order", "export", "1", "--format", "p7s", "--json"], 2, "--json means nothing here"),
        (["crl", "get", "--json"], 2, "--json means nothing here"),
        (["report", "holders", "--json", "--format", "csv"], 2, "give --json or --format csv, not both"),
    ])
    func badInput(arguments: [String], status: Int32, phrase: String) async throws {
        let result = try await paysign(arguments, stdin: "000000\n")
        #expect(result.status == status, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("paysign: "))
        #expect(result.stderr.contains(phrase), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/paysign-never"))
    }

    @Test("issue 21: paysign tokens --local --diagnose --json, field by field; the mechanism follows what the token offers; no PIN, no login")
    func diagnose() async throws {
        func report(_ extra: [String: String] = [:], token: String = "pkcs11:token=officer1") async throws -> [String: Any] {
            var environment = ProcessInfo.processInfo.environment
            environment["SOFTHSM2_CONF"] = pki.directory.appendingPathComponent("softhsm2.conf").path
            environment["PAYSIGN_PKCS11_MODULE"] = TestPKI.softHSMModule
            for (key, value) in extra { environment[key] = value }
            let result = try await Shell.exec(Self.binary, ["tokens", "--local", "--diagnose", "--json", "--token", token], environment: environment)
            #expect(result.status == 0, "\(result.stderr)")
            return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        }
        let full = try await report()
        let modules = try #require(full["modules"] as? [[String: Any]])
        #expect(modules.contains { $0["libraryManufacturer"] as? String == "SoftHSM" && $0["path"] as? String == TestPKI.softHSMModule })
        #expect(full["generatedAt"] is String)
        let slots = try #require(full["slots"] as? [[String: Any]])
        #expect(slots.count == 1, "--token keeps one slot")
        let slot = try #require(slots.first)
        #expect((slot["flags"] as? [String])?.contains("token-present") == true)
        let token = try #require(slot["token"] as? [String: Any])
        #expect(token["label"] as? String == "officer1")
        #expect(token["model"] as? String == "SoftHSM v2")
        #expect(Set(token["flags"] as? [String] ?? []).isSuperset(of: ["token-initialized", "login-required"]))
        #expect(token["pinState"] as? String == "ok")
        #expect(token["minPINLength"] as? Int == 4 && token["maxPINLength"] as? Int == 255)
        let mechanisms = try #require(slot["mechanisms"] as? [[String: Any]])
        let hashing = try #require(mechanisms.first { $0["name"] as? String == "CKM_SHA256_RSA_PKCS" })
        #expect(hashing["type"] as? String == "0x40")
        #expect((hashing["flags"] as? [String])?.contains("sign") == true)
        #expect((hashing["minKeySize"] as? Int ?? .max) <= 2048 && (hashing["maxKeySize"] as? Int ?? 0) >= 2048)
        let objects = try #require(slot["objects"] as? [[String: Any]])
        let certificate = try #require(objects.first { $0["objectClass"] as? String == "certificate" })
        #expect((certificate["subject"] as? String)?.contains("CN=Officer One") == true)
        #expect(certificate["serial"] as? String == pki.token("officer1").certificateSerial)
        let publicKey = try #require(objects.first { $0["objectClass"] as? String == "public-key" })
        #expect(publicKey["keyType"] as? String == "rsa" && publicKey["bits"] as? Int == 2048)
        #expect(!objects.contains { $0["objectClass"] as? String == "private-key" }, "no login: no private key")
        let key = try #require((slot["keys"] as? [[String: Any]])?.first)
        #expect(key["id"] as? String == "01")
        #expect(key["algorithm"] as? String == "rsa-pkcs1-sha256")
        #expect(key["mechanism"] as? String == "CKM_SHA256_RSA_PKCS")
        #expect((key["reason"] as? String)?.contains("hashes and signs") == true)

        // A token that does not hash (the seam hides every mechanism but CKM_RSA_PKCS).
        let plain = try await report(["PAYSIGN_PKCS11_FAULTS": "C_GetMechanismList:only=CKM_RSA_PKCS"])
        let plainSlot = try #require((plain["slots"] as? [[String: Any]])?.first)
        #expect((plainSlot["mechanisms"] as? [[String: Any]])?.map { $0["name"] as? String } == ["CKM_RSA_PKCS"])
        let plainKey = try #require((plainSlot["keys"] as? [[String: Any]])?.first)
        #expect(plainKey["mechanism"] as? String == "CKM_RSA_PKCS")
        #expect((plainKey["reason"] as? String)?.contains("DigestInfo") == true)
        // An EC token offered no CKM_ECDSA: no mechanism, and why.
        let lacking = try await report(["PAYSIGN_PKCS11_FAULTS": "C_GetMechanismList:only=CKM_RSA_PKCS"], token: "pkcs11:token=officer2")
        let lackingKey = try #require(((lacking["slots"] as? [[String: Any]])?.first?["keys"] as? [[String: Any]])?.first)
        #expect(lackingKey["mechanism"] == nil || lackingKey["mechanism"] is NSNull)
        #expect((lackingKey["reason"] as? String)?.contains("does not offer CKM_ECDSA") == true)

        // Usage: --diagnose reads in process; a URI that names no token is a refusal.
        #expect(try await paysign(["tokens", "--diagnose"]).status == 2)
        let none = try await paysign(["tokens", "--local", "--diagnose", "--token", "pkcs11:token=nobody"])
        #expect(none.status == 1 && none.stderr.hasPrefix("paysign: no token matches"), "\(none.stderr)")
    }

    @Test("a usage error in every command, from the argument parser's own list: exit 2, one sentence starting paysign:")
    func usageErrorInEveryCommand() async throws {
        let dump = try await paysign(["--experimental-dump-help"])
        let root = try #require(try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any])
        var leaves: [[String]] = []
        func walk(_ command: [String: Any], _ path: [String]) {
            let subcommands = command["subcommands"] as? [[String: Any]] ?? []
            if subcommands.isEmpty, let name = command["commandName"] as? String, name != "help" { leaves.append(path + [name]) }
            for sub in subcommands { walk(sub, path + [command["commandName"] as? String ?? ""]) }
        }
        walk(try #require(root["command"] as? [String: Any]), [])
        #expect(leaves.count >= 45, "\(leaves.count) commands")
        for leaf in leaves {
            let arguments = Array(leaf.dropFirst()) + ["--no-such-option"]
            let result = try await paysign(arguments)
            #expect(result.status == 2, "paysign \(arguments.joined(separator: " ")): \(result.status) \(result.stderr)")
            #expect(result.stderr.hasPrefix("paysign: ") && result.stderr.split(separator: "\n").count == 1,
                    "paysign \(arguments.joined(separator: " ")): \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
    }

    @Test("paysign --version prints the version the daemon prints; --help exits 0")
    func version() async throws {
        let client = try await paysign(["--version"], stdin: "")
        #expect(client.status == 0 && client.stderr.isEmpty, "\(client.stderr)")
        let daemonBinary = URL(fileURLWithPath: TestPKI.paysignBinary).deletingLastPathComponent().appendingPathComponent("paysignd").path
        let daemon = try Shell.run(daemonBinary, ["--version"])
        #expect(client.stdout == daemon.stdout && !client.stdout.isEmpty, "paysign \(client.stdout) / paysignd \(daemon.stdout)")
        #expect(try await paysign(["--help"], stdin: "").status == 0)
        // Completions offer the values of the options that take a word from a list.
        let bash = try await paysign(["--generate-completion-script", "bash"], stdin: "")
        for value in ["p7s-pem", "pin-disclosed", "certification-authority", "foreign-non-resident"] {
            #expect(bash.stdout.contains(value), "the bash completion offers \(value)")
        }
    }

    @Test("paysign pin change changes the PIN; paysign sign then needs the new one")
    func pinChange() async throws {
        let token = "pkcs11:token=clerk"
        // Both PINs on standard input, one per line: fd 0 is read line by line.
        let changed = try await paysign(["pin", "change", "--local", "--token", token, "--old-pin-fd", "0", "--new-pin-fd", "0"], stdin: pki.token("clerk").pin + "\n24681357\n")
        #expect(changed.status == 0, "\(changed.stderr)")
        let back = try await paysign(["pin", "change", "--local", "--token", token, "--old-pin-fd", "0", "--new-pin-fd", "0"], stdin: "24681357\n" + pki.token("clerk").pin + "\n")
        #expect(back.status == 0, "\(back.stderr)")
    }
}

@Suite("paysign order validate")
struct OrderValidateTests {
    func write(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-order-\(UUID().uuidString).csv")
        try Data(text.utf8).write(to: url)
        return url
    }

    @Test("a valid salary file: exit 0, and the file number is sha256sum's digest in groups (D9)")
    func valid() async throws {
        let file = try write("beneficiary_id,id_type,name,account,amount_piasters\r\n29001010100017,national-id,\"Salem, Ahmed\",1234567890123456,500000\r\n")
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try await Shell.exec(TestPKI.paysignBinary, ["order", "validate", file.path, "--entity", "EG-0101", "--kind", "salary",
                                                                  "--value-date", "2026-07-26", "--today", "2026-07-01", "--json"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let digest = try Shell.run("sha256sum", [file.path]).stdout.split(separator: " ").first.map(String.init) ?? ""
        #expect((report["fileNumber"] as? String)?.replacingOccurrences(of: "-", with: "") == digest)
        #expect(report["totalPiasters"] as? Int == 500000)
    }

    @Test("an invalid file: exit 1 and every problem with its line and rule")
    func invalid() async throws {
        let file = try write("beneficiary_id,id_type,name,account,amount_piasters\n29001010100017,national-id,A,1234567890123456,500000\n29001010100017,national-id,B,1234567890123457,3000000\n")
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try await Shell.exec(TestPKI.paysignBinary, ["order", "validate", file.path, "--entity", "EG-0101", "--kind", "salary",
                                                                  "--value-date", "2026-07-24", "--today", "2026-07-01"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("valueDate (D10)"))
        #expect(result.stdout.contains("line 3, beneficiary_id"))
        #expect(result.stdout.contains("line 3, amount_piasters (D12)"))
        let bad = try await Shell.exec(TestPKI.paysignBinary, ["order", "validate", file.path, "--entity", "EG-0101", "--kind", "salary", "--value-date", "26/07/2026"])
        #expect(bad.status == 2)
        #expect(bad.stderr.hasPrefix("paysign: --value-date must be YYYY-MM-DD"))
    }
}
