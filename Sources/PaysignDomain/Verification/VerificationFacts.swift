public import Foundation

// The facts the payment center's verification judges (issue 6). They are gathered elsewhere (the
// CMS parsed, signatures and chains checked with OpenSSL, the CRLs read, the documents hashed);
// here they are plain values, so the rules that turn them into a verdict (`OrderVerification`) are
// pure and tested without C, files or tokens.

/// What is known about one certificate: read from it, nothing decided yet.
public struct CertificateFacts: Sendable, Hashable, Codable {
    /// RFC 2253 subject and issuer, as `openssl x509 -nameopt RFC2253` prints them.
    public var subject: String
    public var issuer: String
    /// Upper-case hex, as `openssl x509 -serial` prints it.
    public var serialNumber: String
    /// SHA-256 of the DER, lowercase hex.
    public var sha256: String
    /// The subject's serialNumber attribute (2.5.4.5): the holder's national ID in paysign's PKI.
    public var nationalID: String?
    public var commonName: String?
    /// The subject's organizationName (O): the entity (its name or code) in paysign's PKI.
    public var organization: String?
    /// The subject's organizationalUnitName (OU): the holder's role in paysign's PKI
    /// (`first-signature`, `second-signature`, `data-entry`).
    public var organizationalUnit: String?
    /// The subject's organizationIdentifier (2.5.4.97), when the issuer writes the entity code there.
    public var organizationIdentifier: String?
    public var notBefore: Date
    public var notAfter: Date
    /// Whether the certificate has a keyUsage extension, and the two bits a signature needs.
    public var hasKeyUsage: Bool
    public var digitalSignature: Bool
    public var nonRepudiation: Bool
    /// basicConstraints CA:TRUE (or a v1 self-signed certificate OpenSSL treats as a CA).
    public var isCA: Bool
    /// `rsa`, `ec` or `other`, and the key size in bits.
    public var keyAlgorithm: String
    public var keyBits: Int

    public init(
        subject: String, issuer: String, serialNumber: String, sha256: String, nationalID: String?, commonName: String?,
        organization: String?, organizationalUnit: String?, organizationIdentifier: String? = nil, notBefore: Date,
        notAfter: Date, hasKeyUsage: Bool, digitalSignature: Bool, nonRepudiation: Bool, isCA: Bool,
        keyAlgorithm: String, keyBits: Int
    ) {
        self.subject = subject
        self.issuer = issuer
        self.serialNumber = serialNumber
        self.sha256 = sha256
        self.nationalID = nationalID
        self.commonName = commonName
        self.organization = organization
        self.organizationalUnit = organizationalUnit
        self.organizationIdentifier = organizationIdentifier
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.hasKeyUsage = hasKeyUsage
        self.digitalSignature = digitalSignature
        self.nonRepudiation = nonRepudiation
        self.isCA = isCA
        self.keyAlgorithm = keyAlgorithm
        self.keyBits = keyBits
    }

    /// The name people read: the common name, else the subject.
    public var displayName: String { commonName ?? subject }
}

/// The certificate path to a trust anchor, as the chain builder found it (time not checked there:
/// validity at the trusted time is a rule of its own).
public struct ChainFacts: Sendable, Hashable {
    /// The certificate chains to one of the trust anchors (signatures, CA constraints).
    public var trusted: Bool
    /// Why not, in the chain builder's words (`unable to get local issuer certificate`).
    public var problem: String?
    /// The path from the signer's certificate to the anchor, the signer's first. Only the signer's
    /// own certificate when the chain was not built.
    public var path: [CertificateFacts]
    /// What the revocation lists say about each intermediate CA on `path` (between the signer's
    /// certificate and the anchor), nearest the signer first; empty when the anchor issued it.
    public var authorityRevocations: [AuthorityRevocationFacts]

    public init(trusted: Bool, problem: String?, path: [CertificateFacts], authorityRevocations: [AuthorityRevocationFacts] = []) {
        self.trusted = trusted
        self.problem = problem
        self.path = path
        self.authorityRevocations = authorityRevocations
    }
}

/// An intermediate CA certificate on a signer's path and its entry (or none) in its issuer's
/// revocation list: a revoked CA revokes everything it issued (RFC 5280 6.3).
public struct AuthorityRevocationFacts: Sendable, Hashable {
    public var certificate: CertificateFacts
    public var revocation: RevocationFacts

    public init(certificate: CertificateFacts, revocation: RevocationFacts) {
        self.certificate = certificate
        self.revocation = revocation
    }
}

