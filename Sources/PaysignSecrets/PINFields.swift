/// The PINs a request body carried, by field name, each in a `PIN` (`Request.decode(_:withPINs:)`).
public struct TakenPINs: Sendable {
    private var values: [String: PIN] = [:]

    init(_ values: [String: PIN]) { self.values = values }

    /// The PIN of `field`, nil when the body had none (or `null`).
    public subscript(field: String) -> PIN? { values[field] }

    /// The PIN of `field`, or `missing` as the error when the body had none.
    public func required(_ field: String, _ missing: @autoclosure () -> String) throws(PINFieldError) -> PIN {
        guard let pin = values[field] else { throw PINFieldError(.invalidField, missing()) }
        return pin
    }
}

/// Why a body's PIN fields could not be taken: the body is not JSON this scanner can follow
/// (`invalidJSON`), or a PIN field is not a PIN (`invalidField`). One sentence; never the PIN.
public struct PINFieldError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        case invalidJSON
        case invalidField
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// Takes PINs out of a JSON request body before anything else reads it (rule D5).
///
/// A JSON decoder would copy a PIN into `String`s and dictionaries that are freed without being
/// wiped. Instead the PIN's bytes are copied once, straight from the body into a `PIN` (locked,
/// wiped memory), and overwritten in the body with `*`, so the decoder that runs afterwards sees
/// only stars. The HTTP server zeroes the body itself once the request is answered.
///
/// Only top-level fields of the object are looked at, and a PIN must be a plain JSON string
/// (no backslash escapes): PINs are digits or printable ASCII.
public enum PINFields {
    /// Takes each field of `fields` out of `body` into a `PIN` (the body keeps its length; the
    /// PINs' bytes become `*`): what a decoder reads afterwards holds no PIN.
    public static func take(_ fields: [String], from body: inout [UInt8]) throws(PINFieldError) -> TakenPINs {
        var taken: [String: PIN] = [:]
        for field in fields {
            if let pin = try takePIN(field, from: &body) { taken[field] = pin }
        }
        return TakenPINs(taken)
    }

    /// The PIN in `field`, or nil when the body has no such field (or `null`). The body keeps its
    /// length; the PIN's bytes become `*`.
    public static func takePIN(_ field: String, from body: inout [UInt8]) throws(PINFieldError) -> PIN? {
        guard let range = try valueRange(of: field, in: body) else { return nil }
        guard !range.isEmpty else { throw PINFieldError(.invalidField, "the field '\(field)' is empty; give the PIN") }
        guard range.count <= 64 else { throw PINFieldError(.invalidField, "the field '\(field)' is longer than any PIN (64 bytes)") }
        guard body[range].allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") }) else {
            for index in range { body[index] = UInt8(ascii: "*") }
            throw PINFieldError(.invalidField, "the field '\(field)' must be printable ASCII without escapes")
        }
        let pin = PIN(body[range])
        for index in range { body[index] = UInt8(ascii: "*") }
        return pin
    }

    /// The byte range of the string value of top-level `field` (without quotes); nil when absent
    /// or null.
    ///
    /// The whole top-level object is scanned, and anything this scanner cannot follow is refused
    /// rather than passed on: the JSON decoder that runs next must never see a PIN this function
    /// missed (rule D5). So a body that is not a plain UTF-8 object (a byte-order mark, UTF-16,
    /// an array), a field name written with escapes (`"p\u0069n"` decodes to `pin`), the field
    /// twice (the decoder keeps the last one), or structure the scanner cannot follow is a
    /// problem, not "no PIN". Errors the scanner does not need to see (a misspelled literal) are
    /// left to the decoder.
    static func valueRange(of field: String, in body: [UInt8]) throws(PINFieldError) -> Range<Int>? {
        func malformed() -> PINFieldError { PINFieldError(.invalidJSON, "the body is not a JSON object in UTF-8") }
        var scanner = Scanner(bytes: body)
        scanner.skipSpace()
        guard scanner.take(UInt8(ascii: "{")) else { throw malformed() }
        let wanted = Array(field.utf8)
        var found: Range<Int>?? = nil
        scanner.skipSpace()
        if scanner.take(UInt8(ascii: "}")) { return nil }
        while true {
            scanner.skipSpace()
            guard let key = scanner.string() else { throw malformed() }
            if body[key].contains(UInt8(ascii: "\\")) {
                throw PINFieldError(.invalidJSON, "a field name is written with escapes; write field names as plain text")
            }
            // Every field name of the API is ASCII. One with other characters could hide the PIN's
            // name behind an invisible one (U+FEFF before "pin") from this scan but not from every
            // JSON reader: refused.
            if body[key].contains(where: { $0 >= 0x80 }) {
                throw PINFieldError(.invalidJSON, "a field name holds characters other than ASCII; the API's field names are ASCII")
            }
            scanner.skipSpace()
            guard scanner.take(UInt8(ascii: ":")) else { throw malformed() }
            scanner.skipSpace()
            if body[key].elementsEqual(wanted) {
                guard found == nil else { throw PINFieldError(.invalidField, "the field '\(field)' appears twice") }
                if scanner.peek == UInt8(ascii: "n") {
                    guard scanner.skipValue() else { throw malformed() }
                    found = .some(nil)
                } else {
                    guard scanner.peek == UInt8(ascii: "\"") else {
                        throw PINFieldError(.invalidField, "the field '\(field)' has the wrong type; give the PIN as a string")
                    }
                    guard let range = scanner.string() else { throw malformed() }
                    found = .some(range)
                }
            } else {
                guard scanner.skipValue() else { throw malformed() }
            }
            scanner.skipSpace()
            if scanner.take(UInt8(ascii: ",")) { continue }
            guard scanner.take(UInt8(ascii: "}")) else { throw malformed() }
            return found ?? nil
        }
    }

    struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipSpace() {
            while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard peek == byte else { return false }
            index += 1
            return true
        }

        /// A string starting at the current quote: the range of its raw bytes between the quotes.
        mutating func string() -> Range<Int>? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while let byte = peek {
                if byte == UInt8(ascii: "\\") {
                    index += 2
                    continue
                }
                if byte == UInt8(ascii: "\"") {
                    defer { index += 1 }
                    return start..<index
                }
                index += 1
            }
            return nil
        }

        /// Skips any JSON value (nested objects and arrays by depth, strings by their quotes).
        mutating func skipValue() -> Bool {
            guard let first = peek else { return false }
            if first == UInt8(ascii: "\"") { return string() != nil }
            if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
                var depth = 0
                while let byte = peek {
                    if byte == UInt8(ascii: "\"") {
                        guard string() != nil else { return false }
                        continue
                    }
                    if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") { depth += 1 }
                    if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") { depth -= 1 }
                    index += 1
                    if depth == 0 { return true }
                }
                return false
            }
            while let byte = peek, byte != UInt8(ascii: ","), byte != UInt8(ascii: "}"), byte != UInt8(ascii: "]"),
                byte != 0x20, byte != 0x0A, byte != 0x0D, byte != 0x09
            {
                index += 1
            }
            return true
        }
    }
}
