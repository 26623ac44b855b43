internal import CLibCrypto
internal import CPaysignShims
import SwiftASN1

/// CMS AuthEnvelopedData (RFC 5083) with AES-256-GCM (RFC 5084) and RSAES-OAEP key transport
/// (RFC 8017, parameters as RFC 4055 writes them): how an entity's daemon seals a signed order to
/// the payment center's encryption certificate (rule D8), and how the center opens it with a key
/// that never leaves its HSM.
///
/// - **Sealing** is OpenSSL's (`CMS_AuthEnvelopedData_create`, one `KeyTransRecipientInfo` for
///   the recipient's certificate with OAEP set on its key context): it needs only the public key.
/// - **Opening** is split so the private key stays on the token: `parse` reads the structure
///   (strictly: one content-encryption algorithm, AES-256-GCM; OAEP with SHA-1 or SHA-256 and MGF1
///   of the same hash; no other recipient kind for this certificate), the caller decrypts the
///   recipient's `encryptedKey` on its token (`C_Decrypt`, `CKM_RSA_PKCS_OAEP`), and
///   `Sealed.open(contentEncryptionKey:)` decrypts the content and checks its tag (AES-GCM with the
///   DER of `authAttrs` as additional data when they are present, RFC 5083 2.2).
///
/// ```
/// AuthEnvelopedData ::= SEQUENCE {
///   version CMSVersion (0), originatorInfo [0] IMPLICIT OPTIONAL, recipientInfos RecipientInfos,
///   authEncryptedContentInfo EncryptedContentInfo, authAttrs [1] IMPLICIT AuthAttributes OPTIONAL,
///   mac MessageAuthenticationCode, unauthAttrs [2] IMPLICIT OPTIONAL }
/// ```
public enum AuthEnvelope {
    /// id-ct-authEnvelopedData.
    public static let contentTypeOID = "1.2.840.113549.1.9.16.1.23"
    /// id-aes256-GCM.
    static let aes256GCM = "2.16.840.1.101.3.4.1.46"
    /// id-RSAES-OAEP.
    static let rsaesOAEP = "1.2.840.113549.1.1.7"
    static let mgf1 = "1.2.840.113549.1.1.8"
    static let sha1 = "1.3.14.3.2.26"
    static let sha256 = "2.16.840.1.101.3.4.2.1"
    static let pSpecified = "1.2.840.113549.1.1.9"

    /// The hash of RSAES-OAEP (and of its MGF1).
    public enum OAEPHash: String, Sendable, Hashable, CaseIterable, Codable {
        case sha1, sha256
    }

    /// The largest envelope `parse` reads: a payroll file of 64 MiB and its order, with room.
    public static let maximumBytes = 80 << 20

