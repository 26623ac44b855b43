import ArgumentParser
import Foundation
import PaysignAPI
import PaysignClient
import PaysignDomain
import PaysignPKCS11
import PaysignSecrets
import PaysignText

/// Options every command that talks to the daemon takes.
struct SocketOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The daemon's socket (default: PAYSIGN_SOCKET, else /run/paysign/paysign.sock).", valueName: "path"))
    var socket: String?

    @Flag(help: "Print JSON.") var json = false

    var client: DaemonClient { DaemonClient(socketPath: DaemonClient.defaultSocketPath(socket)) }

    /// Sends a request; a refusal becomes exit 1 with the daemon's sentence, a connection problem exit 2.
    func call(_ method: String, _ path: String, body: (any Encodable)? = nil, headers: [(String, String)] = []) throws -> DaemonResponse {
        var data: Data?
        if let body {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            data = try encoder.encode(body)
        }
        return try send(method, path, body: data, contentType: data == nil ? nil : "application/json", headers: headers)
    }

    /// Sends a body as it is (a CSV file, a JSON body carrying a PIN), then wipes the sent copy.
    /// `ifUnanswered` is added to the sentence when the request went out but no answer came back
    /// (what the daemon may have done, and how to find out).
    func send(_ method: String, _ path: String, body: Data?, contentType: String?, headers: [(String, String)] = [], ifUnanswered: String? = nil) throws -> DaemonResponse {
        let response: DaemonResponse
        do {
            response = try client.send(method, path, body: body, contentType: contentType, headers: headers)
        } catch let error as ConnectionError {
            throw Failure.usage(error.sentence + (error.requestSent ? ifUnanswered.map { "; " + $0 } ?? "" : ""))
        }
        if let problem = response.problem {
            // Every problem of an order file, one per line, then the sentence.
            for violation in problem.violations ?? [] {
                FileHandle.standardError.write(Data(("  " + violation.sentence + "\n").utf8))
            }
            throw Failure.refused(problem.sentence)
        }
        guard (200..<300).contains(response.status) else {
            throw Failure.refused("paysignd answered \(response.status)")
        }
        return response
    }

    /// The body decoded as `type`, or one sentence saying the client does not understand it.
    func decode<T: Decodable>(_ response: DaemonResponse, as type: T.Type) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let value = try? decoder.decode(T.self, from: response.body) else {
            throw Failure.usage("paysignd answered something this client does not understand; is it the same version?")
        }
        return value
    }

    /// Prints the body as JSON (pretty) when --json, else hands the decoded value to `text`.
    func output<T: Decodable>(_ response: DaemonResponse, as type: T.Type, text: (T) -> String) throws {
        if json {
            let object = try JSONSerialization.jsonObject(with: response.body)
            let pretty = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            FileHandle.standardOutput.write(pretty + Data("\n".utf8))
            return
        }
        print(text(try decode(response, as: T.self)), terminator: "")
    }
}

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ask the daemon whether it is up.")
    @OptionGroup var remote: SocketOptions


    func run() async throws {
        let response = try remote.call("GET", "/v1/health")
        try remote.output(response, as: Wire.Health.self) { h in
            "paysignd \(h.version): \(h.status.rawValue), up \(h.uptimeSeconds) s, \(h.readers.map { "\($0) readers" } ?? "readers unknown"), \(h.eventListeners) event listeners\n"
        }
    }
}

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow the daemon's events (tokens inserted and removed, PIN state, orders).")
    @OptionGroup var remote: SocketOptions
    @Option(help: "Stop after this many events.") var count: Int?

    func run() async throws {
        var seen = 0
        do {
            _ = try remote.client.events("/v1/events") { name, data in
                if remote.json { print(data) } else { print("\(name) \(data)") }
                fflush(nil)
                seen += 1
                return count.map { seen < $0 } ?? true
            }
        } catch let error as ConnectionError {
            // Refused (no role): exit 1, as every other command; no daemon: exit 2.
            throw error.refusedStatus == nil ? Failure.usage(error.message) : Failure.refused(error.message)
        }
    }
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read the audit journal, verify its hash chain, or sign its head on a token.",
        subcommands: [List.self, Verify.self, SignHead.self],
        defaultSubcommand: List.self)



    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Print journal entries.")
        @OptionGroup var remote: SocketOptions
        @Option(help: "Start after this entry number.") var after: Int64 = 0
        @Option(help: "At most this many entries (1-1000).") var limit: Int = 100

        func run() async throws {
            let response = try remote.call("GET", "/v1/audit?after=\(after)&limit=\(limit)")
            try remote.output(response, as: Wire.AuditPage.self) { page in
                page.entries.map { "\($0.seq)\t\($0.at)\t\($0.kind)\t\($0.actor)\t\($0.detail)\n" }.joined()
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk the journal's hash chain and name the first broken entry.",
            discussion: "Exit status 0 when the chain is intact, 1 when it is broken.")
        @OptionGroup var remote: SocketOptions


        func run() async throws {
            let response = try remote.call("GET", "/v1/audit/verify")
            let check = try JSONDecoder().decode(Wire.JournalCheck.self, from: response.body)
            try remote.output(response, as: Wire.JournalCheck.self) { c in
                c.intact
                    ? "journal intact: \(c.entries ?? 0) entries, head \(c.head ?? ""), \(c.signedHeads) signed heads verified\n"
                    : "journal BROKEN at entry \(c.brokenAt ?? 0): \(c.reason ?? "")\n"
            }
            if !check.intact { throw ExitCode(1) }
        }
    }
}

