/// How a payment line names its beneficiary (the `id_type` column).
public enum BeneficiaryIDType: String, Sendable, Hashable, Codable, CaseIterable {
    /// A 14-digit Egyptian national ID (see `NationalID`).
    case nationalID = "national-id"
    /// A passport number, for foreign non-residents only (D12, see `PassportNumber`).
    case passport
}

/// One payment of an order file: one CSV record, its fields as written (no trimming), so that
/// every rule can say exactly what is wrong with them.
public struct OrderLine: Sendable, Hashable {
    /// The 1-based line of the file the record starts on (the header is line 1).
    public var lineNumber: Int
    public var beneficiaryID: String
    /// The `id_type` column as written; `idType` is nil when it is neither value.
    public var idTypeText: String
    public var name: String
    public var account: String
    /// The `amount_piasters` column as written.
    public var amountText: String
    /// The amount in piasters when `amountText` is an integer (an optional `-` and 1 to 18
    /// digits), whatever its sign; nil otherwise (`12.50`, `1e3`, ` 100`, empty).
    public let amountPiasters: Int64?

    public var idType: BeneficiaryIDType? { BeneficiaryIDType(rawValue: idTypeText) }

    public init(
        lineNumber: Int, beneficiaryID: String, idType: String, name: String, account: String, amount: String
    ) {
        self.lineNumber = lineNumber
        self.beneficiaryID = beneficiaryID
        self.idTypeText = idType
        self.name = name
        self.account = account
        self.amountText = amount
        self.amountPiasters = OrderLine.integer(amount)
    }

    static func integer(_ text: String) -> Int64? {
        var utf8 = text.utf8[...]
        var negative = false
        if utf8.first == UInt8(ascii: "-") {
            negative = true
            utf8 = utf8.dropFirst()
        }
        guard (1...18).contains(utf8.count) else { return nil }
        var value: Int64 = 0
        for b in utf8 {
            guard isASCIIDigit(b) else { return nil }
            value = value * 10 + Int64(b - 0x30)
        }
        return negative ? -value : value
    }
}

/// A payment-order file, parsed.
///
/// ## The format
///
/// - **Encoding**: UTF-8. A leading byte-order mark (`EF BB BF`, as spreadsheet exports write)
///   is skipped. A record whose bytes are not valid UTF-8 is a violation.
/// - **Records**: comma-separated values per RFC 4180. Lines end with CRLF or LF (both may be
///   mixed); a CR not followed by LF is a violation. Empty lines at the end of the file are
///   ignored; an empty line between records is a violation.
/// - **Quoting**: a field may be enclosed in double quotes, so it can contain commas (`"Hassan,
///   Mona"`), line breaks, and quotes written twice (`""`). A quote inside an unquoted field, or
///   text after a closing quote, is a violation. Fields are never trimmed: a space is part of
///   the field.
/// - **Header**: line 1 is exactly `beneficiary_id,id_type,name,account,amount_piasters`
///   (these names, this order, lowercase). A wrong header is a violation on line 1; the records
///   that follow are still read in this column order, so their problems are reported too.
/// - **Columns**, every record exactly five:
///   - `beneficiary_id`: a national ID (14 digits, `NationalID`) or a passport number (6–9 ASCII
///     letters and digits, `PassportNumber`);
///   - `id_type`: `national-id` or `passport`;
///   - `name`: the beneficiary's name, not blank, at most 200 characters, no control characters;
///   - `account`: where the money goes: either a card or domestic account number, 8 to 34 ASCII
///     digits (a 16-digit Meeza/bank card number is one), or an Egyptian IBAN written without
///     spaces: `EG` + 27 digits (29 characters) whose ISO 13616 mod-97 check holds. No Luhn check
///     is made on 16-digit numbers, since a 16-digit bank account and a card cannot be told apart;
///   - `amount_piasters`: the amount as a whole number of piasters (1 EGP = 100 piasters),
///     digits only, positive, no sign, no decimal point, no thousands separator (`150000` is
///     1,500.00 EGP).
///
/// Example:
/// ```
/// beneficiary_id,id_type,name,account,amount_piasters
/// 29001011234567,national-id,"Hassan, Mona",1234567890123456,1500000
/// A1234567,passport,John Smith,EG380019000500000000263180002,250000
/// ```
///
/// ## Parsing
///
/// Parsing never fails: records that cannot be read (wrong column count, bad quoting, invalid
/// UTF-8) are left out of `lines` and described in `syntaxViolations`, which the validator's
/// `FileSyntaxRule` reports with every other problem. The parser walks the bytes once; it makes
/// strings only for the five fields of each record, so a 100 MB file costs one pass.
public struct OrderFile: Sendable, Hashable {
    /// The header line's columns, in order.
    public static let columns = ["beneficiary_id", "id_type", "name", "account", "amount_piasters"]

    /// The payment lines that could be read, in file order.
    public let lines: [OrderLine]
    /// The sum of the positive integer amounts, in piasters (saturates at `Int64.max`).
    public let total: Int64
    /// Problems of the file's syntax: header, quoting, column count, encoding, blank lines.
    public let syntaxViolations: [Violation]

    public var lineCount: Int { lines.count }

    public init(lines: [OrderLine], syntaxViolations: [Violation] = []) {
        self.lines = lines
        self.syntaxViolations = syntaxViolations
        var total: Int64 = 0
        for line in lines {
            guard let amount = line.amountPiasters, amount > 0 else { continue }
            let (sum, overflow) = total.addingReportingOverflow(amount)
            total = overflow ? .max : sum
        }
        self.total = total
    }