    /// Seals `content` to `recipient`'s RSA key: a fresh AES-256 key and 12-byte nonce, the key
    /// sent with RSAES-OAEP (`oaep` for the hash and MGF1). The DER ContentInfo.
    public static func seal(_ content: [UInt8], to recipient: Certificate, oaep: OAEPHash) throws -> [UInt8] {
        OpenSSLError.clearQueue()
        defer { OpenSSLError.clearQueue() }
        guard recipient.keyAlgorithm == .rsa || recipient.keyAlgorithm == .ec else {
            throw EnvelopeError(.unsupported, "the recipient certificate \(recipient.serialNumber) holds neither an RSA key (RSAES-OAEP) nor an EC key (ECDH, RFC 5753)")
        }
        guard let cms = CMS_AuthEnvelopedData_create(EVP_aes_256_gcm()) else {
            throw OpenSSLError(.internalError, "OpenSSL could not start an AuthEnvelopedData")
        }
        defer { CMS_ContentInfo_free(cms) }
        guard let info = CMS_add1_recipient_cert(cms, recipient.x509, UInt32(CMS_KEY_PARAM)),
            let context = CMS_RecipientInfo_get0_pkey_ctx(info)
        else {
            throw OpenSSLError(.internalError, "OpenSSL could not add the recipient \(recipient.subject)")
        }
        if recipient.keyAlgorithm == .ec {
            // ECDH (RFC 5753): an ephemeral key, the X9.63 KDF with SHA-256
            // (dhSinglePass-stdDH-sha256kdf-scheme), the content key wrapped with AES-256 key wrap.
            guard EVP_PKEY_CTX_set_ecdh_kdf_md(context, EVP_sha256()) > 0 else {
                throw OpenSSLError(.internalError, "OpenSSL could not set the ECDH key derivation for the recipient \(recipient.subject)")
            }
        } else {
            let digest = oaep == .sha1 ? EVP_sha1() : EVP_sha256()
            guard EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_OAEP_PADDING) > 0,
                EVP_PKEY_CTX_set_rsa_oaep_md(context, digest) > 0,
                EVP_PKEY_CTX_set_rsa_mgf1_md(context, digest) > 0
            else {
                throw OpenSSLError(.internalError, "OpenSSL could not set RSAES-OAEP for the recipient \(recipient.subject)")
            }
        }
        let bio = content.withUnsafeBytes { BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }
        guard let bio else { throw OpenSSLError(.internalError, "OpenSSL could not read the content to seal") }
        defer { BIO_free(bio) }
        // The content travels inside (CMS_encrypt does the same unless asked for CMS_DETACHED).
        guard CMS_set_detached(cms, 0) == 1, CMS_final(cms, bio, nil, UInt32(CMS_BINARY)) == 1 else {
            throw OpenSSLError(.internalError, "OpenSSL could not encrypt the content to \(recipient.subject)")
        }
        return try CMSHandle.encode(cms)
    }

    /// One key-transport recipient of an envelope.
    public struct KeyTransport: Sendable, Hashable {
        /// The recipient's certificate, by issuer and serial (its DER Name and the serial's content
        /// octets) or by subject key identifier.
        public enum Identifier: Sendable, Hashable {
            case issuerAndSerial(issuer: [UInt8], serial: [UInt8])
            case subjectKeyIdentifier([UInt8])
        }

        public var identifier: Identifier
        /// nil when the algorithm is not RSAES-OAEP with parameters paysign accepts (`problem` says why).
        public var oaep: OAEPHash?
        public var problem: String?
        public var encryptedKey: [UInt8]

        /// Whether this recipient names `certificate`.
        public func names(_ certificate: Certificate) -> Bool {
            switch identifier {
            case .issuerAndSerial(let issuer, let serial):
                guard let (certificateIssuer, certificateSerial) = try? CachedCertificate.issuerAndSerial(certificate.derEncoded)
                else { return false }
                return Array(certificateIssuer) == issuer && Array(certificateSerial) == serial
            case .subjectKeyIdentifier(let identifier):
                return certificate.subjectKeyIdentifier == identifier
            }
        }
    }

    /// One key-agreement recipient info (RFC 5753: ECDH with an ephemeral key of the sender's),
    /// for one or more recipients.
    public struct KeyAgreement: Sendable, Hashable {
        /// The sender's ephemeral public point (`04‖X‖Y`).
        public var originatorPoint: [UInt8]
        public var ukm: [UInt8]?
        /// The X9.63 KDF's hash (dhSinglePass-stdDH-sha1kdf-scheme or -sha256kdf-scheme).
        public var kdf: OAEPHash?
        /// The key-wrap AlgorithmIdentifier as carried (it enters the KDF's shared info).
        public var wrapAlgorithm: [UInt8]
        /// 16, 24 or 32: AES-128, -192 or -256 key wrap (RFC 3394).
        public var wrapKeyLength: Int
        public var recipients: [(identifier: KeyTransport.Identifier, encryptedKey: [UInt8])]
        public var problem: String?

        public static func == (a: KeyAgreement, b: KeyAgreement) -> Bool {
            a.originatorPoint == b.originatorPoint && a.wrapAlgorithm == b.wrapAlgorithm
                && a.recipients.map(\.encryptedKey) == b.recipients.map(\.encryptedKey)
        }
        public func hash(into hasher: inout Hasher) { hasher.combine(originatorPoint) }
    }

    /// An envelope read but not opened.
    public struct Sealed: Sendable {
        public var recipients: [KeyTransport]
        /// Key-agreement recipient infos (ECDH).
        public var agreements: [KeyAgreement] = []
        /// How many recipients are of a kind other than key transport (agreement, KEK, password).
        public var otherRecipients: Int
        /// The inner content type (dotted OID).
        public var contentType: String
        var nonce: [UInt8]
        var ciphertext: [UInt8]
        var tag: [UInt8]
        /// DER of `authAttrs` with the SET OF tag, when present: the additional data.
        var additionalData: [UInt8]?

        /// The key-transport recipient for `certificate`, or why there is none paysign can use.
        public func recipient(for certificate: Certificate) throws -> KeyTransport {
            guard let mine = recipients.first(where: { $0.names(certificate) }) else {
                let kinds = otherRecipients > 0 ? " (and \(otherRecipients) of another kind)" : ""
                throw EnvelopeError(.notForThisRecipient, "the envelope is not addressed to the certificate \(certificate.serialNumber) of \(certificate.subject): it names \(recipients.count) key-transport recipient\(recipients.count == 1 ? "" : "s")\(kinds), none of them this one")
            }
            if let problem = mine.problem { throw EnvelopeError(.unsupported, problem) }
            return mine
        }

        /// The key-agreement recipient for `certificate` (an EC key), or why there is none.
        public func agreement(for certificate: Certificate) throws -> (KeyAgreement, encryptedKey: [UInt8]) {
            for agreement in agreements {
                if let mine = agreement.recipients.first(where: { KeyTransport(identifier: $0.identifier, oaep: nil, problem: nil, encryptedKey: []).names(certificate) }) {
                    if let problem = agreement.problem { throw EnvelopeError(.unsupported, problem) }
                    return (agreement, mine.encryptedKey)
                }
            }
            throw EnvelopeError(.notForThisRecipient, "the envelope is not addressed to the certificate \(certificate.serialNumber) of \(certificate.subject): none of its \(agreements.count) key-agreement recipient infos names it")
        }

        /// Opens the content from an ECDH shared secret (`Z`, computed on the recipient's token):
        /// the X9.63 KDF over `Z` and the ECC-CMS-SharedInfo (RFC 5753 7.2) gives the key-encryption
        /// key, which unwraps the content key (AES key wrap, RFC 3394), which decrypts the content.
        public func open(sharedSecret: [UInt8], agreement: KeyAgreement, encryptedKey: [UInt8]) throws -> [UInt8] {
            guard let kdf = agreement.kdf else {
                throw EnvelopeError(.unsupported, agreement.problem ?? "the key agreement's KDF is not one paysign uses")
            }
            var info = agreement.wrapAlgorithm
            if let ukm = agreement.ukm { info += DERWriter.contextConstructed(0, DERWriter.octetString(ukm)) }
            let bits = UInt32(agreement.wrapKeyLength * 8)
            info += DERWriter.contextConstructed(2, DERWriter.octetString([UInt8(bits >> 24), UInt8(bits >> 16 & 0xFF), UInt8(bits >> 8 & 0xFF), UInt8(bits & 0xFF)]))
            let sharedInfo = DERWriter.sequence(of: [info])
            var kek: [UInt8] = []
            var counter: UInt32 = 1
            while kek.count < agreement.wrapKeyLength {
                let block = sharedSecret + [UInt8(counter >> 24), UInt8(counter >> 16 & 0xFF), UInt8(counter >> 8 & 0xFF), UInt8(counter & 0xFF)] + sharedInfo
                kek += kdf == .sha1 ? Digests.sha1(block) : SHA256.hash(block)
                counter += 1
            }
            kek = Array(kek.prefix(agreement.wrapKeyLength))
            let contentKey = try AESKeyWrap.unwrap(encryptedKey, kek: kek)
            return try open(contentEncryptionKey: contentKey)
        }

        /// Decrypts the content with the key the recipient's token recovered and checks the tag.
        public func open(contentEncryptionKey key: [UInt8]) throws -> [UInt8] {
            guard key.count == 32 else {
                throw EnvelopeError(.tampered, "the recovered content-encryption key is \(key.count) bytes, not the 32 of AES-256; the envelope was altered or not made for this key")
            }
            return try AESGCM.decrypt(
                ciphertext: ciphertext, key: key, nonce: nonce, tag: tag, additionalData: additionalData ?? [])
        }
    }

    /// Reads an AuthEnvelopedData (DER or BER ContentInfo) without decrypting anything.
    public static func parse(_ bytes: [UInt8]) throws -> Sealed {
        guard !bytes.isEmpty else { throw EnvelopeError(.malformed, "the envelope is empty; a CMS AuthEnvelopedData was expected") }
        guard bytes.count <= maximumBytes else {
            throw EnvelopeError(.malformed, "the envelope is \(bytes.count) bytes, over the \(maximumBytes >> 20) MiB paysign reads")
        }
        do {
            return try read(bytes)
        } catch let error as EnvelopeError {
            throw error
        } catch {
            throw EnvelopeError(.malformed, "the envelope is not a CMS AuthEnvelopedData paysign can read (RFC 5083): \(error)")
        }
    }

    private static func read(_ bytes: [UInt8]) throws -> Sealed {
        let root = try BER.parse(bytes)
        guard root.encodedBytes.count == bytes.count else {
            throw EnvelopeError(.malformed, "the envelope has \(bytes.count - root.encodedBytes.count) bytes after its end")
        }
        let top = try children(root, "ContentInfo")
        guard top.count == 2, try oid(top[0]) == contentTypeOID else {
            throw EnvelopeError(.malformed, "the CMS file is not an AuthEnvelopedData (content type \(((try? oid(top[0])) ?? "unreadable")), RFC 5083 id-ct-authEnvelopedData expected)")
        }
        let explicit = try children(top[1], "[0] content")
        guard explicit.count == 1 else { throw EnvelopeError(.malformed, "the ContentInfo's content is not one AuthEnvelopedData") }
        var fields = try children(explicit[0], "AuthEnvelopedData")[...]
        guard let version = fields.popFirst(), version.identifier == .integer, case .primitive(let v) = version.content, Array(v) == [0] else {
            throw EnvelopeError(.malformed, "the AuthEnvelopedData's version is not 0 (RFC 5083 2.1)")
        }
        if fields.first?.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) { fields.removeFirst() }
        guard let infos = fields.popFirst(), infos.identifier == .set else {
            throw EnvelopeError(.malformed, "the AuthEnvelopedData has no recipientInfos")
        }
        var recipients: [KeyTransport] = []
        var others = 0
        var agreements: [KeyAgreement] = []
        for info in try children(infos, "RecipientInfos") {
            if info.identifier == .sequence {
                recipients.append(try keyTransport(info))
            } else if info.identifier == ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific) {
                agreements.append(try keyAgreement(info))
            } else {
                others += 1
            }
        }
        guard let encryptedInfo = fields.popFirst(), encryptedInfo.identifier == .sequence else {
            throw EnvelopeError(.malformed, "the AuthEnvelopedData has no authEncryptedContentInfo")
        }
        let content = try children(encryptedInfo, "EncryptedContentInfo")
        guard content.count >= 2 else { throw EnvelopeError(.malformed, "the encrypted content info is incomplete") }
        let contentType = try oid(content[0])
        let algorithm = try children(content[1], "contentEncryptionAlgorithm")
        let algorithmOID = try oid(algorithm[0])
        guard algorithmOID == aes256GCM, algorithm.count == 2 else {
            throw EnvelopeError(.unsupported, "the content is encrypted with \(algorithmOID); paysign opens AES-256-GCM only (RFC 5084, \(aes256GCM))")
        }
        let parameters = try children(algorithm[1], "GCMParameters")
        let nonce = try octets(parameters[0])
        var tagLength = 12
        if parameters.count > 1 {
            guard case .primitive(let raw) = parameters[1].content, raw.count == 1 else {
                throw EnvelopeError(.malformed, "the GCM tag length is not a small integer")
            }
            tagLength = Int(raw.first!)
        }
        guard (12...16).contains(tagLength), !nonce.isEmpty, nonce.count <= 64 else {
            throw EnvelopeError(.unsupported, "the GCM parameters (a \(nonce.count)-byte nonce, a \(tagLength)-byte tag) are outside RFC 5084's (a tag of 12 to 16 bytes)")
        }
        guard content.count == 3, content[2].identifier.tagClass == .contextSpecific, content[2].identifier.tagNumber == 0 else {
            throw EnvelopeError(.malformed, "the envelope carries no encrypted content (a detached AuthEnvelopedData is not accepted)")
        }
        let ciphertext = try octets(content[2])
        var additionalData: [UInt8]?
        if let attributes = fields.first, attributes.identifier == ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific) {
            fields.removeFirst()
            var der = Array(attributes.encodedBytes)
            der[0] = 0x31  // [1] IMPLICIT SET OF → the SET OF tag, as the AAD is computed (RFC 5083 2.2)
            additionalData = der
        }
        guard let mac = fields.popFirst(), mac.identifier == .octetString else {
            throw EnvelopeError(.malformed, "the envelope has no message authentication code")
        }
        let tag = try octets(mac)
        guard tag.count == tagLength else {
            throw EnvelopeError(.tampered, "the envelope's tag is \(tag.count) bytes where its parameters say \(tagLength); it was altered")
        }
        return Sealed(
            recipients: recipients, agreements: agreements, otherRecipients: others, contentType: contentType, nonce: nonce,
            ciphertext: ciphertext, tag: tag, additionalData: additionalData)
    }

    /// `KeyTransRecipientInfo ::= SEQUENCE { version, rid, keyEncryptionAlgorithm, encryptedKey }`.
    private static func keyTransport(_ node: ASN1Node) throws -> KeyTransport {
        let fields = try children(node, "KeyTransRecipientInfo")
        guard fields.count == 4 else { throw EnvelopeError(.malformed, "a KeyTransRecipientInfo does not have its four fields") }
        let identifier: KeyTransport.Identifier
        if fields[1].identifier == .sequence {
            let parts = try children(fields[1], "IssuerAndSerialNumber")
            guard parts.count == 2, case .primitive(let serial) = parts[1].content else {
                throw EnvelopeError(.malformed, "a recipient's issuer and serial number are unreadable")
            }
            identifier = .issuerAndSerial(issuer: Array(parts[0].encodedBytes), serial: Array(serial))
        } else {
            guard case .primitive(let keyID) = fields[1].content else {
                throw EnvelopeError(.malformed, "a recipient's subject key identifier is unreadable")
            }
            identifier = .subjectKeyIdentifier(Array(keyID))
        }
        let algorithm = try children(fields[2], "keyEncryptionAlgorithm")
        let encryptedKey = try octets(fields[3])
        var transport = KeyTransport(identifier: identifier, oaep: nil, problem: nil, encryptedKey: encryptedKey)
        let algorithmOID = try oid(algorithm[0])
        guard algorithmOID == rsaesOAEP else {
            transport.problem = algorithmOID == "1.2.840.113549.1.1.1"
                ? "the content key is sent with RSA PKCS #1 v1.5 (rsaEncryption); paysign accepts RSAES-OAEP only (RFC 8017 7.1, RFC 4055)"
                : "the content key is sent with \(algorithmOID); paysign accepts RSAES-OAEP only (RFC 8017 7.1, RFC 4055)"
            return transport
        }
        do {
            transport.oaep = try oaepHash(algorithm.count > 1 ? algorithm[1] : nil)
        } catch let error as EnvelopeError {
            transport.problem = error.message
        }
        return transport
    }

    static let stdDHSHA1KDF = "1.3.133.16.840.63.0.2"
    static let stdDHSHA256KDF = "1.3.132.1.11.1"
    static let aesWrap: [String: Int] = ["2.16.840.1.101.3.4.1.5": 16, "2.16.840.1.101.3.4.1.25": 24, "2.16.840.1.101.3.4.1.45": 32]

    /// ```
    /// KeyAgreeRecipientInfo ::= SEQUENCE { version (3), originator [0] EXPLICIT OriginatorIdentifierOrKey,
    ///   ukm [1] EXPLICIT UserKeyingMaterial OPTIONAL, keyEncryptionAlgorithm, recipientEncryptedKeys }
    /// ```
    /// paysign reads an ephemeral originator key (`originatorKey [1]`), the standard ECDH schemes
    /// with the SHA-1 or SHA-256 X9.63 KDF, and AES key wrap.
    private static func keyAgreement(_ node: ASN1Node) throws -> KeyAgreement {
        var fields = try children(node, "KeyAgreeRecipientInfo")[...]
        guard let version = fields.popFirst(), version.identifier == .integer else {
            throw EnvelopeError(.malformed, "a KeyAgreeRecipientInfo has no version")
        }
        guard let originator = fields.popFirst(), originator.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific),
            let choice = try children(originator, "originator").first
        else { throw EnvelopeError(.malformed, "a KeyAgreeRecipientInfo has no originator") }
        var agreement = KeyAgreement(originatorPoint: [], ukm: nil, kdf: nil, wrapAlgorithm: [], wrapKeyLength: 0, recipients: [], problem: nil)
        if choice.identifier == ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific) {
            let key = try children(choice, "originatorKey")
            guard key.count == 2 else { throw EnvelopeError(.malformed, "the originator's public key is unreadable") }
            let bits = try octets(key[1])
            guard bits.first == 0, bits.count > 1 else { throw EnvelopeError(.malformed, "the originator's public key is not a whole-byte BIT STRING") }
            agreement.originatorPoint = Array(bits.dropFirst())
        } else {
            agreement.problem = "the key agreement names a static originator key; paysign reads an ephemeral one (originatorKey)"
        }
        if fields.first?.identifier == ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific) {
            agreement.ukm = try octets(try children(fields.removeFirst(), "ukm").first ?? node)
        }
        guard let algorithmNode = fields.popFirst(), let recipientKeys = fields.popFirst() else {
            throw EnvelopeError(.malformed, "a KeyAgreeRecipientInfo lacks its algorithm or its recipients")
        }
        let algorithm = try children(algorithmNode, "keyEncryptionAlgorithm")
        let scheme = try oid(algorithm[0])
        switch scheme {
        case stdDHSHA1KDF: agreement.kdf = .sha1
        case stdDHSHA256KDF: agreement.kdf = .sha256
        default: agreement.problem = agreement.problem ?? "the key agreement scheme \(scheme) is not the standard ECDH one with the SHA-1 or SHA-256 KDF (RFC 5753)"
        }
        if algorithm.count == 2, let wrap = try? children(algorithm[1], "KeyWrapAlgorithm"), let wrapOID = try? oid(wrap[0]) {
            agreement.wrapAlgorithm = Array(algorithm[1].encodedBytes)
            if let length = aesWrap[wrapOID] { agreement.wrapKeyLength = length } else {
                agreement.problem = agreement.problem ?? "the content key is wrapped with \(wrapOID); paysign unwraps AES key wrap (RFC 3394)"
            }
        } else {
            agreement.problem = agreement.problem ?? "the key agreement names no key-wrap algorithm"
        }
        for encrypted in try children(recipientKeys, "RecipientEncryptedKeys") {
            let parts = try children(encrypted, "RecipientEncryptedKey")
            guard parts.count == 2 else { throw EnvelopeError(.malformed, "a RecipientEncryptedKey is unreadable") }
            let identifier: KeyTransport.Identifier
            if parts[0].identifier == .sequence {
                let issuerSerial = try children(parts[0], "IssuerAndSerialNumber")
                guard issuerSerial.count == 2, case .primitive(let serial) = issuerSerial[1].content else {
                    throw EnvelopeError(.malformed, "a recipient's issuer and serial number are unreadable")
                }
                identifier = .issuerAndSerial(issuer: Array(issuerSerial[0].encodedBytes), serial: Array(serial))
            } else {
                let keyIdentifier = try children(parts[0], "RecipientKeyIdentifier")
                identifier = .subjectKeyIdentifier(try octets(keyIdentifier[0]))
            }
            agreement.recipients.append((identifier, try octets(parts[1])))
        }
        return agreement
    }

    /// `RSAES-OAEP-params ::= SEQUENCE { hashFunc [0], maskGenFunc [1], pSourceFunc [2] }`, each
    /// with its default (SHA-1, MGF1-SHA-1, empty label): SHA-1 or SHA-256, the MGF1 hash the same,
    /// no label.
    private static func oaepHash(_ node: ASN1Node?) throws -> OAEPHash {
        guard let node, node.identifier != .null else { return .sha1 }
        var hash = sha1
        var mgfHash = sha1
        for field in try children(node, "RSAES-OAEP-params") {
            let inner = try children(field, "an OAEP parameter")
            guard inner.count == 1 else { throw EnvelopeError(.malformed, "an OAEP parameter is malformed") }
            let algorithm = try children(inner[0], "an OAEP algorithm")
            switch field.identifier.tagNumber {
            case 0: hash = try oid(algorithm[0])
            case 1:
                guard try oid(algorithm[0]) == mgf1, algorithm.count == 2 else {
                    throw EnvelopeError(.unsupported, "the OAEP mask generation function is not MGF1")
                }
                mgfHash = try oid(try children(algorithm[1], "MGF1's hash")[0])
            case 2:
                guard try oid(algorithm[0]) == pSpecified, algorithm.count == 2, try octets(algorithm[1]).isEmpty else {
                    throw EnvelopeError(.unsupported, "the OAEP label is not empty; paysign's tokens decrypt with an empty label")
                }
            default: throw EnvelopeError(.malformed, "the OAEP parameters hold an unknown field")
            }
        }
        guard hash == mgfHash, let chosen = [sha1: OAEPHash.sha1, sha256: .sha256][hash] else {
            throw EnvelopeError(.unsupported, "the OAEP hash \(hash) with MGF1 over \(mgfHash) is not one paysign decrypts (SHA-1 or SHA-256, the same for both)")
        }
        return chosen
    }

    // MARK: Reading nodes

    private static func children(_ node: ASN1Node, _ what: String) throws -> [ASN1Node] {
        guard case .constructed(let nodes) = node.content else { throw EnvelopeError(.malformed, "\(what) is not a constructed value") }
        return Array(nodes)
    }

    private static func oid(_ node: ASN1Node) throws -> String {
        try ASN1ObjectIdentifier(derEncoded: node.encodedBytes).description
    }

    /// An OCTET STRING's contents, primitive or (BER) constructed of primitive pieces, whatever its tag.
    private static func octets(_ node: ASN1Node) throws -> [UInt8] {
        switch node.content {
        case .primitive(let bytes): return Array(bytes)
        case .constructed(let pieces): return try pieces.flatMap { try octets($0) }
        }
    }
}

