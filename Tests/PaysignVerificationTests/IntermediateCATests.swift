import Foundation
import PaysignTestSupport
import Testing

/// A CA hierarchy (issue 6): a root, an issuing CA under it, and the signers' certificates issued
/// by that CA for the keys on the test PKI's SoftHSM tokens. The payment center gives the issuing
/// CA with `--intermediates` and both CAs' revocation lists; the signer's certificate and the
/// issuing CA itself are each looked up in their issuer's list (RFC 5280 6.3, rule D6). OpenSSL
/// (`openssl ca`, `openssl cms -verify`) makes the hierarchy and judges the genuine order.
@Suite("Intermediate CAs: chains and revocation", .serialized)
struct IntermediateCATests {
    let bench: Bench
    let hierarchy: Hierarchy

    init() throws {
        bench = try Bench.shared.get()
        hierarchy = try Hierarchy.shared.get()
    }

    func verify(_ extra: [String], signature: String = "hierarchy.p7s") async throws -> Shell.Result {
        try await bench.paysign(["verify", bench.path("order.txt"), hierarchy.path(signature), "--trust-anchors", hierarchy.path("root.pem")] + extra)
    }

    @Test("an order signed under an issuing CA is valid with the CA and both lists given, and openssl cms -verify agrees")
    func valid() async throws {
        let result = try await verify(["--intermediates", hierarchy.path("issuing.pem"), "--crl", hierarchy.path("root-empty.crl"),
                                       "--crl", hierarchy.path("issuing-empty.crl"), "--json"])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("nor intermediate CA on their paths was revoked"), "\(result.stdout)")
        // `openssl cms` (3.0) builds chains only from the SignedData's certificates and -CAfile, so
        // the issuing CA goes in with the root there.
        let openssl = try await Shell.exec("openssl", [
            "cms", "-verify", "-binary", "-inform", "DER", "-content", bench.path("order.txt"), "-in", hierarchy.path("hierarchy.p7s"),
            "-CAfile", hierarchy.path("root-and-issuing.pem"), "-purpose", "any", "-out", "/dev/null",
        ])
        #expect(openssl.status == 0, "\(openssl.stderr)")
    }

    @Test("D6: the issuing CA revoked in the root's list makes the order invalid, naming the CA")
    func revokedAuthority() async throws {
        let result = try await verify(["--intermediates", hierarchy.path("issuing.pem"), "--crl", hierarchy.path("root-revoked.crl"),
                                       "--crl", hierarchy.path("issuing-empty.crl")])
        #expect(result.status == 1, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("revocation-at-trusted-time"), "\(result.stdout)")
        #expect(result.stdout.contains("the CA certificate Issuing CA (TEST) on its path was revoked"), "\(result.stdout)")
        #expect(result.stdout.contains("keyCompromise"), "\(result.stdout)")
    }

    @Test("without the root's list the issuing CA cannot be checked: exit 2, never valid")
    func authorityWithoutList() async throws {
        let result = try await verify(["--intermediates", hierarchy.path("issuing.pem"), "--crl", hierarchy.path("issuing-empty.crl")])
        #expect(result.status == 2, "\(result.stdout) \(result.stderr)")
        #expect(result.stderr.contains("revocation-at-trusted-time"), "\(result.stderr)")
        #expect(result.stdout.contains("the issuer of the CA certificate Issuing CA (TEST) on its path"), "\(result.stdout)")
    }

    @Test("without the issuing CA the chain cannot be built: certificate-chain fails")
    func noIntermediate() async throws {
        let result = try await verify(["--crl", hierarchy.path("root-empty.crl")])
        #expect(result.status == 1, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("certificate-chain"), "\(result.stdout)")
    }

    @Test("an issuing CA's list signed by another key, a partial, delta or not understood list, or an intermediate from nowhere, is refused before any order: exit 2")
    func forgeries() async throws {
        var result = try await verify(["--intermediates", hierarchy.path("issuing.pem"), "--crl", hierarchy.path("root-empty.crl"),
                                       "--crl", hierarchy.path("forged-issuing.crl")])
        #expect(result.status == 2, "\(result.stdout) \(result.stderr)")
        #expect(result.stderr.contains("is not signed by any trust anchor or intermediate given"), "\(result.stderr)")

        result = try await verify(["--intermediates", hierarchy.path("forged-issuing.pem"), "--crl", hierarchy.path("root-empty.crl")])
        #expect(result.status == 2, "\(result.stdout) \(result.stderr)")
        #expect(result.stderr.contains("does not chain to any trust anchor"), "\(result.stderr)")

        // A list that is not its issuer's complete one would let a revoked certificate read as not listed.
        for (section, sentence) in [("only_user_certificates", "covers only part of its issuer's certificates"),
                                    ("delta", "is a delta CRL"), ("unknown_critical", "critical extension paysign does not understand (1.3.6.1.4.1.99999.1)")] {
            result = try await verify(["--intermediates", hierarchy.path("issuing.pem"), "--crl", hierarchy.path("root-\(section).crl"),
                                       "--crl", hierarchy.path("issuing-empty.crl")])
            #expect(result.status == 2, "\(section): \(result.stdout) \(result.stderr)")
            #expect(result.stderr.contains(sentence), "\(section): \(result.stderr)")
        }

        result = try await verify(["--intermediates", hierarchy.path("missing.pem")])
        #expect(result.status == 2)
        #expect(result.stderr.contains("do not exist"), "\(result.stderr)")
    }
}

