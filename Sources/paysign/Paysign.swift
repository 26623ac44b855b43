import ArgumentParser
import CPaysignShims
import Foundation
import Logging
import PaysignDomain
import PaysignPKCS11
import PaysignTokens
import PaysignText

/// The language of this client's messages, by the usual means (LANGUAGE, LC_ALL, LC_MESSAGES,
/// LANG): Arabic or English.
let messageWords = Words(Language.ofMessages(environment: ProcessInfo.processInfo.environment))

@main
struct Paysign: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paysign",
        abstract: "Sign and verify government payment orders on PKCS#11 / PC/SC tokens.",
        discussion: """
            Tokens and keys are named by PKCS#11 URI (RFC 7512), e.g. pkcs11:token=officer1;id=%01. \
            Run 'paysign tokens' to see the URIs of the tokens present.

            Commands talk to paysignd over its socket (--socket, PAYSIGN_SOCKET, default \
            /run/paysign/paysign.sock); 'tokens --local', 'readers', 'sign-file', 'order validate' \
            and 'pin change --local' work in process, on the tokens and files of this machine.

            Exit status: 0 success, 1 refused (by the daemon or the token: not authorized, wrong PIN, \
            expired certificate, …), 2 usage, configuration or connection error (is paysignd running?, \
            no such module, pcscd not running, bad URI), 3 a certificate was issued but its file could \
            not be written (the message says how to fetch it again).
            """,
        version: PaysignVersion.current,
        subcommands: [
            Health.self, Tokens.self, Events.self, Audit.self, OperatorCommand.self, EntityCommand.self,
            OrderCommand.self, SignOrder.self, HolderCommand.self, TokenCommand.self, CRLCommand.self, ReportCommand.self,
            Readers.self, SignFile.self, Verify.self,
            PINCommand.self, CenterCommand.self, OutboxCommand.self,
        ])

    static func main() async {
        // PINs pass through this process (rule D5): no core file, no ptrace by the same user.
        _ = CPaysignShims_forbid_core_dumps()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            let level = ProcessInfo.processInfo.environment["PAYSIGN_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
            handler.logLevel = level ?? .warning
            return handler
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as PKCS11Error {
            fail(error.description, status: Failure.status(of: error))
        } catch let error as TokenError {
            fail(error.description, status: 1)
        } catch let error as Failure {
            fail(error.message, status: error.status)
        } catch let code as ExitCode {
            // A command that printed its answer and ends with a status (an invalid order file: 1).
            Foundation.exit(code.rawValue)
        } catch {
            // The argument parser's own answers: help and --version on standard output with
            // status 0; a usage error as every other failure, one sentence after `paysign:` with
            // status 2 (the parser's default would be "Error: …" and 64).
            if exitCode(for: error) == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = Self.message(for: error).trimmingCharacters(in: .whitespacesAndNewlines)
            let sentence = message.hasPrefix("Error: ") ? String(message.dropFirst("Error: ".count)) : message
            // One line: the parser's first line, with a list it gives of allowed values ("- html",
            // "- csv", …) folded into it.
            let lines = sentence.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            let values = lines.dropFirst().filter { $0.hasPrefix("- ") }.map { String($0.dropFirst(2)) }
            let first = lines.first ?? sentence
            let line = values.isEmpty ? first : first + " " + values.joined(separator: ", ")
            fail(messageWords("client.usage", ["message": line]), status: 2)
        }
    }

    static func fail(_ message: String, status: Int32) -> Never {
        FileHandle.standardError.write(Data(("paysign: " + message + "\n").utf8))
        Foundation.exit(status)
    }
}

/// A failure the client reports itself, with its exit status.
struct Failure: Error {
    var message: String
    var status: Int32

    static func usage(_ message: String) -> Failure { Failure(message: message, status: 2) }
    /// Exit status 3: the daemon did something irreversible (a certificate issued) whose answer
    /// could not be saved; the sentence says how to fetch it again.
    static let issuedNotWritten: Int32 = 3
    static func refused(_ message: String) -> Failure { Failure(message: message, status: 1) }

    static func status(of error: PKCS11Error) -> Int32 {
        switch error.code {
        case .moduleNotFound, .moduleFailed, .invalidURI: return 2
        default: return 1
        }
    }
}

/// Where the PKCS#11 modules come from.
struct ModuleOptions: ParsableArguments {
    @Option(
        name: .customLong("module"),
        help: ArgumentHelp(
            "Load only this PKCS#11 module (a path, or a name p11-kit resolves); default: every module registered with p11-kit.",
            valueName: "path"))
    var module: String?

    func service() throws -> TokenService {
        let chosen = module ?? ProcessInfo.processInfo.environment["PAYSIGN_PKCS11_MODULE"]
        return try TokenService(modules: chosen.map { .path($0) } ?? .registered)
    }
}

func parseURI(_ text: String) throws -> PKCS11URI {
    do { return try PKCS11URI(text) } catch let error as PKCS11Error { throw Failure.usage(error.message) }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    FileHandle.standardOutput.write(try encoder.encode(value))
    FileHandle.standardOutput.write(Data("\n".utf8))
}
