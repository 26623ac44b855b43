import Foundation
import PaysignTestSupport
import Testing

/// The documents people sign and read (issue 19, D9), made from a real daemon's order by the
/// `paysign` client as the clerk, and read back with tools that share no code with paysign:
/// `pdftotext`/`pdfinfo` (poppler) for the PDF, LibreOffice's converter and Python's openpyxl
/// for the workbook, Chromium's screenshot for the page's direction.
@Suite("Review sheet as PDF and workbook, in Arabic (issue 19, D9)", .serialized)
struct DocumentTests {
    let pki: TestPKI

    init() throws {
        try UnixUsers.ensure()
        pki = try TestPKI.forOtherProcesses()
    }

    /// Names a reviewer must read exactly: Arabic, Arabic with Latin, commas and quotes, a long one.
    static let names = [
        "عبد الله بن محمد",
        "Ahmed \"Al-Masri\", أحمد المصري",
        "O'Brien, مريم",
        String(repeating: "محمد ", count: 38) + "الأخير",
    ]
    /// A name carrying a right-to-left override, its pop and a zero-width space.
    static let hostileName = "سارة\u{202E}0001\u{202C} علي\u{200B}"

    /// An order of five lines with those names, an account with leading zeros, uploaded by the clerk.
    static func upload(_ daemon: DaemonProcess) throws -> (id: Int64, fileNumber: String, total: Int64, csv: String) {
        let script = TestPKI.repositoryRoot.appendingPathComponent("scripts/make-payroll.py").path
        let payroll = try Shell.run("python3", [script, "5", "1919"])
        try #require(payroll.status == 0)
        var rows = payroll.stdout.split(separator: "\n").map(String.init)
        var total: Int64 = 0
        for index in 1..<rows.count {
            // beneficiary_id,id_type,name,account,amount: the generated name may hold a quoted comma.
            let split = rows[index].split(separator: ",").map(String.init)
            let name = index <= names.count ? names[index - 1] : hostileName
            var account = split[split.count - 2]
            if index == 1 { account = "00" + account.dropFirst(2) }
            total += Int64(split[split.count - 1])!
            rows[index] = [split[0], split[1], "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"", account, split[split.count - 1]].joined(separator: ",")
        }
        let csv = rows.joined(separator: "\r\n") + "\r\n"
        let upload = try UnixUsers.request(
            as: UnixUsers.clerk, socket: daemon.socket, "POST",
            "/v1/orders?entity=\(FlowSetup.entity)&kind=supplier&valueDate=\(FlowSetup.valueDate())",
            body: Data(csv.utf8), contentType: "text/csv")
        try #require(upload.status == 201, "\(upload.text)")
        let id = try #require((upload.object?["id"] as? NSNumber)?.int64Value)
        let fileNumber = try #require(upload.object?["fileNumber"] as? String)
        return (id, fileNumber, total, csv)
    }

    /// A folder the clerk may write in.
    static func outputFolder() throws -> String {
        let folder = try UnixUsers.sharedDirectory().appendingPathComponent("documents-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        chmod(folder, 0o1777)
        return folder
    }

    /// pdftotext's text without the bidi marks it adds around runs (U+200E/F, U+202A-E, U+2066-9)
    /// and without white space: poppler drops and adds spaces where a line changes direction,
    /// and a long name wraps; what is compared is the letters and their order.
    static func text(ofPDF path: String, page: Int? = nil) throws -> String {
        var arguments = ["-enc", "UTF-8"]
        if let page { arguments += ["-f", String(page), "-l", String(page)] }
        let result = try Shell.run("pdftotext", arguments + [path, "-"])
        try #require(result.status == 0, "pdftotext: \(result.stderr)")
        let bare = String(String.UnicodeScalarView(result.stdout.unicodeScalars.filter {
            !(0x202A...0x202E).contains($0.value) && !(0x2066...0x2069).contains($0.value) && $0.value != 0x200E && $0.value != 0x200F
        }))
        return squeezed(bare)
    }

    static func squeezed(_ text: String) -> String {
        String(text.unicodeScalars.filter { !$0.properties.isWhitespace }.map(Character.init))
    }

    /// How poppler reads a right-to-left run of a PDF back: a lam-alef ligature (one glyph for
    /// lam followed by an alef or alef maksura) comes out with its two letters swapped, and the
    /// words of a line whose first strong letter is Latin come out right-to-left. An Arabic
    /// name as poppler returns it: the first swap applied; a mixed name's words are looked for
    /// one by one.
    static func asPopplerReads(_ name: String) -> String {
        var out = name
        for alef in ["ا", "أ", "إ", "آ", "ى"] { out = out.replacingOccurrences(of: "ل" + alef, with: alef + "ل") }
        return out
    }

    static func egp(_ piasters: Int64) -> String {
        let pounds = String(piasters / 100)
        var grouped = ""
        for (i, c) in pounds.enumerated() {
            if i > 0, (pounds.count - i) % 3 == 0 { grouped += "," }
            grouped.append(c)
        }
        return grouped + "." + String(format: "%02d", Int(piasters % 100))
    }

    @Test("D9: the Arabic review sheet as a PDF (A4, every page names the order, entity and file number, numbered, the total on the last) and as a workbook (typed cells, right-to-left), read back by poppler, LibreOffice and openpyxl")
    func arabicPDFAndWorkbook() async throws {
        let daemon = try DaemonProcess(pki: pki, arguments: ["--document-language", "ar"], socketGroup: UnixUsers.group)
        try FlowSetup.setUpEntity(socket: daemon.socket, pki: pki)
        let order = try Self.upload(daemon)
        let folder = try Self.outputFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }

        // The PDF, made by the clerk's client.
        let pdf = folder + "/order.pdf"
        let made = try await onOwnThread { try UnixUsers.paysign(as: UnixUsers.clerk, ["order", "export", String(order.id), "--format", "pdf", "--lang", "ar", "--out", pdf, "--socket", daemon.socket]) }
        try #require(made.status == 0, "\(made.stderr)")
        let info = try Shell.run("pdfinfo", [pdf]).stdout
        #expect(info.contains("(A4)"), "\(info)")
        let pages = try #require(info.split(separator: "\n").first { $0.hasPrefix("Pages:") }.flatMap { Int($0.split(separator: " ").last!) })
        #expect(pages >= 2, "a five-line sheet with its sign-off takes two pages")
        let text = try Self.text(ofPDF: pdf)
        for name in Self.names {
            if name.unicodeScalars.contains(where: { $0.properties.isAlphabetic && $0.value < 0x80 }) {
                for word in name.split(separator: " ") { #expect(text.contains(Self.squeezed(Self.asPopplerReads(String(word)))), "the PDF lacks \(word) of \(name)") }
            } else {
                #expect(text.contains(Self.squeezed(Self.asPopplerReads(name))), "the PDF lacks \(name)")
            }
        }
        // The hostile name's controls are shown, not obeyed: a boxed mark each, in reading order.
        for piece in ["سارة", "U+202E", "0001", "U+202C", "علي", "U+200B"] { #expect(text.contains(piece), "the PDF does not show \(piece)") }
        #expect(text.contains(order.fileNumber))
        #expect(text.contains(Self.egp(order.total)))
        // Every page: the order, the entity and the file number at its top, its number at its bottom.
        for page in 1...pages {
            let pageText = try Self.text(ofPDF: pdf, page: page)
            // poppler moves the order's number across the neutral "·" of a right-to-left line.
            #expect(pageText.hasPrefix("أمرالدفع\(order.id)·الجهةEG-0101") || pageText.hasPrefix("أمرالدفع·\(order.id)الجهةEG-0101"), "page \(page) lacks the order and entity: \(pageText.prefix(300))")
            #expect(pageText.contains("رقمالملف" + order.fileNumber), "page \(page) lacks the file number: \(pageText.prefix(300))")
            #expect(pageText.hasSuffix("صفحة\(page)من\(pages)"), "page \(page) lacks its number: \(pageText.suffix(200))")
        }
        let last = try Self.text(ofPDF: pdf, page: pages)
        #expect(last.contains(Self.egp(order.total)), "the total is not on the last page")

        // The workbook.
        let xlsx = folder + "/order.xlsx"
        let wrote = try await onOwnThread { try UnixUsers.paysign(as: UnixUsers.clerk, ["order", "export", String(order.id), "--format", "xlsx", "--lang", "ar", "--out", xlsx, "--socket", daemon.socket]) }
        try #require(wrote.status == 0, "\(wrote.stderr)")
        // openpyxl: the sheet is right-to-left; IDs and accounts are text (leading zeros kept),
        // amounts numbers with two decimals; the total is the file's.
        let check = try Shell.run("/usr/bin/python3", ["-c", """
            import json, sys, openpyxl
            wb = openpyxl.load_workbook(sys.argv[1]); ws = wb.active
            rows = [[(c.value if not hasattr(c.value, 'is_integer') else float(c.value), c.data_type, c.number_format) for c in r] for r in ws.iter_rows()]
            print(json.dumps({"rtl": bool(ws.sheet_view.rightToLeft), "rows": rows}, default=str))
            """, xlsx])
        try #require(check.status == 0, "\(check.stderr)")
        let book = try #require(try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Any])
        #expect(book["rtl"] as? Bool == true)
        let rows = try #require(book["rows"] as? [[[Any]]])
        let lines = rows.filter { ($0.first?[0] as? NSNumber) != nil && ($0.first?[1] as? String) == "n" }
        #expect(lines.count == 5)
        let csvRows = order.csv.split(separator: "\r\n").dropFirst().map { String($0) }
        for (line, source) in zip(lines, csvRows) {
            let id = String(source.prefix { $0 != "," })
            #expect(line[1][0] as? String == id && line[1][1] as? String == "s")
            #expect(line[4][1] as? String == "s", "the account is text")
            #expect(line[5][1] as? String == "n" && line[5][2] as? String == "#,##0.00", "the amount is a number with two decimals")
        }
        #expect((lines[0][4][0] as? String)?.hasPrefix("00") == true, "the account's leading zeros survive")
        let totalRow = try #require(rows.last)
        #expect(abs(((totalRow[5][0] as? NSNumber)?.doubleValue ?? 0) - Double(order.total) / 100) < 0.001)

        // LibreOffice's converter (no code shared with openpyxl): the names, the file number and the
        // total exactly as in the order file.
        let profile = folder + "/lo-profile"
        let converted = try await onOwnThread { try Shell.run("soffice", [
            "-env:UserInstallation=file://\(profile)", "--headless", "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true",
            "--outdir", folder, xlsx,
        ], environment: ["HOME": folder, "PATH": "/usr/bin:/bin"]) }
        try #require(converted.status == 0, "\(converted.stderr)")
        let sheet = try String(contentsOfFile: folder + "/order.csv", encoding: .utf8)
        for name in Self.names {
            #expect(sheet.contains(name) || sheet.contains(name.replacingOccurrences(of: "\"", with: "\"\"")), "the workbook lacks \(name)")
        }
        #expect(sheet.contains("سارة[U+202E]0001[U+202C] علي[U+200B]"))
        #expect(sheet.contains(order.fileNumber))
        #expect(sheet.contains("\"\(Self.egp(order.total))\""))
    }

    @Test("issue 19: the Arabic review sheet renders right-to-left in headless Chromium; the English one left-to-right")
    func screenshotIsRightToLeft() async throws {
        let daemon = try DaemonProcess(pki: pki, socketGroup: UnixUsers.group)
        try FlowSetup.setUpEntity(socket: daemon.socket, pki: pki)
        let order = try Self.upload(daemon)
        let folder = try Self.outputFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var edges: [String: (Double, Double)] = [:]
        for lang in ["ar", "en"] {
            let html = folder + "/sheet-\(lang).html"
            let export = try UnixUsers.paysign(as: UnixUsers.clerk, ["order", "export", String(order.id), "--format", "html", "--lang", lang, "--out", html, "--socket", daemon.socket])
            try #require(export.status == 0, "\(export.stderr)")
            let png = folder + "/sheet-\(lang).png"
            let shot = try await onOwnThread { try Shell.run("chromium", [
                "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(folder)/chromium-\(lang)", "--hide-scrollbars",
                "--window-size=1000,700", "--screenshot=\(png)", URL(fileURLWithPath: html).absoluteString,
            ], environment: ["HOME": folder, "PATH": "/usr/bin:/bin"]) }
            try #require(FileManager.default.fileExists(atPath: png), "chromium: \(shot.stderr)")
            // The title's ink (the first band of dark pixels from the top): its left and right edges
            // as fractions of the width all the page's ink spans (PIL, Debian's python3-pil).
            let measure = try Shell.run("/usr/bin/python3", ["-c", """
                import sys
                from PIL import Image
                im = Image.open(sys.argv[1]).convert('L'); w, h = im.size; px = im.load()
                ink = [(x, y) for y in range(h) for x in range(w) if px[x, y] < 128]
                left = min(x for x, _ in ink); right = max(x for x, _ in ink)
                top = min(y for _, y in ink)
                band = [x for x, y in ink if y < top + 20]
                print((min(band) - left) / (right - left), (max(band) - left) / (right - left))
                """, png])
            try #require(measure.status == 0, "\(measure.stderr)")
            let parts = measure.stdout.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            try #require(parts.count == 2)
            edges[lang] = (parts[0], parts[1])
        }
        let ar = try #require(edges["ar"]), en = try #require(edges["en"])
        // Arabic: the title hugs the right margin and leaves the left empty; English the reverse.
        #expect(ar.1 > 0.97 && ar.0 > 0.3, "the Arabic title spans \(ar) of the page's width: not right-aligned")
        #expect(en.0 < 0.03 && en.1 < 0.7, "the English title spans \(en) of the page's width: not left-aligned")
    }

    @Test("issue 19: the client speaks Arabic under LANG=ar_EG.UTF-8: a refusal, a usage error, a connection error; a missing PDF engine is one sentence naming the packages, and nothing is written")
    func arabicClientMessages() async throws {
        let daemon = try DaemonProcess(pki: pki, socketGroup: UnixUsers.group)
        try FlowSetup.setUpEntity(socket: daemon.socket, pki: pki)
        let arabic = ["LANG": "ar_EG.UTF-8"]
        let folder = try Self.outputFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let csv = folder + "/one.csv"
        let script = TestPKI.repositoryRoot.appendingPathComponent("scripts/make-payroll.py").path
        try Shell.run("python3", [script, "1", "77"]).stdout.write(toFile: csv, atomically: true, encoding: .utf8)
        chmod(csv, 0o644)

        // A refusal: the reviewer may not upload (D13).
        let refused = try UnixUsers.paysign(as: UnixUsers.reviewer, [
            "order", "create", csv, "--entity", FlowSetup.entity, "--kind", "supplier", "--value-date", FlowSetup.valueDate(), "--socket", daemon.socket,
        ], environment: arabic)
        #expect(refused.status == 1)
        #expect(refused.stderr.hasPrefix("paysign: رُفض الطلب: ليست لك صلاحية هذا الإجراء: "), "\(refused.stderr)")
        #expect(refused.stderr.contains("(القاعدة D13)"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1)

        // A usage error from the argument parser.
        let usage = try UnixUsers.paysign(as: UnixUsers.clerk, ["order", "export", "--socket", daemon.socket], environment: arabic)
        #expect(usage.status == 2)
        #expect(usage.stderr.hasPrefix("paysign: استخدام غير صحيح: "), "\(usage.stderr)")
        #expect(usage.stderr.contains("paysign --help"))

        // A connection error.
        let socket = folder + "/no-daemon.sock"
        let connection = try UnixUsers.paysign(as: UnixUsers.clerk, ["health", "--socket", socket], environment: arabic)
        #expect(connection.status == 2)
        #expect(connection.stderr == "paysign: هل يعمل paysignd؟ لم يوجد المقبس \(socket) (حدده بـ --socket أو PAYSIGN_SOCKET)\n", "\(connection.stderr)")
        // The same in English without LANG.
        let english = try UnixUsers.paysign(as: UnixUsers.clerk, ["health", "--socket", socket])
        #expect(english.stderr == "paysign: is paysignd running? socket \(socket) not found (set --socket or PAYSIGN_SOCKET)\n")

        // No PDF engine on PATH: one sentence, the packages named, no file.
        let pdf = folder + "/none.pdf"
        let missing = try UnixUsers.paysign(as: UnixUsers.clerk, ["order", "export", "1", "--format", "pdf", "--out", pdf, "--socket", daemon.socket], environment: ["PATH": "/nonexistent"])
        #expect(missing.status == 2)
        #expect(missing.stderr == "paysign: making a PDF needs Chromium and qpdf, with the Noto fonts for Arabic: install them with: sudo apt-get install chromium qpdf fonts-noto-core\n", "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: pdf))
        let noPython = try UnixUsers.paysign(as: UnixUsers.clerk, ["order", "export", "1", "--format", "xlsx", "--out", folder + "/none.xlsx", "--socket", daemon.socket], environment: ["PAYSIGN_PYTHON": "/nonexistent/python3"])
        #expect(noPython.status == 2)
        #expect(noPython.stderr.contains("sudo apt-get install python3-openpyxl"), "\(noPython.stderr)")
    }

    @Test("issue 19: a 100,000-line order prints to one PDF in parts, with progress on standard error, each Chromium's memory bounded; the first and last lines and the total are in it")
    func hundredThousandLines() async throws {
        let daemon = try DaemonProcess(pki: pki, socketGroup: UnixUsers.group)
        try FlowSetup.setUpEntity(socket: daemon.socket, pki: pki)
        let script = TestPKI.repositoryRoot.appendingPathComponent("scripts/make-payroll.py").path
        let payroll = try Shell.run("python3", [script, "100000", "4242"])
        try #require(payroll.status == 0)
        let rows = payroll.stdout.split(separator: "\n")
        let total = rows.dropFirst().reduce(Int64(0)) { $0 + Int64($1.split(separator: ",").last!)! }
        let body = Data(payroll.stdout.utf8), socket = daemon.socket
        let upload = try await onOwnThread {
            try UnixUsers.request(
                as: UnixUsers.clerk, socket: socket, "POST", "/v1/orders?entity=\(FlowSetup.entity)&kind=supplier&valueDate=\(FlowSetup.valueDate())",
                body: body, contentType: "text/csv")
        }
        try #require(upload.status == 201, "\(upload.text)")
        let id = try #require((upload.object?["id"] as? NSNumber)?.int64Value)
        let folder = try Self.outputFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let pdf = folder + "/big.pdf"
        let made = try await onOwnThread { try UnixUsers.paysign(as: UnixUsers.clerk, ["order", "export", String(id), "--format", "pdf", "--lang", "ar", "--out", pdf, "--socket", daemon.socket]) }
        try #require(made.status == 0, "\(made.stderr)")
        // Progress: one line per part of 2,000 lines, then what was written.
        let progress = made.stderr.split(separator: "\n")
        #expect(progress.first == "paysign: printing lines 1-2000 of 100000 (part 1 of 50)")
        #expect(progress.contains("paysign: printing lines 98001-100000 of 100000 (part 50 of 50)"))
        let pages = try #require(progress.last.flatMap { line -> Int? in
            guard line.hasPrefix("wrote \(pdf) (") else { return nil }
            return Int(line.split(separator: "(").last!.split(separator: " ").first!)
        })
        let info = try Shell.run("pdfinfo", [pdf]).stdout
        #expect(info.contains("Pages:") && info.contains(" \(pages)\n"), "\(info)")
        let first = try Self.text(ofPDF: pdf, page: 1), last = try Self.text(ofPDF: pdf, page: pages)
        let firstID = String(rows[1].prefix { $0 != "," }), lastID = String(rows[rows.count - 1].prefix { $0 != "," })
        #expect(first.contains(firstID))
        let beforeLast = try Self.text(ofPDF: pdf, page: pages - 1)
        #expect(last.contains(lastID) || beforeLast.contains(lastID))
        #expect(last.contains(Self.egp(total)))
        #expect(last.hasSuffix("صفحة\(pages)من\(pages)"))
    }
}
