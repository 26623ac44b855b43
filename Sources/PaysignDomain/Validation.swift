/// What is wrong with one field of a registry request: the field's name as the API spells it and
/// one sentence saying why. The registry turns it into its own error; the HTTP edge can turn it
/// into a problem detail that points at the field.
public struct FieldProblem: Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var sentence: String

    public init(field: String, sentence: String) {
        self.field = field
        self.sentence = sentence
    }

    public var description: String { sentence }
}

/// The shape rules for the registry's fields. Pure functions: no I/O, no lookups (whether an
/// entity exists or a user name is taken is the registry's business, in its transaction).
public enum FieldRules {
    /// An Egyptian national ID: exactly 14 ASCII digits (the holder's identity in the PKI; the
    /// certificate's subject `serialNumber` carries the same number).
    public static func nationalID(_ value: String, field: String = "nationalID") -> FieldProblem? {
        let bytes = Array(value.utf8)
        guard bytes.count == 14, bytes.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return FieldProblem(
                field: field, sentence: "The \(field) must be exactly 14 digits (got \(bytes.count) characters).")
        }
        return nil
    }

    /// A Unix user name as the socket's peer credentials will name the caller: 1 to 32 characters
    /// from `A–Z a–z 0–9 . _ -`, not starting with `-`, not all digits (that would read as a uid).
    public static func unixUser(_ value: String, field: String = "unixUser") -> FieldProblem? {
        let bytes = Array(value.utf8)
        let allowed = bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
        guard !bytes.isEmpty else {
            return FieldProblem(field: field, sentence: "The \(field) must not be empty.")
        }
        guard bytes.count <= 32, allowed, bytes.first != UInt8(ascii: "-"),
            !bytes.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else {
            return FieldProblem(
                field: field,
                sentence: "The \(field) '\(printable(value))' is not a Unix user name (1 to 32 of A-Z a-z 0-9 . _ -, "
                    + "not starting with '-', not all digits).")
        }
        return nil
    }

    /// An entity's code (its budget-classification code or any stable short code): 1 to 64
    /// characters from `A–Z a–z 0–9 . _ -`.
    public static func entityCode(_ value: String, field: String = "code") -> FieldProblem? {
        let bytes = Array(value.utf8)
        guard !bytes.isEmpty else {
            return FieldProblem(field: field, sentence: "The \(field) must not be empty.")
        }
        guard bytes.count <= 64,
            bytes.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") })
        else {
            return FieldProblem(
                field: field,
                sentence: "The \(field) '\(printable(value))' must be 1 to 64 of A-Z a-z 0-9 . _ -.")
        }
        return nil
    }

    /// A human-readable text (a person's or an entity's name, a token label): not blank, at most
    /// `maximumLength` characters, no control characters.
    public static func text(_ value: String, field: String, maximumLength: Int = 200) -> FieldProblem? {
        // Fast path (the order-validation profile): printable ASCII that is not all spaces and
        // fits in bytes fits in characters too.
        let utf8 = value.utf8
        if utf8.count <= maximumLength, utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }), utf8.contains(where: { $0 != 0x20 }) {
            return nil
        }
        if value.unicodeScalars.allSatisfy({ $0.properties.isWhitespace }) {
            return FieldProblem(field: field, sentence: "The \(field) must not be empty.")
        }
        if utf8.count > maximumLength, value.count > maximumLength {
            return FieldProblem(
                field: field, sentence: "The \(field) must be at most \(maximumLength) characters (got \(value.count)).")
        }
        // The control category (Cc) is exactly U+0000–001F and U+007F–009F.
        if value.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            return FieldProblem(field: field, sentence: "The \(field) must not contain control characters.")
        }
        return nil
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    /// The value as it may appear inside an error sentence: control characters escaped, cut at 40.
    static func printable(_ value: String) -> String {
        var out = ""
        for scalar in value.unicodeScalars.prefix(40) {
            out += scalar.properties.generalCategory == .control ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return value.unicodeScalars.count > 40 ? out + "…" : out
    }
}
