import PaysignSecrets

extension Request {
    /// The one decode call for every body that carries PINs (rule D5): each field of `pins` is
    /// taken out of a copy of the body into a `PIN` and overwritten with stars (`PINFields`), the
    /// strict decoder then reads the copy (the PIN fields decode as stars), and the copy is zeroed.
    /// Returns the fields and the PINs together.
    func decode<T: Decodable>(_ type: T.Type, withPINs pins: [String]) throws -> (T, TakenPINs) {
        try requireJSON()
        var copy = self
        defer { copy.body.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) } }
        let taken = try PINFields.take(pins, from: &copy.body)
        // A PIN the document requires and the body lacks: said as such, before the other fields.
        if let missing = pins.first(where: { Contract.schema(of: T.self)?.required.contains($0) == true && taken[$0] == nil }) {
            throw Problem(.invalidField, "the field '\(missing)' is missing: give the token's PIN")
        }
        return (try copy.decode(type), taken)
    }
}

extension Problem {
    /// A body whose PIN fields could not be taken, as the API answers it. The one conversion of
    /// `PINFieldError`.
    init(_ error: PINFieldError) {
        switch error.kind {
        case .invalidJSON: self.init(.invalidJSON, error.message)
        case .invalidField: self.init(.invalidField, error.message)
        }
    }
}
