public import Foundation
internal import CLibCrypto
internal import CPaysignShims

/// What an RFC 3161 signature time-stamp token attached to a SignerInfo proves (issue 6): read
/// and checked with OpenSSL, judged elsewhere (`PaysignDomain.OrderVerification`). The token is
/// the value of the unsigned attribute id-aa-signatureTimeStampToken (1.2.840.113549.1.9.16.2.14,
/// RFC 3161 Appendix A): a CMS SignedData whose eContent is a TSTInfo, signed by a TSA.
///
/// Checked here, each as a fact of its own so the report can name what failed:
/// - the token is a DER CMS SignedData with eContentType id-ct-TSTInfo and one SignerInfo, and
///   carries the TSA's certificate (`problem` when not: garbage, another content, no certificate);
/// - the TSA's signature over its signed attributes and the TSTInfo (`CMS_verify`, certificates
///   not checked there);
/// - the messageImprint is the hash (SHA-256, -384 or -512) of the SignerInfo's signature value,
///   the OCTET STRING's contents (RFC 3161 Appendix A);
/// - the TSA certificate's extended key usage is timeStamping alone, critical (RFC 3161 2.3:
///   OpenSSL's `X509_PURPOSE_TIMESTAMP_SIGN`);
/// - the ESS signing-certificate(-v2) attribute names that certificate (RFC 3161 2.4.1, RFC 5816);
/// - its chain to the trust anchors of the `TrustContext` (the same anchors as the signers', time
///   not checked: validity at genTime is judged with the path), and its revocation.
public struct TimeStampEvidence: Sendable, Hashable {
    /// Why the token cannot be read (or why there is not exactly one); nil when it was read.
    public var problem: String?
    /// TSTInfo.genTime, to the whole second; a fraction rounds it up (the latest it can mean).
    public var genTime: Date?
    /// TSTInfo.accuracy in seconds; nil when the token states none.
    public var accuracy: TimeInterval?
    /// The messageImprint's hash algorithm (`sha256`).
    public var hashAlgorithm: String?
    public var imprintMatches = false
    public var signatureVerifies = false
    public var timeStampingUsage = false
    public var signingCertificateMatches = false
    /// The TSA's certificate, as carried in the token.
    public var certificate: CertificateProfile?
    public var chain: ChainVerdict?

    init(problem: String) { self.problem = problem }
    init() {}
}

/// The RFC 3161 tokens of signatures: checking one (`check`) and attaching one to a SignerInfo
/// of a signed order (`attach`), for a payment center that obtains time-stamps of its own.
public enum TimeStampToken {
    /// The largest token read: a TSA's certificate chain and a signature take a few kilobytes.
    public static let maximumTokenBytes = 64 << 10

    /// The hash algorithms a messageImprint may use.
    static let imprintDigests: [Int32: String] = [NID_sha256: "sha256", NID_sha384: "sha384", NID_sha512: "sha512"]

