public import Foundation
internal import CLibCrypto
internal import CPaysignShims
import SwiftASN1

/// The trust anchors and revocation lists a verification runs against, and what has been worked
/// out about each certificate met so far: parsed once (with its public key, which every signature
/// by it is then verified with), its chain to an anchor built once, its CRL entry looked up once.
/// One context serves a whole batch from every thread (the caches are behind a lock; OpenSSL's
/// store and keys are only read once built).
///
/// Chains are built with OpenSSL (`X509_verify_cert`, purpose any, no time check: validity at the
/// trusted time is a rule of its own in `PaysignDomain.OrderVerification`). Intermediate CA
/// certificates come from the signature file and from `intermediates` (the authority's issuing
/// CAs, given by the payment center; each must chain to an anchor). A revocation list is accepted
/// only when its issuer is a trust anchor or a given intermediate and that certificate's key
/// verifies it; `init` refuses any other. Revocation is looked up for every certificate of a
/// built path but the anchor: the signer's, and each intermediate CA's in its issuer's list
/// (RFC 5280 6.3), each list checked against the certificate above it on the path.
public final class TrustContext: @unchecked Sendable {
    // @unchecked Sendable: `store` is built in init and only read after; the caches are under `lock`.
    private let store: OpaquePointer
    public let anchors: [Certificate]
    /// Intermediate CA certificates given with the anchors (untrusted: each chains to an anchor).
    public let intermediates: [Certificate]
    public let revocationLists: [RevocationList]
    private let lock = NSLock()
    /// Keyed by `quickKey` of the DER; each candidate is compared in full before it is used.
    private var certificates: [UInt64: [CachedCertificate]] = [:]
    private var chains: [[UInt8]: ChainVerdict] = [:]

    /// Why a trust context cannot be built, in one sentence.
    public struct SetupError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// - Throws: `SetupError` when there is no anchor, an intermediate does not chain to an anchor
    ///   or is no CA, or a revocation list is signed by neither an anchor nor a given intermediate.
    public init(anchors: [Certificate], intermediates: [Certificate] = [], revocationLists: [RevocationList]) throws {
        guard !anchors.isEmpty else { throw SetupError(message: "no trust anchor was given") }
        OpenSSLError.clearQueue()
        guard let store = X509_STORE_new() else { throw SetupError(message: "OpenSSL could not make a certificate store") }
        for anchor in anchors where X509_STORE_add_cert(store, anchor.x509) != 1 {
            X509_STORE_free(store)
            throw SetupError(message: "the trust anchor \(anchor.subject) could not be added to the store")
        }
        _ = X509_STORE_set_purpose(store, X509_PURPOSE_ANY)
        _ = X509_STORE_set_flags(store, UInt(X509_V_FLAG_NO_CHECK_TIME))
        OpenSSLError.clearQueue()
        self.store = store
        self.anchors = anchors
        self.intermediates = intermediates
        self.revocationLists = revocationLists
        for intermediate in intermediates {
            // 1: basicConstraints CA:TRUE (and keyCertSign when key usage is there); the other
            // non-zero answers (v1 self-signed, Netscape types) are no intermediate CA.
            guard X509_check_ca(intermediate.x509) == 1 else {
                throw SetupError(message: "the intermediate certificate \(intermediate.subject) is not a CA certificate")
            }
            let others = intermediates.filter { $0 !== intermediate }
            if case .failure(let problem) = Self.chain(of: intermediate, store: store, untrusted: others) {
                throw SetupError(message: "the intermediate certificate \(intermediate.subject) does not chain to any trust anchor (\(problem.message))")
            }
        }
        let issuers = anchors + intermediates
        for list in revocationLists where !issuers.contains(where: { $0.subject == list.issuer && list.isSigned(by: $0) }) {
            throw SetupError(message: "the revocation list of \(list.issuer) (\(list.crlNumber.map { "number " + X509Text.hex($0) } ?? "no number")) is not signed by any trust anchor or intermediate given; it cannot be relied on")
        }
    }

    /// `certificate`'s chain to the store's anchors through `untrusted` (`X509_verify_cert`): the
    /// path from it to the anchor when it chains, else OpenSSL's reason. One place for the
    /// intermediates given (checked at `init`) and every signer's chain.
    private static func chain(of certificate: Certificate, store: OpaquePointer, untrusted certificates: [Certificate])
        -> Result<[Certificate], ChainProblem> {
        OpenSSLError.clearQueue()
        defer { OpenSSLError.clearQueue() }
        let untrusted = OPENSSL_sk_new_null()
        defer { OPENSSL_sk_free(untrusted) }
        for other in certificates { _ = OPENSSL_sk_push(untrusted, UnsafeRawPointer(other.x509)) }
        guard let context = X509_STORE_CTX_new() else { return .failure(ChainProblem("OpenSSL could not start building the chain")) }
        defer { X509_STORE_CTX_free(context) }
        guard X509_STORE_CTX_init(context, store, certificate.x509, untrusted) == 1 else {
            return .failure(ChainProblem("OpenSSL could not start building the chain"))
        }
        guard X509_verify_cert(context) == 1 else {
            let error = X509_STORE_CTX_get_error(context)
            return .failure(ChainProblem(X509_verify_cert_error_string(Int(error)).map { String(cString: $0) } ?? "error \(error)"))
        }
        guard let chain = X509_STORE_CTX_get0_chain(context) else { return .success([certificate]) }
        return .success((0..<max(0, OPENSSL_sk_num(chain))).compactMap { index in
            OPENSSL_sk_value(chain, index).flatMap { try? CMSHandle.certificate(OpaquePointer($0)) }
        })
    }

