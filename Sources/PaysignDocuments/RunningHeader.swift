public import PaysignText

/// What every printed page of a document names at its top (the order, the entity, the file
/// number: a page separated from the others still says what it belongs to) and, at its bottom,
/// its page number and the count of pages, so a missing page shows.
///
/// Written as CSS paged-media margin boxes (`@top-center`, `@bottom-center`), which Chromium
/// prints: in the whole sheet itself, and over the joined parts of a long PDF (`overlayHTML`).
public struct RunningHeader: Sendable, Hashable {
    public var orderID: Int64
    public var entityCode: String
    public var fileNumber: String

    public init(orderID: Int64, entityCode: String, fileNumber: String) {
        self.orderID = orderID
        self.entityCode = entityCode
        self.fileNumber = fileNumber
    }

    /// The header's first half as a CSS string (the order and the entity), the entity code
    /// isolated left-to-right (U+2066 … U+2069) so it reads the same in an Arabic line.
    public func cssString(_ words: Words) -> String {
        Self.css(words("print.header", ["order": String(orderID), "entity": "\u{2066}" + VisibleText.plain(entityCode) + "\u{2069}"]))
    }

    /// The header's second half: the file number, isolated left-to-right.
    public func cssFileNumber(_ words: Words) -> String {
        Self.css(words("print.file-number", ["number": "\u{2066}" + fileNumber + "\u{2069}"]))
    }

    /// The margin boxes of one page: the order and entity at the top's start (the right in
    /// Arabic), the file number at its end, "page N of M" at the bottom's centre.
    public func marginBoxes(_ words: Words) -> String {
        let (start, end) = words.language.isRightToLeft ? ("top-right", "top-left") : ("top-left", "top-right")
        return """
            @\(start) { content: \(cssString(words)); font-size: 8pt; }
                @\(end) { content: \(cssFileNumber(words)); font-size: 7.5pt; font-family: "DejaVu Sans Mono", monospace; }
                @bottom-center { content: \(Self.cssPageNumber(words)); font-size: 8pt; }
            """
    }

    /// `"page " counter(page) " of " counter(pages)` in the words' language.
    public static func cssPageNumber(_ words: Words) -> String {
        let template = words("print.page", ["page": "\u{1}", "pages": "\u{2}"])
        var out: [String] = []
        var literal = ""
        for character in template {
            switch character {
            case "\u{1}", "\u{2}":
                if !literal.isEmpty { out.append(css(literal)) }
                literal = ""
                out.append(character == "\u{1}" ? "counter(page)" : "counter(pages)")
            default:
                literal.append(character)
            }
        }
        if !literal.isEmpty { out.append(css(literal)) }
        return out.joined(separator: " ")
    }

    /// A CSS string literal: every ASCII character but letters, digits, space, `-`, `.` and `·`
    /// as a six-digit escape, so nothing in it can end the string or the style element (`</style>`).
    static func css(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            let v = scalar.value
            let plain = (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A)
                || v == 0x20 || v == 0x2D || v == 0x2E || (v > 0x9F && !VisibleText.isHidden(scalar))
                || v == 0x2066 || v == 0x2069
            if plain {
                out.unicodeScalars.append(scalar)
            } else {
                let hex = String(v, radix: 16, uppercase: true)
                out += "\\" + String(repeating: "0", count: max(0, 6 - hex.count)) + hex
            }
        }
        return out + "\""
    }

    /// A page of `pages` empty A4 pages carrying only the running header and page numbers: the
    /// PDF printer lays it over the joined parts of a long document (qpdf `--overlay`).
    public func overlayHTML(pages: Int, words: Words) -> String {
        var h = """
            <!DOCTYPE html>
            <html lang="\(words.language.rawValue)" dir="\(words.language.direction)">
            <head><meta charset="utf-8">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
            <style>
            body { margin: 0; font-family: \(ReviewSheet.fontFamilies); }
            div { height: 10px; break-after: page; }
            div:last-child { break-after: auto; }
            @page { size: A4; margin: \(ReviewSheet.pageMargins);
                \(marginBoxes(words))
            }
            </style></head>
            <body>

            """
        h.reserveCapacity(h.utf8.count + pages * 12)
        for _ in 0..<max(1, pages) { h += "<div></div>\n" }
        h += "</body>\n</html>\n"
        return h
    }
}