    /// Checks `token` (the attribute value's DER) against `signature`, the SignerInfo's signature
    /// value. `authorities`: the CA certificates carried in the order's SignedData, used with the
    /// token's own as intermediates. Never throws: what cannot be read is `problem`.
    static func check(token: ArraySlice<UInt8>, signature: [UInt8], trust: TrustContext,
                      authorities: [CachedCertificate]) -> TimeStampEvidence {
        guard token.count <= maximumTokenBytes else {
            return TimeStampEvidence(problem: "the time-stamp token is \(token.count) bytes, more than the \(maximumTokenBytes) one can be")
        }
        OpenSSLError.clearQueue()
        defer { OpenSSLError.clearQueue() }
        var consumed = 0
        let parsed: OpaquePointer? = token.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            let cms = buffer.isEmpty ? nil : d2i_CMS_ContentInfo(nil, &cursor, buffer.count)
            if let cursor, let base = buffer.baseAddress { consumed = cursor - base }
            return cms
        }
        guard let cms = parsed else {
            return TimeStampEvidence(problem: "the time-stamp token is not a DER CMS SignedData: damaged, or something else")
        }
        defer { CMS_ContentInfo_free(cms) }
        guard consumed == token.count else {
            return TimeStampEvidence(problem: "the time-stamp token is followed by \(token.count - consumed) unexpected bytes")
        }
        guard OBJ_obj2nid(CMS_get0_type(cms)) == NID_pkcs7_signed,
            OBJ_obj2nid(CMS_get0_eContentType(cms)) == NID_id_smime_ct_TSTInfo
        else {
            return TimeStampEvidence(problem: "the time-stamp token is not a SignedData of a TSTInfo (id-ct-TSTInfo), so it is no RFC 3161 token")
        }
        let infos = CMSHandle.signerInfos(cms)
        guard infos.count == 1, let info = infos.first else {
            return TimeStampEvidence(problem: "the time-stamp token holds \(infos.count) SignerInfos; RFC 3161 2.4.2 has exactly one, the TSA's")
        }
        guard let content = CMS_get0_content(cms)?.pointee, let tstBytes = CMSHandle.bytes(UnsafePointer(content)), !tstBytes.isEmpty else {
            return TimeStampEvidence(problem: "the time-stamp token carries no TSTInfo")
        }
        let tst: OpaquePointer? = tstBytes.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_TS_TST_INFO(nil, &cursor, buffer.count)
        }
        guard let tst else { return TimeStampEvidence(problem: "the time-stamp token's TSTInfo cannot be read") }
        defer { TS_TST_INFO_free(tst) }

        var evidence = TimeStampEvidence()
        // genTime and accuracy.
        if let time = TS_TST_INFO_get_time(tst) {
            var parts = tm()
            if ASN1_TIME_to_tm(time, &parts) == 1 {
                let fraction = CMSHandle.bytes(time)?.contains(UInt8(ascii: ".")) == true
                evidence.genTime = Date(timeIntervalSince1970: TimeInterval(timegm(&parts) + (fraction ? 1 : 0)))
            }
        }
        guard evidence.genTime != nil else { return TimeStampEvidence(problem: "the time-stamp token's genTime cannot be read") }
        if let accuracy = TS_TST_INFO_get_accuracy(tst) {
            // RFC 3161 2.4.2: seconds, millis 1...999, micros 1...999, each optional.
            func value(_ integer: UnsafePointer<ASN1_INTEGER>?, limit: Int) -> Double? {
                guard let integer else { return 0 }
                let number = ASN1_INTEGER_get(integer)
                return number >= 0 && number <= limit ? Double(number) : nil
            }
            guard let seconds = value(TS_ACCURACY_get_seconds(accuracy), limit: 1 << 30),
                let millis = value(TS_ACCURACY_get_millis(accuracy), limit: 999),
                let micros = value(TS_ACCURACY_get_micros(accuracy), limit: 999)
            else { return TimeStampEvidence(problem: "the time-stamp token's accuracy is out of range") }
            evidence.accuracy = seconds + millis / 1e3 + micros / 1e6
        }
        // The messageImprint: the hash of the signature value.
        if let imprint = TS_TST_INFO_get_msg_imprint(tst), let algorithm = TS_MSG_IMPRINT_get_algo(imprint) {
            var object: OpaquePointer?
            X509_ALGOR_get0(&object, nil, nil, algorithm)
            let nid = object.map { OBJ_obj2nid($0) } ?? NID_undef
            evidence.hashAlgorithm = imprintDigests[nid] ?? OBJ_nid2sn(nid).map { String(cString: $0) } ?? "unknown"
            if imprintDigests[nid] != nil, let md = EVP_get_digestbyname(OBJ_nid2sn(nid)),
                let message = TS_MSG_IMPRINT_get_msg(imprint), let expected = CMSHandle.bytes(UnsafePointer(message)) {
                var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
                var length: UInt32 = 0
                let ok = signature.withUnsafeBytes { EVP_Digest($0.baseAddress, $0.count, &digest, &length, md, nil) } == 1
                evidence.imprintMatches = ok && Array(digest.prefix(Int(length))) == expected
            }
        }
        // The TSA's signature (its certificate is checked below, not by CMS_verify).
        evidence.signatureVerifies = CMS_verify(cms, nil, nil, nil, nil, UInt32(CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY)) == 1
        OpenSSLError.clearQueue()
        _ = CMS_set1_signers_certs(cms, nil, 0)
        var signer: OpaquePointer?
        CMS_SignerInfo_get0_algs(info, nil, &signer, nil, nil)
        OpenSSLError.clearQueue()
        guard let signer, let certificate = try? CMSHandle.certificate(signer),
            let cached = trust.certificate(der: certificate.derEncoded[...])
        else {
            evidence.problem = "the time-stamp token does not carry the TSA's certificate (ask the TSA for it: certReq)"
            return evidence
        }
        evidence.certificate = cached.profile
        evidence.timeStampingUsage = X509_check_purpose(signer, X509_PURPOSE_TIMESTAMP_SIGN, 0) == 1
        // The ESS signing-certificate(-v2) check `openssl ts -verify` makes (-1: no such attribute).
        evidence.signingCertificateMatches = CPaysignShims_CMS_SignerInfo_check_signing_certificate(info, signer) == 1
        OpenSSLError.clearQueue()
        // The chain, with the CA certificates of the token and of the order as intermediates.
        var intermediates = authorities
        if let stack = CMS_get1_certs(cms) {
            defer { OPENSSL_sk_pop_free(stack, { X509_free(OpaquePointer($0)) }) }
            for index in 0..<max(0, OPENSSL_sk_num(stack)) {
                guard let x509 = OPENSSL_sk_value(stack, index).map(OpaquePointer.init),
                    let carried = try? CMSHandle.certificate(x509), let known = trust.certificate(der: carried.derEncoded[...]),
                    known.isAuthority, !intermediates.contains(where: { $0 === known })
                else { continue }
                intermediates.append(known)
            }
        }
        evidence.chain = trust.chain(for: cached, authorities: intermediates)
        return evidence
    }

    // MARK: Attaching a token

    /// Why a token cannot be attached, in one sentence.
    public struct AttachError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// `signature` (a signed order's `.p7s`, DER) with `token` added to its SignerInfo `signer`
    /// (from 0, in the file's order) as the unsigned attribute id-aa-signatureTimeStampToken
    /// (RFC 3161 Appendix A). Nothing signed changes: the other SignerInfos, the certificates and
    /// the signed attributes keep their bytes; the SignerInfos and the unsigned attributes stay
    /// in DER (sorted) order, so the SignerInfo may move. The token is not verified here (that
    /// needs the trust anchors: verify the order afterwards); it must be one DER value.
    /// - Throws: `AttachError` when the file is not a signed order paysign reads, there is no such
    ///   signer, it already carries a token (one per signature), or the token is not one DER value.
    public static func attach(token: [UInt8], toSigner signer: Int, of signature: [UInt8]) throws -> [UInt8] {
        guard !token.isEmpty, token.count <= maximumTokenBytes else {
            throw AttachError(message: "the time-stamp token is \(token.count) bytes; a token is 1 to \(maximumTokenBytes)")
        }
        let tokenWalk = DERWalker(bytes: token)
        guard (try? tokenWalk.root()) != nil else {
            throw AttachError(message: "the time-stamp token is not one DER value (a CMS SignedData is expected)")
        }
        do {
            _ = try ParsedSignedData(signature)
        } catch let error as StructureError {
            throw AttachError(message: error.message)
        } catch {
            throw AttachError(message: "the signature file is not DER: \(error)")
        }
        let walk = DERWalker(bytes: signature)
        let root = try walk.root()
        let top = try walk.children(root, DERTLV.sequence, "ContentInfo")
        let wrapped = try walk.children(top[1], DERTLV.context(0), "SignedData")
        let fields = try walk.children(wrapped[0], DERTLV.sequence, "SignedData")
        let infos = try walk.children(fields[fields.count - 1], DERTLV.set, "SignerInfos")
        guard infos.indices.contains(signer) else {
            throw AttachError(message: "the signature file holds \(infos.count) SignerInfos; there is no signer \(signer + 1)")
        }
        let parts = try walk.children(infos[signer], DERTLV.sequence, "SignerInfo")
        var unsigned: [[UInt8]] = []
        var kept = Array(parts)
        if let last = parts.last, last.tag == DERTLV.context(1) {
            kept.removeLast()
            for attribute in try walk.children(last, DERTLV.context(1), "unsigned attributes") {
                let pieces = try walk.children(attribute, DERTLV.sequence, "unsigned attribute")
                if walk.isOID(pieces.first, CMSOID.timeStampToken) {
                    throw AttachError(message: "SignerInfo \(signer + 1) already carries a time-stamp token; paysign reads one per signature")
                }
                unsigned.append(Array(walk.encoded(attribute)))
            }
        }
        let type = DERWriter.tlv(DERTLV.oid, CMSOID.timeStampToken)
        unsigned.append(DERWriter.tlv(DERTLV.sequence, type + DERWriter.tlv(DERTLV.set, token)))
        let attributes = DERWriter.tlv(DERTLV.context(1), sortedDER(unsigned).flatMap { $0 })
        let newInfo = DERWriter.tlv(DERTLV.sequence, kept.flatMap { walk.encoded($0) } + attributes)
        var allInfos = infos.map { Array(walk.encoded($0)) }
        allInfos[signer] = newInfo
        let infoSet = DERWriter.tlv(DERTLV.set, sortedDER(allInfos).flatMap { $0 })
        let signedData = DERWriter.tlv(DERTLV.sequence, fields.dropLast().flatMap { walk.encoded($0) } + infoSet)
        return DERWriter.tlv(DERTLV.sequence, Array(walk.encoded(top[0])) + DERWriter.tlv(DERTLV.context(0), signedData))
    }

    /// A SET OF's elements in DER order (X.690 11.6: by their encodings, as octet strings).
    static func sortedDER(_ elements: [[UInt8]]) -> [[UInt8]] {
        elements.sorted { DERWalker.precedes($0[...], $1[...]) }
    }
}
