import ArgumentParser
import Foundation
import PaysignAPI
import PaysignPKCS11
import PaysignTokens
import PaysignSecrets

struct PINCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pin", abstract: "Manage a token's user PIN.", subcommands: [Change.self])

    struct Change: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change the user PIN of your token (rule D5: change it periodically).",
            discussion: """
                Asks the current PIN and the new one twice on the terminal, or reads them from file \
                descriptors. Through the daemon (the default), only the token's registered holder may \
                change its PIN, and the date is recorded: maximum-pin-age-days counts from it. With \
                --local the change is made in process and nothing is recorded.
                """)

        @OptionGroup var remote: SocketOptions
        @OptionGroup var modules: ModuleOptions
        @Flag(help: "Change the PIN in process, without the daemon (the date is not recorded).") var local = false
        @Option(name: .customLong("token"), help: "PKCS#11 URI of the token, e.g. pkcs11:token=officer1.")
        var token: String
        @Option(name: .customLong("old-pin-fd"), help: "Read the current PIN from this file descriptor.")
        var oldPINFD: Int32?
        @Option(name: .customLong("new-pin-fd"), help: "Read the new PIN from this file descriptor.")
        var newPINFD: Int32?
        @Flag(help: "Use the token's final PIN try.") var confirmFinalTry = false

        func run() async throws {
            let uri = try parseURI(token)
            if !local {
                let old = try PINInput.obtain(fd: oldPINFD, prompt: "Current PIN for \(token): ")
                let new = try PINInput.obtain(fd: newPINFD, prompt: "New PIN: ")
                if newPINFD == nil {
                    let again = try PINInput.prompt("New PIN again: ")
                    guard PINCommand.equal(again, new) else { throw Failure.usage("the two new PINs differ; nothing was changed") }
                }
                var body = try SecretBody.json(Wire.PINChange(token: token, oldPin: "", newPin: "", confirmFinalTry: confirmFinalTry), pins: [("oldPin", old), ("newPin", new)])
                defer { SecretBody.wipe(&body) }
                let response = try remote.send("POST", "/v1/pin-changes", body: body, contentType: "application/json")
                try remote.output(response, as: Wire.RegisteredToken.self) { "PIN of token \($0.label) (serial \($0.serial)) changed; recorded\n" }
                return
            }
            let service = try modules.service()
            defer { service.close() }
            let slot = try await service.library.token(matching: uri)
            let session = try await slot.openSession(readWrite: true)
            let label = session.token.label
            let old = try PINInput.obtain(fd: oldPINFD, prompt: "Current PIN for token '\(label)': ")
            let new = try PINInput.obtain(fd: newPINFD, prompt: "New PIN: ")
            if newPINFD == nil {
                let again = try PINInput.prompt("New PIN again: ")
                guard again.count == new.count, PINCommand.equal(again, new) else {
                    throw Failure.usage("the two new PINs differ; nothing was changed")
                }
            }
            if let minimum = session.token.minPINLength, new.count < Int(minimum) {
                throw Failure.usage("token '\(label)' needs a PIN of at least \(minimum) characters; nothing was changed")
            }
            let state = try await slot.tokenInfo().pinState
            if state.contains(.finalTry) && !confirmFinalTry {
                throw PKCS11Error(.pinFinalTry, "token '\(label)' is on its final PIN try: a wrong current PIN now locks it; pass --confirm-final-try to use this try")
            }
            try await session.changePIN(old: old, new: new)
            await session.close()
            print("PIN of token '\(label)' changed")
        }
    }

    static func equal(_ a: PIN, _ b: PIN) -> Bool {
        // Compared through the login-free helper so the bytes never become a String.
        a.isEqual(to: b)
    }
}