    /// Parses the text of an order file (its UTF-8 bytes).
    public init(parsing text: String) {
        self.init(parsing: Array(text.utf8))
    }

    /// Parses the exact uploaded bytes.
    public init(parsing bytes: [UInt8]) {
        var parser = OrderFileParser()
        bytes.withUnsafeBufferPointer { parser.parse($0) }
        self.init(lines: parser.lines, syntaxViolations: parser.violations)
    }
}

/// A single pass over the bytes: RFC 4180 records, with line numbers.
struct OrderFileParser {
    private static let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr = UInt8(ascii: "\r")
    private static let lf = UInt8(ascii: "\n")

    /// A field's text, nil when it is not UTF-8. ASCII (most fields: IDs, accounts, amounts) takes
    /// the fast path: it is valid UTF-8 by construction, and `String(validating:)` costs three times
    /// as much per field (the order-validation benchmark's profile).
    static func text(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var high: UInt8 = 0
        for b in bytes { high |= b }
        return high < 0x80 ? String(decoding: bytes, as: UTF8.self) : String(validating: bytes, as: UTF8.self)
    }

    var lines: [OrderLine] = []
    var violations: [Violation] = []

    private func syntax(_ line: Int, _ message: String) -> Violation {
        Violation(line: line, field: nil, rule: nil, message: message)
    }

    mutating func parse(_ p: UnsafeBufferPointer<UInt8>) {
        let n = p.count
        var i = 0
        if n >= 3, p[0] == 0xEF, p[1] == 0xBB, p[2] == 0xBF { i = 3 }
        if i == n {
            violations.append(
                syntax(1, "The file is empty: line 1 must be the header \(OrderFile.columns.joined(separator: ",")).")
            )
            return
        }
        var line = 1
        var isHeader = true
        var blankLines: [Int] = []
        var fields: [String?] = []
        fields.reserveCapacity(8)
        var scratch: [UInt8] = []

        while i < n {
            let start = line
            fields.removeAll(keepingCapacity: true)
            var error: String? = nil

            // Fields of one record.
            while true {
                if i < n, p[i] == Self.quote {
                    i += 1
                    scratch.removeAll(keepingCapacity: true)
                    var closed = false
                    while i < n {
                        let b = p[i]
                        if b == Self.quote {
                            if i + 1 < n, p[i + 1] == Self.quote {
                                scratch.append(Self.quote)
                                i += 2
                                continue
                            }
                            i += 1
                            closed = true
                            break
                        }
                        if b == Self.lf { line += 1 }
                        scratch.append(b)
                        i += 1
                    }
                    if !closed {
                        error = error ?? "A quoted field is not closed before the end of the file."
                    } else if i < n, p[i] != Self.comma, p[i] != Self.lf, p[i] != Self.cr {
                        error = error ?? "Text follows the closing quote of a field (write a quote inside a quoted field as \"\")."
                        while i < n, p[i] != Self.comma, p[i] != Self.lf, p[i] != Self.cr { i += 1 }
                    }
                    fields.append(scratch.withUnsafeBufferPointer(Self.text))
                } else {
                    let s = i
                    while i < n {
                        let b = p[i]
                        if b == Self.comma || b == Self.lf || b == Self.cr { break }
                        if b == Self.quote {
                            error = error ?? "A quote inside an unquoted field (enclose the field in quotes and double the quote)."
                        }
                        i += 1
                    }
                    fields.append(Self.text(UnsafeBufferPointer(rebasing: p[s..<i])))
                }
                if i < n, p[i] == Self.comma {
                    i += 1
                    continue
                }
                // End of record: CRLF, LF, or end of file. Lines are counted by their LFs only: a
                // lone CR ends the record (a violation) but not the line, so every line number
                // reported is the one an editor or `sed -n Np` shows.
                if i < n, p[i] == Self.cr {
                    i += 1
                    if i < n, p[i] == Self.lf {
                        i += 1
                        line += 1
                    } else {
                        error = error ?? "A carriage return not followed by a line feed (lines end with CRLF or LF)."
                    }
                } else if i < n {
                    i += 1  // LF
                    line += 1
                }
                break
            }

            let blank = error == nil && fields.count == 1 && fields[0]?.isEmpty == true
            if isHeader {
                isHeader = false
                if let error {
                    violations.append(syntax(start, "The header is unreadable: \(error)"))
                } else if fields.count != OrderFile.columns.count || zip(fields, OrderFile.columns).contains(where: { $0 != $1 }) {
                    violations.append(
                        syntax(start, "The header must be exactly \(OrderFile.columns.joined(separator: ","))."))
                }
                continue
            }
            if blank {
                blankLines.append(start)
                continue
            }
            for blankLine in blankLines {
                violations.append(syntax(blankLine, "An empty line between payment lines."))
            }
            blankLines.removeAll()
            if let error {
                violations.append(syntax(start, error))
                continue
            }
            guard fields.count == OrderFile.columns.count else {
                violations.append(
                    syntax(start, "Expected \(OrderFile.columns.count) columns (\(OrderFile.columns.joined(separator: ","))), found \(fields.count)."))
                continue
            }
            guard let id = fields[0], let type = fields[1], let name = fields[2], let account = fields[3],
                let amount = fields[4]
            else {
                violations.append(syntax(start, "The line is not valid UTF-8."))
                continue
            }
            lines.append(
                OrderLine(lineNumber: start, beneficiaryID: id, idType: type, name: name, account: account, amount: amount))
        }
    }
}
