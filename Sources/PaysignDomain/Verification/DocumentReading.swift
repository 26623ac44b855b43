extension OrderDocument {
    /// `init(parsing:)` on the common path, read byte by byte: the same document for every input
    /// it accepts (a test compares the two), nil for anything unusual, which the caller then hands
    /// to `init(parsing:)` for its verdict and its message. A batch reads thousands of documents,
    /// and building the canonical bytes again as text took an eighth of its time. Also returns the
    /// file number as written, which is its grouped form.
    static func quickParse(_ bytes: [UInt8]) -> (document: OrderDocument, fileNumber: String)? {
        guard version == 1, keys.count == 10, bytes.count <= 4096, bytes.last == 0x0A else { return nil }
        var values: [ArraySlice<UInt8>] = []
        values.reserveCapacity(10)
        var start = 0
        for key in keyBytes {
            guard let end = bytes[start...].firstIndex(of: 0x0A) else { return nil }
            // "key: " then the value; the keys' own bytes are compared in one go.
            let prefix = key.count
            guard end - start >= prefix, Self.sameBytes(bytes, at: start, key) else { return nil }
            values.append(bytes[(start + prefix)..<end])
            start = end + 1
        }
        guard start == bytes.count else { return nil }

        /// A canonical decimal: digits, no leading zero (except "0"), at most 18 digits.
        func count(_ text: ArraySlice<UInt8>, negative allowed: Bool = false) -> Int64? {
            var digits = text
            var sign: Int64 = 1
            if allowed, digits.first == UInt8(ascii: "-") {
                digits = digits.dropFirst()
                sign = -1
            }
            guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                digits.first != 0x30 || digits.count == 1, !(sign == -1 && digits.elementsEqual([0x30]))
            else { return nil }
            return sign * digits.reduce(Int64(0)) { $0 * 10 + Int64($1 - 0x30) }
        }
        guard values[0].elementsEqual("1".utf8),
            let id = count(values[1]), id > 0,
            let entity = Self.text(values[2]),
            let kindText = Self.text(values[3]), let kind = OrderKind(rawValue: kindText),
            let currency = Self.text(values[4]),
            let day = Self.canonicalDay(values[5]),
            values[6].count == 79,
            values[6].enumerated().allSatisfy({ index, byte in
                index % 5 == 4 ? byte == UInt8(ascii: "-") : (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66)
            }),
            let numberText = Self.text(values[6]),
            let hex = SHA256Hex(lowercaseHex: values[6].filter { $0 != UInt8(ascii: "-") }),
            let size = count(values[7]), let lines = count(values[8]),
            let total = count(values[9], negative: true)
        else { return nil }
        let document = OrderDocument(
            orderID: id, metadata: OrderMetadata(entityCode: entity, kind: kind, currency: currency, valueDate: day),
            fileNumber: FileNumber(digest: hex), fileBytes: Int(size), lineCount: Int(lines), totalPiasters: total)
        return (document, numberText)
    }

    /// `YYYY-MM-DD` exactly as `CalendarDay.description` writes it (four, two and two digits, a
    /// day that exists), else nil: what `CalendarDay(iso:)` and a comparison with its
    /// `description` accept, without building strings.
    private static func canonicalDay(_ text: ArraySlice<UInt8>) -> CalendarDay? {
        guard text.count == 10 else { return nil }
        let at = text.startIndex
        guard text[at + 4] == UInt8(ascii: "-"), text[at + 7] == UInt8(ascii: "-") else { return nil }
        func number(_ from: Int, _ digits: Int) -> Int? {
            var value = 0
            for index in (at + from)..<(at + from + digits) {
                let byte = text[index]
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2) else { return nil }
        return CalendarDay(year: year, month: month, day: day)
    }

    /// Each key's bytes followed by ": ", as a line of the canonical form starts.
    private static let keyBytes: [[UInt8]] = keys.map { Array($0.utf8) + [UInt8(ascii: ":"), UInt8(ascii: " ")] }

    private static func sameBytes(_ bytes: [UInt8], at start: Int, _ expected: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { buffer in
            expected.withUnsafeBufferPointer { key in
                var index = 0
                while index < key.count {
                    if buffer[start + index] != key[index] { return false }
                    index += 1
                }
                return true
            }
        }
    }

    /// The bytes as a String when they are UTF-8; ASCII (every value of a canonical document
    /// but the entity, sometimes) needs no further check.
    private static func text(_ bytes: ArraySlice<UInt8>) -> String? {
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        return String(validating: bytes, as: UTF8.self)
    }
}


extension SHA256Hex {
    /// 64 bytes already known to be lowercase hex digits (the caller checked them).
    fileprivate init?(lowercaseHex bytes: [UInt8]) {
        guard bytes.count == 64 else { return nil }
        self.init(String(decoding: bytes, as: UTF8.self))
    }
}
