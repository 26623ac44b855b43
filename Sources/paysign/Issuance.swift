import ArgumentParser
import Foundation
import PaysignAPI
import PaysignClient
import PaysignOpenSSL
import PaysignPKCS11
import PaysignTokens
import PaysignSecrets

/// The path of a signing certificate: the key is made on the holder's token and never leaves it;
/// a request made there goes to the authority, which issues the certificate on its own token; the
/// certificate goes back onto the holder's token beside the key.
///
///     paysign token request --token URI --out req.pem       (holder, in process, PIN on the token)
///     paysign token issue --csr req.pem --holder USER --token URI
///                                                            (authority, through the daemon, with
///                                                             the holder's token present)
///     paysign token install --token URI --cert cert.pem      (holder, in process)
///
/// The authority's copy of every issued certificate is the registry's: `paysign token certificate
/// SERIAL --out cert.pem` fetches it again, so a lost output file never strands a token.
extension TokenCommand {
    /// The one key pair of a token a URI names (by `id=` when there are several), after login.
    static func keyPair(_ session: PKCS11Session, uri: PKCS11URI) async throws -> (privateKey: ObjectInfo, publicKey: ObjectInfo) {
        var filter = uri
        filter.type = nil
        let privateKeys = try await session.objects(.privateKey, matching: filter)
        guard let key = privateKeys.first else { throw Failure.refused("token '\(session.token.label)' holds no private key matching \(uri)") }
        guard privateKeys.count == 1 else {
            throw Failure.usage("token '\(session.token.label)' holds \(privateKeys.count) private keys matching \(uri); add id= to the URI")
        }
        guard let publicKey = try await session.objects(.publicKey).first(where: { $0.id == key.id }) else {
            throw Failure.refused("token '\(session.token.label)' has no public key object beside key \(Hex.string(key.id))")
        }
        return (key, publicKey)
    }

    struct Request: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a certification request (PKCS #10) for a key on your token, signed on the token (in process).",
            discussion: "The key never leaves the token; the authority puts your national ID, entity and role in the certificate from its registry.")
        @OptionGroup var modules: ModuleOptions
        @Option(name: .customLong("token"), help: "PKCS#11 URI of the token (and key: id=).") var token: String
        @Option(help: "Your name, as the request's common name.") var name: String
        @Option(name: .customLong("out"), help: "Where to write the request (PEM).") var output: String
        @Option(name: .customLong("pin-fd"), help: "Read the PIN from this file descriptor.") var pinFD: Int32?
        @Flag(help: "Print JSON (token, keyID, out).") var json = false