    struct ChainProblem: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    deinit { X509_STORE_free(store) }

    /// The certificate with these DER bytes, parsed once per context; nil when OpenSSL cannot read it.
    /// Found by a cheap key (the length and the last bytes, the certificate's own signature) and a
    /// full byte comparison: every order carries the same few certificates, and hashing each one
    /// per order cost more than the order's document digest.
    func certificate(der: ArraySlice<UInt8>) -> CachedCertificate? {
        let key = Self.quickKey(der)
        lock.lock()
        if let known = certificates[key]?.first(where: { DERWalker.same(der, $0.certificate.derEncoded) }) {
            lock.unlock()
            return known
        }
        lock.unlock()
        guard let made = CachedCertificate(der: Array(der)) else { return nil }
        lock.lock()
        defer { lock.unlock() }
        if let raced = certificates[key]?.first(where: { DERWalker.same(der, $0.certificate.derEncoded) }) { return raced }
        certificates[key, default: []].append(made)
        return made
    }

    /// FNV-1a over the length and the last 32 bytes.
    private static func quickKey(_ der: ArraySlice<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        withUnsafeBytes(of: UInt64(der.count).littleEndian) { for byte in $0 { mix(byte) } }
        for byte in der.suffix(32) { mix(byte) }
        return hash
    }

    /// The chain verdict and revocation of `certificate`, with `authorities` (the CA certificates
    /// carried in the same file) as untrusted intermediates; worked out once per combination.
    func chain(for certificate: CachedCertificate, authorities: [CachedCertificate]) -> ChainVerdict {
        var key = certificate.certificate.sha256Fingerprint
        for authority in authorities where authority !== certificate { key += authority.certificate.sha256Fingerprint }
        lock.lock()
        if let known = chains[key] {
            lock.unlock()
            return known
        }
        lock.unlock()
        let verdict = build(certificate, authorities: authorities.filter { $0 !== certificate })
        lock.lock()
        defer { lock.unlock() }
        chains[key] = verdict
        return verdict
    }

    /// The chain verdict and revocation of a certificate presented on its own (a TLS client's,
    /// a receipt's signer), with the CA certificates presented beside it as untrusted
    /// intermediates: the same judgement as a signer's. nil when OpenSSL cannot read it.
    public func judge(_ certificate: Certificate, presented: [Certificate] = []) -> ChainVerdict? {
        guard let cached = self.certificate(der: certificate.derEncoded[...]) else { return nil }
        let authorities = presented.compactMap { self.certificate(der: $0.derEncoded[...]) }.filter(\.isAuthority)
        return chain(for: cached, authorities: authorities)
    }

    private func build(_ certificate: CachedCertificate, authorities: [CachedCertificate]) -> ChainVerdict {
        var trusted = false
        var problem: String?
        var path: [CertificateProfile] = [certificate.profile]
        var pathCertificates: [Certificate] = [certificate.certificate]
        switch Self.chain(of: certificate.certificate, store: store, untrusted: authorities.map(\.certificate) + intermediates) {
        case .success(let chain):
            trusted = true
            pathCertificates = chain
            path = chain.map { CachedCertificate.profile(of: $0) }
        case .failure(let failure):
            problem = failure.message
        }
        let issuer = trusted && pathCertificates.count > 1 ? pathCertificates[1] : nil
        // Each intermediate CA between the signer and the anchor, in its own issuer's list.
        var authorityRevocations: [AuthorityRevocation] = []
        if trusted && pathCertificates.count > 2 {
            for position in 1..<(pathCertificates.count - 1) {
                authorityRevocations.append(AuthorityRevocation(
                    certificate: path[position],
                    revocation: revocation(of: pathCertificates[position], issuer: pathCertificates[position + 1])))
            }
        }
        return ChainVerdict(trusted: trusted, problem: problem, path: path,
                            revocation: revocation(of: certificate.certificate, issuer: issuer),
                            authorityRevocations: authorityRevocations)
    }

    /// The newest list of the certificate's issuer, signed by that issuer when it is known.
    private func revocation(of certificate: Certificate, issuer: Certificate?) -> RevocationVerdict {
        let candidates = revocationLists.filter { list in
            list.issuer == certificate.issuer && (issuer.map { list.isSigned(by: $0) } ?? true)
        }
        guard let newest = candidates.max(by: { $0.thisUpdate < $1.thisUpdate }) else {
            return .noList(issuer: certificate.issuer)
        }
        let summary = RevocationListSummary(
            issuer: newest.issuer, number: newest.crlNumber.map { X509Text.hex($0) }, thisUpdate: newest.thisUpdate,
            nextUpdate: newest.nextUpdate)
        if let entry = newest.entry(for: certificate) { return .listed(entry, summary) }
        return .notListed(summary)
    }
}

