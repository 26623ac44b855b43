public import ArgumentParser
import Foundation
import PaysignOpenSSL
import PaysignPKCS11
public import PaysignTokens

extension SignatureAlgorithm: ExpressibleByArgument {}

struct SignFile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign-file",
        abstract: "Sign any file in process with a key on a token (a raw signature, not a payment order).",
        discussion: """
            The PIN is asked on the terminal with echo off, or read from --pin-fd. A wrong PIN is \
            never retried: paysign reports the token's PIN state and stops.
            """)

    @OptionGroup var modules: ModuleOptions
    @Option(name: .customLong("key"), help: "PKCS#11 URI of the key, e.g. pkcs11:token=officer1;id=%01.")
    var key: String
    @Option(name: .customLong("in"), help: "The file to sign.") var input: String
    @Option(name: .customLong("out"), help: "Where to write the signature (DER for ECDSA).") var output: String
    @Option(name: .customLong("cert-out"), help: "Also write the signer's certificate here (PEM).")
    var certificateOutput: String?
    @Option(help: "rsa-pkcs1-sha256 (RSA default), rsa-pss-sha256, or ecdsa-sha256 (EC default).")
    var algorithm: SignatureAlgorithm?
    @Option(name: .customLong("pin-fd"), help: "Read the PIN from this file descriptor instead of the terminal.")
    var pinFD: Int32?
    @Flag(help: "Use the token's final PIN try (a wrong PIN then locks the token).")
    var confirmFinalTry = false
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let uri = try parseURI(key)
        guard let message = FileManager.default.contents(atPath: input) else {
            throw Failure.usage("cannot read \(input)")
        }
        let service = try modules.service()
        defer { service.close() }
        let signer = try await service.signer(for: uri)
        try signer.checkCertificate()
        // A token that cannot make this signature is refused before the PIN is asked for.
        _ = try await signer.mechanism(for: algorithm)
        let report: LoginReport
        let pin = try PINInput.obtain(fd: pinFD, prompt: "PIN for token '\(signer.session.token.label)': ")
        report = try await signer.login(pin: pin, confirmFinalTry: confirmFinalTry)
        // A key with CKA_ALWAYS_AUTHENTICATE is given the same PIN again for this signature.
        let signature = try await signer.sign(Array(message), algorithm: algorithm, again: ContextLogin(pin: pin, confirmFinalTry: confirmFinalTry))
        try writeAtomically(Data(signature.bytes), to: output)
        if let certificateOutput {
            try writeAtomically(Data(signer.certificate.pemEncoded.utf8), to: certificateOutput)
        }
        await signer.session.close()
        if json {
            try printJSON(
                SignResult(
                    key: signer.keyURI, algorithm: signature.algorithm.rawValue, signature: output,
                    signatureBytes: signature.bytes.count, certificateSubject: signer.certificate.subject,
                    certificateSerial: signer.certificate.serialNumber, pinStateBefore: report.before,
                    pinStateAfter: report.after))
        } else {
            print("signed \(input) (\(message.count) bytes) with \(signer.keyURI)")
            print("  algorithm   \(signature.algorithm.rawValue), \(signature.bytes.count)-byte signature in \(output)")
            print("  certificate \(signer.certificate.subject), serial \(signer.certificate.serialNumber)")
            print("  PIN state   \(report.before.summary) before, \(report.after.summary) after")
        }
    }
}

struct SignResult: Encodable {
    var key: PKCS11URI
    var algorithm: String
    var signature: String
    var signatureBytes: Int
    var certificateSubject: String
    var certificateSerial: String
    var pinStateBefore: PINState
    var pinStateAfter: PINState
}

/// Writes to a temporary file beside `path`, then renames: a reader sees all or nothing.
/// Writes `data` to `path` so that a crash leaves the old file or the new one, never half of it:
/// a temporary file beside it, written and `fsync`ed, renamed over the path, and the folder synced.
func writeAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let folder = url.deletingLastPathComponent().path
    let temporary = folder + "/." + url.lastPathComponent + ".\(getpid()).tmp"
    func failed(_ what: String) -> Failure {
        Failure.usage("cannot write \(path): \(what) (\(String(cString: strerror(errno))))")
    }
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw failed("cannot create a file in \(folder)") }
    var written = 0
    let ok = data.withUnsafeBytes { buffer -> Bool in
        while written < buffer.count {
            let n = write(fd, buffer.baseAddress! + written, buffer.count - written)
            if n < 0 { if errno == EINTR { continue }; return false }
            written += n
        }
        return fsync(fd) == 0
    }
    close(fd)
    guard ok, rename(temporary, path) == 0 else {
        let error = failed("the write did not complete")
        unlink(temporary)
        throw error
    }
    let dir = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dir >= 0 {
        _ = fsync(dir)
        close(dir)
    }
}
