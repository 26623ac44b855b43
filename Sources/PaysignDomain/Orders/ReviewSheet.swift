public import Foundation

/// The review sheet of a payment order (D9): what the data-entry clerk exports for the
/// entitlements department and the accounts reviewer, as a spreadsheet (CSV) and as a printable
/// page (HTML, A4, printed to PDF from any browser).
///
/// The sheet shows the **file number** prominently, so the entitlements department can copy it
/// onto the disbursement form, and the Ministry of Finance representative can later check that the
/// number reviewed is the number of the file offered for the second signature (D9, D2).
///
/// Pure: no I/O, no locale. Amounts are formatted with integer arithmetic and times are written in
/// UTC ISO 8601 from the Unix time, so the same order always renders to the same bytes.
///
/// Everything that comes from outside (names, accounts, the entity's name, user names, the
/// rejection reason) is treated as hostile: HTML-escaped in the page, and in the CSV quoted per
/// RFC 4180 and prefixed with `'` when a spreadsheet would read it as a formula (CWE-1236).
///
/// The lines table and its total are the *file's* (`file.lines`, `file.total`). When they disagree
/// with what the order recorded at upload (`order.lineCount`, `order.totalPiasters`), or when the
/// file has records that could not be read, the sheet says so in a warning: a sheet rendered from
/// the wrong file must not look like a good one.
public enum ReviewSheet {
    // MARK: - CSV

    /// CSV (RFC 4180, CRLF line ends, UTF-8 with BOM so spreadsheet programs read Arabic names right):
    /// a header block of key/value rows (Order, Entity code, Entity name (if given), Kind, Currency,
    /// Value date, File number (grouped), Lines, Total (EGP with 2 decimals, no grouping), State),
    /// an empty row, then the table `line,beneficiary_id,id_type,name,account,amount_piasters,amount_egp`
    /// (`line` = the file's line number), then a final row `total` with the sum.
    ///
    /// Fields are quoted when they hold a comma, a quote, CR or LF; any field starting with
    /// `=` `+` `-` `@` TAB or CR is prefixed with a single quote (CWE-1236).
    public static func csv(order: Order, file: OrderFile, entityName: String?) -> [UInt8] {
        var out = CSVWriter()
        out.reserve(file.lines.count * 96 + 1024)

        out.row(["Order", String(order.id)])
        out.row(["Entity code", order.metadata.entityCode])
        if let entityName { out.row(["Entity name", entityName]) }
        out.row(["Kind", order.metadata.kind.rawValue])
        out.row(["Currency", order.metadata.currency])
        out.row(["Value date", order.metadata.valueDate.description])
        out.row(["File number", order.fileNumber.grouped])
        out.row(["Lines", String(file.lineCount)])
        out.row(["Total", egp(file.total, grouped: false)])
        out.row(["State", order.state.rawValue])
        for warning in warnings(order: order, file: file) {
            out.row(["Warning", warning])
        }
        out.row([])

        out.row(["line", "beneficiary_id", "id_type", "name", "account", "amount_piasters", "amount_egp"])
        for line in file.lines {
            out.row([
                String(line.lineNumber), line.beneficiaryID, line.idTypeText, line.name, line.account, line.amountText,
                line.amountPiasters.map { egp($0, grouped: false) } ?? "",
            ])
        }
        out.row(["total", "", "", "", "", String(file.total), egp(file.total, grouped: false)])
        return out.bytes
    }

    /// Builds the CSV bytes in one buffer, BOM first.
    struct CSVWriter {
        private(set) var bytes: [UInt8] = [0xEF, 0xBB, 0xBF]

        mutating func reserve(_ count: Int) { bytes.reserveCapacity(count) }

        mutating func row(_ fields: [String]) {
            for (index, field) in fields.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                append(field)
            }
            bytes.append(UInt8(ascii: "\r"))
            bytes.append(UInt8(ascii: "\n"))
        }

