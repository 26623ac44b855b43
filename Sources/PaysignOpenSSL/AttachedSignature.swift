internal import CLibCrypto

/// SignedData that carries its content (`eContent`, id-data): what the payment center's signed
/// receipts are, so `openssl cms -verify -in receipt.p7m` shows what was received. They are made
/// as every paysign signature is (`CMSBuilder`, detached, signed on a token), then the content is
/// put inside: the signature covers the signed attributes, whose message-digest is the content's,
/// so attaching changes nothing that is signed.
public enum AttachedSignature {
    /// `detached` with `content` as its eContent; DER.
    public static func attach(_ content: [UInt8], to detached: [UInt8]) throws -> [UInt8] {
        let cms = try CMSHandle.parse(detached)
        defer { CMS_ContentInfo_free(cms) }
        guard CMS_set_detached(cms, 0) == 1, let slot = CMS_get0_content(cms), let octets = slot.pointee else {
            throw OpenSSLError(.internalError, "OpenSSL could not make room for the content in the SignedData")
        }
        let stored = content.withUnsafeBufferPointer { ASN1_STRING_set(octets, $0.baseAddress, Int32($0.count)) }
        guard stored == 1 else { throw OpenSSLError(.internalError, "OpenSSL could not store the content in the SignedData") }
        // CMS_set_detached marks the string as content still to stream in; it is all here.
        octets.pointee.flags &= ~Int(ASN1_STRING_FLAG_CONT)
        return try CMSHandle.encode(cms)
    }

    /// The content a SignedData carries and the same SignedData without it (what
    /// `SignedDocument.verify(content:…)` checks).
    public static func split(_ attached: [UInt8]) throws -> (content: [UInt8], signature: SignedDocument) {
        let cms = try CMSHandle.parse(attached, attached: true)
        defer { CMS_ContentInfo_free(cms) }
        guard let slot = CMS_get0_content(cms), let octets = slot.pointee else {
            throw OpenSSLError(.malformedSignature, "the SignedData does not carry its content; a receipt carries what it proves")
        }
        let content = Array(UnsafeBufferPointer(start: ASN1_STRING_get0_data(octets), count: Int(ASN1_STRING_length(octets))))
        guard CMS_set_detached(cms, 1) == 1 else { throw OpenSSLError(.internalError, "OpenSSL could not detach the content") }
        return (content, try SignedDocument(derEncoded: try CMSHandle.encode(cms)))
    }
}