/// AES-256-GCM decryption through EVP.
enum AESGCM {
    static func decrypt(ciphertext: [UInt8], key: [UInt8], nonce: [UInt8], tag: [UInt8], additionalData: [UInt8]) throws -> [UInt8] {
        OpenSSLError.clearQueue()
        defer { OpenSSLError.clearQueue() }
        guard let context = EVP_CIPHER_CTX_new() else { throw OpenSSLError(.internalError, "OpenSSL could not start AES-GCM") }
        defer { EVP_CIPHER_CTX_free(context) }
        var tagCopy = tag
        guard EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, nil, nil) == 1,
            EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, Int32(nonce.count), nil) == 1,
            EVP_DecryptInit_ex(context, nil, nil, key, nonce) == 1
        else { throw OpenSSLError(.internalError, "OpenSSL could not set up AES-256-GCM") }
        var length: Int32 = 0
        if !additionalData.isEmpty {
            guard EVP_DecryptUpdate(context, nil, &length, additionalData, Int32(additionalData.count)) == 1 else {
                throw OpenSSLError(.internalError, "OpenSSL could not take the additional data")
            }
        }
        var plain = [UInt8](repeating: 0, count: ciphertext.count + 16)
        var total = 0
        let chunk = 1 << 20
        var offset = 0
        while offset < ciphertext.count {
            let count = min(chunk, ciphertext.count - offset)
            let ok = ciphertext.withUnsafeBufferPointer { input in
                plain.withUnsafeMutableBufferPointer { output in
                    EVP_DecryptUpdate(context, output.baseAddress! + total, &length, input.baseAddress! + offset, Int32(count))
                }
            }
            guard ok == 1 else { throw OpenSSLError(.internalError, "OpenSSL could not decrypt the content") }
            total += Int(length)
            offset += count
        }
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(tagCopy.count), &tagCopy) == 1 else {
            throw OpenSSLError(.internalError, "OpenSSL could not take the tag")
        }
        let final = plain.withUnsafeMutableBufferPointer { output in
            EVP_DecryptFinal_ex(context, output.baseAddress! + total, &length)
        }
        guard final == 1 else {
            throw EnvelopeError(.tampered, "the envelope's authentication tag does not match its content: the ciphertext, the nonce or the tag was altered, or the key is not the one it was sealed with")
        }
        total += Int(length)
        return Array(plain.prefix(total))
    }
}