/// A revocation list as far as the verdict needs it.
public struct RevocationListFacts: Sendable, Hashable, Codable {
    public var issuer: String
    /// The cRLNumber, upper-case hex; nil when the list has none.
    public var number: String?
    public var thisUpdate: Date
    public var nextUpdate: Date?

    public init(issuer: String, number: String?, thisUpdate: Date, nextUpdate: Date?) {
        self.issuer = issuer
        self.number = number
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
    }
}

/// A certificate's entry in a revocation list (RFC 5280 5.3).
public struct RevocationEntryFacts: Sendable, Hashable, Codable {
    public var revocationDate: Date
    public var invalidityDate: Date?
    /// The RFC 5280 reason name (`keyCompromise`), nil when the entry has none.
    public var reason: String?

    public init(revocationDate: Date, invalidityDate: Date?, reason: String?) {
        self.revocationDate = revocationDate
        self.invalidityDate = invalidityDate
        self.reason = reason
    }

    /// From when the certificate is to be taken as revoked: the invalidity date (when the key was
    /// known or suspected to be compromised) if it is earlier, else the revocation date.
    public var effectiveDate: Date { min(revocationDate, invalidityDate ?? revocationDate) }
}

/// What the revocation lists given say about a certificate.
public enum RevocationFacts: Sendable, Hashable {
    /// The newest list of the certificate's issuer (signed by that issuer) does not list it.
    case notListed(RevocationListFacts)
    /// It lists it.
    case listed(RevocationEntryFacts, RevocationListFacts)
    /// No list given was issued, and signed, by the certificate's issuer.
    case noList(issuer: String)
}

/// One SignerInfo of the CMS, as read and checked cryptographically.
public struct SignerFacts: Sendable, Hashable {
    /// Position in the file's SignerInfos, from 0 (DER order, which says nothing about who signed first).
    public var index: Int
    /// The role claimed in the signed signer-attributes-v2 (`first`, `second`), nil without one.
    public var claimedRole: String?
    /// The signed signing-time attribute: reported, never trusted (no proof of time by itself).
    public var signingTime: Date?
    /// The signature scheme (`rsa-pkcs1-sha256`, `rsa-pss-sha256`, `ecdsa-sha256`); nil when the
    /// SignerInfo uses algorithms paysign does not accept.
    public var scheme: String?
    /// The signature verifies over the DER of the signed attributes with the certificate's key.
    public var signatureVerifies: Bool
    /// The message-digest attribute equals the SHA-256 of the document given.
    public var messageDigestMatches: Bool
    /// The content-type attribute is id-data.
    public var contentTypeIsData: Bool
    /// signing-certificate-v2 names this certificate (nil: the attribute is absent).
    public var signingCertificateMatches: Bool?
    /// The SignerInfo carries paysign's preceding-signature attribute (D2).
    public var hasPrecedingSignature: Bool
    /// The `index` of the signer whose signature the preceding-signature attribute names.
    public var precededBy: Int?
    /// An RFC 3161 signature time-stamp token is attached (unsigned attribute).
    public var hasTimeStampToken: Bool
    /// The signer's certificate, found in the SignedData by issuer and serial; nil when absent.
    public var certificate: CertificateFacts?
    public var chain: ChainFacts?
    public var revocation: RevocationFacts?
    /// The RFC 3161 signature time-stamp token, read and checked; nil without one. When it
    /// verifies, this signer's validity and revocation are judged at its time, not the order's.
    public var timeStamp: TimeStampFacts?

    public init(
        index: Int, claimedRole: String?, signingTime: Date?, scheme: String?, signatureVerifies: Bool,
        messageDigestMatches: Bool, contentTypeIsData: Bool, signingCertificateMatches: Bool?,
        hasPrecedingSignature: Bool, precededBy: Int?, hasTimeStampToken: Bool, certificate: CertificateFacts?,
        chain: ChainFacts?, revocation: RevocationFacts?, timeStamp: TimeStampFacts? = nil
    ) {
        self.index = index
        self.claimedRole = claimedRole
        self.signingTime = signingTime
        self.scheme = scheme
        self.signatureVerifies = signatureVerifies
        self.messageDigestMatches = messageDigestMatches
        self.contentTypeIsData = contentTypeIsData
        self.signingCertificateMatches = signingCertificateMatches
        self.hasPrecedingSignature = hasPrecedingSignature
        self.precededBy = precededBy
        self.hasTimeStampToken = hasTimeStampToken
        self.certificate = certificate
        self.chain = chain
        self.revocation = revocation
        self.timeStamp = timeStamp
    }
}