extension Audit {
    struct SignHead: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign-head",
            abstract: "Sign the journal's head on a token, so a rewrite of the whole journal shows.",
            discussion: """
                The daemon logs in to the token with the PIN (asked on the terminal, or read from \
                --pin-fd), signs the head, stores the signature, and re-signs the head periodically \
                (head-signing-interval-minutes) while that login lasts. Roles: auditor, administrator.
                """)
        @OptionGroup var remote: SocketOptions
        @Option(name: .customLong("token"), help: "PKCS#11 URI of the designated token.") var token: String
        @Option(name: .customLong("pin-fd"), help: "Read the PIN from this file descriptor.") var pinFD: Int32?
        @Flag(help: "Use the token's final PIN try.") var confirmFinalTry = false



        func run() async throws {
            _ = try parseURI(token)
            let pin = try PINInput.obtain(fd: pinFD, prompt: "PIN for the token that signs the journal: ")
            var body = try SecretBody.json(Wire.SignHead(token: token, pin: "", confirmFinalTry: confirmFinalTry), pins: [("pin", pin)])
            defer { SecretBody.wipe(&body) }
            let response = try remote.send("POST", "/v1/audit/head-signatures", body: body, contentType: "application/json")
            try remote.output(response, as: Wire.HeadSignature.self) { "journal head \($0.seq) (\($0.hash.prefix(16))…) signed with \($0.algorithm)\n" }
        }
    }
}

struct OperatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator", abstract: "Map Unix users to operators and roles (administrators).",
        subcommands: [Add.self, List.self, SetRoles.self, Remove.self])

    struct SetRoles: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-roles", abstract: "Replace an operator's roles (journaled).")
        @OptionGroup var remote: SocketOptions
        @Argument(help: "The operator's id (see 'paysign operator list').") var id: Int64
        @Option(name: .customLong("role"), help: "A role (repeatable); none removes every role.",
                completion: .list(Role.allCases.map(\.rawValue))) var roles: [String] = []
        func run() async throws {
            let response = try remote.call("PUT", "/v1/operators/\(id)/roles", body: Wire.RoleChange(roles: try wireRoles(roles)))
            try remote.output(response, as: Wire.Operator.self) { "operator \($0.id) (\($0.unixUser)) now has: \($0.roles.map(\.rawValue).sorted().joined(separator: ", "))\n" }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an operator (refused while they hold a token, rule D6).")
        @OptionGroup var remote: SocketOptions
        @Argument(help: "The operator's id.") var id: Int64
        func run() async throws {
            let response = try remote.call("DELETE", "/v1/operators/\(id)")
            try remote.output(response, as: Wire.Operator.self) { "operator \($0.id) (\($0.unixUser)) removed\n" }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Map a Unix user to an operator with roles.")
        @OptionGroup var remote: SocketOptions
        @Option(name: .customLong("user"), help: "The Unix user.") var unixUser: String
        @Option(name: .customLong("national-id"), help: "The 14-digit national ID.") var nationalID: String
        @Option(help: "The operator's full name.") var name: String
        @Option(help: "The entity code.") var entity: String?
        @Option(name: .customLong("role"), help: "A role (repeatable): data-entry, reviewer, first-signer, second-signer, certification-authority, payment-center, auditor, administrator.",
                completion: .list(Role.allCases.map(\.rawValue)))
        var roles: [String] = []


        func run() async throws {
            let response = try remote.call("POST", "/v1/operators", body: Wire.NewOperator(unixUser: unixUser, nationalID: nationalID, name: name, entity: entity, roles: try wireRoles(roles)))
            try remote.output(response, as: Wire.Operator.self) { "operator \($0.id) added: \($0.unixUser) (\($0.roles.map(\.rawValue).sorted().joined(separator: ", ")))\n" }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List operators.")
        @OptionGroup var remote: SocketOptions
        func run() async throws {
            let response = try remote.call("GET", "/v1/operators")
            try remote.output(response, as: [Wire.Operator].self) { list in
                list.map { "\($0.id)\t\($0.unixUser)\t\($0.name)\t\($0.entityCode ?? "-")\t\($0.roles.map(\.rawValue).sorted().joined(separator: ","))\n" }.joined()
            }
        }
    }

}

struct EntityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "entity", abstract: "Register government entities (administrators).", subcommands: [Add.self, List.self])


    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register an entity.")
        @OptionGroup var remote: SocketOptions
        @Option(help: "The entity code.") var code: String
        @Option(help: "The entity's name.") var name: String
        func run() async throws {
            let response = try remote.call("POST", "/v1/entities", body: Wire.NewEntity(code: code, name: name))
            try remote.output(response, as: Wire.Entity.self) { "entity \($0.code) added: \($0.name)\n" }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List entities.")
        @OptionGroup var remote: SocketOptions
        func run() async throws {
            let response = try remote.call("GET", "/v1/entities")
            try remote.output(response, as: [Wire.Entity].self) { $0.map { "\($0.code)\t\($0.name)\n" }.joined() }
        }
    }
}

