public import Foundation
public import PaysignDomain
public import PaysignOpenSSL

/// Why a verification cannot start (no anchors, a CRL that cannot be read or is signed by nobody
/// trusted, an unreadable file): one sentence; the CLI exits 2 with it.
public struct VerificationSetupError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Reads trust anchors and revocation lists from files.
public enum TrustMaterial {
    /// Every certificate in a PEM or DER file, or in the `.pem`, `.crt`, `.cer` and `.der` files
    /// of a folder (not its subfolders). Throws when there is none, or a file cannot be read.
    public static func anchors(at path: String) throws -> [Certificate] {
        try certificates(at: path, what: "trust anchor")
    }

    /// Intermediate CA certificates (`--intermediates`), read like the anchors.
    public static func intermediates(at path: String) throws -> [Certificate] {
        try certificates(at: path, what: "intermediate CA")
    }

    private static func certificates(at path: String, what: String) throws -> [Certificate] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw VerificationSetupError("the \(what) certificates \(path) do not exist")
        }
        var files = [path]
        if isFolder.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            files = names.filter { name in [".pem", ".crt", ".cer", ".der"].contains { name.lowercased().hasSuffix($0) } }
                .sorted().map { path + "/" + $0 }
        }
        var found: [Certificate] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file), data.count <= 16 << 20 else {
                throw VerificationSetupError("the \(what) file \(file) cannot be read")
            }
            do {
                found += try certificates(in: [UInt8](data))
            } catch {
                throw VerificationSetupError("the \(what) file \(file) holds no readable certificate: \(error)")
            }
        }
        guard !found.isEmpty else {
            throw VerificationSetupError("\(path) holds no \(what) certificate (PEM or DER, .pem .crt .cer .der)")
        }
        return found
    }

    /// The certificates of a PEM file (every `CERTIFICATE` block) or a DER one.
    static func certificates(in bytes: [UInt8]) throws -> [Certificate] {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.contains("-----BEGIN CERTIFICATE-----") else { return [try Certificate(derEncoded: bytes)] }
        var found: [Certificate] = []
        var rest = Substring(text)
        while let begin = rest.range(of: "-----BEGIN CERTIFICATE-----"),
            let end = rest.range(of: "-----END CERTIFICATE-----", range: begin.upperBound..<rest.endIndex) {
            found.append(try Certificate(pemEncoded: String(rest[begin.lowerBound..<end.upperBound])))
            rest = rest[end.upperBound...]
        }
        return found
    }

    /// A revocation list in DER or PEM. Throws, naming the file, when it is missing or not a CRL.
    public static func revocationList(at path: String) throws -> RevocationList {
        guard FileManager.default.fileExists(atPath: path) else {
            throw VerificationSetupError("the revocation list \(path) does not exist")
        }
        guard let data = FileManager.default.contents(atPath: path), data.count <= 256 << 20 else {
            throw VerificationSetupError("the revocation list \(path) cannot be read")
        }
        do {
            let bytes = [UInt8](data)
            if bytes.starts(with: Array("-----BEGIN".utf8)) {
                return try RevocationList(pemEncoded: String(decoding: bytes, as: UTF8.self))
            }
            return try RevocationList(derEncoded: bytes)
        } catch {
            throw VerificationSetupError("the revocation list \(path) is not a valid CRL: \(error)")
        }
    }
}

/// The payment center's verification of signed payment orders (issue 6): gathers the facts of an
/// order with PaysignOpenSSL (`OrderEvidence`, against a `TrustContext` shared by every order)
/// and judges them with PaysignDomain's `OrderVerification`. Thread-safe: a batch calls `verify`
/// from every core at once.
public final class OrderVerifier: Sendable {
    public let trust: TrustContext
    public let trustedTime: TrustedTime

    /// The largest order document read: a canonical document is a few hundred bytes.
    public static let maximumDocumentBytes = 64 << 10

    /// - Parameters:
    ///   - at: the trusted time (`--at`); nil: now, said so in every report. A signature whose
    ///     RFC 3161 time-stamp token verifies is judged at the token's time instead.
    /// - Throws: `VerificationSetupError` when there is no anchor or a CRL is signed by no anchor.
    ///   - intermediates: issuing CA certificates between the anchors and the signers (each must
    ///     chain to an anchor); their lists may then be given too, and they are checked themselves.
    public init(anchors: [Certificate], intermediates: [Certificate] = [], revocationLists: [RevocationList], at: Date? = nil,
                now: Date = Date()) throws {
        do {
            trust = try TrustContext(anchors: anchors, intermediates: intermediates, revocationLists: revocationLists)
        } catch let error as TrustContext.SetupError {
            throw VerificationSetupError(error.message)
        }
        if let at {
            trustedTime = TrustedTime(date: at, source: .given)
        } else {
            trustedTime = TrustedTime(
                date: now, source: .now,
                note: "no trusted time was given (--at); validity and revocation are judged at the time of verification")
        }
    }

    /// Verifies one order from its bytes.
    public func verify(name: String, document: [UInt8], signature: [UInt8], payrollFile: PayrollFileFacts? = nil) -> VerificationReport {
        let evidence = OrderEvidence.gather(document: document, signature: signature, trust: trust)
        let facts = OrderFacts(
            document: document, structureProblem: evidence.structureProblem, signers: evidence.signers.map(Self.facts),
            payrollFile: payrollFile, trustedTime: trustedTime)
        return OrderVerification.judge(facts, order: name)
    }

