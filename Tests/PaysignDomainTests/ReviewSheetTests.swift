import Foundation
@testable import PaysignDomain
@testable import PaysignDocuments
import PaysignText
import Testing

/// The review sheet of D9: CSV for a spreadsheet, HTML for print.
@Suite struct ReviewSheetTests {
    static let csvHeader = "beneficiary_id,id_type,name,account,amount_piasters"
    static let card = "1234567890123456"
    static let iban = "EG380019000500000000263180002"
    static let digest = SHA256Hex("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")!
    static let grouped = "9f86-d081-884c-7d65-9a2f-eaa0-c55a-d015-a3bf-4f1b-2b0b-822c-d15d-6c15-b0f0-0a08"
    /// 2026-07-27T09:05:03Z.
    static let noon = Date(timeIntervalSince1970: 1_785_143_103)

    /// Two lines: a name with a comma, a name with quotes and a comma.
    static let smallFile = OrderFile(
        parsing: Array(
            (csvHeader + "\r\n"
                + "29001011234567,national-id,\"Hassan, Mona\",\(card),1500000\r\n"
                + "29512310212340,national-id,\"El \"\"Sayed\"\", Omar\",\(iban),250050\r\n").utf8))

    static func order(
        for file: OrderFile, state: OrderState = .draft, signatures: [OrderSignature] = [], lineCount: Int? = nil,
        total: Int64? = nil
    ) -> Order {
        Order(
            id: 17,
            metadata: OrderMetadata(entityCode: "MOF-01", kind: .salary, valueDate: CalendarDay(year: 2026, month: 7, day: 27)!),
            fileNumber: FileNumber(digest: digest), fileBytes: 200, lineCount: lineCount ?? file.lineCount,
            totalPiasters: total ?? file.total, documentSHA256: SHA256Hex(String(repeating: "ab", count: 32))!,
            state: state, createdBy: OrderActor(operatorID: 1, unixUser: "clerk"), createdAt: noon,
            signatures: signatures)
    }

    static func signature(user: String = "officer") -> OrderSignature {
        OrderSignature(
            step: .first, signer: OrderActor(operatorID: 2, unixUser: user), tokenSerial: "TOKEN-0042",
            certificateSHA256: SHA256Hex(String(repeating: "c3", count: 32))!,
            signatureSHA256: SHA256Hex(String(repeating: "5e", count: 32))!, signedAt: noon)
    }

    /// A minimal RFC 4180 reader (CRLF records, quoted fields with doubled quotes), independent of
    /// the code under test.
    static func readCSV(_ bytes: [UInt8]) -> [[String]] {
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        let text = Array(String(decoding: body, as: UTF8.self).unicodeScalars)
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var i = 0
        var quoted = false
        while i < text.count {
            let c = text[i]
            if quoted {
                if c == "\"" {
                    if i + 1 < text.count, text[i + 1] == "\"" {
                        field.unicodeScalars.append("\"")
                        i += 2
                        continue
                    }
                    quoted = false
                } else {
                    field.unicodeScalars.append(c)
                }
                i += 1
                continue
            }
            switch c {
            case "\"": quoted = true
            case ",":
                row.append(field)
                field = ""
            case "\r":
                #expect(i + 1 < text.count && text[i + 1] == "\n", "CR outside quotes must start CRLF")
                row.append(field)
                rows.append(row)
                row = []
                field = ""
                i += 1  // the LF
            default: field.unicodeScalars.append(c)
            }
            i += 1
        }
        #expect(!quoted)
        #expect(row.isEmpty && field.isEmpty, "the last record ends with CRLF")
        return rows
    }

    // MARK: CSV

    @Test func csvStartsWithBOMAndEndsEveryRecordWithCRLF() {
        let bytes = ReviewSheet.csv(order: Self.order(for: Self.smallFile), file: Self.smallFile, entityName: nil)
        #expect(Array(bytes.prefix(3)) == [0xEF, 0xBB, 0xBF])
        #expect(Array(bytes.suffix(2)) == [0x0D, 0x0A])
        for (index, byte) in bytes.enumerated() where byte == 0x0A {
            #expect(index > 0 && bytes[index - 1] == 0x0D, "bare LF at \(index)")
        }
        // No CR that does not start a CRLF (the names here hold none).
        for (index, byte) in bytes.enumerated() where byte == 0x0D {
            #expect(index + 1 < bytes.count && bytes[index + 1] == 0x0A)
        }
    }