/// The outbox: payable orders on their way to the payment center (D8), for the entity's
/// administrator and auditors (by scope).
struct OutboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox",
        abstract: "Show payable orders on their way to the payment center (administrators, auditors).",
        discussion: """
            One line per order: its id, entity, state (pending: not answered for good yet; delivered), \
            attempts, and the last error or the center's answer. --metrics prints the same in Prometheus's \
            text format (GET /v1/metrics), for node_exporter's textfile collector: the daemon's API is a \
            Unix socket, which Prometheus does not scrape.
            """)
    @OptionGroup var remote: SocketOptions
    @Option(help: "Only this entity's orders (the Ministry's side; an entity's operators see their own).") var entity: String?
    @Flag(help: "Print the outbox's figures in Prometheus's text format.") var metrics = false

    func run() async throws {
        if metrics {
            let response = try remote.call("GET", "/v1/metrics")
            FileHandle.standardOutput.write(response.body)
            return
        }
        let query = entity.map { "?entity=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0) } ?? ""
        let response = try remote.call("GET", "/v1/outbox" + query)
        try remote.output(response, as: [Wire.OutboxEntry].self) { entries in
            guard !entries.isEmpty else { return "the outbox is empty\n" }
            return entries.map { entry in
                let answer: String
                switch entry.state {
                case .delivered:
                    answer = "\(entry.outcome?.rawValue ?? "answered")\(entry.submissionID.map { " (submission \($0))" } ?? "")"
                        + (entry.centerState.map { ", \($0.rawValue) at the center" } ?? "")
                case .pending:
                    answer = entry.lastError.map { "last: \($0)" } ?? "not tried yet"
                }
                return "order \(entry.orderID)\t\(entry.entityCode)\t\(entry.state.rawValue)\t\(entry.attempts) attempts\t\(answer)\n"
            }.joined()
        }
    }
}

extension ConnectionError {
    /// The sentence in the client's language: the catalog's when the error names its key.
    var sentence: String {
        guard messageWords.language != .en, let key else { return message }
        return messageWords(key, values: values)
    }
}

extension Components.Schemas.Problem {
    /// The refusal in the client's language. The daemon's sentence (`detail`) is English; in
    /// another language the problem's type is named first in that language, then the daemon's
    /// sentence, so the reader knows what happened and support reads the same words.
    var sentence: String {
        let rule = self.rule.map { messageWords("client.rule", ["rule": "\($0)"]) } ?? ""
        guard messageWords.language != .en else { return detail + rule }
        let name = type.split(separator: ":").last.map(String.init) ?? ""
        let key = "problem.\(name)"
        let title = messageWords.has(key) ? messageWords(key) : title
        return messageWords("client.refusal", ["title": title, "detail": detail]) + rule
    }
}
