/// Text from outside (a beneficiary's name, an account, an entity's name) as a reviewer must see
/// it: every bidirectional control, zero-width character and other invisible control is shown as
/// a visible mark, `[U+202E]`, instead of acting on the text around it.
///
/// An override (U+202E) can make `1000` read as `0001` and a name read backwards; a zero-width
/// space makes two names that look the same differ. paysign does not refuse them at upload (a
/// name typed with a stray mark from a word processor is still a payment the entity owes): it
/// keeps the file byte for byte, and every document people read (the review sheet in HTML and
/// PDF, the workbook) shows where such a character is. The CSV keeps the file's characters.
public enum VisibleText {
    /// Whether a scalar is shown as a mark: C0 and C1 controls (but TAB), the Arabic letter mark,
    /// the soft hyphen, the combining grapheme joiner, zero-width spaces and joiners, the bidi
    /// marks, embeddings, overrides and isolates, the word joiner and invisible operators, the
    /// byte-order mark, and the interlinear annotation characters.
    public static func isHidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x08, 0x0A...0x1F, 0x7F...0x9F: return true
        case 0x00AD, 0x034F, 0x061C, 0x180E: return true
        case 0x200B...0x200F, 0x2028...0x202E, 0x2060...0x206F: return true
        case 0xFEFF, 0xFFF9...0xFFFB: return true
        default: return false
        }
    }

    /// `[U+202E]`: the mark a hidden scalar is shown as.
    public static func mark(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "[U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex + "]"
    }

    /// Plain text with each hidden scalar replaced by its mark (for the workbook).
    public static func plain(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isHidden) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if isHidden(scalar) { out.append(contentsOf: mark(scalar).unicodeScalars) } else { out.append(scalar) }
        }
        return String(out)
    }

    /// HTML text: escaped, each hidden scalar as `<bdi class="ctl" dir="ltr">U+202E</bdi>`, drawn
    /// in a box by the page's style (isolated, so the mark reads the same in a right-to-left
    /// name; no brackets, which the bidirectional algorithm mirrors and a text extractor moves).
    public static func html(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                if isHidden(scalar) {
                    out += "<bdi class=\"ctl\" dir=\"ltr\">" + mark(scalar).dropFirst().dropLast() + "</bdi>"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