        func run() async throws {
            let uri = try parseURI(token)
            let service = try modules.service()
            defer { service.close() }
            let slot = try await service.library.token(matching: uri)
            let session = try await slot.openSession()
            let pin = try PINInput.obtain(fd: pinFD, prompt: "PIN for token '\(session.token.label)': ")
            _ = try await session.login(pin: pin)
            let (key, publicKey) = try await TokenCommand.keyPair(session, uri: uri)
            guard let keyType = key.keyType, let algorithm = SignatureAlgorithm.default(for: keyType) else {
                throw Failure.refused("the key is neither RSA nor EC")
            }
            let spki = try await session.subjectPublicKeyInfo(of: publicKey)
            let request = try await CertificateRequest.make(subject: DistinguishedName(commonName: name), subjectPublicKeyInfo: spki, scheme: algorithm.scheme) { tbs in
                let input = algorithm.mechanism.takesDigest ? SHA256.hash(tbs) : tbs
                let raw = try await session.sign(input, mechanism: algorithm.mechanism, key: key, again: ContextLogin(pin: pin, confirmFinalTry: false))
                return algorithm == .ecdsaSHA256 ? try ECDSASignature(rawRepresentation: raw).derEncoded : raw
            }
            try? await session.logout()
            await session.close()
            try writeAtomically(Data(request.pemEncoded.utf8), to: output)
            if json {
                try printJSON(["token": session.token.label, "keyID": Hex.string(key.id), "out": output])
            } else {
                print("certification request for key \(Hex.string(key.id)) on token '\(session.token.label)' written to \(output)")
            }
        }
    }

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue the signing certificate for a holder's request, signed on the authority's token (certification authority).",
            discussion: "The subject carries the holder's national ID (serialNumber), entity (O) and role (OU) from the registry; a holder with no signing role is refused (D3). The holder's token must be present: the request's key must be on it, and the token is registered to the holder as issued (paysign token activate once handed over). Issuing cannot be undone, so --out is checked and created before anything is sent: its folder must exist and be writable, and nothing may be at that path (paysign never overwrites a file nor follows a symbolic link). Should the file still not be written after issuance, the exit status is 3 and 'paysign token certificate SERIAL --out FILE' fetches the certificate again.")
        @OptionGroup var remote: SocketOptions
        @Option(help: "The request (PEM) made on the holder's token.") var csr: String
        @Option(help: "The holder's Unix user.") var holder: String
        @Option(name: .customLong("token"), help: "PKCS#11 URI of the holder's token, present at issuance.") var token: String
        @Option(name: .customLong("validity-days"), help: "Days of validity.") var validityDays = 730
        @Option(name: .customLong("out"), help: "Where to write the certificate (PEM): a new file in an existing folder, created before the request is sent.") var output: String
        @Option(name: .customLong("pin-fd"), help: "Read the authority token's PIN from this file descriptor.") var pinFD: Int32?
        @Flag(help: "Use the authority token's final PIN try.") var confirmFinalTry = false

        func run() async throws {
            guard let text = try? String(contentsOfFile: csr, encoding: .utf8) else { throw Failure.usage("cannot read \(csr)") }
            _ = try parseURI(token)
            // Issuing is irreversible (the token is registered to the holder as issued, and a token
            // gets one certificate, D5, D6): everything about the output that can fail fails now,
            // before anything is sent, and a refused request leaves no file behind.
            let out: ExclusiveOutput
            do { out = try ExclusiveOutput.create(output) } catch let failure as Failure {
                throw Failure(message: failure.message + " (nothing was sent, no certificate issued)", status: failure.status)
            }
            defer { out.discard() }
            let refetch = "paysign token certificate SERIAL --out \(shellQuoted(output))"
            let pin = try PINInput.obtain(fd: pinFD, prompt: "PIN for the authority's token: ")
            var body = try SecretBody.json(Wire.IssueCertificate(csr: text, holder: holder, token: token, validityDays: validityDays, pin: "", confirmFinalTry: confirmFinalTry), pins: [("pin", pin)])
            defer { SecretBody.wipe(&body) }
            let response = try remote.send(
                "POST", "/v1/certificates", body: body, contentType: "application/json",
                ifUnanswered: "the request was sent, so the certificate may have been issued: see paysign token list, and fetch it with \(refetch)")
            guard let issued = try? Wire.decoder.decode(Wire.IssuedCertificate.self, from: response.body) else {
                throw Failure.usage("paysignd answered something this client does not understand; the certificate may have been issued: see paysign token list, and fetch it with \(refetch)")
            }
            do {
                try out.commit(Data(issued.pem.utf8))
            } catch {
                throw Failure(
                    message: "certificate \(issued.serial) was issued and token \(issued.token.label) (serial \(issued.token.serial)) registered to \(holder) as \(issued.token.state.rawValue), "
                        + "but \(output) could not be written (\(error.reason)); fetch the certificate again with: paysign token certificate \(shellQuoted(issued.token.serial)) --out \(shellQuoted(output))",
                    status: Failure.issuedNotWritten)
            }
            if remote.json {
                try remote.output(response, as: Wire.IssuedCertificate.self) { _ in "" }
                return
            }
            print("certificate \(issued.serial) issued: \(issued.subject); written to \(output)")
            print("token \(issued.token.label) (serial \(issued.token.serial)) registered to \(holder) as \(issued.token.state.rawValue); paysign token activate \(issued.token.serial) once it is handed over")
        }
    }

    /// `paysign token certificate SERIAL`: the certificate a token was registered with (issued here
    /// by `paysign token issue`), fetched again from the daemon's registry, byte for byte.
    struct CertificateCopy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "certificate",
            abstract: "Fetch again the certificate a token was issued or registered with (certification authority, administrator).",
            discussion: "The PEM goes to --out, a new file (paysign never overwrites one nor follows a symbolic link), else to standard output; --json prints the daemon's answer. A token registered with several certificates needs --sha256.")
        @OptionGroup var remote: SocketOptions
        @Argument(help: "The token's serial (see 'paysign token list').") var serial: String
        @Option(help: "The certificate's SHA-256, when the token was registered with several.") var sha256: String?
        @Option(name: .customLong("out"), help: "Where to write the certificate (PEM); a new file.") var output: String?

        func run() async throws {
            let out = try output.map(ExclusiveOutput.create)
            defer { out?.discard() }
            let escaped = serial.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? serial
            let query = sha256.map { "?sha256=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0) } ?? ""
            let response = try remote.call("GET", "/v1/registered-tokens/\(escaped)/certificate" + query)
            guard let copy = try? Wire.decoder.decode(Wire.TokenCertificate.self, from: response.body) else {
                throw Failure.usage("paysignd answered something this client does not understand; is it the same version?")
            }
            if let out {
                do { try out.commit(Data(copy.pem.utf8)) } catch {
                    throw Failure.usage("cannot write \(out.path): \(error.reason)")
                }
            }
            if remote.json {
                try remote.output(response, as: Wire.TokenCertificate.self) { _ in "" }
            } else if let out {
                print("certificate \(copy.serial) of token \(copy.token.label) (serial \(copy.token.serial), \(copy.token.state.rawValue)): \(copy.subject); written to \(out.path)")
            } else {
                FileHandle.standardOutput.write(Data(copy.pem.utf8))
            }
        }
    }

    struct Install: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put an issued certificate on your token beside its key (in process).")
        @OptionGroup var modules: ModuleOptions
        @Option(name: .customLong("token"), help: "PKCS#11 URI of the token.") var token: String
        @Option(help: "The certificate (PEM).") var cert: String
        @Option(name: .customLong("pin-fd"), help: "Read the PIN from this file descriptor.") var pinFD: Int32?
        @Flag(help: "Print JSON (token, keyID, certificateSerial).") var json = false

        func run() async throws {
            let uri = try parseURI(token)
            guard let text = try? String(contentsOfFile: cert, encoding: .utf8) else { throw Failure.usage("cannot read \(cert)") }
            let certificate = try Certificate(pemEncoded: text)
            let service = try modules.service()
            defer { service.close() }
            let slot = try await service.library.token(matching: uri)
            let session = try await slot.openSession(readWrite: true)
            let pin = try PINInput.obtain(fd: pinFD, prompt: "PIN for token '\(session.token.label)': ")
            _ = try await session.login(pin: pin)
            // The key the certificate is for: the public key object with the same key info.
            var match: ObjectInfo?
            for publicKey in try await session.objects(.publicKey) where try await session.subjectPublicKeyInfo(of: publicKey) == certificate.subjectPublicKeyInfo {
                match = publicKey
            }
            guard let key = match else {
                throw Failure.refused("no key on token '\(session.token.label)' matches the certificate's public key; it was issued for another key")
            }
            try await session.storeCertificate(der: certificate.derEncoded, subjectDER: certificate.subjectDER, id: key.id, label: key.label.isEmpty ? "sign" : key.label)
            try? await session.logout()
            await session.close()
            if json {
                try printJSON(["token": session.token.label, "keyID": Hex.string(key.id), "certificateSerial": "\(certificate.serialNumber)"])
            } else {
                print("certificate \(certificate.serialNumber) stored on token '\(session.token.label)' beside key \(Hex.string(key.id))")
            }
        }
    }
}

/// A word as a shell reads it back: as is when plain, else in single quotes.
func shellQuoted(_ word: String) -> String {
    let plain = !word.isEmpty && word.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_./:=@%+,".unicodeScalars.contains($0)) }
    return plain ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
