// paysign-make-orders: genuinely signed payment orders for the verification tests and benchmark
// (issue 7), signed on the SoftHSM tokens of a test PKI made by Certs/make-test-pki.sh, in a
// process of its own (SoftHSM reads SOFTHSM2_CONF once per process).
//
// This is a test tool: it signs whatever it is asked to, with any certificate and role, so that
// the tests can make the forgeries the verifier must catch (an expired certificate, one from
// another CA, a clerk's, signatures in the wrong order). It is not part of the product CLI.
//
//   paysign-make-orders batch --pki DIR --count N --out FOLDER [--payroll]
//       N orders NAME.txt + NAME.p7s (officer1 first, ministry second, RSA-2048), NAME.csv with --payroll
//   paysign-make-orders document --out FILE [--order N] [--entity E] [--payroll CSV]
//   paysign-make-orders sign --pki DIR --content FILE --token LABEL --role ROLE [--cert PEM] [--bind-to P7S]
//       [--signing-time ISO] --out P7S
//   paysign-make-orders crl --pki DIR --number N --out FILE [--revoke SERIAL[@REVOKED[@INVALID]]]… [--this-update ISO]
import PaysignSecrets
import ArgumentParser
import Foundation
import PaysignDomain
import PaysignOpenSSL
import PaysignPKCS11
import PaysignTokens

@main
struct MakeOrders: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paysign-make-orders", abstract: "Signed payment orders on a test PKI's SoftHSM tokens (tests, benchmarks).",
        subcommands: [Batch.self, Document.self, Sign.self, CRL.self])
}

/// A test PKI folder: its SoftHSM configuration and its tokens' PINs.
struct PKI {
    let directory: String
    let pins: [String: String]

    init(_ directory: String) throws {
        self.directory = directory
        let table = try String(contentsOfFile: directory + "/tokens.tsv", encoding: .utf8)
        pins = table.split(separator: "\n").dropFirst().reduce(into: [:]) { pins, line in
            let f = line.split(separator: "\t").map(String.init)
            if f.count > 2 { pins[f[0]] = f[2] }
        }
        setenv("SOFTHSM2_CONF", directory + "/softhsm2.conf", 1)
    }

    static var module: String {
        for path in ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                     "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"]
        where FileManager.default.fileExists(atPath: path) {
            return path
        }
        return "libsofthsm2.so"
    }

    /// A logged-in signer on the token `label`, with its private key found.
    func signer(_ label: String, service: TokenService) async throws -> (TokenSigner, ObjectInfo) {
        let signer = try await service.signer(for: PKCS11URI("pkcs11:token=\(label)"))
        guard let pin = pins[label] else { throw ValidationError("no token '\(label)' in \(directory)/tokens.tsv") }
        try await signer.login(pin: PIN(pin))
        return (signer, try await signer.privateKey())
    }
}

/// Signs `content` with the token's key, without TokenSigner's own refusals (an expired
/// certificate, a certificate other than the token's): the verifier has to catch those.
func sign(content: [UInt8], signer: TokenSigner, key: ObjectInfo, certificate: Certificate? = nil, role: String,
          bindTo previous: SignedDocument? = nil, signingTime: Date) async throws -> SignedDocument {
    guard let algorithm = SignatureAlgorithm.default(for: signer.keyType) else { throw ValidationError("the key is neither RSA nor EC") }
    return try await CMSBuilder.signDetached(
        content: content, certificate: certificate ?? signer.certificate, scheme: algorithm.scheme, role: role,
        bindTo: previous, signingTime: signingTime
    ) { attributes in
        try signer.signBlocking(attributes, key: key, algorithm: algorithm).bytes
    }
}

func parseTime(_ text: String?) throws -> Date {
    guard let text else { return Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down)) }
    guard let date = try? Date(text, strategy: .iso8601) else { throw ValidationError("not an ISO 8601 time: \(text)") }
    return date
}

/// A small payroll file for order `number`, and the canonical document that names it.
func makeOrder(_ number: Int64, entity: String, payroll: [UInt8]? = nil) -> (document: [UInt8], payroll: [UInt8]) {
    let csv = payroll ?? Array("beneficiary_id,id_type,name,account,amount_piasters\n29001011234567,national-id,Beneficiary \(number),12345678\(number % 10),\(100_000 + number)\n".utf8)
    let document = OrderDocument(
        orderID: number, metadata: OrderMetadata(entityCode: entity, kind: .salary, valueDate: CalendarDay(year: 2026, month: 11, day: 24)!),
        fileNumber: FileNumber(digest: SHA256.hash(csv))!, fileBytes: csv.count, lineCount: 1, totalPiasters: 100_000 + number)
    return (document.bytes, csv)
}

