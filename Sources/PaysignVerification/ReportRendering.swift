public import Foundation
public import PaysignDomain

/// The verification report as text (for people at a terminal), JSON (the documented schema) and
/// HTML (one page per order: each check a green or red line, the signers, their certificates).
public enum ReportRendering {
    /// The report as JSON (schema `paysign-order-verification/1`): keys sorted, absent values as
    /// null, dates ISO 8601 UTC; what `JSONDecoder` with `.iso8601` dates reads back as the
    /// `Codable` `VerificationReport`. Written directly rather than through `JSONEncoder`, which
    /// took a quarter of a batch's time.
    public static func json(_ report: VerificationReport) throws -> Data { Data(jsonBytes(report)) }

    /// What one thread of a batch keeps between its reports: the JSON of each check and
    /// certificate object met, at the depth it was written, to be copied when the same value
    /// (`==`) comes again. Not thread-safe: one per thread.
    public final class RenderMemo {
        struct Rendered<Value: Equatable> {
            var value: Value
            var depth: Int
            var bytes: [UInt8]
        }
        /// By check name (its place in `CheckName.allCases`), a few values each: the order-document
        /// and file-number checks differ per order and pass through.
        var checks: [[Rendered<Check>]] = Array(repeating: [], count: CheckName.allCases.count)
        /// For each check name, how many of its values in a row were not met before; past
        /// `missesBeforeGivingUp` its values are no longer kept (they name the order).
        var checkMisses: [Int] = Array(repeating: 0, count: CheckName.allCases.count)
        static let missesBeforeGivingUp = 8
        var certificates: [Rendered<CertificateFacts>] = []
        var trustedTimes: [Rendered<TrustedTime>] = []
        static let perCheck = 2, certificateCount = 16, trustedTimeCount = 2

        public init() {}

        static func slot(_ name: CheckName) -> Int { CheckName.allCases.firstIndex(of: name) ?? 0 }

        /// Appends to `o` the bytes written before for an equal value at this depth, or writes it
        /// with `write` and keeps the bytes (at most `limit` values; the oldest goes first).
        /// Whether the value was met before.
        @discardableResult
        static func render<Value>(_ value: Value, in table: inout [Rendered<Value>], limit: Int, into o: inout JSONText,
                                  _ write: (inout JSONText) -> Void) -> Bool {
            let depth = o.depth
            let known = table.withUnsafeBufferPointer { entries in
                entries.indices.first { entries[$0].depth == depth && entries[$0].value == value }
            }
            if let known {
                table.withUnsafeBufferPointer { o.append(entries: $0, at: known) }
                return true
            }
            let start = o.count
            write(&o)
            if table.count >= limit { table.removeFirst() }
            table.append(Rendered(value: value, depth: depth, bytes: o.bytes(from: start)))
            return false
        }
    }

