public import Foundation
public import PaysignDomain
public import PaysignText

/// The review sheet of a payment order (D9): what the data-entry clerk exports for the
/// entitlements department and the accounts reviewer, as a spreadsheet (CSV), as a printable page
/// (HTML, A4), and through `paysign order export --format pdf|xlsx` as a PDF and a workbook.
///
/// The sheet shows the **file number** prominently, so the entitlements department can copy it
/// onto the disbursement form, and the Ministry of Finance representative can later check that the
/// number reviewed is the number of the file offered for the second signature (D9, D2).
///
/// In Arabic or English (`Words`): Arabic pages are right-to-left, with the file number, amounts,
/// IDs and account numbers kept left-to-right. Digits are Western (0-9) in both, as the Ministry's
/// own circulars and forms write amounts, account numbers and file numbers.
///
/// Pure: no I/O, no locale. Amounts are formatted with integer arithmetic and times are written in
/// UTC ISO 8601 from the Unix time, so the same order always renders to the same bytes.
///
/// Everything that comes from outside (names, accounts, the entity's name, user names, the
/// rejection reason) is treated as hostile: HTML-escaped in the page, with bidirectional and
/// zero-width controls shown as visible marks (`VisibleText`) so they cannot reorder what a
/// reviewer reads; and in the CSV quoted per RFC 4180 and prefixed with `'` when a spreadsheet
/// would read it as a formula (CWE-1236). The CSV keeps the file's characters as they are.
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
    /// (`line` = the file's line number), then a final row `total` with the sum. Labels in the
    /// words' language; the values (kind, state) as the API names them.
    ///
    /// Fields are quoted when they hold a comma, a quote, CR or LF; any field starting with
    /// `=` `+` `-` `@` TAB or CR is prefixed with a single quote (CWE-1236).
    public static func csv(order: Order, file: OrderFile, entityName: String?, words: Words = Words(.en)) -> [UInt8] {
        var out = CSVWriter()
        out.reserve(file.lines.count * 96 + 1024)

        out.row([words("sheet.order"), String(order.id)])
        out.row([words("sheet.entity-code"), order.metadata.entityCode])
        if let entityName { out.row([words("sheet.entity-name"), entityName]) }
        out.row([words("sheet.kind"), order.metadata.kind.rawValue])
        out.row([words("sheet.currency"), order.metadata.currency])
        out.row([words("sheet.value-date"), order.metadata.valueDate.description])
        out.row([words("sheet.file-number"), order.fileNumber.grouped])
        out.row([words("sheet.lines"), String(file.lineCount)])
        out.row([words("sheet.total"), Piasters.egp(file.total, grouped: false)])
        out.row([words("sheet.state"), order.state.rawValue])
        for warning in warnings(order: order, file: file, words: words) {
            out.row([words("sheet.warning"), warning])
        }
        out.row([])

        out.row(csvColumns(words))
        for line in file.lines {
            out.row([
                String(line.lineNumber), line.beneficiaryID, line.idTypeText, line.name, line.account, line.amountText,
                line.amountPiasters.map { Piasters.egp($0, grouped: false) } ?? "",
            ])
        }
        out.row([words("sheet.csv.total"), "", "", "", "", String(file.total), Piasters.egp(file.total, grouped: false)])
        return out.bytes
    }

    /// The lines table's column names in the CSV: the file's own in English, translated in Arabic.
    static func csvColumns(_ words: Words) -> [String] {
        ["line", "beneficiary-id", "id-type", "name", "account", "amount-piasters", "amount-egp"].map { words("sheet.csv.\($0)") }
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

    /// Which part of the sheet a page holds. `.whole` is the sheet a browser shows and prints, with
    /// the order, entity and file number at the top of every printed page and the page number at
    /// the bottom (CSS margin boxes). `.lines(range)` is one part of a long sheet for the PDF
    /// printer: the lines in `range` (indices into `file.lines`), the heading and the order's
    /// details in the first part, the total, signatures and sign-off in the last; no margin boxes
    /// (the printer stamps the running header and the page numbers over the joined parts).
    public enum Part: Sendable, Hashable {
        case whole
        case lines(Range<Int>)
    }

    /// A single self-contained HTML5 page (inline CSS, no scripts, no external resources, a
    /// Content-Security-Policy that forbids both): the file number in a large monospace box, the
    /// order's metadata, its lines with amounts in EGP, the total and line count, the signatures
    /// already on the order (or "none yet"), and sign-off boxes for the entitlements department and
    /// the accounts reviewer (D9). Prints on A4 with the lines table's header repeated on each page.
    public static func html(order: Order, file: OrderFile, entityName: String?, generatedAt: Date, words: Words = Words(.en),
                            part: Part = .whole) -> String {
        let range: Range<Int>
        switch part {
        case .whole: range = file.lines.indices
        case .lines(let r): range = r.clamped(to: file.lines.indices)
        }
        let isFirst = range.lowerBound == 0 || part == .whole
        let isLast = range.upperBound >= file.lines.count || part == .whole
        let title = words("sheet.title", ["order": String(order.id)])
        var h = ""
        h.reserveCapacity(range.count * 320 + 8192)

        h += """
            <!DOCTYPE html>
            <html lang="\(words.language.rawValue)" dir="\(words.language.direction)">
            <head>
            <meta charset="utf-8">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
            <meta name="referrer" content="no-referrer">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="generator" content="paysign">
            <title>\(VisibleText.html(title))</title>
            <style>
            \(css)
            \(part == .whole ? runningMarginBoxes(order: order, words: words) : "")
            </style>
            </head>
            <body>

            """

        if isFirst {
            h += firstPart(order: order, file: file, entityName: entityName, title: title, words: words)
        }

        // Lines.
        h += """
            <section>
            \(isFirst ? "<h2>\(VisibleText.html(words("sheet.payment-lines")))</h2>" : "")
            <table class="lines">
            <thead><tr>\(lineColumns.map { "<th scope=\"col\"\($0.numeric ? " class=\"num\"" : "")>\(VisibleText.html(words($0.key)))</th>" }.joined())</tr></thead>
            <tbody>

            """
        for index in range {
            let line = file.lines[index]
            h += "<tr><td class=\"num\">\(line.lineNumber)</td><td class=\"mono\" dir=\"ltr\">"
            h += VisibleText.html(line.beneficiaryID)
            h += "</td><td>"
            h += VisibleText.html(idType(line.idTypeText, words))
            h += "</td><td class=\"name\" dir=\"auto\">"
            h += VisibleText.html(line.name)
            h += "</td><td class=\"mono\" dir=\"ltr\">"
            h += VisibleText.html(line.account)
            if let amount = line.amountPiasters {
                h += "</td><td class=\"num\" dir=\"ltr\">"
                h += Piasters.egp(amount, grouped: true)
            } else {
                h += "</td><td class=\"num invalid\" dir=\"ltr\" title=\"\(VisibleText.html(words("sheet.not-piasters")))\">"
                h += VisibleText.html(line.amountText)
            }
            h += "</td></tr>\n"
        }
        h += "</tbody>\n"
        if isLast {
            let count = file.lineCount
            let totalLabel = totalLabel(lines: count, words)
            h += """
                <tfoot><tr><th scope="row" colspan="5">\(VisibleText.html(totalLabel))</th>\
                <td class="num" dir="ltr">\(Piasters.egp(file.total, grouped: true))</td></tr></tfoot>

                """
        }
        h += "</table>\n</section>\n"

        if isLast {
            h += lastPart(order: order, file: file, generatedAt: generatedAt, words: words)
        }
        h += "</body>\n</html>\n"
        return h
    }

    /// The heading, the file number, warnings and the order's details.
    static func firstPart(order: Order, file: OrderFile, entityName: String?, title: String, words: Words) -> String {
        var h = ""
        // Title and entity.
        h += "<header>\n<h1>\(VisibleText.html(title))</h1>\n<p class=\"entity\">"
        if let entityName {
            h += "<bdi dir=\"auto\">\(VisibleText.html(entityName))</bdi> · "
        }
        h += "<bdi dir=\"ltr\">\(VisibleText.html(order.metadata.entityCode))</bdi></p>\n</header>\n"

        // The file number (D9).
        h += """
            <section class="file-number">
            <h2>\(VisibleText.html(words("sheet.file-number-heading")))</h2>
            <div class="fn" dir="ltr" translate="no">\(fileNumberHTML(order.fileNumber))</div>
            <p class="hint">\(VisibleText.html(words("sheet.file-number-hint")))</p>
            </section>

            """

        // Warnings.
        let warnings = warnings(order: order, file: file, words: words)
        if !warnings.isEmpty {
            h += "<section class=\"warning\" role=\"alert\">\n<h2>\(VisibleText.html(words("sheet.warning")))</h2>\n<ul>\n"
            for warning in warnings { h += "<li>\(VisibleText.html(warning))</li>\n" }
            h += "</ul>\n</section>\n"
        }

        // Metadata.
        h += "<section>\n<h2>\(VisibleText.html(words("sheet.order-heading")))</h2>\n<table class=\"meta\">\n<tbody>\n"
        func meta(_ key: String, _ valueHTML: String, _ cls: String? = nil) {
            let attr = cls.map { " class=\"\($0)\"" } ?? ""
            h += "<tr><th scope=\"row\">\(VisibleText.html(words(key)))</th><td\(attr)>\(valueHTML)</td></tr>\n"
        }
        func actor(_ actor: OrderActor, _ at: Date?) -> String {
            let who = "<bdi dir=\"auto\">\(VisibleText.html(actor.unixUser))</bdi>"
            guard let at else { return who }
            return markup(words, "sheet.actor-at", ["who": who, "time": "<time dir=\"ltr\">\(iso8601UTC(at))</time>"])
        }
        meta("sheet.order", String(order.id))
        meta("sheet.entity-code", "<bdi dir=\"ltr\">\(VisibleText.html(order.metadata.entityCode))</bdi>")
        if let entityName { meta("sheet.entity-name", "<bdi dir=\"auto\">\(VisibleText.html(entityName))</bdi>") }
        meta("sheet.kind", VisibleText.html(words("kind.\(order.metadata.kind.rawValue)")))
        meta("sheet.currency", VisibleText.html(order.metadata.currency))
        meta("sheet.value-date", "<time dir=\"ltr\">\(order.metadata.valueDate.description)</time>")
        meta("sheet.file-number", "<span dir=\"ltr\" translate=\"no\">\(order.fileNumber.grouped)</span>", "mono")
        meta("sheet.file-size", VisibleText.html(words("sheet.bytes", ["count": String(order.fileBytes)])))
        meta("sheet.lines", String(file.lineCount))
        meta("sheet.total", "<bdi dir=\"ltr\">\(Piasters.egp(file.total, grouped: true))</bdi> \(VisibleText.html(words("sheet.egp")))", "amount-cell")
        meta("sheet.state", VisibleText.html(words("state.\(order.state.rawValue)")))
        meta("sheet.uploaded-by", actor(order.createdBy, order.createdAt))
        if let reviewer = order.reviewedBy {
            meta("sheet.reviewed-by", actor(reviewer, order.reviewedAt))
        } else if let at = order.reviewedAt {
            meta("sheet.reviewed-at", "<time dir=\"ltr\">\(iso8601UTC(at))</time>")
        }
        if let rejecter = order.rejectedBy {
            meta("sheet.rejected-by", actor(rejecter, order.rejectedAt))
        } else if let at = order.rejectedAt {
            meta("sheet.rejected-at", "<time dir=\"ltr\">\(iso8601UTC(at))</time>")
        }
        if let reason = order.rejectionReason {
            meta("sheet.rejection-reason", "<bdi dir=\"auto\">\(VisibleText.html(reason))</bdi>")
        }
        meta("sheet.document-sha256", "<span dir=\"ltr\" translate=\"no\">\(VisibleText.html(order.documentSHA256.hex))</span>", "mono")
        h += "</tbody>\n</table>\n</section>\n"
        return h
    }

    /// The signatures, the sign-off boxes and the footer.
    static func lastPart(order: Order, file: OrderFile, generatedAt: Date, words: Words) -> String {
        // What the sign-off certifies, on the page it is signed on: the total, the count of lines
        // and the file number.
        let count = file.lineCount
        var h = "<section class=\"summary\">\n<p>"
        h += VisibleText.html(totalLabel(lines: count, words))
        h += ": <bdi dir=\"ltr\" class=\"total\">\(Piasters.egp(file.total, grouped: true))</bdi> \(VisibleText.html(words("sheet.egp")))"
        h += " · \(VisibleText.html(words("sheet.file-number"))) <span class=\"mono\" dir=\"ltr\">\(order.fileNumber.grouped)</span></p>\n</section>\n"
        h += "<section>\n<h2>\(VisibleText.html(words("sheet.signatures")))</h2>\n"
        if order.signatures.isEmpty {
            h += "<p class=\"none\">\(VisibleText.html(words("sheet.none-yet")))</p>\n"
        } else {
            h += """
                <table class="signatures">
                <thead><tr><th scope="col">\(VisibleText.html(words("sheet.step")))</th><th scope="col">\(VisibleText.html(words("sheet.signer")))</th>\
                <th scope="col">\(VisibleText.html(words("sheet.token-serial")))</th><th scope="col">\(VisibleText.html(words("sheet.certificate-sha256")))</th>\
                <th scope="col">\(VisibleText.html(words("sheet.signed-at")))</th></tr></thead>
                <tbody>

                """
            for signature in order.signatures {
                let step = words(signature.step == .first ? "sheet.step-first" : "sheet.step-second")
                h += "<tr><td>\(VisibleText.html(step))</td><td dir=\"auto\">\(VisibleText.html(signature.signer.unixUser))</td>"
                h += "<td class=\"mono\" dir=\"ltr\">\(VisibleText.html(signature.tokenSerial))</td>"
                h += "<td class=\"mono hash\" dir=\"ltr\">\(VisibleText.html(signature.certificateSHA256.hex))</td>"
                h += "<td class=\"mono\" dir=\"ltr\"><time>\(iso8601UTC(signature.signedAt))</time></td></tr>\n"
            }
            h += "</tbody>\n</table>\n"
        }
        h += "</section>\n"

        // Sign-off boxes (D9).
        h += "<section class=\"signoff\">\n<h2>\(VisibleText.html(words("sheet.signoff")))</h2>\n<div class=\"boxes\">\n"
        for who in ["sheet.entitlements-department", "sheet.accounts-reviewer"] {
            h += """
                <div class="box">
                <h3>\(VisibleText.html(words(who)))</h3>
                <p class="field"><span>\(VisibleText.html(words("sheet.signoff-name")))</span><span class="blank"></span></p>
                <p class="field"><span>\(VisibleText.html(words("sheet.signoff-signature")))</span><span class="blank"></span></p>
                <p class="field"><span>\(VisibleText.html(words("sheet.signoff-date")))</span><span class="blank"></span></p>
                </div>

                """
        }
        h += "</div>\n</section>\n"

        let footer = markup(words, "sheet.footer", [
            "time": "<time dir=\"ltr\">\(iso8601UTC(generatedAt))</time>", "order": String(order.id),
            "number": "<span class=\"mono\" dir=\"ltr\">\(order.fileNumber.grouped)</span>",
        ])
        h += "<footer>\(footer)</footer>\n"
        return h
    }

    /// A catalog text as HTML: its words escaped, each `{name}` replaced by the HTML given for it
    /// (markup the caller built, its own values already escaped).
    static func markup(_ words: Words, _ key: String, _ fragments: [String: String]) -> String {
        var out = VisibleText.html(words(key))
        for (name, fragment) in fragments { out = out.replacingOccurrences(of: "{\(name)}", with: fragment) }
        return out
    }

    /// The columns of the lines table (the page's and the workbook's): each label's catalog key,
    /// and whether it holds a number (aligned as one).
    public static let lineColumns: [(key: String, numeric: Bool)] = [
        ("sheet.line", true), ("sheet.beneficiary-id", false), ("sheet.id-type", false), ("sheet.name", false),
        ("sheet.account", false), ("sheet.amount-egp", true),
    ]

    /// "Total, 5 lines" (one line said as such).
    public static func totalLabel(lines count: Int, _ words: Words) -> String {
        words(count == 1 ? "sheet.total-one-line" : "sheet.total-lines", ["count": String(count)])
    }

    /// The ID type as the reviewer reads it: a known type translated, anything else as written.
    public static func idType(_ text: String, _ words: Words) -> String {
        BeneficiaryIDType(rawValue: text) == nil ? text : words("id-type.\(text)")
    }

    /// The running header and page number of a printed whole sheet (CSS paged media margin
    /// boxes, which Chromium prints): the order, the entity code and the file number at the top
    /// of every page, "page N of M" at the bottom.
    static func runningMarginBoxes(order: Order, words: Words) -> String {
        let header = RunningHeader(orderID: order.id, entityCode: order.metadata.entityCode, fileNumber: order.fileNumber.grouped)
        return """
            @media print {
              @page {
                \(header.marginBoxes(words))
              }
            }
            """
    }

    /// The fonts of every page: Noto Sans for Latin text, Noto Sans Arabic for Arabic (a PDF's
    /// text reads back from it with poppler; Noto Naskh Arabic's "الله" ligature does not).
    public static let fontFamilies = "\"Noto Sans\", \"Noto Sans Arabic\", \"DejaVu Sans\", Tahoma, Arial, sans-serif"

    /// A4 page margins, top and bottom wide enough for the running header and page number.
    public static let pageMargins = "16mm 10mm 14mm 10mm"

    /// The page's style sheet: screen and A4 print.
    static let css = """
        :root { color-scheme: light; }
        * { box-sizing: border-box; }
        body { font-family: \(fontFamilies); font-size: 10pt;
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
        .ctl { font-family: "DejaVu Sans Mono", monospace; font-size: 0.8em; color: #b00; border: 1px solid #b00;
          padding: 0 0.2em; margin: 0 0.1em; white-space: nowrap; }
        tfoot th { text-align: end; }
        tfoot th, tfoot td { font-weight: bold; border-top: 2px solid #000; }
        .none { font-style: italic; }
        .boxes { display: flex; gap: 6mm; }
        .box { flex: 1; border: 1px solid #000; padding: 3mm 4mm; }
        .field { display: flex; align-items: flex-end; margin: 0 0 6mm; }
        .field span:first-child { width: 22mm; }
        .blank { flex: 1; border-bottom: 1px solid #000; height: 6mm; }
        footer { margin-top: 8mm; font-size: 8pt; color: #333; }
        .summary { margin-top: 6mm; border-top: 2px solid #000; padding-top: 2mm; font-weight: bold; }
        .summary .mono { font-weight: normal; font-size: 8.5pt; overflow-wrap: anywhere; }
        @media print {
          @page { size: A4; margin: \(pageMargins); }
          body { max-width: none; padding: 0; }
          thead { display: table-header-group; }
          tfoot { display: table-row-group; }
          tr, .box, .fn { break-inside: avoid; page-break-inside: avoid; }
          h2 { break-after: avoid; page-break-after: avoid; }
          .signoff { break-inside: avoid; page-break-inside: avoid; break-before: avoid; }
          .summary { break-after: avoid; page-break-after: avoid; }
          .warning, .invalid, .ctl { color: #000; }
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
    static func warnings(order: Order, file: OrderFile, words: Words) -> [String] {
        var out: [String] = []
        if file.lineCount != order.lineCount {
            out.append(words("sheet.warning-lines", ["file": String(file.lineCount), "order": String(order.lineCount)]))
        }
        if file.total != order.totalPiasters {
            out.append(words("sheet.warning-total", [
                "file": Piasters.egp(file.total, grouped: true), "order": Piasters.egp(order.totalPiasters, grouped: true),
            ]))
        }
        if !file.syntaxViolations.isEmpty {
            let n = file.syntaxViolations.count
            out.append(words(n == 1 ? "sheet.warning-syntax-one" : "sheet.warning-syntax", ["count": String(n)]))
        }
        return out
    }

    // MARK: - Text helpers

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