/// An RFC 3161 signature time-stamp token (unsigned attribute id-aa-signatureTimeStampToken) as
/// read and checked cryptographically; `OrderVerification.timeStampProblems` judges it.
public struct TimeStampFacts: Sendable, Hashable {
    /// Why the token cannot be read (not DER, not a TSTInfo, more than one token, no TSA
    /// certificate); nil when it was read.
    public var problem: String?
    /// TSTInfo.genTime, and its accuracy in seconds (nil when the token states none).
    public var genTime: Date?
    public var accuracy: Double?
    /// The messageImprint's hash algorithm (`sha256`).
    public var hashAlgorithm: String?
    /// The messageImprint is the hash of this SignerInfo's signature value.
    public var imprintMatches: Bool
    /// The TSA's signature over the TSTInfo verifies with the certificate the token carries.
    public var signatureVerifies: Bool
    /// That certificate's extended key usage is timeStamping alone, and critical (RFC 3161 2.3).
    public var timeStampingUsage: Bool
    /// The token's ESS signing-certificate(-v2) attribute names that certificate (RFC 3161 2.4.1).
    public var signingCertificateMatches: Bool
    /// The TSA's certificate, its path to a trust anchor and its revocation.
    public var certificate: CertificateFacts?
    public var chain: ChainFacts?
    public var revocation: RevocationFacts?

    public init(
        problem: String?, genTime: Date?, accuracy: Double?, hashAlgorithm: String?, imprintMatches: Bool,
        signatureVerifies: Bool, timeStampingUsage: Bool, signingCertificateMatches: Bool, certificate: CertificateFacts?,
        chain: ChainFacts?, revocation: RevocationFacts?
    ) {
        self.problem = problem
        self.genTime = genTime
        self.accuracy = accuracy
        self.hashAlgorithm = hashAlgorithm
        self.imprintMatches = imprintMatches
        self.signatureVerifies = signatureVerifies
        self.timeStampingUsage = timeStampingUsage
        self.signingCertificateMatches = signingCertificateMatches
        self.certificate = certificate
        self.chain = chain
        self.revocation = revocation
    }

    /// The latest moment the token proves the signature existed by: genTime plus its accuracy.
    public var latestTime: Date? { genTime.map { $0.addingTimeInterval(accuracy ?? 0) } }
}

/// The time at which validity and revocation are judged.
public struct TrustedTime: Sendable, Hashable, Codable {
    public enum Source: String, Sendable, Hashable, Codable {
        /// `--at`: a time the caller vouches for (a time-stamp checked elsewhere, a receipt).
        case given
        /// An RFC 3161 time-stamp token of the signature, verified (a signer's own time,
        /// `SignerReport.trustedTime`).
        case timeStamp = "time-stamp"
        /// The moment of verification.
        case now
    }

    public var date: Date
    public var source: Source
    public var note: String?

    public init(date: Date, source: Source, note: String? = nil) {
        self.date = date
        self.source = source
        self.note = note
    }
}

/// The payroll file given beside the order (`--file`), hashed.
public struct PayrollFileFacts: Sendable, Hashable {
    public var sha256: [UInt8]
    public var byteCount: Int

    public init(sha256: [UInt8], byteCount: Int) {
        self.sha256 = sha256
        self.byteCount = byteCount
    }
}

/// Everything known about one order: the document, the signature file read, the trusted time.
public struct OrderFacts: Sendable, Hashable {
    /// The order document's exact bytes (nil when it could not be read; see `documentProblem`).
    public var document: [UInt8]?
    public var documentProblem: String?
    /// Why the `.p7s` is not a detached CMS SignedData paysign can read; nil when it is.
    public var structureProblem: String?
    /// Every SignerInfo, in the file's order (empty when `structureProblem` is set).
    public var signers: [SignerFacts]
    public var payrollFile: PayrollFileFacts?
    public var trustedTime: TrustedTime

    public init(
        document: [UInt8]?, documentProblem: String? = nil, structureProblem: String?, signers: [SignerFacts],
        payrollFile: PayrollFileFacts? = nil, trustedTime: TrustedTime
    ) {
        self.document = document
        self.documentProblem = documentProblem
        self.structureProblem = structureProblem
        self.signers = signers
        self.payrollFile = payrollFile
        self.trustedTime = trustedTime
    }
}
