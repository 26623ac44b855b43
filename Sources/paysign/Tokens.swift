import ArgumentParser
import Foundation
import PaysignDomain
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
    @Flag(help: "With --local: a support report (modules loaded and not, slot and token flags, mechanisms with their sizes and flags, the objects seen without a login, and the mechanism paysign would use for each key and why). No PIN is asked for, no login made.")
    var diagnose = false
    @Option(name: .customLong("token"), help: ArgumentHelp("With --diagnose: only the token this PKCS#11 URI names.", valueName: "uri"))
    var token: String?

    func validate() throws {
        if diagnose && !local { throw ValidationError("--diagnose reads the tokens in this process: add --local") }
        if token != nil && !diagnose { throw ValidationError("--token goes with --diagnose") }
    }

    func run() async throws {
        if diagnose {
            let uri = try token.map(parseURI)
            let service = try modules.service()
            defer { service.close() }
            let report = await service.diagnosis(token: uri)
            if json { try printJSON(report) } else { print(Self.text(report), terminator: "") }
            if uri != nil && report.slots.isEmpty { throw Failure.refused("no token matches \(token ?? "")") }
            return
        }
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
                if let algorithm = key.algorithm, let mechanism = key.mechanism {
                    out += "    signs    \(algorithm) with \(mechanism): \(key.mechanismReason ?? "")\n"
                } else if let algorithm = key.algorithm {
                    out += "    signs    nothing: \(algorithm) needs a mechanism the token lacks (\(key.mechanismReason ?? ""))\n"
                }
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

    static func text(_ report: Diagnosis) -> String {
        var out = "paysign \(PaysignVersion.current) support report, \(report.generatedAt.formatted(Date.ISO8601FormatStyle()))\n"
        out += "No login is made: private keys and their attributes are not listed.\n\n"
        for module in report.modules {
            out += "Module \(module.name): \(module.path) (\(module.libraryDescription), \(module.libraryManufacturer) \(module.libraryVersion))\n"
        }
        for missing in report.notLoaded {
            out += "Not loaded: \(missing.module), registered in \(missing.file): \(missing.reason)\n"
        }
        for slot in report.slots {
            out += "\nSlot \(slot.slotID) of \(slot.module): '\(slot.description)' (\(slot.manufacturer)); \(slot.flags.joined(separator: ", "))\n"
            guard let token = slot.token else {
                out += "  no token\n"
                continue
            }
            out += "  token '\(token.label)' \(token.manufacturer) \(token.model), serial \(token.serial)\n"
            out += "    flags    \(token.flags.joined(separator: ", ")); PIN \(token.pinState)"
            out += ", length \(token.minPINLength.map(String.init) ?? "?") to \(token.maxPINLength.map(String.init) ?? "?")\n"
            out += "    URI      \(token.uri)\n"
            if let error = slot.mechanismsError { out += "  mechanisms: could not be read (\(error))\n" }
            for mechanism in slot.mechanisms {
                out += "  mechanism \(mechanism.name) (\(mechanism.type)) keys \(mechanism.minKeySize)-\(mechanism.maxKeySize): \(mechanism.flags.joined(separator: ", "))\n"
            }
            if let error = slot.objectsError { out += "  objects: could not be read (\(error))\n" }
            for object in slot.objects {
                var line = "  \(object.objectClass) id \(object.id) '\(object.label)'"
                if let type = object.keyType { line += " \(type.uppercased())\(object.bits.map { "-\($0)" } ?? "")" }
                if let subject = object.subject { line += ": \(subject), serial \(object.serial ?? "?")" }
                out += line + "\n"
            }
            for key in slot.keys {
                out += "  key id \(key.id) signs \(key.algorithm ?? "nothing") with \(key.mechanism ?? "no mechanism"): \(key.reason)\n"
            }
        }
        return out
    }

    static func day(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle().year().month().day())
    }
}
