import Foundation
import PaysignSecrets

/// The bodies of the requests that carry PINs (`PINBody`, in PaysignSecrets with the rest of a
/// PIN's path); a PIN the daemon cannot take is a usage error here.
enum SecretBody {
    static func json(_ fields: some Encodable, pins: [(field: String, pin: PIN)]) throws -> Data {
        do { return try PINBody.json(fields, pins: pins) } catch let error as PINFieldError { throw Failure.usage(error.message) }
    }

    static func wipe(_ data: inout Data) { PINBody.wipe(&data) }
}
