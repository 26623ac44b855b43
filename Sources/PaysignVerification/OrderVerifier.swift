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

    /// A verifier over a trust context already built (a server judging many orders against the
    /// same anchors and lists), judging at `at` (the trusted time).
    public init(trust: TrustContext, at: Date) {
        self.trust = trust
        trustedTime = TrustedTime(date: at, source: .given)
    }

    /// Verifies one order from its bytes. `memo`: what one thread of a batch keeps between its
    /// orders (`VerificationMemo`); the report is the same with or without it.
    public func verify(name: String, document: [UInt8], signature: [UInt8], payrollFile: PayrollFileFacts? = nil,
                       memo: VerificationMemo? = nil) -> VerificationReport {
        let evidence = OrderEvidence.gather(document: document, signature: signature, trust: trust)
        guard let memo else {
            let facts = OrderFacts(
                document: document, structureProblem: evidence.structureProblem, signers: evidence.signers.map(Self.facts),
                payrollFile: payrollFile, trustedTime: trustedTime)
            return OrderVerification.judge(facts, order: name)
        }
        let facts = OrderFacts(
            document: document, structureProblem: evidence.structureProblem, signers: evidence.signers.map { memo.facts($0) },
            payrollFile: payrollFile, trustedTime: trustedTime)
        return OrderVerification.judge(facts, order: name, memo: memo.verdicts)
    }

    /// Verifies one order from its files; a missing, unreadable or oversized file is a failed
    /// check (order-document, cms-structure), never a crash.
    public func verify(name: String, documentPath: String?, signaturePath: String?, payrollFile: PayrollFileFacts? = nil,
                       memo: VerificationMemo? = nil) -> VerificationReport {
        verify(name: name, documentPath: documentPath, signaturePath: signaturePath, payrollFile: payrollFile, memo: memo,
               folder: nil)
    }

    /// `folder`: a descriptor of the folder the paths are in, and the length of their prefix
    /// naming it (`FOLDER/`): the files are opened relative to it, without walking the path again
    /// for each (a batch); messages still name the whole path.
    func verify(name: String, documentPath: String?, signaturePath: String?, payrollFile: PayrollFileFacts?,
                memo: VerificationMemo?, folder: (descriptor: Int32, prefix: Int)?) -> VerificationReport {
        let document = documentPath.map { Self.read($0, limit: Self.maximumDocumentBytes, what: "order document", folder: folder) }
            ?? .failure(VerificationSetupError("there is no order document (NAME.txt) beside the signature"))
        let signature = signaturePath.map { Self.read($0, limit: OrderEvidence.maximumSignatureBytes, what: "signature file", folder: folder) }
            ?? .failure(VerificationSetupError("there is no signature file (NAME.p7s) beside the order document"))
        switch (document, signature) {
        case (.success(let document), .success(let signature)):
            return verify(name: name, document: document, signature: signature, payrollFile: payrollFile, memo: memo)
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
    static func read(_ path: String, limit: Int, what: String, folder: (descriptor: Int32, prefix: Int)? = nil)
        -> Result<[UInt8], VerificationSetupError> {
        let fd: Int32
        if let folder, folder.prefix < path.utf8.count {
            fd = String(path.utf8.dropFirst(folder.prefix))!.withCString { openat(folder.descriptor, $0, O_RDONLY | O_CLOEXEC) }
        } else {
            fd = open(path, O_RDONLY | O_CLOEXEC)
        }
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
        // Read straight into the array's storage (no zero-filling first); a file that shrank
        // meanwhile gives what it had.
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var done = 0
            while done < size {
                let n = Foundation.read(fd, buffer.baseAddress! + done, size - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                done += n
            }
            count = done
        }
        return .success(bytes)
    }

    // MARK: Facts for the domain

    static func facts(_ signer: SignerEvidence) -> SignerFacts { facts(signer, certificate: signer) }

    /// The facts of `signer`; its certificate, chain and revocation facts only from `certificate`
    /// (nil: left out, for `VerificationMemo` to fill in).
    static func facts(_ signer: SignerEvidence, certificate: SignerEvidence?) -> SignerFacts {
        SignerFacts(
            index: signer.index, claimedRole: signer.claimedRole, signingTime: signer.signingTime, scheme: signer.scheme?.rawValue,
            signatureVerifies: signer.signatureVerifies, messageDigestMatches: signer.messageDigestMatches,
            contentTypeIsData: signer.contentTypeIsData, signingCertificateMatches: signer.signingCertificateMatches,
            hasPrecedingSignature: signer.precedingSignatureDigest != nil, precededBy: signer.precededBy,
            hasTimeStampToken: signer.hasTimeStampToken, certificate: certificate?.certificate.map(facts),
            chain: certificate?.chain.map(facts),
            revocation: certificate?.chain.map { facts($0.revocation) },
            // Per order, never from the memo: the token is this signature's own.
            timeStamp: signer.timeStamp.map(facts))
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

    public static func facts(_ profile: CertificateProfile) -> CertificateFacts {
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

/// What one thread of a batch keeps between its orders (issue 7), so that what depends only on a
/// signer's certificate, chain and revocation list is converted, judged in words and rendered
/// once per thread rather than once per order: the signers' facts (`facts(_:)`), the verdict's
/// checks for orders of the same shape (`VerdictMemo`), the JSON of the checks and certificates
/// met (`ReportRendering.RenderMemo`). Every order is still parsed, hashed and verified on its
/// own; a report made with the memo is byte for byte the report made without (tests compare them).
///
/// Not thread-safe: one per thread. Its strings are copies of its own, so that the reference
/// counting of what every order shares stays on the thread's own cache lines.
public final class VerificationMemo {
    public let verdicts = VerdictMemo()
    public let rendering = ReportRendering.RenderMemo()

    /// The facts made from a certificate (its SHA-256) and chain verdict, for the few met.
    private var signers: [(sha256: String, chain: ChainVerdict?, facts: SignerFacts)] = []
    private static let capacity = 16

    public init() {}

    /// `OrderVerifier.facts(_:)` of `signer`, its certificate, chain and revocation facts made
    /// once for each certificate and chain verdict met.
    func facts(_ signer: SignerEvidence) -> SignerFacts {
        // The profile is a function of the certificate's DER, which its SHA-256 names; the chain
        // verdict is compared whole.
        guard let sha256 = signer.certificate?.sha256 else { return OrderVerifier.facts(signer) }
        // The per-order facts from this order's evidence; the certificate's from the memo.
        var facts = OrderVerifier.facts(signer, certificate: nil)
        var index = 0
        while index < signers.count {
            if signers[index].sha256 == sha256 && signers[index].chain == signer.chain {
                facts.certificate = signers[index].facts.certificate
                facts.chain = signers[index].facts.chain
                facts.revocation = signers[index].facts.revocation
                return facts
            }
            index += 1
        }
        var made = OrderVerifier.facts(signer)
        made.certificate = made.certificate.map(Self.owned)
        made.chain = made.chain.map { chain in
            var copy = chain
            copy.path = chain.path.map(Self.owned)
            return copy
        }
        if signers.count >= Self.capacity { signers.removeFirst() }
        signers.append((sha256, signer.chain, made))
        facts.certificate = made.certificate
        facts.chain = made.chain
        facts.revocation = made.revocation
        return facts
    }

    /// `certificate` with strings of its own (not shared with the trust context's cache, which
    /// every thread reads).
    private static func owned(_ certificate: CertificateFacts) -> CertificateFacts {
        var copy = certificate
        copy.subject = owned(certificate.subject)
        copy.issuer = owned(certificate.issuer)
        copy.serialNumber = owned(certificate.serialNumber)
        copy.sha256 = owned(certificate.sha256)
        copy.nationalID = certificate.nationalID.map(owned)
        copy.commonName = certificate.commonName.map(owned)
        copy.organization = certificate.organization.map(owned)
        copy.organizationalUnit = certificate.organizationalUnit.map(owned)
        copy.organizationIdentifier = certificate.organizationIdentifier.map(owned)
        copy.keyAlgorithm = owned(certificate.keyAlgorithm)
        return copy
    }

    private static func owned(_ text: String) -> String {
        var text = text
        return text.withUTF8 { String(decoding: $0, as: UTF8.self) }
    }
}
