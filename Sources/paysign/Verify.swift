import ArgumentParser
import Foundation
import PaysignAPI
import PaysignClient
import PaysignDomain
import PaysignOpenSSL
import PaysignVerification

/// `paysign verify`: the payment center's offline check of signed payment orders (issue 6), in
/// process, without the daemon. The engine is `PaysignVerification`; the rules are
/// `PaysignDomain.OrderVerification`.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify signed payment orders offline: both signatures, certificates, revocation, roles, order.",
        discussion: """
            paysign verify ORDER.txt ORDER.p7s [--file PAYROLL.csv] checks one order: the document is \
            the exact signed bytes ('paysign order export ID --format document'), the .p7s its \
            signatures ('--format p7s'). Every check is reported by name: cms-structure, \
            order-document, first-signature, second-signature, certificate-chain, \
            validity-at-trusted-time, revocation-at-trusted-time, signer-count-and-order, binding, \
            distinct-signers, roles, file-number (rules D2, D6, D9, D13).

            paysign verify --batch FOLDER --out DIR checks every NAME.txt + NAME.p7s pair of FOLDER \
            (with NAME.csv, the payroll file, when present) on all cores, and writes NAME.json per \
            order, summary.json and summary.txt into DIR.

            Trust anchors: --trust-anchors, else PAYSIGN_TRUST_ANCHORS, else /etc/paysign/trust. \
            Issuing CAs between a root and the signers: --intermediates (each must chain to an \
            anchor), or carried in the .p7s. Revocation: every --crl must be a CRL signed by a trust \
            anchor or a given intermediate; the signer's certificate and every intermediate CA on \
            its path are looked up in their issuer's list; one whose issuer has no list given \
            cannot be checked (exit 2). The trusted time is --at, else now; a signer's own \
            signing-time attribute is reported, never trusted. A signature with an RFC 3161 \
            time-stamp token that verifies (TSA under the trust anchors, EKU timeStamping) is \
            judged at the token's time instead; one that does not verify fails \
            validity-at-trusted-time.

            paysign verify --daemon ORDER.txt ORDER.p7s [--file PAYROLL.csv] [--present] sends the \
            order to paysignd (POST /v1/verifications) instead: the daemon's trust anchors and the \
            CRLs it holds, validity and revocation at the time the daemon first registered the \
            order's signatures, and the check not-presented-before (a second presentation of the \
            same order or file number is a replay). --present presents it for payment (the \
            payment-center role): a valid order is recorded, and from then on refused as a replay. \
            Without --present the order is only checked, and nothing is recorded.

            Exit status: 0 valid, 1 invalid (a check failed; or the daemon refused the request), 2 \
            could not check (a missing or bad trust anchor or CRL, a check that lacked evidence, \
            unreadable input, no daemon).
            """)

    @Argument(help: "The order document: the exact signed bytes.") var order: String?
    @Argument(help: "The detached CMS signatures of the order (.p7s, DER).") var signature: String?
    @Option(name: .customLong("file"), help: "The payroll file: its SHA-256 must be the document's file number (D9).")
    var payroll: String?
    @Option(name: .customLong("trust-anchors"), help: ArgumentHelp("Root certificates: a PEM/DER file or a folder of them.", valueName: "dir-or-pem"))
    var trustAnchors: String?
    @Option(help: ArgumentHelp("Intermediate CA certificates: a PEM/DER file or a folder of them.", valueName: "dir-or-pem"))
    var intermediates: String?
    @Option(name: .customLong("crl"), help: ArgumentHelp("A complete revocation list (DER or PEM), signed by a trust anchor or an intermediate given (repeatable).", valueName: "file"))
    var crls: [String] = []
    @Option(help: ArgumentHelp("The trusted time, ISO 8601 (2026-11-24T10:00:00Z or 2026-11-24); default: now.", valueName: "time"))
    var at: String?
    @Flag(help: "Print the report (or the batch summary) as JSON.") var json = false
    @Option(help: ArgumentHelp("Also write the report as an HTML page (in a batch: NAME.html beside each NAME.json).", valueName: "file"))
    var html: String?
    @Option(help: ArgumentHelp("Verify every NAME.txt + NAME.p7s pair of this folder.", valueName: "folder")) var batch: String?
    @Option(help: ArgumentHelp("Where a batch writes its reports and summary.", valueName: "dir")) var out: String?
    @Option(help: "Threads for a batch (default: every core).") var jobs: Int?
    @Flag(help: "Have paysignd verify it (its anchors and CRLs, trusted time of first registration, replays).") var daemon = false
    @Flag(help: "With --daemon: present the order for payment (payment center); a valid order is recorded.") var present = false
    @Option(help: ArgumentHelp("With --daemon: the daemon's socket (default: PAYSIGN_SOCKET, else /run/paysign/paysign.sock).", valueName: "path"))
    var socket: String?
    @Option(name: .customLong("idempotency-key"), help: ArgumentHelp("With --present: a retry with the same key gets the first answer back.", valueName: "key"))
    var idempotencyKey: String?

    static let defaultAnchors = "/etc/paysign/trust"

    func validate() throws {
        if batch != nil {
            guard order == nil, signature == nil, payroll == nil else {
                throw ValidationError("--batch takes no ORDER, ORDER.p7s or --file: the folder holds them")
            }
            guard out != nil else { throw ValidationError("--batch needs --out DIR for the reports") }
        } else {
            guard order != nil, signature != nil else { throw ValidationError("give ORDER and ORDER.p7s, or --batch FOLDER --out DIR") }
            guard out == nil, jobs == nil else { throw ValidationError("--out and --jobs go with --batch") }
        }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if daemon {
            guard batch == nil else { throw ValidationError("--daemon verifies one order: give ORDER and ORDER.p7s, not --batch") }
            guard trustAnchors == nil, intermediates == nil, crls.isEmpty, at == nil else {
                throw ValidationError("with --daemon the daemon's trust anchors, CRLs and trusted time are used: drop --trust-anchors, --intermediates, --crl and --at")
            }
        } else {
            guard !present, socket == nil, idempotencyKey == nil else { throw ValidationError("--present, --socket and --idempotency-key go with --daemon") }
        }
        if idempotencyKey != nil && !present { throw ValidationError("--idempotency-key goes with --present") }
    }

    func run() throws {
        if let order, let signature { try Self.checkInputs(document: order, signature: signature) }
        if daemon, let order, let signature { return try runOnDaemon(order: order, signature: signature) }
        let verifier: OrderVerifier
        do {
            let anchors = try TrustMaterial.anchors(at: try anchorPath())
            let between = try intermediates.map(TrustMaterial.intermediates(at:)) ?? []
            let lists = try crls.map(TrustMaterial.revocationList(at:))
            verifier = try OrderVerifier(anchors: anchors, intermediates: between, revocationLists: lists, at: try trustedTime())
        } catch let error as VerificationSetupError {
            throw Failure.usage(error.message)
        }
        if let batch { return try runBatch(batch, verifier: verifier) }
        guard let order, let signature else { return }

        var payrollFacts: PayrollFileFacts?
        if let payroll {
            do {
                let (digest, count) = try SHA256.hashFile(atPath: payroll)
                payrollFacts = PayrollFileFacts(sha256: digest, byteCount: count)
            } catch {
                throw Failure.usage("the payroll file \(payroll) cannot be read")
            }
        }
        let report = verifier.verify(name: order, documentPath: order, signaturePath: signature, payrollFile: payrollFacts)
        try finish(report, order: order, json: json ? try ReportRendering.json(report) : nil)
    }

    /// What a user gets wrong before any check can run: a file that is not there or cannot be
    /// read, and the two files given the wrong way round (the signature first). Each is a usage
    /// error (status 2: "could not check"), never a verdict on the order.
    static func checkInputs(document: String, signature: String) throws {
        for (path, what) in [(document, "order document"), (signature, "signature file")] {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw Failure.usage("the \(what) \(path) cannot be read (\(FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file"))")
            }
        }
        // A DER SignedData starts with a SEQUENCE (0x30) and its content-type OID; an order
        // document is UTF-8 text. The first bytes tell which is which.
        func looksLikeDER(_ path: String) -> Bool {
            guard let handle = FileHandle(forReadingAtPath: path) else { return false }
            defer { try? handle.close() }
            let head = [UInt8]((try? handle.read(upToCount: 16)) ?? Data())
            return head.count >= 2 && head[0] == 0x30 && head[1] >= 0x80
        }
        if looksLikeDER(document) && !looksLikeDER(signature) {
            throw Failure.usage("\(document) looks like the signature file (DER) and \(signature) like the document: give the order document first, then its .p7s")
        }
    }

    /// Prints the report (the JSON given, or text), writes the HTML page, exits by the verdict.
    private func finish(_ report: VerificationReport, order: String, json: Data?) throws {
        if let json {
            FileHandle.standardOutput.write(json)
            FileHandle.standardOutput.write(Data("\n".utf8))
        } else {
            FileHandle.standardOutput.write(Data(ReportRendering.text(report).utf8))
        }
        if let html {
            do {
                try Data(ReportRendering.html(report).utf8).write(to: URL(fileURLWithPath: html))
            } catch {
                throw Failure.usage("the HTML report cannot be written to \(html)")
            }
        }
        switch report.verdict {
        case .valid: return
        case .invalid:
            throw Failure.refused("\(order) is not a valid signed order: \(report.failedChecks.map(\.rawValue).joined(separator: ", ")) failed")
        case .indeterminate:
            let reason = report.checks.first { $0.status == .indeterminate }.map { "\($0.name.rawValue): \($0.reason)" } ?? ""
            throw Failure.usage("\(order) could not be checked completely (\(reason))")
        }
    }

    /// `--daemon`: POST /v1/verifications with the files' bytes; the daemon's report printed as
    /// the offline one is (its JSON byte for byte with --json).
    private func runOnDaemon(order: String, signature: String) throws {
        func read(_ path: String, _ what: String) throws -> Data {
            guard let data = FileManager.default.contents(atPath: path) else { throw Failure.usage("the \(what) \(path) cannot be read") }
            return data
        }
        let body = Wire.VerificationRequest(
            document: try read(order, "order document").base64EncodedString(),
            signature: try read(signature, "signature file").base64EncodedString(),
            file: try payroll.map { try read($0, "payroll file").base64EncodedString() }, present: present, name: order)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let client = DaemonClient(socketPath: DaemonClient.defaultSocketPath(socket))
        let response: DaemonResponse
        do {
            response = try client.send(
                "POST", "/v1/verifications", body: try encoder.encode(body), contentType: "application/json",
                headers: idempotencyKey.map { [("Idempotency-Key", $0)] } ?? [])
        } catch let error as ConnectionError {
            throw Failure.usage(error.message)
        }
        if let problem = response.problem {
            throw Failure(message: problem.detail + (problem.rule.map { " (rule \($0))" } ?? ""), status: problem.status >= 500 ? 2 : 1)
        }
        guard response.status == 200 else { throw Failure.refused("paysignd answered \(response.status)") }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let report = try? decoder.decode(VerificationReport.self, from: response.body) else {
            throw Failure.usage("paysignd answered something this client does not understand; is it the same version?")
        }
        try finish(report, order: order, json: json ? response.body : nil)
    }

    private func runBatch(_ folder: String, verifier: OrderVerifier) throws {
        guard let out else { return }
        let items: [BatchItem]
        do {
            items = try BatchVerifier.items(in: folder)
        } catch let error as VerificationSetupError {
            throw Failure.usage(error.message)
        }
        guard !items.isEmpty else { throw Failure.usage("\(folder) holds no order (NAME.txt with NAME.p7s)") }
        let progress: (@Sendable (Int, Int) -> Void)? = isatty(2) == 1 ? Self.progressBar : nil
        let summary: BatchSummary
        do {
            summary = try BatchVerifier(verifier: verifier).run(
                items, folder: folder, output: out, html: html != nil,
                workers: jobs ?? ProcessInfo.processInfo.activeProcessorCount, progress: progress)
        } catch let error as VerificationSetupError {
            throw Failure.usage(error.message)
        }
        if json {
            FileHandle.standardOutput.write(try Data(contentsOf: URL(fileURLWithPath: out + "/summary.json")))
        } else {
            FileHandle.standardOutput.write(Data(BatchVerifier.text(summary).utf8))
        }
        if summary.invalid > 0 { throw Failure.refused("\(summary.invalid) of \(summary.total) orders are invalid (see \(out)/summary.txt)") }
        if summary.indeterminate > 0 {
            throw Failure.usage("\(summary.indeterminate) of \(summary.total) orders could not be checked completely (see \(out)/summary.txt)")
        }
    }

    /// `[#####.....] done/total` on stderr, redrawn in place.
    @Sendable static func progressBar(done: Int, total: Int) {
        let width = 40
        let filled = total == 0 ? width : done * width / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r[\(bar)] \(done)/\(total)\(done == total ? "\n" : "")".utf8))
    }

    private func anchorPath() throws -> String {
        if let trustAnchors { return trustAnchors }
        if let configured = ProcessInfo.processInfo.environment["PAYSIGN_TRUST_ANCHORS"], !configured.isEmpty { return configured }
        if FileManager.default.fileExists(atPath: Self.defaultAnchors) { return Self.defaultAnchors }
        throw VerificationSetupError("no trust anchors: give --trust-anchors DIR_OR_PEM (or set PAYSIGN_TRUST_ANCHORS, or install the authority's root certificates in \(Self.defaultAnchors))")
    }

    private func trustedTime() throws -> Date? {
        guard let at else { return nil }
        if let date = try? Date(at, strategy: .iso8601) { return date }
        if let date = try? Date(at, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        if let day = CalendarDay(iso: at),
            let date = Calendar(identifier: .gregorian).date(from: DateComponents(timeZone: TimeZone(identifier: "UTC"), year: day.year, month: day.month, day: day.day)) {
            return date
        }
        throw VerificationSetupError("--at must be an ISO 8601 time (2026-11-24T10:00:00Z) or day (2026-11-24), not '\(at)'")
    }
}
