import ArgumentParser
import Foundation
import PaysignPKCS11
import PaysignTokens

struct Tokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List tokens, their certificates, keys, URIs and PIN state, and the PC/SC readers.",
        discussion: """
            Asks paysignd, or with --local reads the tokens of this machine in process (the module \
            options and --no-readers/--all apply then). In process it exits 2, after printing the \
            tokens, when pcscd cannot be reached, unless --no-readers. p11-kit's trust store is left \
            out unless --all.
            """)

    @OptionGroup var modules: ModuleOptions
    @Flag(help: "Print JSON (stable field names; dates in ISO 8601).") var json = false
    @Flag(help: "Read the tokens in this process instead of asking paysignd.") var local = false
    @Option(help: ArgumentHelp("The daemon's socket (default: PAYSIGN_SOCKET, else /run/paysign/paysign.sock).", valueName: "path"))
    var socket: String?
    @Flag(help: "Do not ask pcscd for readers.") var noReaders = false
    @Flag(help: "Include p11-kit's trust-store module.") var all = false

    func run() async throws {
        guard local else {
            var remote = try SocketOptions.parse([])
            remote.socket = socket
            remote.json = json
            let response = try remote.call("GET", "/v1/tokens")
            try remote.output(response, as: Inventory.self) { Self.text($0) }
            return
        }
        let service = try modules.service()
        defer { service.close() }
        let inventory = await service.inventory(readers: !noReaders, includeTrustModules: all)
        if json {
            try printJSON(inventory)
        } else {
            print(Self.text(inventory), terminator: "")
        }
        if let problem = inventory.readersError {
            throw Failure.usage(problem)
        }
    }

    static func text(_ inventory: Inventory) -> String {
        var out = ""
        if inventory.tokens.isEmpty {
            out += "No token found in modules: \(inventory.modules.map(\.name).joined(separator: ", ")).\n"
        }
        for token in inventory.tokens {
            out += "Token '\(token.label)'  \(token.manufacturer) \(token.model), serial \(token.serial)\n"
            out += "  URI        \(token.uri)\n"
            out += "  module     \(token.module), slot '\(token.slotDescription)'\n"
            var pin = "PIN \(token.pinState.summary)"
            if token.pinPad { pin += ", entered on the reader's PIN pad" }
            out += "  state      \(pin)\n"
            if let reader = token.reader { out += "  reader     \(reader)\n" }
            if let error = token.error { out += "  error      \(error)\n" }
            for cert in token.certificates {
                out += "  certificate id \(cert.id): \(cert.subject)\n"
                out += "    issuer   \(cert.issuer)\n"
                out += "    serial   \(cert.serial)   \(cert.keyAlgorithm.uppercased())-\(cert.keyBits)\n"
                out += "    valid    \(day(cert.notBefore)) to \(day(cert.notAfter)) (\(cert.validity))\n"
                out += "    URI      \(cert.uri)\n"
            }
            for key in token.keys {
                let size = key.bits.map { "-\($0)" } ?? ""
                let cert = key.hasCertificate ? "" : " (no certificate)"
                out += "  key id \(key.id) '\(key.label)' \(key.type.uppercased())\(size)\(cert)\n"
                out += "    URI      \(key.uri)\n"
            }
            out += "\n"
        }
        if let readers = inventory.readers {
            if readers.isEmpty { out += "No PC/SC reader.\n" }
            for reader in readers {
                var line = "Reader '\(reader.name)': " + (reader.cardPresent ? "card present" : "no card")
                if let atr = reader.atr, reader.cardPresent { line += " (ATR \(atr))" }
                if !reader.tokens.isEmpty { line += ", token " + reader.tokens.joined(separator: ", ") }
                out += line + "\n"
            }
        }
        return out
    }

    static func day(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle().year().month().day())
    }
}
