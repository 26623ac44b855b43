import ArgumentParser
import Foundation
import NIOSSL
import PaysignCenterLink
import PaysignDomain
import PaysignOpenSSL
import PaysignPKCS11
import PaysignTokens

/// `paysign center …`: the payment center's people (issue 18, P1, P3, P6) talk to a center node
/// over mutual TLS 1.3 with their staff certificate, its key in a file or on a token.
struct CenterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "center",
        abstract: "The payment center's people: list and read submissions, mark orders paid or returned, monthly totals.",
        discussion: """
            Talks to a paysign-center node over mutual TLS 1.3 with a center staff certificate; \
            the center's registry says whether you are an operator (marks orders paid or returned) or an auditor (reads). \
            The key is a PEM file (--key) or on a token (--token, its PIN from the terminal or --pin-fd).
            """,
        subcommands: [Submissions.self, Show.self, Pay.self, Return.self, Totals.self])

    struct Link: ParsableArguments {
        @Option(help: ArgumentHelp("The center, HOST:PORT (default $PAYSIGN_CENTER).", valueName: "host:port")) var center: String?
        @Option(name: .customLong("center-name"), help: ArgumentHelp("The name on the center's TLS certificate (default: its host).", valueName: "name")) var centerName: String?
        @Option(name: .customLong("trust-anchors"), help: ArgumentHelp("The root certificates the center's certificate chains to (PEM).", valueName: "path")) var trustAnchors: String
        @Option(help: ArgumentHelp("Your staff certificate (PEM); with --token, the token's certificate is used when this is not given.", valueName: "path")) var certificate: String?
        @Option(help: ArgumentHelp("Your key (PEM file).", valueName: "path")) var key: String?
        @Option(help: ArgumentHelp("Your key on a token instead (PKCS#11 URI).", valueName: "uri")) var token: String?
        @Option(name: .customLong("pin-fd"), help: "With --token: read the PIN from this file descriptor instead of the terminal.") var pinFD: Int32?
        @Option(name: .customLong("module"), help: "With --token: load only this PKCS#11 module.") var module: String?

        func validate() throws {
            guard (key == nil) != (token == nil) else { throw ValidationError("give your key with --key FILE or --token URI (one of them)") }
            if key != nil && certificate == nil { throw ValidationError("--key needs --certificate") }
        }

        /// Sends one request; keeps the token's session open only for it.
        func send(_ method: String, _ path: String, json: [String: String]? = nil) async throws -> CenterResponse {
            guard let address = center ?? ProcessInfo.processInfo.environment["PAYSIGN_CENTER"] else {
                throw Failure.usage("name the center with --center HOST:PORT (or PAYSIGN_CENTER)")
            }
            let endpoint: CenterEndpoint
            do { endpoint = try CenterEndpoint(parsing: address, serverName: centerName) } catch let error as LinkError {
                throw Failure.usage(error.message)
            }
            let anchors: [NIOSSLCertificate]
            do { anchors = try NIOSSLCertificate.fromPEMFile(trustAnchors) } catch {
                throw Failure.usage("\(trustAnchors) holds no PEM certificate")
            }
            var chain: [NIOSSLCertificate] = []
            if let certificate {
                do { chain = try NIOSSLCertificate.fromPEMFile(certificate) } catch { throw Failure.usage("\(certificate) holds no PEM certificate") }
            }
            var body: [UInt8] = []
            var headers: [(String, String)] = []
            if let json {
                body = Array(try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]))
                headers.append(("Content-Type", "application/json"))
            }
            do {
                if let key {
                    let privateKey: NIOSSLPrivateKey
                    do { privateKey = try NIOSSLPrivateKey(file: key, format: .pem) } catch { throw Failure.usage("\(key) is not a PEM private key") }
                    // One request per command: no connection kept open.
                    let client = try CenterClient(endpoint: endpoint, anchors: anchors, chain: chain, key: privateKey, keepIdle: 0)
                    return try await client.send(method, path, headers: headers, body: body)
                }
                let service = try TokenService(modules: module.map { .path($0) } ?? .registered)
                defer { service.close() }
                let signer = try await service.signer(for: try PKCS11URI(token!))
                defer { Task { await signer.session.close() } }
                try await signer.login(pin: try PINInput.obtain(fd: pinFD, prompt: "PIN for token '\(signer.session.token.label)': "))
                if chain.isEmpty { chain = [try NIOSSLCertificate(bytes: signer.certificate.derEncoded, format: .der)] }
                let client = try CenterClient(
                    endpoint: endpoint, anchors: anchors, chain: chain, key: NIOSSLPrivateKey(customPrivateKey: try TokenTLSKey(signer: signer)),
                    keepIdle: 0)
                return try await client.send(method, path, headers: headers, body: body)
            } catch let error as LinkError {
                throw Failure(message: error.message, status: 2)
            }
        }

        /// The answer's body, or its problem's sentence as the failure (exit 1).
        func expect(_ response: CenterResponse, _ statuses: Set<Int> = [200]) throws -> [UInt8] {
            guard statuses.contains(response.status) else {
                let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
                throw Failure.refused((object?["detail"] as? String) ?? "the center answered HTTP \(response.status)")
            }
            return response.body
        }
    }

    /// A submission in one line.
    static func line(_ object: [String: Any]) -> String {
        let id = (object["submission"] as? NSNumber)?.int64Value ?? 0
        let entity = object["entity"] as? String ?? "?"
        let order = (object["order"] as? NSNumber)?.int64Value ?? 0
        let total = (object["totalPiasters"] as? NSNumber)?.int64Value ?? 0
        let state = object["state"] as? String ?? "not accepted (\(object["verdict"] as? String ?? "?"))"
        let date = object["valueDate"] as? String ?? ""
        return "\(String(id).padding(toLength: 6, withPad: " ", startingAt: 0)) \(entity.padding(toLength: 10, withPad: " ", startingAt: 0)) order \(String(order).padding(toLength: 6, withPad: " ", startingAt: 0)) \(date)  \(Piasters.egp(total, grouped: true)) EGP  \(state)"
    }

    static func printJSON(_ body: [UInt8]) {
        FileHandle.standardOutput.write(Data(body))
        print()
    }

    struct Submissions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List submissions, newest first (an entity's certificate sees its own).")
        @OptionGroup var link: Link
        @Option(help: "Only this entity's.") var entity: String?
        @Option(help: "accepted, paid, returned, or refused (not accepted).") var state: String?
        @Option(help: "At most this many (1-1000).") var limit: Int = 100
        @Flag(help: "JSON instead of text.") var json = false

        func run() async throws {
            var query: [String] = ["limit=\(limit)"]
            if let entity { query.append("entity=\(entity.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? entity)") }
            if let state { query.append("state=\(state)") }
            let body = try link.expect(try await link.send("GET", "/v1/submissions?" + query.joined(separator: "&")))
            if json { return CenterCommand.printJSON(body) }
            let list = (try? JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]]) ?? []
            if list.isEmpty { print("no submissions") }
            for item in list { print(CenterCommand.line(item)) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one submission: verdict, failed checks, state.")
        @OptionGroup var link: Link
        @Argument(help: "The submission's number.") var id: Int64
        @Flag(help: "JSON instead of text.") var json = false

        func run() async throws {
            let body = try link.expect(try await link.send("GET", "/v1/submissions/\(id)"))
            if json { return CenterCommand.printJSON(body) }
            let object = (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]) ?? [:]
            print(CenterCommand.line(object))
            print("  file number  \(object["fileNumber"] as? String ?? "")")
            print("  received     \(object["receivedAt"] as? String ?? "")")
            if let failed = object["failedChecks"] as? [String], !failed.isEmpty { print("  failed       \(failed.joined(separator: ", "))") }
            if let reason = object["stateReason"] as? String { print("  reason       \(reason)") }
        }
    }

    struct Pay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark an accepted order paid (the center's operators).")
        @OptionGroup var link: Link
        @Argument(help: "The submission's number.") var id: Int64
        @Flag(help: "JSON instead of text.") var json = false

        func run() async throws {
            let body = try link.expect(try await link.send("POST", "/v1/submissions/\(id)/payment", json: ["state": "paid"]))
            if json { return CenterCommand.printJSON(body) }
            print("submission \(id) marked paid")
        }
    }

    struct Return: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark an accepted order returned by the bank, with the reason (the center's operators).")
        @OptionGroup var link: Link
        @Argument(help: "The submission's number.") var id: Int64
        @Option(help: "Why the bank returned it, in one sentence.") var reason: String
        @Flag(help: "JSON instead of text.") var json = false

        func run() async throws {
            let body = try link.expect(try await link.send("POST", "/v1/submissions/\(id)/payment", json: ["state": "returned", "reason": reason]))
            if json { return CenterCommand.printJSON(body) }
            print("submission \(id) marked returned: \(reason)")
        }
    }

    struct Totals: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each entity's orders accepted, paid and returned in a month, with totals (P6).")
        @OptionGroup var link: Link
        @Option(help: "The month, YYYY-MM.") var month: String
        @Flag(help: "JSON instead of text.") var json = false

        func run() async throws {
            let body = try link.expect(try await link.send("GET", "/v1/totals?month=\(month.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"))
            if json { return CenterCommand.printJSON(body) }
            let rows = (try? JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]]) ?? []
            if rows.isEmpty { print("no order accepted for \(month)") }
            for row in rows {
                func n(_ key: String) -> Int64 { (row[key] as? NSNumber)?.int64Value ?? 0 }
                print("\((row["entity"] as? String ?? "?").padding(toLength: 10, withPad: " ", startingAt: 0)) accepted \(n("accepted")) (\(Piasters.egp(n("acceptedPiasters"), grouped: true)) EGP), paid \(n("paid")) (\(Piasters.egp(n("paidPiasters"), grouped: true)) EGP), returned \(n("returned")) (\(Piasters.egp(n("returnedPiasters"), grouped: true)) EGP)")
            }
        }
    }
}