    /// `json(_:)` as bytes, without the copy into `Data` (a batch writes them straight to a file).
    /// `memo`: what one thread of a batch keeps between its reports; the bytes are the same.
    public static func jsonBytes(_ report: VerificationReport, memo: RenderMemo? = nil) -> [UInt8] {
        var out = JSONText()
        defer { out.free() }
        func check(_ o: inout JSONText, _ check: Check) {
            func write(_ o: inout JSONText) {
                o.object { o in
                    o.key("name") { $0.string(check.name.rawValue) }
                    o.key("notes") { o in o.array(check.notes) { $0.string($1) } }
                    o.key("reason") { $0.string(check.reason) }
                    o.key("rule") { $0.string(check.rule?.rawValue) }
                    o.key("status") { $0.string(check.status.rawValue) }
                }
            }
            guard let memo else { return write(&o) }
            let slot = RenderMemo.slot(check.name)
            guard memo.checkMisses[slot] < RenderMemo.missesBeforeGivingUp else { return write(&o) }
            let met = RenderMemo.render(check, in: &memo.checks[slot], limit: RenderMemo.perCheck, into: &o, write)
            memo.checkMisses[slot] = met ? 0 : memo.checkMisses[slot] + 1
        }
        func certificate(_ o: inout JSONText, _ c: CertificateFacts) {
            func write(_ o: inout JSONText) {
                o.object { o in
                    o.key("commonName") { $0.string(c.commonName) }
                    o.key("digitalSignature") { $0.bool(c.digitalSignature) }
                    o.key("hasKeyUsage") { $0.bool(c.hasKeyUsage) }
                    o.key("isCA") { $0.bool(c.isCA) }
                    o.key("issuer") { $0.string(c.issuer) }
                    o.key("keyAlgorithm") { $0.string(c.keyAlgorithm) }
                    o.key("keyBits") { $0.number(c.keyBits) }
                    o.key("nationalID") { $0.string(c.nationalID) }
                    o.key("nonRepudiation") { $0.bool(c.nonRepudiation) }
                    o.key("notAfter") { $0.date(c.notAfter) }
                    o.key("notBefore") { $0.date(c.notBefore) }
                    o.key("organization") { $0.string(c.organization) }
                    o.key("organizationIdentifier") { $0.string(c.organizationIdentifier) }
                    o.key("organizationalUnit") { $0.string(c.organizationalUnit) }
                    o.key("serialNumber") { $0.string(c.serialNumber) }
                    o.key("sha256") { $0.string(c.sha256) }
                    o.key("subject") { $0.string(c.subject) }
                }
            }
            guard let memo else { return write(&o) }
            RenderMemo.render(c, in: &memo.certificates, limit: RenderMemo.certificateCount, into: &o, write)
        }
        func trustedTime(_ o: inout JSONText, _ time: TrustedTime) {
            func write(_ o: inout JSONText) {
                o.object { o in
                    o.key("date") { $0.date(time.date) }
                    o.key("note") { $0.string(time.note) }
                    o.key("source") { $0.string(time.source.rawValue) }
                }
            }
            guard let memo else { return write(&o) }
            RenderMemo.render(time, in: &memo.trustedTimes, limit: RenderMemo.trustedTimeCount, into: &o, write)
        }
        out.object(0) { o in
            o.key("checks") { o in o.array(report.checks, check) }
            o.key("document") { o in
                guard let d = report.document else { return o.null() }
                o.object { o in
                    o.key("currency") { $0.string(d.currency) }
                    o.key("entity") { $0.string(d.entity) }
                    o.key("fileBytes") { $0.number(d.fileBytes) }
                    o.key("fileNumber") { $0.string(d.fileNumber) }
                    o.key("kind") { $0.string(d.kind) }
                    o.key("lines") { $0.number(d.lines) }
                    o.key("orderID") { $0.number(d.orderID) }
                    o.key("totalPiasters") { $0.number(d.totalPiasters) }
                    o.key("valueDate") { $0.string(d.valueDate) }
                }
            }
            o.key("order") { $0.string(report.order) }
            o.key("schema") { $0.string(report.schema) }
            o.key("signers") { o in
                o.array(report.signers) { o, signer in
                    o.object { o in
                        o.key("certificate") { o in
                            guard let c = signer.certificate else { return o.null() }
                            certificate(&o, c)
                        }
                        o.key("claimedRole") { $0.string(signer.claimedRole) }
                        o.key("claimedSigningTime") { $0.date(signer.claimedSigningTime) }
                        o.key("position") { o in signer.position.map { o.number($0) } ?? o.null() }
                        o.key("revocation") { $0.string(signer.revocation) }
                        o.key("scheme") { $0.string(signer.scheme) }
                        o.key("signerInfo") { $0.number(signer.signerInfo) }
                        o.key("timeStamp") { o in
                            guard let t = signer.timeStamp else { return o.null() }
                            o.object { o in
                                o.key("accuracySeconds") { o in t.accuracySeconds.map { o.double($0) } ?? o.null() }
                                o.key("genTime") { $0.date(t.genTime) }
                                o.key("hashAlgorithm") { $0.string(t.hashAlgorithm) }
                                o.key("problem") { $0.string(t.problem) }
                                o.key("tsa") { $0.string(t.tsa) }
                                o.key("verified") { $0.bool(t.verified) }
                            }
                        }
                        o.key("trustAnchor") { $0.string(signer.trustAnchor) }
                        o.key("trustedTime") { o in
                            guard let t = signer.trustedTime else { return o.null() }
                            o.object { o in
                                o.key("date") { $0.date(t.date) }
                                o.key("note") { $0.string(t.note) }
                                o.key("source") { $0.string(t.source.rawValue) }
                            }
                        }
                    }
                }
            }
            o.key("trustedTime") { trustedTime(&$0, report.trustedTime) }
            o.key("verdict") { $0.string(report.verdict.rawValue) }
        }
        return out.bytes
    }

