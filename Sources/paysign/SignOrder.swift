import ArgumentParser
import Foundation
import PaysignAPI
import PaysignDomain
import PaysignPKCS11
import PaysignSecrets

/// `paysign sign ORDER --first|--second --token URI`: the signatures of D2, made by the daemon on
/// the caller's own token.
struct SignOrder: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Apply the first or second signature to a payment order with your token (D2).",
        discussion: """
            The daemon checks that you hold the role and the token (D3, D5, D13), that the order was \
            reviewed (D9) or first-signed (D2), and for the second signature that the file number \
            you reviewed equals the uploaded file's (D9); then it logs in to the token once with your \
            PIN and makes a CMS (CAdES-BES) signature on the token. The PIN is asked on the terminal \
            with echo off, or read from --pin-fd; it is sent only over the daemon's socket and never \
            retried. Exit status 0 signed, 1 refused (rule, wrong PIN, …), 2 usage or connection.
            """)
    @OptionGroup var remote: SocketOptions
    @OptionGroup var retry: RetryOptions
    @Argument(help: "The order's id.") var order: Int64
    @Flag(name: .customLong("first"), help: "The first signature (the entity's finance officer).") var first = false
    @Flag(name: .customLong("second"), help: "The second signature (the Ministry of Finance representative).") var second = false
    @Option(name: .customLong("token"), help: "PKCS#11 URI of your token, e.g. pkcs11:token=officer1.") var token: String
    @Option(name: .customLong("file-number"), help: "The file number you reviewed (required with --second, D9).") var fileNumber: String?
    @Option(name: .customLong("pin-fd"), help: "Read the PIN from this file descriptor instead of the terminal.") var pinFD: Int32?
    @Flag(name: .customLong("cached-login"), help: "Send no PIN: use the login the daemon keeps for you (pin-cache-seconds).") var cachedLogin = false
    @Flag(help: "Use the token's final PIN try (a wrong PIN then locks it).") var confirmFinalTry = false

    func validate() throws {
        guard first != second else { throw ValidationError("give exactly one of --first and --second") }
        if second && fileNumber == nil { throw ValidationError("--second needs --file-number: the number you reviewed (D9)") }
    }

    func run() async throws {
        _ = try parseURI(token)
        let fields = Wire.SignatureRequest(step: first ? .first : .second, token: token, pin: cachedLogin ? nil : "", fileNumber: fileNumber, confirmFinalTry: confirmFinalTry)
        var body: Data
        if cachedLogin {
            body = try SecretBody.json(fields, pins: [])
        } else {
            let pin = try PINInput.obtain(fd: pinFD, prompt: "PIN for \(token): ")
            body = try SecretBody.json(fields, pins: [("pin", pin)])
        }
        defer { SecretBody.wipe(&body) }
        let response = try remote.send("POST", "/v1/orders/\(order)/signatures", body: body, contentType: "application/json", headers: retry.headers)
        try remote.output(response, as: Wire.SignResult.self) { result in
            var text = "order \(result.order.id) signed \(result.signature.step.rawValue) by \(result.signature.signer.unixUser) on token \(result.signature.tokenSerial); now \(result.order.state.rawValue)\n"
            for warning in result.warnings { text += "warning: \(warning)\n" }
            return text
        }
    }
}