/// A certificate met in a signature file, parsed once, with the fields a SignerIdentifier names.
final class CachedCertificate: Sendable {
    let certificate: Certificate
    let profile: CertificateProfile
    /// The issuer Name's DER and the serial INTEGER's content octets, as a SignerInfo's sid has them.
    let issuerDER: ArraySlice<UInt8>
    let serialDER: ArraySlice<UInt8>
    /// basicConstraints CA:TRUE: carried in a file, it may be an intermediate of a chain.
    let isAuthority: Bool

    init?(der: [UInt8]) {
        guard let certificate = try? Certificate(derEncoded: der),
            let (issuer, serial) = try? Self.issuerAndSerial(der)
        else { return nil }
        self.certificate = certificate
        issuerDER = issuer
        serialDER = serial
        profile = Self.profile(of: certificate)
        isAuthority = profile.isCA
    }

    /// `TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer, … }`.
    static func issuerAndSerial(_ der: [UInt8]) throws -> (ArraySlice<UInt8>, ArraySlice<UInt8>) {
        let root = try DER.parse(der)
        guard case .constructed(let top) = root.content, let tbs = Array(top).first, case .constructed(let fields) = tbs.content else {
            throw StructureError("not a certificate")
        }
        var nodes = Array(fields)
        if nodes.first?.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) { nodes.removeFirst() }
        guard nodes.count >= 3, case .primitive(let serial) = nodes[0].content else { throw StructureError("not a certificate") }
        return (nodes[2].encodedBytes, serial)
    }

    static func profile(of certificate: Certificate) -> CertificateProfile {
        let x509 = certificate.x509
        let name = X509_get_subject_name(x509)
        let flags = X509_get_extension_flags(x509)
        return CertificateProfile(
            subject: certificate.subject, issuer: certificate.issuer, serialNumber: certificate.serialNumber,
            sha256: Hex.string(certificate.sha256Fingerprint), nationalID: certificate.subjectSerialNumber,
            commonName: certificate.commonName, organization: X509Text.entry(name, nid: NID_organizationName),
            organizationalUnit: X509Text.entry(name, nid: NID_organizationalUnitName),
            organizationIdentifier: X509Text.entry(name, nid: NID_organizationIdentifier),
            notBefore: certificate.notBefore, notAfter: certificate.notAfter,
            hasKeyUsage: flags & UInt32(EXFLAG_KUSAGE) != 0,
            digitalSignature: certificate.keyUsage.contains(.digitalSignature),
            nonRepudiation: certificate.keyUsage.contains(.nonRepudiation), isCA: X509_check_ca(x509) != 0,
            keyAlgorithm: certificate.keyAlgorithm.rawValue, keyBits: certificate.keyBits)
    }
}

/// The fields of a certificate the payment center's rules read.
public struct CertificateProfile: Sendable, Hashable {
    public var subject: String
    public var issuer: String
    public var serialNumber: String
    public var sha256: String
    public var nationalID: String?
    public var commonName: String?
    public var organization: String?
    public var organizationalUnit: String?
    public var organizationIdentifier: String?
    public var notBefore: Date
    public var notAfter: Date
    public var hasKeyUsage: Bool
    public var digitalSignature: Bool
    public var nonRepudiation: Bool
    public var isCA: Bool
    public var keyAlgorithm: String
    public var keyBits: Int
}

extension Certificate {
    /// The fields of the certificate the Ministry's rules read (role, entity, national ID, key).
    public var profile: CertificateProfile { CachedCertificate.profile(of: self) }
}

/// What building a certificate's chain found, and what the revocation lists say about it.
public struct ChainVerdict: Sendable, Hashable {
    public var trusted: Bool
    public var problem: String?
    /// The signer's certificate first, the anchor last (only the signer's when not trusted).
    public var path: [CertificateProfile]
    public var revocation: RevocationVerdict
    /// What the revocation lists say about each intermediate CA of `path` (between the signer and
    /// the anchor), nearest the signer first; empty when the signer's issuer is the anchor.
    public var authorityRevocations: [AuthorityRevocation] = []
}

/// An intermediate CA certificate of a chain, and what its issuer's revocation list says of it.
public struct AuthorityRevocation: Sendable, Hashable {
    public var certificate: CertificateProfile
    public var revocation: RevocationVerdict
}

public struct RevocationListSummary: Sendable, Hashable {
    public var issuer: String
    public var number: String?
    public var thisUpdate: Date
    public var nextUpdate: Date?
}

public enum RevocationVerdict: Sendable, Hashable {
    case notListed(RevocationListSummary)
    case listed(RevokedEntry, RevocationListSummary)
    case noList(issuer: String)
}
