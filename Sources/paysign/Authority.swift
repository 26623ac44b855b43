import ArgumentParser
import Foundation
import PaysignAPI
import PaysignClient
import PaysignDomain
import PaysignSecrets

/// The certification authority's commands (D6): the token lifecycle, holders leaving, CRLs.
struct TokenTransitionOptions: ParsableArguments {
    @OptionGroup var remote: SocketOptions
    @Argument(help: "The token's serial (see 'paysign token list').") var serial: String
    @Option(help: ArgumentHelp("Why (journaled).", valueName: "text")) var note: String?
}

func transition(
    _ options: TokenTransitionOptions, _ action: Wire.TokenTransition.ActionPayload, cause: String? = nil, invalidityDate: String? = nil
) throws {
    let cause = try cause.map { text in
        guard let cause = Wire.TokenTransition.CausePayload(rawValue: text) else {
            throw Failure.usage("--cause must be one of \(Wire.TokenTransition.CausePayload.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'")
        }
        return cause
    }
    let serial = options.serial.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? options.serial
    let response = try options.remote.call(
        "POST", "/v1/registered-tokens/\(serial)/transitions",
        body: Wire.TokenTransition(action: action, cause: cause, invalidityDate: invalidityDate, note: options.note))
    try options.remote.output(response, as: Wire.RegisteredToken.self) { token in
        "token \(token.label) (serial \(token.serial)) is now \(token.state.rawValue)\(token.reasonText.map { ", reason \($0)" } ?? "")\n"
    }
}

extension TokenCommand {
    struct Activate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put an issued token in service (certification authority).")
        @OptionGroup var options: TokenTransitionOptions
        func run() async throws { try transition(options, .activate) }
    }

    struct Suspend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Suspend a token, e.g. reported lost; it signs again only once resumed.")
        @OptionGroup var options: TokenTransitionOptions
        func run() async throws { try transition(options, .suspend) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a suspended token (found again).")
        @OptionGroup var options: TokenTransitionOptions
        func run() async throws { try transition(options, .resume) }
    }

    struct Surrender: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record that the holder handed the token back (D6: before clearance); its certificates go on the next CRL.")
        @OptionGroup var options: TokenTransitionOptions
        @Option(help: "retirement, transfer, secondment, withdrawal, replaced or other.",
                completion: .list(["retirement", "transfer", "secondment", "withdrawal", "replaced", "other"])) var cause: String
        func run() async throws { try transition(options, .surrender, cause: cause) }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a token at once (D6): it stops signing on this daemon, and its certificates go on the next CRL.",
            discussion: """
                The cause gives the RFC 5280 reason: retirement and death → cessationOfOperation, \
                transfer and secondment → affiliationChanged, loss and pin-disclosed → keyCompromise, \
                withdrawal → privilegeWithdrawn, replaced → superseded, other → unspecified.
                """)
        @OptionGroup var options: TokenTransitionOptions
        @Option(help: "retirement, transfer, secondment, loss, pin-disclosed, death, withdrawal, replaced or other.",
                completion: .list(RevocationCause.allCases.map(\.rawValue))) var cause: String
        @Option(name: .customLong("invalidity-date"), help: "When the key stopped being trustworthy (YYYY-MM-DD or an ISO 8601 time).") var invalidityDate: String?
        func run() async throws { try transition(options, .revoke, cause: cause, invalidityDate: invalidityDate) }
    }
}

extension HolderCommand {
    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Clear a holder to leave (refused while a token is not surrendered or revoked, D6).")
        @OptionGroup var remote: SocketOptions
        @Argument(help: "The holder's Unix user.") var user: String
        func run() async throws {
            let response = try remote.call("POST", "/v1/holders/\(user)/clearance")
            try remote.output(response, as: Wire.Operator.self) { "\($0.unixUser) cleared; no roles left\n" }
        }
    }

    struct DeathNotice: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "death-notice",
            abstract: "Record a holder's death notice: every token in service is revoked (D6; a notice after seven days is flagged).")
        @OptionGroup var remote: SocketOptions
        @Argument(help: "The holder's Unix user.") var user: String
        @Option(name: .customLong("date-of-death"), help: "YYYY-MM-DD.") var dateOfDeath: String
        @Option(name: .customLong("notified-on"), help: "The date of the entity's notice, YYYY-MM-DD.") var notifiedOn: String
        @Option(help: "The notice's reference.") var reference: String


        func run() async throws {
            let response = try remote.call("POST", "/v1/holders/\(user)/death-notice", body: Wire.DeathNotice(dateOfDeath: dateOfDeath, notifiedOn: notifiedOn, reference: reference))
            try remote.output(response, as: Wire.DeathNoticeResult.self) { r in
                "death notice recorded (\(r.delayDays) days after the death); tokens revoked: \(r.revokedTokens.isEmpty ? "none" : r.revokedTokens.joined(separator: ", "))\n"
                    + (r.warning.map { "warning: \($0)\n" } ?? "")
            }
        }
    }

    struct SetRetirement: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-retirement", abstract: "Set (or clear with --none) a holder's retirement date (D6).")
        @OptionGroup var remote: SocketOptions
        @Argument(help: "The holder's Unix user.") var user: String
        @Option(help: "YYYY-MM-DD.") var date: String?
        @Flag(help: "Clear the date.") var none = false

        func validate() throws {
            guard (date == nil) == none else { throw ValidationError("give --date or --none") }
        }

        func run() async throws {
            let response = try remote.call("PUT", "/v1/holders/\(user)/retirement-date", body: Wire.RetirementDate(retirementDate: date))
            try remote.output(response, as: Wire.Operator.self) { "\($0.unixUser): retirement date \(date ?? "cleared")\n" }
        }
    }
}

