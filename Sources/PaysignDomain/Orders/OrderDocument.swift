/// The canonical order document: the exact bytes both signatures cover (D2), so that a signature
/// binds the order's metadata *and* its file (through the file number, D9), and a verifier needs
/// nothing but this document, the uploaded file and the `.p7s` to check it.
///
/// The bytes are deterministic: UTF-8, one `key: value` per line in this fixed order, LF line
/// ends, a final LF, no trailing spaces. The same order always gives the same bytes:
/// ```
/// paysign-payment-order: 1
/// order: 17
/// entity: MOF-EG-001
/// kind: salary
/// currency: EGP
/// value-date: 2026-11-24
/// file-number: 9f86-d081-884c-7d65-9a2f-eaa0-c55a-d015-a3bf-4f1b-2b0b-822c-d15d-6c15-b0f0-0a08
/// file-bytes: 84211
/// lines: 1000
/// total-piasters: 912345600
/// ```
/// `order` is the registry's id of the order on the daemon that created it: uploading the same
/// file twice makes two orders with two documents, and a verifier that has seen one document
/// refuses it when it comes again.
public struct OrderDocument: Sendable, Hashable {
    public static let version = 1
    static let keys = [
        "paysign-payment-order", "order", "entity", "kind", "currency", "value-date", "file-number", "file-bytes",
        "lines", "total-piasters",
    ]

    public var orderID: Order.ID
    public var metadata: OrderMetadata
    public var fileNumber: FileNumber
    public var fileBytes: Int
    public var lineCount: Int
    public var totalPiasters: Int64

    public init(
        orderID: Order.ID, metadata: OrderMetadata, fileNumber: FileNumber, fileBytes: Int, lineCount: Int,
        totalPiasters: Int64
    ) {
        self.orderID = orderID
        self.metadata = metadata
        self.fileNumber = fileNumber
        self.fileBytes = fileBytes
        self.lineCount = lineCount
        self.totalPiasters = totalPiasters
    }

    /// The document of a stored order.
    public init(_ order: Order) {
        self.init(
            orderID: order.id, metadata: order.metadata, fileNumber: order.fileNumber, fileBytes: order.fileBytes,
            lineCount: order.lineCount, totalPiasters: order.totalPiasters)
    }

    /// The canonical bytes.
    public var bytes: [UInt8] {
        let values = [
            String(Self.version), String(orderID), metadata.entityCode, metadata.kind.rawValue, metadata.currency,
            metadata.valueDate.description, fileNumber.grouped, String(fileBytes), String(lineCount),
            String(totalPiasters),
        ]
        var text = ""
        for (key, value) in zip(Self.keys, values) {
            text += key + ": " + value + "\n"
        }
        return Array(text.utf8)
    }

    /// Why a byte string is not a canonical order document.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Reads a document back, refusing anything that is not exactly the canonical form: the
    /// bytes given must equal `bytes` of the value read, so two different byte strings never
    /// pass as the same order.
    public init(parsing bytes: [UInt8]) throws {
        func fail(_ message: String) -> ParseError { ParseError(message: "not a paysign order document: \(message)") }
        guard bytes.count <= 4096 else { throw fail("it is \(bytes.count) bytes long, far more than an order document") }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw fail("it is not UTF-8") }
        guard text.hasSuffix("\n") else { throw fail("it does not end with a line feed") }
        let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count == Self.keys.count else {
            throw fail("it has \(lines.count) lines, not \(Self.keys.count)")
        }
        var values: [String] = []
        for (index, (line, key)) in zip(lines, Self.keys).enumerated() {
            guard line.hasPrefix(key + ": ") else { throw fail("line \(index + 1) is not '\(key): …'") }
            values.append(String(line.dropFirst(key.count + 2)))
        }
        guard values[0] == String(Self.version) else { throw fail("version \(values[0]) is not \(Self.version)") }
        guard let id = Order.ID(values[1]), id > 0 else { throw fail("the order id '\(values[1])' is not a positive number") }
        guard let kind = OrderKind(rawValue: values[3]) else { throw fail("the kind '\(values[3])' is unknown") }
        guard let day = CalendarDay(iso: values[5]) else { throw fail("the value date '\(values[5])' is not YYYY-MM-DD") }
        guard let number = FileNumber(values[6]) else { throw fail("the file number '\(values[6])' is not a SHA-256 digest") }
        guard let size = Int(values[7]), size >= 0 else { throw fail("file-bytes '\(values[7])' is not a count") }
        guard let count = Int(values[8]), count >= 0 else { throw fail("lines '\(values[8])' is not a count") }
        guard let total = Int64(values[9]) else { throw fail("total-piasters '\(values[9])' is not a number") }
        self.init(
            orderID: id, metadata: OrderMetadata(entityCode: values[2], kind: kind, currency: values[4], valueDate: day),
            fileNumber: number, fileBytes: size, lineCount: count, totalPiasters: total)
        guard self.bytes == bytes else { throw fail("it is not in canonical form") }
    }
}
