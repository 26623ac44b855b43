public import Foundation
public import PaysignDomain
public import PaysignText
import PaysignDocuments

/// Writes an order's payment lines as an Excel workbook (.xlsx) with Python's openpyxl
/// (Debian's python3-openpyxl, a kept library for the Office Open XML format, rather than
/// spreadsheet XML written by hand): the order's header rows, then one row per line with typed
/// cells (line numbers and amounts as numbers, amounts with two decimals; IDs and account
/// numbers as text, so leading zeros survive), then the total. The sheet is right-to-left in
/// Arabic. Names, IDs and accounts show bidirectional and zero-width controls as visible marks
/// (`VisibleText`), as the review sheet does.
///
/// The lines stream to the writer (openpyxl's write-only mode), so a 100,000-line order does not
/// sit in memory twice.
public struct WorkbookWriter: Sendable {
    let python: ExternalProgram

    public static let installSentence =
        "making a workbook needs Python 3 with openpyxl: install it with: sudo apt-get install python3-openpyxl"

    /// Debian's Python (`/usr/bin/python3`), where python3-openpyxl installs; `PAYSIGN_PYTHON`
    /// names another.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let python = ExternalProgram.find([environment["PAYSIGN_PYTHON"] ?? "/usr/bin/python3"], environment: environment) else {
            throw PrintingError(Self.installSentence)
        }
        self.python = python
    }

    /// One header row: a label and its value, as text, an amount in piasters, or a count.
    public enum Value: Sendable {
        case text(String)
        case piasters(Int64)
        case count(Int)
    }

    /// Writes the workbook at `output` (beside it first, then renamed).
    public func write(order: Order.ID, header: [(String, Value)], file: OrderFile, words: Words, to output: String) throws {
        let script = String(decoding: PackageResources.workbook_py, as: UTF8.self)
        // openpyxl names the file format by the file's extension.
        try replacing(output, extension: ".xlsx") { temporary in
            let head: [String: Any] = [
                "path": temporary,
                "title": words("workbook.sheet", ["order": String(order)]),
                "rtl": words.language.isRightToLeft,
                "header": header.map { label, value -> [Any] in
                    switch value {
                    case .text(let text): return [label, VisibleText.plain(text), "text"]
                    case .piasters(let p): return [label, p, "number"]
                    case .count(let n): return [label, n, "count"]
                    }
                },
                "columns": ReviewSheet.lineColumns.map { words($0.key) },
                "total": ReviewSheet.totalLabel(lines: file.lineCount, words),
            ]
            let outcome = try python.run(["-c", script], timeout: 1800) { input in
                var chunk = Data()
                chunk.append(try JSONSerialization.data(withJSONObject: head))
                chunk.append(0x0A)
                for line in file.lines {
                    let row: [Any] = [
                        line.lineNumber, VisibleText.plain(line.beneficiaryID),
                        VisibleText.plain(ReviewSheet.idType(line.idTypeText, words)),
                        VisibleText.plain(line.name), VisibleText.plain(line.account),
                        line.amountPiasters.map { NSNumber(value: $0) } ?? NSNull(), VisibleText.plain(line.amountText),
                    ]
                    chunk.append(try JSONSerialization.data(withJSONObject: row))
                    chunk.append(0x0A)
                    if chunk.count > 1 << 16 {
                        try input.write(contentsOf: chunk)
                        chunk.removeAll(keepingCapacity: true)
                    }
                }
                chunk.append(try JSONSerialization.data(withJSONObject: ["end": NSNumber(value: file.total)]))
                chunk.append(0x0A)
                try input.write(contentsOf: chunk)
            }
            guard outcome.status == 0 else {
                if outcome.status == 3 || outcome.errors.contains("openpyxl-missing") { throw PrintingError(Self.installSentence) }
                throw PrintingError("the workbook could not be written: \(outcome.errors.split(separator: "\n").last ?? "status \(outcome.status)")")
            }
        }
    }
}