struct Batch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "N two-signature orders: officer1 first, the ministry second.")
    @Option var pki: String
    @Option var count: Int
    @Option var out: String
    @Option var entity = "EG-0101"
    @Option var first = "officer1"
    @Option var second = "ministry"
    @Flag(help: "Write NAME.csv, the payroll file, beside each order.") var payroll = false
    @Option(name: .customLong("start-at"), help: "The first order's number (each order's payroll file differs by its number).") var startAt = 1

    func run() async throws {
        let pki = try PKI(pki)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let service = try TokenService(modules: .path(PKI.module))
        defer { service.close() }
        let (officer, officerKey) = try await pki.signer(first, service: service)
        let (ministry, ministryKey) = try await pki.signer(second, service: service)
        let time = try parseTime(nil)
        let width = String(count).count
        let start = Date()
        // The two tokens sign side by side: the officer's first signatures flow to the ministry.
        let (stream, continuation) = AsyncStream.makeStream(of: (Int, [UInt8], SignedDocument).self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for index in 0..<count {
                    let (document, csv) = makeOrder(Int64(index + startAt), entity: entity)
                    let name = "order-" + String(repeating: "0", count: width - String(index + 1).count) + String(index + 1)
                    try Data(document).write(to: URL(fileURLWithPath: "\(out)/\(name).txt"))
                    if payroll { try Data(csv).write(to: URL(fileURLWithPath: "\(out)/\(name).csv")) }
                    let signed = try await sign(content: document, signer: officer, key: officerKey, role: "first", signingTime: time)
                    continuation.yield((index, document, signed))
                }
                continuation.finish()
            }
            group.addTask {
                for await (index, document, first) in stream {
                    let name = "order-" + String(repeating: "0", count: width - String(index + 1).count) + String(index + 1)
                    let both = try await sign(content: document, signer: ministry, key: ministryKey, role: "second",
                                              bindTo: first, signingTime: time + 1)
                    try Data(both.derEncoded).write(to: URL(fileURLWithPath: "\(out)/\(name).p7s"))
                }
            }
            try await group.waitForAll()
        }
        let seconds = Date().timeIntervalSince(start)
        FileHandle.standardError.write(Data("paysign-make-orders: \(count) orders in \(String(format: "%.1f", seconds)) s (\(String(format: "%.0f", Double(count) / max(seconds, 1e-9))) orders/s) in \(out)\n".utf8))
    }
}

struct Document: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A canonical order document (and its payroll file).")
    @Option var out: String
    @Option var order: Int64 = 1
    @Option var entity = "EG-0101"
    @Option(help: "Write the payroll file here (or, when it exists, use it).") var payroll: String?

    func run() throws {
        let existing = payroll.flatMap { FileManager.default.contents(atPath: $0) }.map { [UInt8]($0) }
        let (document, csv) = makeOrder(order, entity: entity, payroll: existing)
        try Data(document).write(to: URL(fileURLWithPath: out))
        if let payroll, existing == nil { try Data(csv).write(to: URL(fileURLWithPath: payroll)) }
    }
}

struct Sign: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "One signature on a token, alone or added to an earlier .p7s.")
    @Option var pki: String
    @Option var content: String
    @Option var token: String
    @Option var role: String
    @Option(help: "Put this certificate (PEM) in the SignerInfo instead of the token's own.") var cert: String?
    @Option(name: .customLong("bind-to"), help: "An earlier .p7s: the new SignerInfo joins it, bound to its last signature.") var bindTo: String?
    @Option(name: .customLong("signing-time")) var signingTime: String?
    @Option var out: String

    func run() async throws {
        let pki = try PKI(pki)
        let service = try TokenService(modules: .path(PKI.module))
        defer { service.close() }
        let (signer, key) = try await pki.signer(token, service: service)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: content)))
        let certificate = try cert.map { try Certificate(pemEncoded: String(contentsOfFile: $0, encoding: .utf8)) }
        let previous = try bindTo.map { try SignedDocument(derEncoded: [UInt8](Data(contentsOf: URL(fileURLWithPath: $0)))) }
        let signed = try await sign(content: bytes, signer: signer, key: key, certificate: certificate, role: role,
                                    bindTo: previous, signingTime: try parseTime(signingTime))
        try Data(signed.derEncoded).write(to: URL(fileURLWithPath: out))
    }
}

struct CRL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A CRL signed on the PKI's authority token.")
    @Option var pki: String
    @Option var number: UInt64
    @Option var out: String
    @Option(help: "SERIAL[@REVOKED[@INVALID]] (hex serial, ISO 8601 times; repeatable).") var revoke: [String] = []
    @Option(help: "Reason code (RFC 5280) for every entry.") var reason: Int = 1
    @Option(name: .customLong("this-update")) var thisUpdate: String?
    @Option(name: .customLong("next-update-days")) var nextUpdateDays: Double = 7

    func run() async throws {
        let pki = try PKI(pki)
        let service = try TokenService(modules: .path(PKI.module))
        defer { service.close() }
        let (authority, _) = try await pki.signer("authority", service: service)
        let now = try parseTime(thisUpdate)
        let entries = try revoke.map { spec -> RevokedEntry in
            let parts = spec.split(separator: "@").map(String.init)
            var serial: [UInt8] = []
            var hex = Substring(parts[0])
            if hex.count % 2 == 1 { hex = "0" + hex }
            while !hex.isEmpty {
                guard let byte = UInt8(hex.prefix(2), radix: 16) else { throw ValidationError("not a hex serial: \(parts[0])") }
                serial.append(byte)
                hex = hex.dropFirst(2)
            }
            let revoked = parts.count > 1 ? try parseTime(parts[1]) : now
            let invalid = parts.count > 2 ? try parseTime(parts[2]) : nil
            return RevokedEntry(serialNumber: serial, revocationDate: revoked, reason: reason, invalidityDate: invalid)
        }
        let list = try await RevocationList.make(
            issuer: authority.certificate, number: number, thisUpdate: now, nextUpdate: now + nextUpdateDays * 86_400,
            entries: entries, scheme: .rsaPKCS1SHA256
        ) { tbs in
            try await authority.signAsAuthority(tbs, usage: .cRLSign, at: now).signature
        }
        try Data(list.derEncoded).write(to: URL(fileURLWithPath: out))
    }
}
