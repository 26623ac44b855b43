public import Foundation
public import PaysignDocuments
public import PaysignText

/// Prints paysign's HTML documents to PDF with Chromium's headless printing, the engine that
/// shapes Arabic as a browser shows it (HarfBuzz, the same layout as the page on screen), then
/// joins the parts and stamps every page's running header and page number with qpdf.
///
/// A long document is printed in parts (a part of the review sheet holds at most
/// `linesPerPart` lines): Chromium lays out a whole document in memory, and one of 100,000 lines
/// did not finish at all; parts keep each Chromium near a third of a gigabyte (325 MB for 2,000 lines) and let the caller show
/// progress. The parts are joined (`qpdf --empty --pages`), counted, and overlaid with pages that
/// carry only the order, the entity and the file number at the top and "page N of M" at the
/// bottom (`RunningHeader.overlayHTML`, printed by Chromium too), so the numbering runs across
/// the parts.
///
/// Chromium runs with `--no-sandbox` (its sandbox needs user namespaces or a setuid helper that a
/// locked-down workstation may not give); what it loads is paysign's own page, every value in it
/// escaped, with a Content-Security-Policy that forbids scripts and every fetch, from a private
/// folder, with a profile of its own that is thrown away.
public struct PDFPrinter: Sendable {
    let chromium: ExternalProgram
    let qpdf: ExternalProgram

    /// The lines of the review sheet in one printed part.
    public static let linesPerPart = 2_000

    /// What to install when an engine is missing, as one sentence.
    public static let installSentence =
        "making a PDF needs Chromium and qpdf, with the Noto fonts for Arabic: install them with: sudo apt-get install chromium qpdf fonts-noto-core"

    /// Finds the engines (`PAYSIGN_CHROMIUM` names another Chromium or Chrome), or says what to install.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let names = [environment["PAYSIGN_CHROMIUM"]].compactMap { $0 } + ["chromium", "chromium-browser", "google-chrome"]
        guard let chromium = ExternalProgram.find(names, environment: environment),
            let qpdf = ExternalProgram.find(["qpdf"], environment: environment)
        else { throw PrintingError(Self.installSentence) }
        self.chromium = chromium
        self.qpdf = qpdf
    }

    /// Prints `parts` HTML pages (`html(k)` for k in 0..<parts) as one PDF at `output` (written
    /// beside it and renamed: a reader never sees half a file), with `header` and the page
    /// numbers on every page. `progress(k, parts)` before each part. The number of pages.
    @discardableResult
    public func print(parts: Int, html: (Int) throws -> String, header: RunningHeader, words: Words, to output: String,
                      progress: (Int, Int) -> Void = { _, _ in }) throws -> Int {
        let work = try WorkFolder()
        var pdfs: [String] = []
        for k in 0..<max(1, parts) {
            progress(k, parts)
            let page = work.file("part-\(k).html")
            try write(try html(k), to: page)
            let pdf = work.file("part-\(k).pdf")
            try printPage(page, to: pdf, in: work)
            try? FileManager.default.removeItem(atPath: page)
            pdfs.append(pdf)
        }
        let joined: String
        if pdfs.count == 1 {
            joined = pdfs[0]
        } else {
            joined = work.file("joined.pdf")
            try runQPDF(["--empty", "--pages"] + pdfs + ["--", joined])
            for pdf in pdfs { try? FileManager.default.removeItem(atPath: pdf) }
        }
        let count = try pageCount(joined)
        let overlayPage = work.file("overlay.html")
        try write(header.overlayHTML(pages: count, words: words), to: overlayPage)
        let overlay = work.file("overlay.pdf")
        try printPage(overlayPage, to: overlay, in: work)
        let overlaid = try pageCount(overlay)
        guard overlaid == count else {
            throw PrintingError("the page numbers came out on \(overlaid) pages for a document of \(count); nothing was written")
        }
        try replacing(output) { temporary in try runQPDF([joined, "--overlay", overlay, "--", temporary]) }
        return count
    }

    func write(_ text: String, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw PrintingError("cannot write a page to \(path)")
        }
    }

    func printPage(_ page: String, to pdf: String, in work: WorkFolder) throws {
        let profile = work.file("profile")
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = work.path
        environment["XDG_CONFIG_HOME"] = work.path
        environment["XDG_CACHE_HOME"] = work.path
        let outcome = try chromium.run(
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-sync", "--disable-dev-shm-usage",
                "--user-data-dir=\(profile)", "--no-pdf-header-footer", "--print-to-pdf=\(pdf)",
                URL(fileURLWithPath: page).absoluteString,
            ], environment: environment, timeout: 600)
        guard outcome.status == 0, FileManager.default.fileExists(atPath: pdf) else {
            let last = outcome.errors.split(separator: "\n").last { !$0.contains("dbus") }.map { ": \($0)" } ?? ""
            throw PrintingError("Chromium could not print the page (status \(outcome.status))\(last)")
        }
    }

    func runQPDF(_ arguments: [String]) throws {
        let outcome = try qpdf.run(arguments, timeout: 600)
        // qpdf: 0 done, 3 done with warnings.
        guard outcome.status == 0 || outcome.status == 3 else {
            throw PrintingError("qpdf could not join the pages: \(outcome.errors.split(separator: "\n").first ?? "status \(outcome.status)")")
        }
    }

    func pageCount(_ pdf: String) throws -> Int {
        let outcome = try qpdf.run(["--show-npages", pdf], timeout: 120)
        guard outcome.status == 0, let count = Int(outcome.output.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw PrintingError("qpdf could not count the pages of \(pdf)")
        }
        return count
    }
}