        private mutating func append(_ field: String) {
            let utf8 = field.utf8
            let neutralize = utf8.first.map(ReviewSheet.startsFormula) ?? false
            let quote = utf8.contains { $0 == 0x2C || $0 == 0x22 || $0 == 0x0D || $0 == 0x0A }
            if quote { bytes.append(0x22) }
            if neutralize { bytes.append(UInt8(ascii: "'")) }
            for b in utf8 {
                bytes.append(b)
                if b == 0x22 { bytes.append(0x22) }
            }
            if quote { bytes.append(0x22) }
        }
    }

    /// A first byte that makes a spreadsheet read the cell as a formula: `=` `+` `-` `@` TAB CR.
    static func startsFormula(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "=") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
            || byte == UInt8(ascii: "@") || byte == 0x09 || byte == 0x0D
    }

    // MARK: - HTML

    /// A single self-contained HTML5 page (inline CSS, no scripts, no external resources, a
    /// Content-Security-Policy that forbids both): the file number in a large monospace box, the
    /// order's metadata, its lines with amounts in EGP, the total and line count, the signatures
    /// already on the order (or "none yet"), and sign-off boxes for the entitlements department and
    /// the accounts reviewer (D9). Prints on A4 with the lines table's header repeated on each page.
    public static func html(order: Order, file: OrderFile, entityName: String?, generatedAt: Date) -> String {
        let title = "Payment order \(order.id) — review sheet"
        var h = ""
        h.reserveCapacity(file.lines.count * 320 + 8192)

        h += """
            <!DOCTYPE html>
            <html lang="ar" dir="ltr">
            <head>
            <meta charset="utf-8">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
            <meta name="referrer" content="no-referrer">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="generator" content="paysign">
            <title>\(escape(title))</title>
            <style>
            \(css)
            </style>
            </head>
            <body>

            """

        // Title and entity.
        h += "<header>\n<h1 lang=\"en\">\(escape(title))</h1>\n<p class=\"entity\">"
        if let entityName {
            h += "<bdi dir=\"auto\">\(escape(entityName))</bdi> · "
        }
        h += "<bdi dir=\"ltr\">\(escape(order.metadata.entityCode))</bdi></p>\n</header>\n"

        // The file number (D9).
        h += """
            <section class="file-number" lang="en">
            <h2>File number (D9)</h2>
            <div class="fn" dir="ltr" translate="no">\(fileNumberHTML(order.fileNumber))</div>
            <p class="hint">SHA-256 of the uploaded file. The entitlements department writes this number on the \
            disbursement form; the Ministry of Finance representative checks that it equals the number of the file \
            offered for the second signature.</p>
            </section>

            """

        // Warnings.
        let warnings = warnings(order: order, file: file)
        if !warnings.isEmpty {
            h += "<section class=\"warning\" lang=\"en\" role=\"alert\">\n<h2>Warning</h2>\n<ul>\n"
            for warning in warnings { h += "<li>\(escape(warning))</li>\n" }
            h += "</ul>\n</section>\n"
        }

        // Metadata.
        h += "<section lang=\"en\">\n<h2>Order</h2>\n<table class=\"meta\">\n<tbody>\n"
        func meta(_ key: String, _ valueHTML: String, _ cls: String? = nil) {
            let attr = cls.map { " class=\"\($0)\"" } ?? ""
            h += "<tr><th scope=\"row\">\(key)</th><td\(attr)>\(valueHTML)</td></tr>\n"
        }
        func actor(_ actor: OrderActor, _ at: Date?) -> String {
            var s = "<bdi dir=\"auto\">\(escape(actor.unixUser))</bdi>"
            if let at { s += " at <time>\(iso8601UTC(at))</time>" }
            return s
        }
        meta("Order", String(order.id))
        meta("Entity code", "<bdi dir=\"ltr\">\(escape(order.metadata.entityCode))</bdi>")
        if let entityName { meta("Entity name", "<bdi dir=\"auto\">\(escape(entityName))</bdi>") }
        meta("Kind", escape(order.metadata.kind.rawValue))
        meta("Currency", escape(order.metadata.currency))
        meta("Value date", "<time>\(order.metadata.valueDate.description)</time>")
        meta("File number", "<span dir=\"ltr\" translate=\"no\">\(order.fileNumber.grouped)</span>", "mono")
        meta("File size", "\(order.fileBytes) bytes")
        meta("Lines", String(file.lineCount))
        meta("Total", "\(egp(file.total, grouped: true)) EGP", "amount-cell")
        meta("State", escape(order.state.rawValue))
        meta("Uploaded by", actor(order.createdBy, order.createdAt))
        if let reviewer = order.reviewedBy {
            meta("Reviewed by", actor(reviewer, order.reviewedAt))
        } else if let at = order.reviewedAt {
            meta("Reviewed at", "<time>\(iso8601UTC(at))</time>")
        }
        if let rejecter = order.rejectedBy {
            meta("Rejected by", actor(rejecter, order.rejectedAt))
        } else if let at = order.rejectedAt {
            meta("Rejected at", "<time>\(iso8601UTC(at))</time>")
        }
        if let reason = order.rejectionReason {
            meta("Rejection reason", "<bdi dir=\"auto\">\(escape(reason))</bdi>")
        }
        meta("Document SHA-256", "<span dir=\"ltr\" translate=\"no\">\(escape(order.documentSHA256.hex))</span>", "mono")
        h += "</tbody>\n</table>\n</section>\n"

        // Lines.
        h += """
            <section lang="en">
            <h2>Payment lines</h2>
            <table class="lines">
            <thead><tr><th scope="col" class="num">Line</th><th scope="col">Beneficiary ID</th><th scope="col">ID type</th>\
            <th scope="col">Name</th><th scope="col">Account</th><th scope="col" class="num">Amount (EGP)</th></tr></thead>
            <tbody>

            """
        for line in file.lines {
            h += "<tr><td class=\"num\">\(line.lineNumber)</td><td class=\"mono\" dir=\"ltr\">"
            h += escape(line.beneficiaryID)
            h += "</td><td>"
            h += escape(line.idTypeText)
            h += "</td><td class=\"name\" dir=\"auto\">"
            h += escape(line.name)
            h += "</td><td class=\"mono\" dir=\"ltr\">"
            h += escape(line.account)
            if let amount = line.amountPiasters {
                h += "</td><td class=\"num\" dir=\"ltr\">"
                h += egp(amount, grouped: true)
            } else {
                h += "</td><td class=\"num invalid\" dir=\"ltr\" title=\"not a whole number of piasters\">"
                h += escape(line.amountText)
            }
            h += "</td></tr>\n"
        }
        let count = file.lineCount
        h += """
            </tbody>
            <tfoot><tr><th scope="row" colspan="5">Total, \(count) \(count == 1 ? "line" : "lines")</th>\
            <td class="num" dir="ltr">\(egp(file.total, grouped: true))</td></tr></tfoot>
            </table>
            </section>

            """

        // Signatures.
        h += "<section lang=\"en\">\n<h2>Signatures</h2>\n"
        if order.signatures.isEmpty {
            h += "<p class=\"none\">none yet</p>\n"
        } else {
            h += """
                <table class="signatures">
                <thead><tr><th scope="col">Step</th><th scope="col">Signer (Unix user)</th><th scope="col">Token serial</th>\
                <th scope="col">Certificate SHA-256</th><th scope="col">Signed at (UTC)</th></tr></thead>
                <tbody>

                """
            for signature in order.signatures {
                let step: String
                switch signature.step {
                case .first: step = "first (entity finance officer, D2)"
                case .second: step = "second (Ministry of Finance representative, D2)"
                }
                h += "<tr><td>\(step)</td><td dir=\"auto\">\(escape(signature.signer.unixUser))</td>"
                h += "<td class=\"mono\" dir=\"ltr\">\(escape(signature.tokenSerial))</td>"
                h += "<td class=\"mono hash\" dir=\"ltr\">\(escape(signature.certificateSHA256.hex))</td>"
                h += "<td class=\"mono\" dir=\"ltr\"><time>\(iso8601UTC(signature.signedAt))</time></td></tr>\n"
            }
            h += "</tbody>\n</table>\n"
        }
        h += "</section>\n"

        // Sign-off boxes (D9).
        h += "<section class=\"signoff\" lang=\"en\">\n<h2>Review sign-off (D9)</h2>\n<div class=\"boxes\">\n"
        for who in ["Entitlements department (D9)", "Accounts reviewer (D9)"] {
            h += """
                <div class="box">
                <h3>\(escape(who))</h3>
                <p class="field"><span>Name</span><span class="blank"></span></p>
                <p class="field"><span>Signature</span><span class="blank"></span></p>
                <p class="field"><span>Date</span><span class="blank"></span></p>
                </div>

                """
        }
        h += "</div>\n</section>\n"

        h += """
            <footer lang="en">Generated by paysign at <time>\(iso8601UTC(generatedAt))</time> · order \(order.id) · \
            file number <span class="mono" dir="ltr">\(order.fileNumber.grouped)</span></footer>
            </body>
            </html>

            """
        return h
    }

    /// The page's style sheet: screen and A4 print.
    static let css = """
        :root { color-scheme: light; }
        * { box-sizing: border-box; }
        body { font-family: "Noto Sans", "Noto Naskh Arabic", "Segoe UI", Tahoma, Arial, sans-serif; font-size: 10pt;
          color: #000; background: #fff; max-width: 210mm; margin: 0 auto; padding: 12mm; line-height: 1.35; }
        h1 { font-size: 16pt; margin: 0 0 2mm; }
        h2 { font-size: 12pt; margin: 6mm 0 2mm; }
        h3 { font-size: 10.5pt; margin: 0 0 4mm; }
        .entity { margin: 0; font-size: 11pt; }
        .mono, .fn { font-family: "DejaVu Sans Mono", "Liberation Mono", Consolas, "Courier New", monospace; }
        .meta .mono, footer .mono { overflow-wrap: anywhere; }
        .file-number h2 { margin-top: 4mm; }
        .fn { font-size: 17pt; font-weight: bold; letter-spacing: 0.04em; border: 2px solid #000; padding: 3mm 4mm;
          direction: ltr; unicode-bidi: isolate; text-align: left; user-select: all; }
        .hint { font-size: 8.5pt; margin: 1.5mm 0 0; }
        .warning { border: 2px solid #b00; padding: 1mm 4mm; margin-top: 4mm; color: #b00; }
        .warning h2 { margin: 2mm 0 0; }
        table { border-collapse: collapse; width: 100%; }
        th, td { border: 1px solid #888; padding: 1mm 1.5mm; vertical-align: top; text-align: start; unicode-bidi: isolate; }
        thead th { background: #eee; }
        table.meta { width: auto; min-width: 60%; }
        table.meta th { font-weight: normal; color: #333; white-space: nowrap; }
        .lines { font-size: 9pt; }
        .num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
        .amount-cell { font-variant-numeric: tabular-nums; }
        .name { overflow-wrap: anywhere; }
        .hash { overflow-wrap: anywhere; font-size: 8pt; }
        .invalid { color: #b00; font-style: italic; }
        tfoot th { text-align: right; }
        tfoot th, tfoot td { font-weight: bold; border-top: 2px solid #000; }
        .none { font-style: italic; }
        .boxes { display: flex; gap: 6mm; }
        .box { flex: 1; border: 1px solid #000; padding: 3mm 4mm; }
        .field { display: flex; align-items: flex-end; margin: 0 0 6mm; }
        .field span:first-child { width: 22mm; }
        .blank { flex: 1; border-bottom: 1px solid #000; height: 6mm; }
        footer { margin-top: 8mm; font-size: 8pt; color: #333; }
        @media print {
          @page { size: A4; margin: 12mm 10mm; }
          body { max-width: none; padding: 0; }
          thead { display: table-header-group; }
          tfoot { display: table-row-group; }
          tr, .box, .fn { break-inside: avoid; page-break-inside: avoid; }
          h2 { break-after: avoid; page-break-after: avoid; }
          .signoff { break-inside: avoid; page-break-inside: avoid; }
          .warning, .invalid { color: #000; }
        }
        """

    /// The grouped file number with a line-break opportunity after each dash, for the large box
    /// (`<wbr>` adds no character, so a copy of the number is the number). The metadata table and
    /// the footer hold the plain grouped form, so the page's source contains it verbatim too.
    static func fileNumberHTML(_ number: FileNumber) -> String {
        var out = ""
        for character in number.grouped {
            out.append(character)
            if character == "-" { out += "<wbr>" }
        }
        return out
    }

    /// What a reviewer must know before trusting this sheet.
    static func warnings(order: Order, file: OrderFile) -> [String] {
        var out: [String] = []
        if file.lineCount != order.lineCount {
            out.append(
                "The file has \(file.lineCount) readable lines but the order recorded \(order.lineCount) at upload: "
                    + "this may not be the uploaded file.")
        }
        if file.total != order.totalPiasters {
            out.append(
                "The file's total is \(egp(file.total, grouped: true)) EGP but the order recorded "
                    + "\(egp(order.totalPiasters, grouped: true)) EGP at upload: this may not be the uploaded file.")
        }
        if !file.syntaxViolations.isEmpty {
            let n = file.syntaxViolations.count
            out.append("The file has \(n) syntax \(n == 1 ? "problem" : "problems"); records that cannot be read are not listed.")
        }
        return out
    }

    // MARK: - Text helpers

    /// `"1,234,567.89"` from piasters (1 EGP = 100 piasters); negative numbers with a leading minus.
    /// Integer arithmetic only: no locale, no floating point.
    public static func egp(_ piasters: Int64, grouped: Bool) -> String {
        let magnitude = piasters.magnitude  // UInt64: Int64.min has a magnitude too
        let pounds = Array(String(magnitude / 100).utf8)
        let cents = magnitude % 100
        var out: [UInt8] = []
        out.reserveCapacity(pounds.count + pounds.count / 3 + 4)
        if piasters < 0 { out.append(UInt8(ascii: "-")) }
        for (index, digit) in pounds.enumerated() {
            if grouped, index > 0, (pounds.count - index) % 3 == 0 { out.append(UInt8(ascii: ",")) }
            out.append(digit)
        }
        out.append(UInt8(ascii: "."))
        out.append(UInt8(ascii: "0") + UInt8(cents / 10))
        out.append(UInt8(ascii: "0") + UInt8(cents % 10))
        return String(decoding: out, as: UTF8.self)
    }

    /// Escapes `& < > " '` for HTML text and attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// `2026-07-27T09:05:03Z`: UTC, whole seconds (rounded down), computed from the Unix time
    /// without a calendar or a formatter.
    static func iso8601UTC(_ date: Date) -> String {
        let t = date.timeIntervalSince1970.rounded(.down)
        // ±1e12 s is ±31,000 years: beyond it (or not finite) there is no date to print.
        guard t.isFinite, abs(t) < 1e12 else { return "invalid-time" }
        let seconds = Int64(t)
        var days = seconds / 86_400
        var rest = seconds % 86_400
        if rest < 0 {
            rest += 86_400
            days -= 1
        }
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : String(n) }
        let day = CalendarDay(daysSince1970: Int(days))
        return "\(day.description)T\(two(rest / 3600)):\(two(rest / 60 % 60)):\(two(rest % 60))Z"
    }
}
