import ArgumentParser
import Foundation
import PaysignAPI

/// `paysign holder`: first- and second-signature holders per entity (D3), by an administrator.
struct HolderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "holder", abstract: "Register who signs first and second for an entity (administrators, D3).",
        subcommands: [Add.self, List.self, Remove.self, Clear.self, DeathNotice.self, SetRetirement.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a Unix user a first- or second-signature holder of an entity.",
            discussion: """
                An entity has at most two first-signature holders and at least one of them on site \
                (D3): the third is refused, naming the two. A new operator needs --national-id and \
                --name; an existing one gets the role added.
                """)
        @OptionGroup var remote: SocketOptions
        @Argument(help: "The holder's Unix user.") var user: String
        @Option(help: "The entity's code.") var entity: String
        @Flag(name: .customLong("first"), help: "A first-signature holder (the entity's finance officer).") var first = false
        @Flag(name: .customLong("second"), help: "A second-signature holder (the Ministry of Finance representative).") var second = false
        @Flag(name: .customLong("on-site"), help: "Permanently present at the workplace (D3).") var onSite = false
        @Option(name: .customLong("national-id"), help: "The 14-digit national ID (new operators).") var nationalID: String?
        @Option(help: "The holder's full name (new operators).") var name: String?

        func validate() throws {
            guard first != second else { throw ValidationError("give exactly one of --first and --second") }
        }

        func run() async throws {
            let body = Wire.NewHolder(unixUser: user, nationalID: nationalID, name: name, entity: entity, step: first ? .first : .second, onSite: onSite ? true : nil)
            let response = try remote.call("POST", "/v1/holders", body: body)
            try remote.output(response, as: Wire.Holder.self) { "holder \($0.unixUser) of \($0.entity ?? "-"): \($0.steps.map(\.rawValue).joined(separator: ", ")) signer\($0.onSite ? ", on site" : "")\n" }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List signature holders: user, entity, steps, on-site, name, tokens.")
        @OptionGroup var remote: SocketOptions
        @Option(help: "Only this entity's holders.") var entity: String?

        func run() async throws {
            let query = entity.map { "?entity=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)" } ?? ""
            let response = try remote.call("GET", "/v1/holders" + query)
            try remote.output(response, as: [Wire.Holder].self) { $0.map(\.line).joined() }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a holder's signing role away (refused while they hold a token: surrender first, D6).")
        @OptionGroup var remote: SocketOptions
        @Argument(help: "The holder's Unix user.") var user: String
        @Flag(name: .customLong("first"), help: "Only the first-signature role.") var first = false
        @Flag(name: .customLong("second"), help: "Only the second-signature role.") var second = false

        func run() async throws {
            let step = first ? "?step=first" : second ? "?step=second" : ""
            let response = try remote.call("DELETE", "/v1/holders/\(user)\(step)")
            try remote.output(response, as: Wire.Holder.self) { "\($0.unixUser) now signs: \($0.steps.isEmpty ? "nothing" : $0.steps.map(\.rawValue).joined(separator: ", "))\n" }
        }
    }
}

/// `paysign token`: tokens the registry binds to their holders (D5).
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Register tokens to their holders and move them through their lifecycle (certification authority, D6).",
        subcommands: [Register.self, List.self, Request.self, Issue.self, CertificateCopy.self, Install.self, Activate.self, Suspend.self, Resume.self, Surrender.self, Revoke.self])

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bind an inserted token, and the certificates on it, to its holder.",
            discussion: "The daemon reads the serial, label and certificates from the token itself; a certificate naming another person's national ID is refused (D5), and so is one that chains to none of the daemon's trust anchors (D6). Registered by the certification authority, the token is active; by an administrator, it is issued, and signs once the authority activates it (paysign token activate, D6).")
        @OptionGroup var remote: SocketOptions
        @Option(name: .customLong("token"), help: "PKCS#11 URI of the token.") var token: String
        @Option(help: "The holder's Unix user.") var holder: String
        @Flag(help: "Register the token as issued even when the certification authority registers it: it signs once the authority activates it (paysign token activate).")
        var issued = false

        func run() async throws {
            _ = try parseURI(token)
            let response = try remote.call("POST", "/v1/registered-tokens", body: Wire.TokenRegistration(token: token, holder: holder, state: issued ? .issued : nil))
            try remote.output(response, as: Wire.RegisteredToken.self) { "token \($0.label) (serial \($0.serial)) registered to \(holder) as \($0.state.rawValue) with \($0.certificates.count) certificate(s)\n" }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered tokens.")
        @OptionGroup var remote: SocketOptions

        func run() async throws {
            let response = try remote.call("GET", "/v1/registered-tokens")
            try remote.output(response, as: [Wire.RegisteredToken].self) { tokens in
                tokens.map { "\($0.serial)\t\($0.label)\t\($0.state.rawValue)\tholder \($0.holder.map(String.init) ?? "-")\tPIN changed \($0.pinChangedAt.map { $0.formatted(Date.ISO8601FormatStyle()) } ?? "never")\n" }.joined()
            }
        }
    }
}

extension Wire.Holder {
    /// user, entity, steps, on-site, name, tokens: one line of `paysign holder list`.
    var line: String {
        "\(unixUser)\t\(entity ?? "-")\t\(steps.map(\.rawValue).joined(separator: ","))\t\(onSite ? "on-site" : "-")\t\(name)\t\(tokens.isEmpty ? "no token" : tokens.joined(separator: ","))\n"
    }
}

extension Wire.RegisteredToken {
    /// `keyCompromise (loss)`: why a revoked or surrendered token went on the CRL.
    var reasonText: String? { revocation.map { "\($0.reason) (\($0.cause))" } }
}