    public static func text(_ report: VerificationReport) -> String {
        var out = "\(report.order): \(report.verdict.rawValue.uppercased())\n"
        out += "trusted time  \(iso(report.trustedTime.date)) (\(report.trustedTime.source.rawValue))\n"
        if let note = report.trustedTime.note { out += "              \(note)\n" }
        if let d = report.document {
            out += "order         \(d.orderID), entity \(d.entity), \(d.kind), value date \(d.valueDate), \(d.lines) lines, total \(pounds(d.totalPiasters)) \(d.currency)\n"
            out += "file number   \(d.fileNumber) (\(d.fileBytes) bytes)\n"
        }
        let width = CheckName.offlineChecks.map(\.rawValue.count).max() ?? 0
        for check in report.checks {
            let mark: String
            switch check.status {
            case .pass: mark = "pass"
            case .fail: mark = "FAIL"
            case .indeterminate: mark = "????"
            case .skipped: mark = "skip"
            }
            let name = check.name.rawValue.padding(toLength: width, withPad: " ", startingAt: 0)
            out += "  \(mark)  \(name)  \(check.reason)\(check.rule.map { " [\($0.rawValue)]" } ?? "")\n"
            for note in check.notes { out += "        \(String(repeating: " ", count: width))  note: \(note)\n" }
        }
        if !report.signers.isEmpty { out += "signers\n" }
        for signer in report.signers {
            let order = signer.position.map { "\($0)." } ?? "-"
            out += "  \(order) \(signer.claimedRole ?? "no role")  SignerInfo \(signer.signerInfo)"
            if let c = signer.certificate {
                out += "  \(c.commonName ?? c.subject), national ID \(c.nationalID ?? "none"), \(c.organizationalUnit ?? "no OU"), \(c.organization ?? "no O")\n"
                out += "       certificate serial \(c.serialNumber), issuer \(c.issuer), valid \(iso(c.notBefore)) to \(iso(c.notAfter)), sha256 \(c.sha256)\n"
            } else {
                out += "  (no certificate in the file)\n"
            }
            if let time = signer.claimedSigningTime { out += "       signing time claimed \(iso(time)) (not proof of time)\n" }
            if let revocation = signer.revocation { out += "       revocation: \(revocation)\n" }
            out += signerTime(signer)
        }
        return out
    }