struct CRLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crl", abstract: "Revocation lists: issue one on the authority's token, fetch the newest, import one.",
        subcommands: [Issue.self, Get.self, Import.self])

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a new CRL on the authority's token with every revoked or surrendered token's certificates (certification authority).",
            discussion: "Check it with: openssl crl -inform DER -in crl.der -CAfile ROOT -noout")
        @OptionGroup var remote: SocketOptions
        @Option(name: .customLong("pin-fd"), help: "Read the authority token's PIN from this file descriptor.") var pinFD: Int32?
        @Flag(help: "Use the token's final PIN try.") var confirmFinalTry = false

        func run() async throws {
            let pin = try PINInput.obtain(fd: pinFD, prompt: "PIN for the authority's token: ")
            var body = try SecretBody.json(Wire.IssueCRL(pin: "", confirmFinalTry: confirmFinalTry), pins: [("pin", pin)])
            defer { SecretBody.wipe(&body) }
            let response = try remote.send("POST", "/v1/crl", body: body, contentType: "application/json")
            try remote.output(response, as: Wire.CRLInfo.self) { "CRL number \($0.number) signed by \($0.issuer): \($0.entries) revoked certificate(s)\n" }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the newest CRL held (DER, or PEM with --pem).")
        @OptionGroup var remote: SocketOptions
        @Flag(help: "PEM instead of DER.") var pem = false
        @Option(name: .customLong("out"), help: "Where to write it (default: standard output).") var output: String?

        func validate() throws {
            if remote.json { throw ValidationError("--json means nothing here: the list is written as DER, or PEM with --pem") }
        }

        func run() async throws {
            let response = try remote.call("GET", "/v1/crl" + (pem ? "?format=pem" : ""))
            if let output {
                try writeAtomically(response.body, to: output)
                FileHandle.standardError.write(Data("wrote \(output) (\(response.body.count) bytes)\n".utf8))
            } else {
                FileHandle.standardOutput.write(response.body)
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import a CRL from the authority (DER or PEM): verified against the trust anchors, refused if not newer than the one held, applied at once.")
        @OptionGroup var remote: SocketOptions
        @Argument(help: "The CRL file.") var file: String

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw Failure.usage("cannot read \(file)") }
            let response = try remote.send("POST", "/v1/crl/imports", body: data, contentType: "application/pkix-crl")
            try remote.output(response, as: Wire.CRLInfo.self) { "CRL number \($0.number) from \($0.issuer) imported: \($0.entries) revoked certificate(s)\n" }
        }
    }
}

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Reports for the certification authority and auditors.", subcommands: [Holders.self])

    struct Holders: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Holders per entity: roles, on site, token states, last signature, PIN age; dormant (D4), due to surrender and late death notices (D6).")
        @OptionGroup var remote: SocketOptions
        @Option(help: "Only this entity.") var entity: String?
        @Option(help: "text, json or csv (--json is --format json).", completion: .list(["text", "json", "csv"])) var format: String?

        func validate() throws {
            if let format, !["text", "json", "csv"].contains(format) { throw ValidationError("--format must be text, json or csv, not '\(format)'") }
            if remote.json, let format, format != "json" { throw ValidationError("give --json or --format \(format), not both") }
        }

        func run() async throws {
            let format = remote.json ? "json" : self.format ?? "text"
            var query = "?format=\(format)"
            if let entity { query += "&entity=\(entity.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? entity)" }
            let response = try remote.call("GET", "/v1/reports/holders" + query)
            FileHandle.standardOutput.write(response.body)
            if format == "json" { FileHandle.standardOutput.write(Data("\n".utf8)) }
        }
    }
}
