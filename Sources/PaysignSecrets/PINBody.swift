public import Foundation

/// A JSON request body that carries PINs (rule D5): the other fields are encoded as usual, and
/// each PIN's bytes are copied from its locked memory straight into one pre-sized buffer, never
/// into a `String`. The caller wipes the returned data once it is sent (`wipe`).
///
/// `fields` may be a body type generated from the API's document, whose PIN fields are plain
/// strings: it is given with those empty, and they are dropped before the PINs are written.
public enum PINBody {
    public static func json(_ fields: some Encodable, pins: [(field: String, pin: PIN)]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var head = Array(try encoder.encode(fields))
        // Every PIN field of the API's bodies, given or not: one left non-empty is never sent.
        let pinFields = Set(pins.map(\.field)).union(["pin", "oldPin", "newPin"])
        if var object = try? JSONSerialization.jsonObject(with: Data(head)) as? [String: Any], !pinFields.isDisjoint(with: object.keys) {
            for field in pinFields {
                guard let placeholder = object.removeValue(forKey: field) else { continue }
                guard (placeholder as? String)?.isEmpty == true else {
                    throw PINFieldError(.invalidField, "internal error: the PIN field '\(field)' must be empty in the body's other fields")
                }
            }
            head = Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
        }
        guard head.first == UInt8(ascii: "{"), head.last == UInt8(ascii: "}") else {
            throw PINFieldError(.invalidJSON, "internal error: a request body is not a JSON object")
        }
        var out: [UInt8] = []
        // Sized once, so that appending never reallocates and leaves a copy in freed memory.
        out.reserveCapacity(head.count + pins.reduce(0) { $0 + $1.field.utf8.count + 2 * $1.pin.count + 8 })
        defer { wipe(&out) }
        out.append(contentsOf: head.dropLast())
        var first = head.count == 2
        for (field, pin) in pins {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(contentsOf: Array("\"\(field)\":\"".utf8))
            try pin.withUnsafeBytes { bytes in
                for byte in bytes {
                    guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") else {
                        throw PINFieldError(.invalidField, "the PIN holds a character paysignd does not take (only printable ASCII, no quote or backslash)")
                    }
                    out.append(byte)
                }
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        return out.withUnsafeBufferPointer { Data(buffer: $0) }
    }

    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
    }

    public static func wipe(_ data: inout Data) {
        data.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
    }
}
