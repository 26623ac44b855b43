import PaysignSecrets
import Foundation
import PaysignDomain
import PaysignOpenSSL
import PaysignPKCS11
import PaysignAPI
#if PAYSIGN_TESTABLE
@testable import PaysignDaemon
#else
import PaysignDaemon
#endif

/// Every parser that takes bytes from outside the daemon, as a fuzz target.
public enum FuzzTarget: String, CaseIterable, Sendable, Hashable {
    /// A payroll CSV (`POST /v1/orders`), parsed and run through every rule.
    case orderFile = "order-file"
    /// The canonical order document, strictly parsed.
    case orderDocument = "order-document"
    /// A `.p7s`, read by OpenSSL (`SignedDocument`).
    case cms
    /// A `.p7s` walked in strict DER by the payment center's verification (`OrderEvidence`).
    case orderEvidence = "order-evidence"
    /// An X.509 CRL (`POST /v1/crl/imports`, the crl-watch folder), DER or PEM.
    case crl
    /// An X.509 certificate, DER or PEM.
    case certificate
    /// A PKCS #10 request (`paysign token issue --csr`), DER or PEM.
    case certificateRequest = "csr"
    /// A PKCS#11 URI (RFC 7512), from every request and command line that names a token.
    case pkcs11URI = "pkcs11-uri"
    /// paysignd's YAML configuration.
    case configuration
    /// The PIN taken out of a JSON body before anything decodes it (`PINFields`).
    case secretFields = "secret-fields"
    /// The strict JSON decoding of every request body (`Request.decode`).
    case requestBody = "request-body"

    /// The largest input worth trying.
    public var maximumLength: Int {
        switch self {
        case .orderFile: return 64 << 10
        case .configuration, .pkcs11URI, .orderDocument: return 8 << 10
        default: return 16 << 10
        }
    }

    /// Tokens the mutators insert: the syntax each parser branches on.
    public var dictionary: [[UInt8]] {
        let words: [String]
        switch self {
        case .orderFile:
            words = [",", "\"", "\"\"", "\r\n", "\n", "\r", "\n\n", "national-id", "passport", "EG", "29001011234567",
                     "-1", "0", "999999999999999999", "9999999999999999999", "1e3", "12.50", "\u{FEFF}", "\u{0}", "\u{7}",
                     "beneficiary_id,id_type,name,account,amount_piasters\n"]
        case .orderDocument:
            words = [": ", "\n", "order: ", "-", "+", "0", "9223372036854775807", "9223372036854775808", "2026-02-29",
                     "2024-02-29", "salary", "arrears", "cashier", "foreign-non-resident", "a5a5-"]
        case .pkcs11URI:
            words = ["pkcs11:", ";", "?", "&", "=", "%", "%0", "%zz", "%00", "%FF", "%C3%A9", "#", "x-", "id=", "token=",
                     "type=", "slot-id=", "library-version=", "pin-value=", "pin-source=", "module-path=", "18446744073709551616",
                     "+1", "1.", ".1", "255.255", "256"]
        case .configuration:
            words = [": ", "\n", "\n  - ", "- ", "[", "]", "{", "}", "&a ", "*a", "!!binary ", "!!int ", "!!str ", "~", "null",
                     ".nan", ".inf", "-.inf", "1e309", "0x10", "0o777", "'", "\"", "\\", "\t", "%YAML 1.2\n", "---\n", "...\n",
                     "<<: ", "? ", "|\n", ">\n", "socket-mode: ", "max-body-bytes: ", "holidays: ", "reader-bindings: ",
                     "9223372036854775808", "-9223372036854775809"]
        case .secretFields, .requestBody:
            words = ["{", "}", "[", "]", ",", ":", "\"", "\\", "\\\"", "\\u0000", "\\u0070in", "\\ud800", "null", "true",
                     "1e999", "-0", "\"pin\":", "\"pin\":\"1234\"", "\"oldPin\":", "\"newPin\":", "\"token\":", "\u{FEFF}",
                     "\u{0}", " ", "\t", "\n"]
        case .cms, .orderEvidence, .crl, .certificate, .certificateRequest:
            words = ["-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n", "-----BEGIN X509 CRL-----\n",
                     "-----END X509 CRL-----\n", "-----BEGIN CERTIFICATE REQUEST-----\n", "-----END CERTIFICATE REQUEST-----\n"]
            return words.map { Array($0.utf8) } + [
                [0x30, 0x80], [0x00, 0x00], [0x05, 0x00], [0x02, 0x01, 0x00], [0x02, 0x00], [0x06, 0x00], [0x17, 0x0D],
                [0x18, 0x0F], [0x04, 0x00], [0x03, 0x01, 0x00], [0xA0, 0x00], [0x31, 0x00], [0x30, 0x00],
                Array("991231235959Z".utf8), Array("20500101000000Z".utf8),
                [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02],
                [0x06, 0x03, 0x55, 0x1D, 0x14], [0x06, 0x03, 0x55, 0x1D, 0x15], [0x06, 0x03, 0x55, 0x1D, 0x18],
            ]
        }
        return words.map { Array($0.utf8) }
    }
}