    /// Verifies one order from its files; a missing, unreadable or oversized file is a failed
    /// check (order-document, cms-structure), never a crash.
    public func verify(name: String, documentPath: String?, signaturePath: String?, payrollFile: PayrollFileFacts? = nil) -> VerificationReport {
        let document = documentPath.map { Self.read($0, limit: Self.maximumDocumentBytes, what: "order document") }
            ?? .failure(VerificationSetupError("there is no order document (NAME.txt) beside the signature"))
        let signature = signaturePath.map { Self.read($0, limit: OrderEvidence.maximumSignatureBytes, what: "signature file") }
            ?? .failure(VerificationSetupError("there is no signature file (NAME.p7s) beside the order document"))
        switch (document, signature) {
        case (.success(let document), .success(let signature)):
            return verify(name: name, document: document, signature: signature, payrollFile: payrollFile)
        default:
            var facts = OrderFacts(document: nil, structureProblem: nil, signers: [], payrollFile: payrollFile, trustedTime: trustedTime)
            var evidence: OrderEvidence?
            switch document {
            case .success(let bytes): facts.document = bytes
            case .failure(let error): facts.documentProblem = error.message
            }
            switch signature {
            case .success(let bytes):
                evidence = OrderEvidence.gather(document: facts.document ?? [], signature: bytes, trust: trust)
            case .failure(let error): facts.structureProblem = error.message
            }
            if let evidence {
                facts.structureProblem = evidence.structureProblem
                facts.signers = evidence.signers.map(Self.facts)
            }
            return OrderVerification.judge(facts, order: name)
        }
    }

    /// A whole small file, refusing one larger than `limit` before reading it.
    static func read(_ path: String, limit: Int, what: String) -> Result<[UInt8], VerificationSetupError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return .failure(VerificationSetupError("the \(what) \(path) cannot be read: \(String(cString: strerror(errno)))"))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            return .failure(VerificationSetupError("the \(what) \(path) is not a regular file"))
        }
        let size = Int(info.st_size)
        guard size <= limit else {
            return .failure(VerificationSetupError("the \(what) \(path) is \(size) bytes, more than the \(limit) one can be"))
        }
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = bytes.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress! + done, size - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            done += n
        }
        if done < size { bytes.removeLast(size - done) }
        return .success(bytes)
    }

    // MARK: Facts for the domain

    static func facts(_ signer: SignerEvidence) -> SignerFacts {
        SignerFacts(
            index: signer.index, claimedRole: signer.claimedRole, signingTime: signer.signingTime, scheme: signer.scheme?.rawValue,
            signatureVerifies: signer.signatureVerifies, messageDigestMatches: signer.messageDigestMatches,
            contentTypeIsData: signer.contentTypeIsData, signingCertificateMatches: signer.signingCertificateMatches,
            hasPrecedingSignature: signer.precedingSignatureDigest != nil, precededBy: signer.precededBy,
            hasTimeStampToken: signer.hasTimeStampToken, certificate: signer.certificate.map(facts),
            chain: signer.chain.map(facts),
            revocation: signer.chain.map { facts($0.revocation) }, timeStamp: signer.timeStamp.map(facts))
    }

    static func facts(_ chain: ChainVerdict) -> ChainFacts {
        ChainFacts(
            trusted: chain.trusted, problem: chain.problem, path: chain.path.map(facts),
            authorityRevocations: chain.authorityRevocations.map {
                AuthorityRevocationFacts(certificate: facts($0.certificate), revocation: facts($0.revocation))
            })
    }

    static func facts(_ stamp: TimeStampEvidence) -> TimeStampFacts {
        TimeStampFacts(
            problem: stamp.problem, genTime: stamp.genTime, accuracy: stamp.accuracy, hashAlgorithm: stamp.hashAlgorithm,
            imprintMatches: stamp.imprintMatches, signatureVerifies: stamp.signatureVerifies,
            timeStampingUsage: stamp.timeStampingUsage, signingCertificateMatches: stamp.signingCertificateMatches,
            certificate: stamp.certificate.map(facts), chain: stamp.chain.map(facts),
            revocation: stamp.chain.map { facts($0.revocation) })
    }

    static func facts(_ profile: CertificateProfile) -> CertificateFacts {
        CertificateFacts(
            subject: profile.subject, issuer: profile.issuer, serialNumber: profile.serialNumber, sha256: profile.sha256,
            nationalID: profile.nationalID, commonName: profile.commonName, organization: profile.organization,
            organizationalUnit: profile.organizationalUnit, organizationIdentifier: profile.organizationIdentifier,
            notBefore: profile.notBefore, notAfter: profile.notAfter, hasKeyUsage: profile.hasKeyUsage,
            digitalSignature: profile.digitalSignature, nonRepudiation: profile.nonRepudiation, isCA: profile.isCA,
            keyAlgorithm: profile.keyAlgorithm, keyBits: profile.keyBits)
    }

    static func facts(_ revocation: RevocationVerdict) -> RevocationFacts {
        func list(_ summary: RevocationListSummary) -> RevocationListFacts {
            RevocationListFacts(issuer: summary.issuer, number: summary.number, thisUpdate: summary.thisUpdate, nextUpdate: summary.nextUpdate)
        }
        switch revocation {
        case .noList(let issuer): return .noList(issuer: issuer)
        case .notListed(let summary): return .notListed(list(summary))
        case .listed(let entry, let summary):
            return .listed(
                RevocationEntryFacts(revocationDate: entry.revocationDate, invalidityDate: entry.invalidityDate, reason: entry.reasonName),
                list(summary))
        }
    }
}