    @Test func csvRoundTripsHeaderBlockTableAndTotal() {
        let file = Self.smallFile
        #expect(file.syntaxViolations == [])
        let entity = "وزارة المالية, القاهرة"
        let rows = Self.readCSV(ReviewSheet.csv(order: Self.order(for: file), file: file, entityName: entity))
        #expect(
            rows == [
                ["Order", "17"],
                ["Entity code", "MOF-01"],
                ["Entity name", entity],
                ["Kind", "salary"],
                ["Currency", "EGP"],
                ["Value date", "2026-07-27"],
                ["File number", Self.grouped],
                ["Lines", "2"],
                ["Total", "17500.50"],
                ["State", "draft"],
                [""],
                ["line", "beneficiary_id", "id_type", "name", "account", "amount_piasters", "amount_egp"],
                ["2", "29001011234567", "national-id", "Hassan, Mona", Self.card, "1500000", "15000.00"],
                ["3", "29512310212340", "national-id", "El \"Sayed\", Omar", Self.iban, "250050", "2500.50"],
                ["total", "", "", "", "", "1750050", "17500.50"],
            ])
    }

    @Test func csvQuotesOnlyWhatNeedsQuoting() {
        let bytes = ReviewSheet.csv(order: Self.order(for: Self.smallFile), file: Self.smallFile, entityName: nil)
        let text = String(decoding: bytes.dropFirst(3), as: UTF8.self)
        #expect(text.contains("\r\n2,29001011234567,national-id,\"Hassan, Mona\",\(Self.card),1500000,15000.00\r\n"))
        #expect(text.contains(",\"El \"\"Sayed\"\", Omar\","))
        #expect(text.hasPrefix("Order,17\r\nEntity code,MOF-01\r\nKind,salary\r\n"))
        #expect(text.hasSuffix("\r\ntotal,,,,,1750050,17500.50\r\n"))
        #expect(!text.contains("Entity name"))
    }

    @Test func csvNeutralizesFormulas() {
        let text =
            Self.csvHeader + "\n"
            + "29001011234567,national-id,=HYPERLINK(\"\"),\(Self.card),100\n"  // quote in unquoted field: unreadable
            + "29001011234567,national-id,\"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",\(Self.card),100\n"
            + "29001011234567,national-id,+20 100,\(Self.card),100\n"
            + "29001011234567,national-id,-1,\(Self.card),100\n"
            + "29001011234567,national-id,@SUM(A1),\(Self.card),100\n"
            + "29001011234567,national-id,\tTab,\(Self.card),100\n"
            + "29001011234567,national-id,\"\r=CR\",\(Self.card),100\n"
            + "29001011234567,national-id,Safe = name,=1+1,100\n"
        let file = OrderFile(parsing: text)
        #expect(file.lines.count == 7)
        let rows = Self.readCSV(
            ReviewSheet.csv(order: Self.order(for: file), file: file, entityName: "=cmd|' /C calc'!A0"))
        #expect(rows.contains(["Entity name", "'=cmd|' /C calc'!A0"]))
        let names = rows.filter { $0.count == 7 && $0[0] != "line" && $0[0] != "total" }.map { $0[3] }
        #expect(
            names == [
                "'=HYPERLINK(\"http://x\",\"y\")", "'+20 100", "'-1", "'@SUM(A1)", "'\tTab", "'\r=CR", "Safe = name",
            ])
        let accounts = rows.filter { $0.count == 7 && $0[0] != "line" && $0[0] != "total" }.map { $0[4] }
        #expect(accounts.last == "'=1+1")
        // The warning row says a record could not be read.
        #expect(rows.contains { $0.first == "Warning" && $0[1].contains("1 syntax problem") })
    }

    @Test func csvTotalRowIsTheFileTotal() {
        var text = Self.csvHeader + "\n"
        for n in 1...10 { text += "29001011234567,national-id,Employee \(n),\(Self.card),\(n * 12_345)\n" }
        let file = OrderFile(parsing: text)
        let rows = Self.readCSV(ReviewSheet.csv(order: Self.order(for: file), file: file, entityName: nil))
        #expect(rows.last == ["total", "", "", "", "", "678975", "6789.75"])
        #expect(rows.contains(["Total", "6789.75"]))
        #expect(rows.contains(["Lines", "10"]))
        #expect(!rows.contains { $0.first == "Warning" })
    }

    @Test func csvWarnsWhenTheFileIsNotTheOrdersFile() {
        let order = Self.order(for: Self.smallFile, lineCount: 3, total: 1)
        let rows = Self.readCSV(ReviewSheet.csv(order: order, file: Self.smallFile, entityName: nil))
        let warnings = rows.filter { $0.first == "Warning" }
        #expect(warnings.count == 2)
        // Lines and Total are the file's, consistent with the table below them.
        #expect(rows.contains(["Lines", "2"]))
    }

    // MARK: HTML

    @Test func htmlEscapesEverythingFromOutside() {
        let text =
            Self.csvHeader + "\n"
            + "29001011234567,national-id,<script>alert('x')</script>,\(Self.card),100\n"
            + "29001011234567,national-id,\"Tom & \"\"Jerry\"\" <b>\",\(Self.card),200\n"
        let file = OrderFile(parsing: text)
        let order = Self.order(for: file, signatures: [Self.signature(user: "<img src=x onerror=alert(1)>")])
        let html = ReviewSheet.html(order: order, file: file, entityName: "<i>Ministry</i> & 'co'", generatedAt: Self.noon)
        #expect(!html.contains("<script"))
        #expect(!html.contains("<img"))
        #expect(!html.contains("<i>"))
        #expect(!html.contains("<b>"))
        #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"))
        #expect(html.contains("Tom &amp; &quot;Jerry&quot; &lt;b&gt;"))
        #expect(html.contains("&lt;i&gt;Ministry&lt;/i&gt; &amp; &#39;co&#39;"))
        #expect(html.contains("&lt;img src=x onerror=alert(1)&gt;"))
    }

    @Test func htmlIsSelfContained() {
        let html = ReviewSheet.html(
            order: Self.order(for: Self.smallFile), file: Self.smallFile, entityName: nil, generatedAt: Self.noon)
        #expect(html.hasPrefix("<!DOCTYPE html>\n<html lang=\"en\" dir=\"ltr\">"))
        #expect(html.contains("<meta charset=\"utf-8\">"))
        #expect(html.contains("<title>Payment order 17 — review sheet</title>"))
        #expect(!html.lowercased().contains("<script"))
        #expect(!html.contains("http://") && !html.contains("https://"))
        #expect(!html.contains("src=") && !html.contains("<link") && !html.contains("url("))
        #expect(html.contains("@media print"))
        #expect(html.contains("size: A4"))
        #expect(html.contains("thead { display: table-header-group; }"))
        #expect(html.contains("Generated by paysign at <time dir=\"ltr\">2026-07-27T09:05:03Z</time>"))
        #expect(html.hasSuffix("</html>\n"))
    }

    @Test func htmlShowsTheFileNumberGrouped() {
        let html = ReviewSheet.html(
            order: Self.order(for: Self.smallFile), file: Self.smallFile, entityName: nil, generatedAt: Self.noon)
        #expect(html.contains(Self.grouped))
        // The large box: the same characters, with a break opportunity after each dash.
        let box = Self.grouped.split(separator: "-").joined(separator: "-<wbr>")
        #expect(html.contains("<div class=\"fn\" dir=\"ltr\" translate=\"no\">\(box)</div>"))
    }

    @Test func htmlListsEveryLineAmountAndTheTotal() {
        var text = Self.csvHeader + "\n"
        let amounts: [Int64] = [1, 99, 100, 123_456_789, 2_050_000, 987_654_321_012]
        for (n, amount) in amounts.enumerated() {
            text += "29001011234567,national-id,\"محمد أحمد \(n)\",\(Self.card),\(amount)\n"
        }
        let file = OrderFile(parsing: text)
        let html = ReviewSheet.html(order: Self.order(for: file), file: file, entityName: "وزارة المالية", generatedAt: Self.noon)
        for amount in amounts {
            #expect(html.contains("<td class=\"num\" dir=\"ltr\">\(Piasters.egp(amount, grouped: true))</td>"))
        }
        #expect(html.contains("1,234,567.89"))
        #expect(file.total == 987_779_828_001)
        #expect(html.contains("<td class=\"num\" dir=\"ltr\">9,877,798,280.01</td></tr></tfoot>"))
        #expect(html.contains("Total, 6 lines"))
        #expect(html.contains("محمد أحمد 5"))
        #expect(html.contains("<bdi dir=\"auto\">وزارة المالية</bdi>"))
    }

    @Test func htmlShowsNoneYetWithoutSignatures() {
        let html = ReviewSheet.html(
            order: Self.order(for: Self.smallFile), file: Self.smallFile, entityName: nil, generatedAt: Self.noon)
        #expect(html.contains("none yet"))
        #expect(!html.contains("TOKEN-0042"))
        #expect(html.contains("Entitlements department (D9)"))
        #expect(html.contains("Accounts reviewer (D9)"))
    }

    @Test func htmlShowsTheSignerOfASignature() {
        let order = Self.order(for: Self.smallFile, state: .firstSigned, signatures: [Self.signature()])
        let html = ReviewSheet.html(order: order, file: Self.smallFile, entityName: nil, generatedAt: Self.noon)
        #expect(!html.contains("none yet"))
        #expect(html.contains(">officer<"))
        #expect(html.contains("TOKEN-0042"))
        #expect(html.contains(String(repeating: "c3", count: 32)))
        #expect(html.contains("<time>2026-07-27T09:05:03Z</time>"))
        #expect(html.contains("first (entity finance officer, D2)"))
        #expect(html.contains("first-signed"))
    }

    @Test func htmlWarnsWhenTheFileIsNotTheOrdersFile() {
        let good = ReviewSheet.html(
            order: Self.order(for: Self.smallFile), file: Self.smallFile, entityName: nil, generatedAt: Self.noon)
        #expect(!good.contains("class=\"warning\""))
        let bad = ReviewSheet.html(
            order: Self.order(for: Self.smallFile, total: 99), file: Self.smallFile, entityName: nil, generatedAt: Self.noon)
        #expect(bad.contains("class=\"warning\""))
        #expect(bad.contains("this may not be the uploaded file"))
    }

    // MARK: Text helpers

    @Test(arguments: [
        (Int64(0), "0.00", "0.00"),
        (5, "0.05", "0.05"),
        (100, "1.00", "1.00"),
        (99_999, "999.99", "999.99"),
        (100_000, "1,000.00", "1000.00"),
        (123_456_789, "1,234,567.89", "1234567.89"),
        (-250, "-2.50", "-2.50"),
        (-123_456_789, "-1,234,567.89", "-1234567.89"),
        (Int64.max, "92,233,720,368,547,758.07", "92233720368547758.07"),
        (Int64.min, "-92,233,720,368,547,758.08", "-92233720368547758.08"),
    ])
    func egp(piasters: Int64, grouped: String, plain: String) {
        #expect(Piasters.egp(piasters, grouped: true) == grouped)
        #expect(Piasters.egp(piasters, grouped: false) == plain)
    }

    @Test func iso8601UTC() {
        #expect(ReviewSheet.iso8601UTC(Self.noon) == "2026-07-27T09:05:03Z")
        #expect(ReviewSheet.iso8601UTC(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00Z")
        #expect(ReviewSheet.iso8601UTC(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59Z")
        #expect(ReviewSheet.iso8601UTC(Date(timeIntervalSince1970: 951_825_600.9)) == "2000-02-29T12:00:00Z")
    }

    // MARK: - Arabic, parts and hostile characters (issue 19)

    @Test func arabicSheetIsRightToLeftWithNumbersLeftToRight() {
        let order = Self.order(for: Self.smallFile)
        let html = ReviewSheet.html(order: order, file: Self.smallFile, entityName: "وزارة المالية", generatedAt: Self.noon, words: Words(.ar))
        #expect(html.hasPrefix("<!DOCTYPE html>\n<html lang=\"ar\" dir=\"rtl\">"))
        #expect(html.contains("<title>أمر الدفع 17 — كشف المراجعة</title>"))
        #expect(html.contains("<h2>رقم الملف (D9)</h2>"))
        // The file number, amounts, IDs and accounts stay left-to-right inside the Arabic page.
        #expect(html.contains("<div class=\"fn\" dir=\"ltr\" translate=\"no\">"))
        #expect(html.contains("<span dir=\"ltr\" translate=\"no\">\(Self.grouped)</span>"))
        #expect(html.contains("<td class=\"num\" dir=\"ltr\">"))
        #expect(html.contains("<td class=\"mono\" dir=\"ltr\">"))
        #expect(html.contains("اعتماد المراجعة (D9)"))
        #expect(!html.contains("Payment lines"))
        // The running header and page numbers of the printed whole sheet, in Arabic.
        #expect(html.contains("@top-right { content: \"أمر الدفع 17 "))
        #expect(html.contains("@top-left { content: \"رقم الملف \u{2066}\(Self.grouped)\u{2069}\""))
        #expect(html.contains("@bottom-center { content: \"صفحة \" counter(page) \" من \" counter(pages)"))
    }

    @Test func partsSplitTheLinesAndKeepHeadingAndTotalAtTheEnds() {
        let file = OrderFile(lines: (2...5).map {
            OrderLine(lineNumber: $0, beneficiaryID: "2900101123456\($0)", idType: "national-id", name: "اسم \($0)", account: "00\($0)", amount: "100")
        })
        let order = Self.order(for: file)
        let first = ReviewSheet.html(order: order, file: file, entityName: nil, generatedAt: Self.noon, part: .lines(0..<1))
        let middle = ReviewSheet.html(order: order, file: file, entityName: nil, generatedAt: Self.noon, part: .lines(1..<2))
        let last = ReviewSheet.html(order: order, file: file, entityName: nil, generatedAt: Self.noon, part: .lines(2..<file.lines.count))
        #expect(first.contains("<h2>File number (D9)</h2>") && !first.contains("<tfoot>") && !first.contains("Review sign-off"))
        #expect(!middle.contains("File number (D9)") && !middle.contains("<tfoot>") && !middle.contains("Review sign-off"))
        #expect(!last.contains("File number (D9)") && last.contains("<tfoot>") && last.contains("Review sign-off (D9)"))
        // A part has no margin boxes: the printer stamps them over the joined parts.
        for part in [first, middle, last] { #expect(!part.contains("@top-")) }
        let rows = [first, middle, last].map { $0.components(separatedBy: "<tr><td class=\"num\">").count - 1 }
        #expect(rows == [1, 1, file.lines.count - 2])
    }

    @Test func bidiAndZeroWidthControlsAreShownNotObeyed() {
        let file = OrderFile(lines: [
            OrderLine(lineNumber: 2, beneficiaryID: "29001011234567", idType: "national-id", name: "محمد\u{202E}0001\u{202C} Ali\u{200B}",
                      account: "0012345678", amount: "100"),
        ])
        let order = Self.order(for: file)
        for words in [Words(.en), Words(.ar)] {
            let html = ReviewSheet.html(order: order, file: file, entityName: nil, generatedAt: Self.noon, words: words)
            for scalar in ["\u{202E}", "\u{202C}", "\u{200B}"] { #expect(!html.contains(scalar)) }
            #expect(html.contains("محمد<bdi class=\"ctl\" dir=\"ltr\">U+202E</bdi>0001<bdi class=\"ctl\" dir=\"ltr\">U+202C</bdi> Ali<bdi class=\"ctl\" dir=\"ltr\">U+200B</bdi>"))
        }
        #expect(VisibleText.plain("a\u{2067}b\u{FEFF}") == "a[U+2067]b[U+FEFF]")
        #expect(VisibleText.plain("عبد الله, O'Brien \"x\"") == "عبد الله, O'Brien \"x\"")
        // The CSV keeps the file's characters.
        let csv = String(decoding: ReviewSheet.csv(order: order, file: file, entityName: nil), as: UTF8.self)
        #expect(csv.contains("\u{202E}0001\u{202C}"))
    }

    @Test func runningHeaderCannotEndTheStyleSheet() {
        let header = RunningHeader(orderID: 9, entityCode: "X</style><script>\"\\", fileNumber: "AB-CD")
        let css = header.cssString(Words(.en))
        #expect(!css.contains("<") && !css.contains(">"))
        #expect(css.hasPrefix("\"Payment order 9 · entity \u{2066}X\\00003C\\00002Fstyle"))
        #expect(css.hasSuffix("\u{2069}\""))
        #expect(css.dropFirst().dropLast().contains("\"") == false)
        let overlay = header.overlayHTML(pages: 3, words: Words(.ar))
        #expect(overlay.components(separatedBy: "<div></div>").count - 1 == 3)
        #expect(overlay.contains("counter(pages)"))
    }
}
