import ArgumentParser
import Foundation
import PaysignAPI
import PaysignClient
import PaysignDomain
import PaysignDocuments
import PaysignPrinting
import PaysignText

/// Options for commands that change something: a key that makes a retry safe.
struct RetryOptions: ParsableArguments {
    @Option(
        name: .customLong("idempotency-key"),
        help: ArgumentHelp("Send this Idempotency-Key: a retry with the same key gets the first answer and changes nothing twice.", valueName: "key"))
    var key: String?

    var headers: [(String, String)] { key.map { [("Idempotency-Key", $0)] } ?? [] }
}

extension Wire.Order {
    /// What `order show` prints.
    var text: String {
        var lines = [
            "order \(id)  \(state.rawValue)",
            "  entity       \(metadata.entityCode)",
            "  kind         \(metadata.kind.rawValue), \(metadata.currency), value date \(metadata.valueDate)",
            "  file number  \(fileNumber)",
            "  lines        \(lineCount), total \(Piasters.egp(Int64(totalPiasters), grouped: true)) \(metadata.currency) (\(fileBytes) bytes)",
            "  created      \(Self.time(createdAt)) by \(createdBy.unixUser)",
        ]
        if let reviewedAt, let reviewedBy { lines.append("  reviewed     \(Self.time(reviewedAt)) by \(reviewedBy.unixUser) (D9)") }
        for signature in signatures {
            lines.append("  \(signature.step == .first ? "first " : "second") sig   \(Self.time(signature.signedAt)) by \(signature.signer.unixUser), token \(signature.tokenSerial), certificate \(signature.certificateSHA256.prefix(16))…")
        }
        if let rejectedAt, let rejectedBy {
            lines.append("  rejected     \(Self.time(rejectedAt)) by \(rejectedBy.unixUser): \(rejectionReason ?? "")")
        }
        if let delivery { lines.append("  center       " + delivery.text) }
        return lines.joined(separator: "\n") + "\n"
    }

    static func time(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle())
    }
}

extension Wire.OutboxEntry {
    /// Where a payable order stands on its road to the payment center (D8), in one line.
    var text: String {
        switch (state, outcome) {
        case (.delivered, .accepted?):
            let at = answeredAt.map { " at \(Wire.Order.time($0))" } ?? ""
            switch centerState {
            case .paid?: return "paid by the center (submission \(submissionID.map(String.init) ?? "?"))"
            case .returned?: return "returned by the bank (submission \(submissionID.map(String.init) ?? "?")): \(detail ?? "")"
            default: return "accepted for payment (submission \(submissionID.map(String.init) ?? "?"), receipt verified\(at))"
            }
        case (.delivered, .invalid?):
            return "refused as invalid by the center (submission \(submissionID.map(String.init) ?? "?")): \(detail ?? "")"
        case (.delivered, _):
            return "refused by the center: \(detail ?? "")"
        case (.pending, _):
            if attempts == 0 { return "waiting to be delivered (queued \(Wire.Order.time(queuedAt)))" }
            let next = nextAttemptAt.map { "; next try \(Wire.Order.time($0))" } ?? ""
            return "not delivered yet: \(attempts) attempt\(attempts == 1 ? "" : "s"), last: \(lastError ?? "?")\(next)"
        }
    }
}