/// Runs one input through one target and says what, if anything, is wrong.
///
/// What is right: the parser returns a value, or throws its documented error type (with a
/// sentence); and for parsers with a printer, what they print reads back as the same value.
/// Anything else is a finding: another error type, a broken round trip, a broken invariant. A
/// crash or a hang is found by the caller (the process dies, or the time bound is passed).
public final class FuzzHarness: @unchecked Sendable {
    // @unchecked Sendable: immutable after init but for the configuration file path's contents,
    // written and read by one input at a time per harness.
    public let seeds: FuzzSeeds
    let trust: TrustContext
    let configurationPath: String

    public init(seeds: FuzzSeeds) throws {
        self.seeds = seeds
        let anchor = try Certificate(derEncoded: seeds.anchor)
        trust = try TrustContext(anchors: [anchor], revocationLists: [try RevocationList(derEncoded: seeds.revocationList)])
        configurationPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("paysign-fuzz-config-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).yaml").path
    }

    deinit { try? FileManager.default.removeItem(atPath: configurationPath) }

    /// Nil when the parser behaved; otherwise one sentence saying how it did not.
    public func run(_ target: FuzzTarget, _ bytes: [UInt8]) -> String? {
        switch target {
        case .orderFile: return orderFile(bytes)
        case .orderDocument: return orderDocument(bytes)
        case .cms: return cms(bytes)
        case .orderEvidence: return orderEvidence(bytes)
        case .crl: return crl(bytes)
        case .certificate: return certificate(bytes)
        case .certificateRequest: return certificateRequest(bytes)
        case .pkcs11URI: return pkcs11URI(bytes)
        case .configuration: return configuration(bytes)
        case .secretFields: return secretFields(bytes)
        case .requestBody: return requestBody(bytes)
        }
    }

    // MARK: Orders

    static let metadata: [OrderMetadata] = [
        OrderMetadata(entityCode: "MOF-EG-001", kind: .salary, valueDate: CalendarDay(year: 2026, month: 11, day: 24)!),
        OrderMetadata(entityCode: "MOF-EG-001", kind: .cashier, valueDate: CalendarDay(year: 2026, month: 11, day: 9)!),
        OrderMetadata(entityCode: "MOF-EG-001", kind: .foreignNonResident, valueDate: CalendarDay(year: 2026, month: 11, day: 2)!),
    ]
    static let context = ValidationContext(today: CalendarDay(year: 2026, month: 11, day: 1)!,
                                           holidays: [CalendarDay(year: 2026, month: 11, day: 26)!])

    func orderFile(_ bytes: [UInt8]) -> String? {
        let metadata = Self.metadata[bytes.count % Self.metadata.count]
        let (file, validation) = OrderValidator.standard.validate(bytes: bytes, metadata, Self.context)
        // Lines are counted by their LFs: a record starts at most on the line after the last LF.
        let lastLine = bytes.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
        for violation in validation.violations {
            if let line = violation.line, !(1...lastLine).contains(line) {
                return "violation on line \(line) of a file whose last line is \(lastLine): \(violation.message)"
            }
            if violation.message.isEmpty { return "a violation without a message" }
        }
        var previous = 1
        for line in file.lines {
            guard line.lineNumber >= previous, line.lineNumber <= lastLine else {
                return "payment line numbered \(line.lineNumber) after \(previous)"
            }
            previous = line.lineNumber
        }
        guard file.total >= 0 else { return "negative total \(file.total)" }
        if file.syntaxViolations.isEmpty && validation.isValid != validation.violations.isEmpty { return "isValid disagrees" }
        // Round trip: the lines written back as RFC 4180 read as the same fields.
        guard file.syntaxViolations.isEmpty else { return nil }
        let printed = Self.print(file.lines)
        let again = OrderFile(parsing: printed)
        guard again.syntaxViolations.isEmpty else {
            return "the lines written back as CSV do not parse: \(again.syntaxViolations[0].message)"
        }
        guard again.lines.count == file.lines.count else {
            return "the lines written back as CSV read as \(again.lines.count) lines, not \(file.lines.count)"
        }
        for (a, b) in zip(file.lines, again.lines)
        where a.beneficiaryID != b.beneficiaryID || a.idTypeText != b.idTypeText || a.name != b.name || a.account != b.account
            || a.amountText != b.amountText || a.amountPiasters != b.amountPiasters
        {
            return "line \(a.lineNumber) written back as CSV reads differently"
        }
        guard again.total == file.total else { return "the total changed in the round trip" }
        return nil
    }

