import SwiftASN1

/// What an entity sends the payment center inside the envelope (rule D8): the order document, its
/// detached SignedData and the payroll file, as one DER value.
///
/// ```
/// PaysignSubmission ::= SEQUENCE {
///     version      INTEGER (1),
///     document     OCTET STRING,  -- the order document both signatures cover (D2)
///     signature    OCTET STRING,  -- the detached CMS SignedData (DER)
///     payrollFile  OCTET STRING } -- the file whose SHA-256 is the document's file number (D9)
/// ```
public struct SubmissionPackage: Sendable, Hashable {
    public var document: [UInt8]
    public var signature: [UInt8]
    public var payrollFile: [UInt8]

    public init(document: [UInt8], signature: [UInt8], payrollFile: [UInt8]) {
        self.document = document
        self.signature = signature
        self.payrollFile = payrollFile
    }

    public var derEncoded: [UInt8] {
        DERWriter.sequence(
            DERWriter.integer(1), DERWriter.octetString(document), DERWriter.octetString(signature),
            DERWriter.octetString(payrollFile))
    }

    /// Reads the DER value; one sentence when it is not one.
    public init(derEncoded der: [UInt8]) throws {
        let fields: [ASN1Node]
        do {
            let root = try DER.parse(der)
            guard root.identifier == .sequence, root.encodedBytes.count == der.count, case .constructed(let nodes) = root.content else {
                throw EnvelopeError(.malformed, "the envelope's content is not a paysign submission (a DER SEQUENCE of version, document, signature and payroll file)")
            }
            fields = Array(nodes)
        } catch let error as EnvelopeError {
            throw error
        } catch {
            throw EnvelopeError(.malformed, "the envelope's content is not a paysign submission (DER): \(error)")
        }
        guard fields.count == 4, fields[0].identifier == .integer, case .primitive(let version) = fields[0].content else {
            throw EnvelopeError(.malformed, "the envelope's content is not a paysign submission: it must hold a version, the document, the signature and the payroll file")
        }
        guard Array(version) == [1] else {
            throw EnvelopeError(.unsupported, "the submission is of version \(Array(version)); this center reads version 1")
        }
        var parts: [[UInt8]] = []
        for field in fields.dropFirst() {
            guard field.identifier == .octetString, case .primitive(let bytes) = field.content else {
                throw EnvelopeError(.malformed, "the envelope's content is not a paysign submission: the document, the signature and the payroll file are OCTET STRINGs")
            }
            parts.append(Array(bytes))
        }
        self.init(document: parts[0], signature: parts[1], payrollFile: parts[2])
    }
}