extension OrderCommand {
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Upload a payment-order file (data-entry staff, D13).",
            discussion: """
                The daemon checks every line and the rules (D10 calendar, D11 cashier cap, D12 \
                maximum and passports) and stores the file byte for byte, or lists every problem by \
                line and stores nothing. Prints the order's id and its file number (D9).
                """)
        @OptionGroup var remote: SocketOptions
        @OptionGroup var retry: RetryOptions
        @Argument(help: "The CSV file (beneficiary_id,id_type,name,account,amount_piasters).") var file: String
        @Option(help: "The entity's code.") var entity: String
        @Option(help: "salary, arrears, supplier, foreign-non-resident, travel-abroad or cashier.") var kind: OrderKind
        @Option(name: .customLong("value-date"), help: "The value date, YYYY-MM-DD.") var valueDate: String
        @Option(help: "The currency (EGP).") var currency = "EGP"

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw Failure.usage("cannot read \(file)") }
            let query = [("entity", entity), ("kind", kind.rawValue), ("currency", currency), ("valueDate", valueDate)]
                .map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0.1)" }
                .joined(separator: "&")
            let response = try remote.send("POST", "/v1/orders?" + query, body: data, contentType: "text/csv", headers: retry.headers)
            try remote.output(response, as: Wire.Order.self) { order in
                "order \(order.id) created (draft): \(order.lineCount) lines, \(Piasters.egp(Int64(order.totalPiasters), grouped: true)) \(order.metadata.currency)\nfile number \(order.fileNumber)\n"
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List orders, newest first.")
        @OptionGroup var remote: SocketOptions
        @Option(help: "Only this entity's orders.") var entity: String?
        @Option(help: "Only orders in this state: draft, reviewed, first-signed, payable, rejected.") var state: String?
        @Option(help: "Value dates from this day (YYYY-MM-DD).") var from: String?
        @Option(help: "Value dates up to this day (YYYY-MM-DD).") var to: String?
        @Option(help: "At most this many (1-1000).") var limit = 100

        func run() async throws {
            var query = ["limit=\(limit)"]
            for (name, value) in [("entity", entity), ("state", state), ("from", from), ("to", to)] {
                if let value { query.append("\(name)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value)") }
            }
            let response = try remote.call("GET", "/v1/orders?" + query.joined(separator: "&"))
            try remote.output(response, as: [Wire.Order].self) { orders in
                orders.map { o in
                    "\(o.id)\t\(o.state.rawValue)\t\(o.metadata.entityCode)\t\(o.metadata.kind.rawValue)\t\(o.metadata.valueDate)\t\(o.lineCount) lines\t\(Piasters.egp(Int64(o.totalPiasters), grouped: true))\t\(o.fileNumber)\n"
                }.joined()
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an order: metadata, file number, state, who reviewed and signed.")
        @OptionGroup var remote: SocketOptions
        @Argument(help: "The order's id.") var id: Int64

        func run() async throws {
            let response = try remote.call("GET", "/v1/orders/\(id)")
            try remote.output(response, as: Wire.Order.self) { $0.text }
        }
    }

    struct Review: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Confirm an order's file number after reviewing its exported sheet (reviewers, D9).",
            discussion: "Signing is refused until an order is reviewed. Give the number written on the disbursement form; dashes and spaces are ignored.")
        @OptionGroup var remote: SocketOptions
        @OptionGroup var retry: RetryOptions
        @Argument(help: "The order's id.") var id: Int64
        @Option(name: .customLong("file-number"), help: "The file number you reviewed.") var fileNumber: String

        func run() async throws {
            let response = try remote.call("POST", "/v1/orders/\(id)/review", body: Wire.Review(fileNumber: fileNumber), headers: retry.headers)
            try remote.output(response, as: Wire.Order.self) { "order \($0.id) reviewed: file number \($0.fileNumber) confirmed\n" }
        }
    }

    struct Reject: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reject an order with a reason (reviewers and signers).")
        @OptionGroup var remote: SocketOptions
        @OptionGroup var retry: RetryOptions
        @Argument(help: "The order's id.") var id: Int64
        @Option(help: "Why, in one sentence.") var reason: String

        func run() async throws {
            let response = try remote.call("POST", "/v1/orders/\(id)/reject", body: Wire.Rejection(reason: reason), headers: retry.headers)
            try remote.output(response, as: Wire.Order.self) { "order \($0.id) rejected: \($0.rejectionReason ?? "")\n" }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write an order out: its review sheet (pdf, xlsx, html, csv), the file as uploaded, the signed document, the signature, or the payment center's receipt.",
            discussion: """
                pdf: the review sheet on A4 carrying the file number, with sign-off boxes for the \
                entitlements department and the accounts reviewer (D9); the order, entity and file number \
                on every page, page numbers, the total on the last (Chromium and qpdf make it). \
                xlsx: the payment lines as an Excel workbook with the order's header, amounts as numbers, \
                IDs and accounts as text (Python's openpyxl makes it). html: the sheet as a page to print \
                from a browser. csv: the same for a spreadsheet. --lang ar or en: the document's language \
                (pdf and xlsx default to LANG/LC_MESSAGES, html and csv to the daemon's document-language). \
                file: the uploaded bytes. document: the canonical order document both signatures cover. \
                p7s: the CMS SignedData (DER), p7s-pem the same in PEM. \
                Verify with: openssl cms -verify -binary -inform DER -content DOCUMENT -in ORDER.p7s -CAfile ROOT. \
                receipt: the payment center's signed receipt (DER CMS carrying what it received, D8), once delivered; \
                check it with: openssl cms -verify -inform DER -in RECEIPT -CAfile ROOT -purpose any
                """)
        @OptionGroup var remote: SocketOptions
        @Argument(help: "The order's id.") var id: Int64
        @Option(help: "What to write.") var format: ExportFormat = .html
        @Option(name: .customLong("lang"), help: ArgumentHelp("The review sheet's language: ar or en.", valueName: "ar|en")) var langName: String?
        @Option(name: .customLong("out"), help: "Where to write it (default: standard output; pdf and xlsx need a file).") var output: String?

        enum ExportFormat: String, CaseIterable, ExpressibleByArgument {
            case pdf, xlsx, html, csv, file, document, p7s
            case p7sPEM = "p7s-pem"
            case receipt
        }

        func run() async throws {
            let lang = try documentLanguage(langName)
            // The export is the document itself: there is no JSON of it to print.
            if remote.json {
                throw Failure.usage("order export writes the \(format.rawValue) itself; --json means nothing here (give --out FILE to save it)")
            }
            // Binary DER is never written to a terminal (it would garble it and help no one).
            if (format == .p7s || format == .receipt) && output == nil && isatty(STDOUT_FILENO) == 1 {
                throw Failure.usage("the \(format == .p7s ? "signature" : "receipt") is binary (DER); give --out FILE, redirect standard output\(format == .p7s ? ", or use --format p7s-pem" : "")")
            }
            if lang != nil, ![.pdf, .xlsx, .html, .csv].contains(format) {
                throw Failure.usage("--lang is for the review sheet (pdf, xlsx, html, csv), not for \(format.rawValue)")
            }
            if format == .pdf || format == .xlsx {
                guard let output else { throw Failure.usage("a \(format.rawValue) is written to a file: give --out FILE") }
                let words = Words(lang ?? Language.ofMessages(environment: ProcessInfo.processInfo.environment))
                do {
                    // The engine first: a missing one is said before anything is asked of the daemon.
                    if format == .pdf {
                        let printer = try PDFPrinter()
                        try printPDF(try order(), printer: printer, words: words, to: output)
                    } else {
                        let writer = try WorkbookWriter()
                        try writeWorkbook(try order(), writer: writer, words: words, to: output)
                    }
                } catch let error as PrintingError {
                    throw Failure.usage(error.message)
                }
                return
            }
            let path: String
            switch format {
            case .html, .csv: path = "/v1/orders/\(id)/export?format=\(format.rawValue)" + (lang.map { "&lang=\($0.rawValue)" } ?? "")
            case .file: path = "/v1/orders/\(id)/file"
            case .document: path = "/v1/orders/\(id)/document"
            case .p7s: path = "/v1/orders/\(id)/signature"
            case .p7sPEM: path = "/v1/orders/\(id)/signature?format=pem"
            case .receipt: path = "/v1/orders/\(id)/receipt"
            case .pdf, .xlsx: return  // made above
            }
            let response = try remote.call("GET", path)
            if let output {
                try writeAtomically(response.body, to: output)
                FileHandle.standardError.write(Data("wrote \(output) (\(response.body.count) bytes)\n".utf8))
            } else {
                FileHandle.standardOutput.write(response.body)
            }
        }

        func order() throws -> Wire.Order { try remote.decode(try remote.call("GET", "/v1/orders/\(id)"), as: Wire.Order.self) }

        /// The review sheet as a PDF: the daemon renders it in parts of `linesPerPart` lines,
        /// Chromium prints each, qpdf joins them and stamps the running header and page numbers.
        func printPDF(_ order: Wire.Order, printer: PDFPrinter, words: Words, to output: String) throws {
            let perPart = PDFPrinter.linesPerPart
            let lines = order.lineCount
            let parts = max(1, (lines + perPart - 1) / perPart)
            let header = RunningHeader(orderID: Int64(order.id), entityCode: order.metadata.entityCode, fileNumber: order.fileNumber)
            let pages = try printer.print(
                parts: parts,
                html: { k in
                    let answer = try remote.call("GET", "/v1/orders/\(order.id)/export?format=html&lang=\(words.language.rawValue)&offset=\(k * perPart)&limit=\(perPart)")
                    return String(decoding: answer.body, as: UTF8.self)
                },
                header: header, words: words, to: output,
                progress: { k, parts in
                    guard parts > 1 else { return }
                    let from = k * perPart + 1, to = min(lines, (k + 1) * perPart)
                    FileHandle.standardError.write(Data("paysign: printing lines \(from)-\(to) of \(lines) (part \(k + 1) of \(parts))\n".utf8))
                })
            FileHandle.standardError.write(Data("wrote \(output) (\(pages) \(pages == 1 ? "page" : "pages"))\n".utf8))
        }

        /// The payment lines as an Excel workbook, from the file as uploaded.
        func writeWorkbook(_ order: Wire.Order, writer: WorkbookWriter, words: Words, to output: String) throws {
            let bytes = try remote.call("GET", "/v1/orders/\(order.id)/file").body
            let file = OrderFile(parsing: Array(bytes))
            let header: [(String, WorkbookWriter.Value)] = [
                (words("sheet.order"), .text(String(order.id))),
                (words("sheet.entity-code"), .text(order.metadata.entityCode)),
                (words("sheet.kind"), .text(words("kind.\(order.metadata.kind.rawValue)"))),
                (words("sheet.currency"), .text(order.metadata.currency)),
                (words("sheet.value-date"), .text(order.metadata.valueDate)),
                (words("sheet.file-number"), .text(order.fileNumber)),
                (words("sheet.lines"), .count(file.lineCount)),
                (words("sheet.total"), .piasters(file.total)),
                (words("sheet.state"), .text(words("state.\(order.state.rawValue)"))),
            ]
            try writer.write(order: Int64(order.id), header: header, file: file, words: words, to: output)
            FileHandle.standardError.write(Data("wrote \(output) (\(file.lineCount) \(file.lineCount == 1 ? "line" : "lines"))\n".utf8))
        }
    }
}

/// `--lang ar|en`: the language of a document paysign makes.
func documentLanguage(_ text: String?) throws -> Language? {
    guard let text else { return nil }
    guard let language = Language(rawValue: text) else {
        throw Failure.usage("--lang takes \(Language.allCases.map(\.rawValue).joined(separator: " or ")), not '\(text)'")
    }
    return language
}