    /// RFC 4180: a field with a comma, quote, CR or LF is quoted, quotes doubled.
    static func print(_ lines: [OrderLine]) -> [UInt8] {
        func field(_ text: String) -> String {
            guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else { return text }
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        var out = OrderFile.columns.joined(separator: ",") + "\n"
        for line in lines {
            out += [line.beneficiaryID, line.idTypeText, line.name, line.account, line.amountText].map(field).joined(separator: ",") + "\n"
        }
        return Array(out.utf8)
    }

    func orderDocument(_ bytes: [UInt8]) -> String? {
        do {
            let document = try OrderDocument(parsing: bytes)
            guard document.bytes == bytes else { return "a document read from bytes prints as other bytes" }
            guard let again = try? OrderDocument(parsing: document.bytes), again == document else {
                return "a document's own bytes do not read back as the same document"
            }
            return nil
        } catch is OrderDocument.ParseError {
            return nil
        } catch {
            return "OrderDocument(parsing:) threw \(type(of: error)): \(error)"
        }
    }

    // MARK: OpenSSL

    /// OpenSSL's error queue must be empty after every parse (a leftover error is blamed on the
    /// next, unrelated call).
    func cms(_ bytes: [UInt8]) -> String? {
        do {
            let document = try SignedDocument(derEncoded: bytes)
            guard document.derEncoded == bytes else { return "SignedDocument keeps other bytes than it read" }
            guard !document.signers.isEmpty else { return "a SignedDocument without signers was accepted" }
            for (index, signer) in document.signers.enumerated() {
                guard signer.index == index else { return "signer \(index) is numbered \(signer.index)" }
                if let earlier = signer.precededBy, earlier == index || !document.signers.indices.contains(earlier) {
                    return "signer \(index) is bound to signer \(earlier)"
                }
                guard signer.signatureDigest.count == 32 else { return "a signature digest of \(signer.signatureDigest.count) bytes" }
            }
            if let order = document.signingOrder, order.count != document.signers.count {
                return "a signing order of \(order.count) of \(document.signers.count) signers"
            }
            _ = try? document.verify(content: seeds.document, trustAnchors: trust.anchors)
            return nil
        } catch is OpenSSLError {
            return nil
        } catch {
            return "SignedDocument(derEncoded:) threw \(type(of: error)): \(error)"
        }
    }

    func orderEvidence(_ bytes: [UInt8]) -> String? {
        let evidence = OrderEvidence.gather(document: seeds.document, signature: bytes, trust: trust)
        if let problem = evidence.structureProblem {
            guard evidence.signers.isEmpty else { return "signers listed with a structure problem" }
            guard !problem.isEmpty else { return "an empty structure problem" }
            return nil
        }
        for (index, signer) in evidence.signers.enumerated() {
            guard signer.index == index else { return "signer \(index) is numbered \(signer.index)" }
            if let earlier = signer.precededBy, earlier == index || !evidence.signers.indices.contains(earlier) {
                return "signer \(index) is bound to signer \(earlier)"
            }
        }
        return nil
    }

    /// DER or PEM: text that looks like PEM goes to the PEM reader too.
    static func looksLikePEM(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 10 && bytes.prefix(64).contains(UInt8(ascii: "-")) && String(decoding: bytes.prefix(200), as: UTF8.self).contains("-----BEGIN")
    }

    func crl(_ bytes: [UInt8]) -> String? {
        func check(_ list: RevocationList) -> String? {
            guard let again = try? RevocationList(derEncoded: list.derEncoded) else { return "a CRL's own DER does not parse" }
            guard again.entries.count == list.entries.count, again.crlNumber == list.crlNumber, again.issuer == list.issuer,
                again.thisUpdate == list.thisUpdate, again.nextUpdate == list.nextUpdate
            else { return "a CRL reads differently from its own DER" }
            guard let fromPEM = try? RevocationList(pemEncoded: list.pemEncoded), fromPEM.derEncoded == list.derEncoded else {
                return "a CRL's PEM does not read back"
            }
            for entry in list.entries where entry.serialNumber.isEmpty { return "a CRL entry without a serial" }
            if let number = list.crlNumber, number.isEmpty { return "an empty CRL number" }
            return nil
        }
        do {
            let list = try RevocationList(derEncoded: bytes)
            guard list.derEncoded == bytes else { return "RevocationList keeps other bytes than it read" }
            if let finding = check(list) { return finding }
            _ = list.isSigned(by: trust.anchors[0])
        } catch is OpenSSLError {
        } catch {
            return "RevocationList(derEncoded:) threw \(type(of: error)): \(error)"
        }
        if Self.looksLikePEM(bytes) {
            do { return check(try RevocationList(pemEncoded: String(decoding: bytes, as: UTF8.self))) } catch is OpenSSLError {
            } catch { return "RevocationList(pemEncoded:) threw \(type(of: error)): \(error)" }
        }
        return nil
    }

    func certificate(_ bytes: [UInt8]) -> String? {
        func check(_ certificate: Certificate) -> String? {
            guard let again = try? Certificate(derEncoded: certificate.derEncoded) else { return "a certificate's own DER does not parse" }
            guard again.subject == certificate.subject, again.issuer == certificate.issuer,
                again.serialNumber == certificate.serialNumber, again.notBefore == certificate.notBefore,
                again.notAfter == certificate.notAfter
            else { return "a certificate reads differently from its own DER" }
            guard let fromPEM = try? Certificate(pemEncoded: certificate.pemEncoded) else { return "a certificate's PEM does not read back" }
            guard fromPEM.subject == certificate.subject, fromPEM.serialNumber == certificate.serialNumber else {
                return "a certificate reads differently from its PEM"
            }
            return nil
        }
        do {
            if let finding = check(try Certificate(derEncoded: bytes)) { return finding }
        } catch is OpenSSLError {
        } catch {
            return "Certificate(derEncoded:) threw \(type(of: error)): \(error)"
        }
        if Self.looksLikePEM(bytes) {
            do { return check(try Certificate(pemEncoded: String(decoding: bytes, as: UTF8.self))) } catch is OpenSSLError {
            } catch { return "Certificate(pemEncoded:) threw \(type(of: error)): \(error)" }
        }
        return nil
    }

    func certificateRequest(_ bytes: [UInt8]) -> String? {
        func check(_ request: CertificateRequest) -> String? {
            guard let again = try? CertificateRequest(derEncoded: request.derEncoded) else { return "a request's own DER does not parse" }
            guard again.subject == request.subject, again.subjectDER == request.subjectDER,
                again.subjectPublicKeyInfo == request.subjectPublicKeyInfo
            else { return "a request reads differently from its own DER" }
            _ = request.verifySelfSignature()
            return nil
        }
        do {
            let request = try CertificateRequest(derEncoded: bytes)
            guard request.derEncoded == bytes else { return "CertificateRequest keeps other bytes than it read" }
            if let finding = check(request) { return finding }
        } catch is OpenSSLError {
        } catch {
            return "CertificateRequest(derEncoded:) threw \(type(of: error)): \(error)"
        }
        if Self.looksLikePEM(bytes) {
            do { return check(try CertificateRequest(pemEncoded: String(decoding: bytes, as: UTF8.self))) } catch is OpenSSLError {
            } catch { return "CertificateRequest(pemEncoded:) threw \(type(of: error)): \(error)" }
        }
        return nil
    }

    // MARK: Names and configuration

    func pkcs11URI(_ bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        let uri: PKCS11URI
        do {
            uri = try PKCS11URI(text)
        } catch let error as PKCS11Error {
            guard error.code == .invalidURI else { return "PKCS11URI threw code \(error.code), not invalid-uri" }
            // Rule D5: an error never quotes a pin-value.
            if let secret = Self.pinValue(in: text), secret.count >= 6, text.components(separatedBy: secret).count == 2,
                error.message.contains(secret)
            {
                return "the error quotes the pin-value: \(error.message)"
            }
            return nil
        } catch {
            return "PKCS11URI threw \(type(of: error)): \(error)"
        }
        let printed = uri.description
        let again: PKCS11URI
        do { again = try PKCS11URI(printed) } catch { return "the printed URI '\(printed)' does not parse: \(error)" }
        // Rule D5: the printed form carries no pin-value attribute (a label may hold the words
        // "pin-value=" as text: that is no attribute, and the reparsed URI says so).
        if let secret = uri.pinValue, !secret.isEmpty, again.pinValue != nil || printed.contains("?pin-value=") || printed.contains("&pin-value=") {
            return "the printed URI shows pin-value"
        }
        guard again.description == printed else { return "'\(printed)' prints as '\(again.description)'" }
        guard again.token == uri.token, again.manufacturer == uri.manufacturer, again.serial == uri.serial,
            again.model == uri.model, again.object == uri.object, again.type == uri.type, again.id == uri.id,
            again.slotID == uri.slotID, again.slotDescription == uri.slotDescription, again.slotManufacturer == uri.slotManufacturer,
            again.libraryManufacturer == uri.libraryManufacturer, again.libraryDescription == uri.libraryDescription,
            again.libraryVersion == uri.libraryVersion, again.moduleName == uri.moduleName, again.modulePath == uri.modulePath,
            again.pinSource == uri.pinSource, again.vendorPath.map(\.0) == uri.vendorPath.map(\.0),
            again.vendorPath.map(\.1) == uri.vendorPath.map(\.1), again.vendorQuery.map(\.1) == uri.vendorQuery.map(\.1),
            again.pinValue == nil
        else { return "'\(text)' and its printed form '\(printed)' name different things" }
        return nil
    }

    static func pinValue(in text: String) -> String? {
        guard let query = text.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for attribute in query.split(separator: "&") where attribute.hasPrefix("pin-value=") {
            return String(attribute.dropFirst("pin-value=".count))
        }
        return nil
    }

    func configuration(_ bytes: [UInt8]) -> String? {
        guard FileManager.default.createFile(atPath: configurationPath, contents: Data(bytes)) else {
            return nil  // not the parser's fault
        }
        do {
            let configuration = try DaemonConfiguration.load(from: configurationPath)
            do { try configuration.validate() } catch { return "a loaded configuration does not validate: \(error)" }
            return nil
        } catch let error as DaemonError {
            return error.message.isEmpty ? "an empty configuration error" : nil
        } catch {
            return "DaemonConfiguration.load threw \(type(of: error)): \(error)"
        }
    }

    // MARK: Request bodies

    /// After `takePIN`, the JSON decoder must not see the PIN (rule D5): either the body was
    /// refused, or every top-level value the decoder reads under the field's name is stars.
    func secretFields(_ bytes: [UInt8]) -> String? {
        #if PAYSIGN_TESTABLE
        for field in ["pin", "oldPin"] {
            var body = bytes
            let pin: PIN?
            do {
                pin = try PINFields.takePIN(field, from: &body)
            } catch {
                // A refusal (typed: PINFieldError, one sentence): the body goes no further.
                continue
            }
            guard body.count == bytes.count else { return "takePIN changed the body's length" }
            if let pin, !(1...64).contains(pin.count) { return "takePIN gave a PIN of \(pin.count) bytes" }
            let changed = zip(body, bytes).filter { $0 != $1 }.count
            if pin == nil, changed != 0 { return "takePIN found no PIN but changed the body" }
            guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { continue }
            if let value = object[field] as? String, !value.allSatisfy({ $0 == "*" }) {
                return "the decoder still sees a PIN under '\(field)' after takePIN"
            }
            if object[field] != nil, !(object[field] is NSNull), pin == nil {
                return "takePIN found no PIN, but the decoder sees '\(field)'"
            }
        }
        #endif
        return nil
    }

    func requestBody(_ bytes: [UInt8]) -> String? {
        #if PAYSIGN_TESTABLE
        let peer = PeerCredentials(pid: 1, uid: 0, gid: 0, userName: "root")
        for contentType in ["application/json", "application/json; charset=utf-8"] {
            let request = Request(method: "POST", path: "/v1/fuzz", query: [:], headers: ["content-type": contentType],
                                  body: bytes, peer: peer)
            do {
                // Bodies of the API with strings, enums, booleans, integers and arrays of enums.
                _ = try request.decode(Components.Schemas.IssueCertificate.self)
                _ = try request.decode(Components.Schemas.SignatureRequest.self)
                _ = try request.decode(Components.Schemas.NewOperator.self)
                _ = try request.decode(Components.Schemas.TokenTransition.self)
            } catch let problem as Problem {
                guard [400, 415, 422].contains(problem.status), !problem.detail.isEmpty else {
                    return "Request.decode answered \(problem.status): \(problem.detail)"
                }
            } catch {
                return "Request.decode threw \(type(of: error)): \(error)"
            }
        }
        #endif
        return nil
    }
}