    public static func html(_ report: VerificationReport) -> String {
        func e(_ text: String) -> String {
            var out = ""
            for character in text {
                switch character {
                case "&": out += "&amp;"
                case "<": out += "&lt;"
                case ">": out += "&gt;"
                case "\"": out += "&quot;"
                case "'": out += "&#39;"
                default: out.append(character)
                }
            }
            return out
        }
        let verdictColour = report.verdict == .valid ? "#176b2c" : report.verdict == .invalid ? "#a4161a" : "#9a6700"
        var out = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Verification of \(e(report.order))</title>
            <style>
            body{font-family:sans-serif;margin:2em;max-width:70em}
            .verdict{font-size:1.6em;font-weight:bold;color:\(verdictColour)}
            table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}
            tr.pass td{background:#e6f4ea;color:#0d3d1a}tr.fail td{background:#fce8e6;color:#5c0b0b}
            tr.indeterminate td{background:#fff4e5;color:#5c3b00}tr.skipped td{background:#f1f3f4;color:#3c4043}
            code{font-size:.9em}
            </style></head><body>
            <h1>Payment order verification</h1>
            <p class="verdict">\(e(report.order)): \(report.verdict.rawValue.uppercased())</p>
            <p>Trusted time: \(e(iso(report.trustedTime.date))) (\(e(report.trustedTime.source.rawValue)))\(report.trustedTime.note.map { "<br>" + e($0) } ?? "")</p>

            """
        if let d = report.document {
            out += "<h2>Order</h2><table>"
            let rows: [(String, String)] = [
                ("Order", String(d.orderID)), ("Entity", d.entity), ("Kind", d.kind), ("Value date", d.valueDate),
                ("File number (D9)", d.fileNumber), ("File size", "\(d.fileBytes) bytes"), ("Lines", String(d.lines)),
                ("Total", "\(pounds(d.totalPiasters)) \(d.currency)"),
            ]
            for (key, value) in rows { out += "<tr><th>\(e(key))</th><td><code>\(e(value))</code></td></tr>" }
            out += "</table>\n"
        }
        out += "<h2>Checks</h2><table><tr><th>check</th><th>result</th><th>reason</th></tr>"
        for check in report.checks {
            let notes = check.notes.map { "<br><em>note: " + e($0) + "</em>" }.joined()
            out += "<tr class=\"\(check.status.rawValue)\"><td>\(e(check.name.rawValue))</td><td>\(check.status.rawValue)</td>"
                + "<td>\(e(check.reason))\(check.rule.map { " [" + e($0.rawValue) + "]" } ?? "")\(notes)</td></tr>"
        }
        out += "</table>\n<h2>Signers</h2><table><tr><th>order</th><th>role claimed</th><th>signer</th><th>certificate</th><th>revocation</th></tr>"
        for signer in report.signers {
            var who = "(no certificate in the file)"
            var certificate = ""
            if let c = signer.certificate {
                who = e(c.commonName ?? c.subject) + "<br>national ID " + e(c.nationalID ?? "none") + "<br>" + e(c.organizationalUnit ?? "no OU")
                    + ", " + e(c.organization ?? "no O")
                certificate = "serial <code>\(e(c.serialNumber))</code><br>issuer \(e(c.issuer))<br>valid \(e(iso(c.notBefore))) to \(e(iso(c.notAfter)))<br>SHA-256 <code>\(e(c.sha256))</code>"
            }
            if let time = signer.claimedSigningTime { who += "<br>signing time claimed \(e(iso(time))) (not proof of time)" }
            let judged = signerTime(signer)
            for line in judged.split(separator: "\n") { who += "<br>" + e(line.trimmingCharacters(in: .whitespaces)) }
            out += "<tr><td>\(signer.position.map(String.init) ?? "?")</td><td>\(e(signer.claimedRole ?? "none"))</td><td>\(who)</td><td>\(certificate)</td><td>\(e(signer.revocation ?? ""))</td></tr>"
        }
        out += "</table>\n<p><small>\(e(report.schema))</small></p></body></html>\n"
        return out
    }

    static func iso(_ date: Date) -> String { OrderVerification.iso(date) }

    /// The lines on a signer's own trusted time and time-stamp token (none without a token: the
    /// signer is judged at the report's trusted time).
    static func signerTime(_ signer: SignerReport) -> String {
        guard let stamp = signer.timeStamp else { return "" }
        var out = ""
        if stamp.verified {
            out += "       time-stamp    verified, genTime \(stamp.genTime.map(iso) ?? "unknown") by \(stamp.tsa ?? "an unnamed TSA")\n"
        } else {
            out += "       time-stamp    NOT VERIFIED: \(stamp.problem ?? "unknown reason")\n"
        }
        if let time = signer.trustedTime {
            out += "       trusted time  \(iso(time.date)) (\(time.source.rawValue))\(time.note.map { ": " + $0 } ?? "")\n"
        }
        return out
    }

    static func pounds(_ piasters: Int64) -> String {
        let sign = piasters < 0 ? "-" : ""
        let magnitude = piasters.magnitude
        let whole = magnitude / 100, rest = magnitude % 100
        var digits = String(whole)
        var grouped = ""
        while digits.count > 3 {
            grouped = "," + digits.suffix(3) + grouped
            digits.removeLast(3)
        }
        return sign + digits + grouped + "." + (rest < 10 ? "0" : "") + String(rest)
    }
}

/// A small pretty-printing JSON writer (two-space indent, keys in the order written), into a
/// buffer of its own: a batch writes a report of a few kilobytes per order, and appending to a
/// `[UInt8]` byte by byte (a uniqueness check and a capacity check per byte) cost more than the
/// verification's own work. Call `bytes` for the result and `free()` once done.
struct JSONText {
    private var storage: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private(set) var count = 0
    private(set) var depth = 0
    /// Bit `d`: the object at depth `d` already holds a key (so the next one needs a comma).
    private var nonEmpty: UInt64 = 0

    init(capacity: Int = 8192) {
        self.capacity = capacity
        storage = .allocate(capacity: capacity)
    }

    func free() { storage.deallocate() }

    var bytes: [UInt8] { Array(UnsafeBufferPointer(start: storage, count: count)) }
    /// What was written since `start` (a `count` read before).
    func bytes(from start: Int) -> [UInt8] { Array(UnsafeBufferPointer(start: storage + start, count: count - start)) }

    /// Bytes written before, at the same depth, for a value: copied as they are.
    mutating func append<Value>(entries: UnsafeBufferPointer<ReportRendering.RenderMemo.Rendered<Value>>, at index: Int) {
        entries[index].bytes.withUnsafeBufferPointer { append($0) }
    }
    var text: String { String(decoding: UnsafeBufferPointer(start: storage, count: count), as: UTF8.self) }

    private mutating func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        let grown = max(capacity * 2, count + extra)
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: grown)
        bigger.update(from: storage, count: count)
        storage.deallocate()
        storage = bigger
        capacity = grown
    }

    private mutating func byte(_ value: UInt8) {
        reserve(1)
        storage[count] = value
        count += 1
    }

    private mutating func append(_ buffer: UnsafeBufferPointer<UInt8>) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        reserve(buffer.count)
        (storage + count).update(from: base, count: buffer.count)
        count += buffer.count
    }

    private mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { append($0) }
    }

    private mutating func newline() {
        let spaces = 2 * depth
        reserve(1 + spaces)
        storage[count] = 0x0A
        (storage + count + 1).initialize(repeating: 0x20, count: spaces)
        count += 1 + spaces
    }

    mutating func object(_ initialDepth: Int = -1, _ body: (inout JSONText) -> Void) {
        byte(UInt8(ascii: "{"))
        depth += 1
        precondition(depth < 64, "JSON nested too deep")
        nonEmpty &= ~(1 << UInt64(depth))
        body(&self)
        let empty = nonEmpty & (1 << UInt64(depth)) == 0
        depth -= 1
        if !empty { newline() }
        byte(UInt8(ascii: "}"))
    }

    private mutating func startKey() {
        let bit: UInt64 = 1 << UInt64(depth)
        if nonEmpty & bit != 0 { byte(UInt8(ascii: ",")) }
        nonEmpty |= bit
        newline()
    }

    mutating func key(_ name: StaticString, _ value: (inout JSONText) -> Void) {
        startKey()
        byte(UInt8(ascii: "\""))
        raw(name)
        raw("\" : ")
        value(&self)
    }

    /// A key that is not a literal (a check name in a table), escaped as a string is.
    mutating func key(dynamic name: String, _ value: (inout JSONText) -> Void) {
        startKey()
        string(name)
        raw(" : ")
        value(&self)
    }

    mutating func array<Element>(_ elements: [Element], _ body: (inout JSONText, Element) -> Void) {
        byte(UInt8(ascii: "["))
        guard !elements.isEmpty else { return byte(UInt8(ascii: "]")) }
        depth += 1
        for (index, element) in elements.enumerated() {
            if index > 0 { byte(UInt8(ascii: ",")) }
            newline()
            body(&self, element)
        }
        depth -= 1
        newline()
        byte(UInt8(ascii: "]"))
    }

    mutating func null() { raw("null") }
    mutating func bool(_ value: Bool) { value ? raw("true") : raw("false") }

    mutating func number<N: BinaryInteger>(_ value: N) {
        guard let small = Int64(exactly: value), small != .min else {
            var text = String(value)
            return text.withUTF8 { append($0) }
        }
        // Decimal digits written backwards into a small buffer, then copied.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var magnitude = small.magnitude
            var position = 20
            repeat {
                position -= 1
                digits[position] = UInt8(truncatingIfNeeded: 0x30 + magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if small < 0 { byte(UInt8(ascii: "-")) }
            append(UnsafeBufferPointer(rebasing: digits[position...]))
        }
    }

    /// As `JSONEncoder` writes a Double: no `.0` on a whole number; 0 for what JSON cannot hold.
    mutating func double(_ value: Double) {
        guard value.isFinite else { return raw("0") }
        if value == value.rounded(), value.magnitude < 1e15 { return number(Int64(value)) }
        var text = "\(value)"
        text.withUTF8 { append($0) }
    }

    mutating func date(_ value: Date?) {
        guard let value else { return null() }
        string(OrderVerification.iso(value))
    }

    /// Whether any byte is a control character, a quote or a backslash: eight bytes at a time.
    static func needsEscape(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = utf8.baseAddress else { return false }
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        func hasZero(_ word: UInt64) -> Bool { (word &- ones) & ~word & highs != 0 }
        var index = 0
        while index + 8 <= utf8.count {
            let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
            // A byte below 0x20 (high bit clear, and below 0x20), a 0x22 or a 0x5C in the word.
            let below = (word &- 0x2020_2020_2020_2020) & ~word & highs
            if below != 0 || hasZero(word ^ 0x2222_2222_2222_2222) || hasZero(word ^ 0x5C5C_5C5C_5C5C_5C5C) { return true }
            index += 8
        }
        while index < utf8.count {
            let byte = base[index]
            if byte < 0x20 || byte == 0x22 || byte == 0x5C { return true }
            index += 1
        }
        return false
    }

    mutating func string(_ value: String?) {
        guard var value else { return null() }
        byte(UInt8(ascii: "\""))
        value.withUTF8 { utf8 in
            // Most strings need no escape: copied at once.
            if !Self.needsEscape(utf8) { return append(utf8) }
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\""): raw("\\\"")
                case UInt8(ascii: "\\"): raw("\\\\")
                case 0x0A: raw("\\n")
                case 0x0D: raw("\\r")
                case 0x09: raw("\\t")
                case 0..<0x20:
                    raw("\\u00")
                    let digits: StaticString = "0123456789abcdef"
                    self.byte(digits.utf8Start[Int(byte >> 4)])
                    self.byte(digits.utf8Start[Int(byte & 0x0F)])
                default: self.byte(byte)
                }
            }
        }
        byte(UInt8(ascii: "\""))
    }
}