/// The hierarchy and the order signed under it, made once per process beside the shared bench.
struct Hierarchy: Sendable {
    let directory: String

    func path(_ name: String) -> String { directory + "/" + name }

    static let shared: Result<Hierarchy, any Error> = Result { try Hierarchy(bench: try Bench.shared.get()) }

    private init(bench: Bench) throws {
        directory = bench.path("hierarchy")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let dir = directory
        func run(_ executable: String, _ arguments: [String]) throws {
            let result = try Shell.run(executable, arguments)
            guard result.status == 0 else { throw Shell.Failure(message: "\(executable) \(arguments): \(result.stderr)") }
        }
        // Two CA databases (`openssl ca`): the root's and the issuing CA's.
        let config = """
            [req]
            distinguished_name = dn
            [dn]
            [authority]
            basicConstraints = critical,CA:TRUE
            keyUsage = critical,keyCertSign,cRLSign
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid
            [signer]
            basicConstraints = critical,CA:FALSE
            keyUsage = critical,digitalSignature,nonRepudiation
            [root_ca]
            database = \(dir)/root-index.txt
            default_md = sha256
            default_crl_days = 7
            [issuing_ca]
            database = \(dir)/issuing-index.txt
            default_md = sha256
            default_crl_days = 7
            [only_user_certificates]
            issuingDistributionPoint = critical, @idp
            [idp]
            onlyuser = TRUE
            [delta]
            2.5.29.27 = critical, DER:02:01:01
            [unknown_critical]
            1.3.6.1.4.1.99999.1 = critical, DER:05:00

            """
        let cnf = dir + "/openssl.cnf"
        try config.write(toFile: cnf, atomically: true, encoding: .utf8)
        for index in ["root-index.txt", "issuing-index.txt"] { _ = FileManager.default.createFile(atPath: dir + "/" + index, contents: Data()) }

        try run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/root.key", "-sha256", "-days", "30",
                            "-subj", "/C=EG/O=Ministry of Finance (TEST)/CN=Hierarchy Root (TEST)", "-config", cnf, "-extensions", "authority",
                            "-out", dir + "/root.pem"])
        try run("openssl", ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/issuing.key",
                            "-subj", "/C=EG/O=Ministry of Finance (TEST)/CN=Issuing CA (TEST)", "-config", cnf, "-out", dir + "/issuing.csr"])
        try run("openssl", ["x509", "-req", "-in", dir + "/issuing.csr", "-CA", dir + "/root.pem", "-CAkey", dir + "/root.key",
                            "-set_serial", "0x1001", "-sha256", "-days", "30", "-extfile", cnf, "-extensions", "authority",
                            "-out", dir + "/issuing.pem"])
        try (String(contentsOfFile: dir + "/root.pem", encoding: .utf8) + String(contentsOfFile: dir + "/issuing.pem", encoding: .utf8))
            .write(toFile: dir + "/root-and-issuing.pem", atomically: true, encoding: .utf8)
        // The same name under a key of its own: a look-alike that chains to nothing.
        try run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/forged-issuing.key", "-sha256", "-days", "30",
                            "-subj", "/C=EG/O=Ministry of Finance (TEST)/CN=Issuing CA (TEST)", "-config", cnf, "-extensions", "authority",
                            "-out", dir + "/forged-issuing.pem"])

        // The signers' certificates from the issuing CA, for the keys on their tokens.
        let signers = [("officer1", "/C=EG/O=Test Entity EG-0101/OU=first-signature/CN=Officer One/serialNumber=28001010100011", "0x2001"),
                       ("ministry", "/C=EG/O=Test Entity EG-0101/OU=second-signature/CN=MoF Representative/serialNumber=27503030100033", "0x2002")]
        for (token, subject, serial) in signers {
            let key = try Shell.run("openssl", ["x509", "-in", bench.pki.certificatePEM(token).path, "-pubkey", "-noout"])
            try key.stdout.write(toFile: dir + "/\(token).pub.pem", atomically: true, encoding: .utf8)
            try run("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", dir + "/throwaway.key",
                                "-subj", subject, "-config", cnf, "-out", dir + "/\(token).csr"])
            try run("openssl", ["x509", "-req", "-in", dir + "/\(token).csr", "-force_pubkey", dir + "/\(token).pub.pem",
                                "-CA", dir + "/issuing.pem", "-CAkey", dir + "/issuing.key", "-set_serial", serial, "-sha256", "-days", "30",
                                "-extfile", cnf, "-extensions", "signer", "-out", dir + "/\(token).pem"])
        }
        let tool = BuiltProducts.path("paysign-make-orders")
        try run(tool, ["sign", "--pki", bench.pki.directory.path, "--content", bench.path("order.txt"), "--token", "officer1", "--role", "first",
                       "--cert", dir + "/officer1.pem", "--out", dir + "/hierarchy-first.p7s"])
        try run(tool, ["sign", "--pki", bench.pki.directory.path, "--content", bench.path("order.txt"), "--token", "ministry", "--role", "second",
                       "--cert", dir + "/ministry.pem", "--bind-to", dir + "/hierarchy-first.p7s", "--out", dir + "/hierarchy.p7s"])

        // The lists: both empty; then the root's revoking the issuing CA; and a forged one.
        func crl(_ section: String, key: String, cert: String, out: String, extensions: String? = nil) throws {
            try run("openssl", ["ca", "-gencrl", "-config", cnf, "-name", section, "-keyfile", dir + "/" + key, "-cert", dir + "/" + cert,
                                "-out", dir + "/" + out] + (extensions.map { ["-crlexts", $0] } ?? []))
        }
        try crl("root_ca", key: "root.key", cert: "root.pem", out: "root-empty.crl")
        try crl("issuing_ca", key: "issuing.key", cert: "issuing.pem", out: "issuing-empty.crl")
        try run("openssl", ["ca", "-config", cnf, "-name", "root_ca", "-keyfile", dir + "/root.key", "-cert", dir + "/root.pem",
                            "-revoke", dir + "/issuing.pem", "-crl_reason", "keyCompromise"])
        try crl("root_ca", key: "root.key", cert: "root.pem", out: "root-revoked.crl")
        try crl("issuing_ca", key: "forged-issuing.key", cert: "forged-issuing.pem", out: "forged-issuing.crl")
        // Lists that are not their issuer's complete list (RFC 5280 5.2.4, 5.2.5, 5.2).
        for section in ["only_user_certificates", "delta", "unknown_critical"] {
            try crl("root_ca", key: "root.key", cert: "root.pem", out: "root-\(section).crl", extensions: section)
        }
    }
}