/// SHA-1 for the X9.63 KDF of envelopes that ask for it (OpenSSL's default ECDH scheme).
enum Digests {
    static func sha1(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 20)
        var length: UInt32 = 0
        _ = bytes.withUnsafeBytes { EVP_Digest($0.baseAddress, $0.count, &out, &length, EVP_sha1(), nil) }
        return out
    }
}

/// AES key unwrap (RFC 3394) through EVP.
enum AESKeyWrap {
    static func unwrap(_ wrapped: [UInt8], kek: [UInt8]) throws -> [UInt8] {
        OpenSSLError.clearQueue()
        defer { OpenSSLError.clearQueue() }
        let cipher: OpaquePointer? = switch kek.count {
        case 16: EVP_aes_128_wrap()
        case 24: EVP_aes_192_wrap()
        default: EVP_aes_256_wrap()
        }
        guard wrapped.count >= 24, wrapped.count % 8 == 0, let context = EVP_CIPHER_CTX_new() else {
            throw EnvelopeError(.tampered, "the wrapped content key is \(wrapped.count) bytes, not an AES key wrap of a key")
        }
        defer { EVP_CIPHER_CTX_free(context) }
        EVP_CIPHER_CTX_set_flags(context, Int32(EVP_CIPHER_CTX_FLAG_WRAP_ALLOW))
        var out = [UInt8](repeating: 0, count: wrapped.count + 16)
        var length: Int32 = 0
        var total: Int32 = 0
        guard EVP_DecryptInit_ex(context, cipher, nil, kek, nil) == 1,
            EVP_DecryptUpdate(context, &out, &length, wrapped, Int32(wrapped.count)) == 1
        else {
            throw EnvelopeError(.tampered, "the content key does not unwrap with the agreed key (RFC 3394 integrity check): the envelope was altered or is for another key")
        }
        total = length
        let final = out.withUnsafeMutableBufferPointer { EVP_DecryptFinal_ex(context, $0.baseAddress! + Int(total), &length) }
        guard final == 1 else {
            throw EnvelopeError(.tampered, "the content key does not unwrap with the agreed key (RFC 3394 integrity check): the envelope was altered or is for another key")
        }
        total += length
        return Array(out.prefix(Int(total)))
    }
}

/// Why an envelope was not opened, in one sentence.
public struct EnvelopeError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// Not an AuthEnvelopedData paysign can read.
        case malformed = "malformed-envelope"
        /// Sealed for someone else.
        case notForThisRecipient = "envelope-not-for-this-recipient"
        /// Algorithms or parameters paysign does not open.
        case unsupported = "unsupported-envelope"
        /// The tag does not match: altered in transit.
        case tampered = "envelope-tampered"
    }

    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { message }
}
