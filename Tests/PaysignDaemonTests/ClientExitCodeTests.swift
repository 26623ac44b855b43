import Foundation
import PaysignTestSupport
import Testing

/// The client's exit-code table in the README, command by command (issue 17): every command that
/// talks to the daemon exits 2 with one `paysign:` sentence when no daemon answers, and 1 with one
/// `paysign:` sentence when the daemon refuses (a Unix user with no role), never 0, never a trace.
@Suite("paysign exit codes, command by command", .serialized)
struct ClientExitCodeTests {
    let pki: TestPKI
    init() throws { pki = try TestPKI.forOtherProcesses() }

    /// Every command of the client that calls the daemon, with arguments it accepts, and whether it
    /// reads a PIN on standard input (`--pin-fd 0`).
    static func commands(files: Files) -> [(arguments: [String], pin: Bool)] {
        let serial = "0102"
        let hex = String(repeating: "ab", count: 32)
        return [
            (["tokens"], false),
            (["events", "--count", "1"], false),
            (["audit", "list"], false),
            (["audit", "verify"], false),
            (["audit", "sign-head", "--token", "pkcs11:token=officer1", "--pin-fd", "0"], true),
            (["operator", "add", "--user", "nobody", "--national-id", "29001010100017", "--name", "N", "--role", "auditor"], false),
            (["operator", "list"], false),
            (["operator", "set-roles", "1", "--role", "auditor"], false),
            (["operator", "remove", "1"], false),
            (["entity", "add", "--code", "EG-0909", "--name", "N"], false),
            (["entity", "list"], false),
            (["order", "create", files.payroll, "--entity", "EG-0101", "--kind", "salary", "--value-date", "2026-07-26"], false),
            (["order", "list"], false),
            (["order", "show", "1"], false),
            (["order", "review", "1", "--file-number", hex], false),
            (["order", "reject", "1", "--reason", "wrong month"], false),
            (["order", "export", "1", "--format", "csv"], false),
            (["sign", "1", "--first", "--token", "pkcs11:token=officer1", "--pin-fd", "0"], true),
            (["holder", "add", "nobody", "--entity", "EG-0101", "--first", "--national-id", "29001010100017", "--name", "N"], false),
            (["holder", "list"], false),
            (["holder", "remove", "nobody"], false),
            (["holder", "clear", "nobody"], false),
            (["holder", "death-notice", "nobody", "--date-of-death", "2026-01-01", "--notified-on", "2026-01-02", "--reference", "R-1"], false),
            (["holder", "set-retirement", "nobody", "--none"], false),
            (["token", "register", "--token", "pkcs11:token=officer1", "--holder", "nobody"], false),
            (["token", "list"], false),
            (["token", "issue", "--csr", files.csr, "--holder", "nobody", "--token", "pkcs11:token=officer1", "--out", files.unwritten, "--pin-fd", "0"], true),
            (["token", "certificate", serial], false),
            (["token", "activate", serial], false),
            (["token", "suspend", serial], false),
            (["token", "resume", serial], false),
            (["token", "surrender", serial, "--cause", "retirement"], false),
            (["token", "revoke", serial, "--cause", "loss"], false),
            (["crl", "issue", "--pin-fd", "0"], true),
            (["crl", "import", files.crl], false),
            (["report", "holders"], false),
            (["verify", "--daemon", files.document, files.signature], false),
            (["pin", "change", "--token", "pkcs11:token=officer1", "--old-pin-fd", "0", "--new-pin-fd", "0"], true),
        ]
    }

    /// Files the commands read, in a folder every test user can read.
    struct Files {
        let folder: URL
        var payroll: String { folder.appendingPathComponent("payroll.csv").path }
        var csr: String { folder.appendingPathComponent("request.pem").path }
        var crl: String { folder.appendingPathComponent("list.crl").path }
        var document: String { folder.appendingPathComponent("order.txt").path }
        var signature: String { folder.appendingPathComponent("order.p7s").path }
        /// Never written: a refused issuance leaves no file.
        var unwritten: String { folder.appendingPathComponent("never.pem").path }

        init() throws {
            folder = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-exit-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: folder.path)
            let payrollText = "beneficiary_id,id_type,name,account,amount_piasters\r\n29001010100017,national-id,Salem,1234567890123456,500000\r\n"
            for (path, text) in [(payroll, payrollText), (csr, "-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"),
                                 (crl, "not a list"), (document, "an order"), (signature, "not a signature")] {
                try Data(text.utf8).write(to: URL(fileURLWithPath: path))
                try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
            }
        }
    }

    func expectOneSentence(_ result: Shell.Result, _ status: Int32, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == status, "paysign \(arguments.joined(separator: " ")): \(result.stderr)", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1 && result.stderr.hasPrefix("paysign: "), "paysign \(arguments.joined(separator: " ")): \(result.stderr)",
                sourceLocation: sourceLocation)
    }

    @Test("no daemon: every command exits 2 with one sentence naming the socket")
    func noDaemon() throws {
        let files = try Files()
        defer { try? FileManager.default.removeItem(at: files.folder) }
        let socket = files.folder.appendingPathComponent("absent.sock").path
        for (arguments, pin) in Self.commands(files: files) + [(["health"], false), (["crl", "get"], false)] {
            let full = arguments + ["--socket", socket]
            let result = try Shell.run(TestPKI.paysignBinary, full, stdin: Data((pin ? "123456\n123456\n" : "").utf8))
            expectOneSentence(result, 2, full)
            #expect(result.stderr.contains("is paysignd running?"), "paysign \(full.joined(separator: " ")): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: files.unwritten))
    }

    @Test("a Unix user with no role: every command the daemon refuses exits 1 with one sentence; health exits 0")
    func refused() throws {
        let daemon = try DaemonProcess(pki: pki, socketGroup: UnixUsers.group)
        defer { _ = daemon.stop() }
        let files = try Files()
        defer { try? FileManager.default.removeItem(at: files.folder) }
        // No operator maps this user: it has no role, and every act is refused.
        let stranger = UnixUsers.officer3
        for (arguments, pin) in Self.commands(files: files) {
            let full = arguments + ["--socket", daemon.socket]
            let result = try UnixUsers.paysign(as: stranger, full, stdin: Data((pin ? "123456\n123456\n" : "").utf8))
            expectOneSentence(result, 1, full)
        }
        #expect(!FileManager.default.fileExists(atPath: files.unwritten))
        let health = try UnixUsers.paysign(as: stranger, ["health", "--socket", daemon.socket])
        #expect(health.status == 0 && health.stdout.hasPrefix("paysignd "), "\(health.stderr)")
        // No list issued yet: not found, a refusal too.
        expectOneSentence(try UnixUsers.paysign(as: stranger, ["crl", "get", "--socket", daemon.socket]), 1, ["crl", "get"])
    }
}
