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
        for key in keys {
            guard let end = bytes[start...].firstIndex(of: 0x0A) else { return nil }
            let line = bytes[start..<end]
            let prefix = key.utf8.count + 2
            guard line.count >= prefix, line.prefix(key.utf8.count).elementsEqual(key.utf8),
                line[line.startIndex + key.utf8.count] == UInt8(ascii: ":"),
                line[line.startIndex + key.utf8.count + 1] == UInt8(ascii: " ")
            else { return nil }
            values.append(line.dropFirst(prefix))
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
            let entity = String(validating: values[2], as: UTF8.self),
            let kindText = String(validating: values[3], as: UTF8.self), let kind = OrderKind(rawValue: kindText),
            let currency = String(validating: values[4], as: UTF8.self),
            let dayText = String(validating: values[5], as: UTF8.self), let day = CalendarDay(iso: dayText),
            day.description == dayText,
            values[6].count == 79,
            values[6].enumerated().allSatisfy({ index, byte in
                index % 5 == 4 ? byte == UInt8(ascii: "-") : (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66)
            }),
            let numberText = String(validating: values[6], as: UTF8.self), let number = FileNumber(numberText),
            let size = count(values[7]), let lines = count(values[8]),
            let total = count(values[9], negative: true)
        else { return nil }
        let document = OrderDocument(
            orderID: id, metadata: OrderMetadata(entityCode: entity, kind: kind, currency: currency, valueDate: day),
            fileNumber: number, fileBytes: Int(size), lineCount: Int(lines), totalPiasters: total)
        return (document, numberText)
    }
}

