import Foundation
import PaysignAPI

/// The request and answer bodies, as swift-openapi-generator makes them from the API's document
/// (`Sources/PaysignAPI/openapi.json`): the same types the daemon uses, no copy kept here.
typealias Wire = Components.Schemas

extension Components.Schemas {
    /// Decodes the daemon's answers: times as ISO 8601, as the daemon writes them.
    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

/// Roles given on the command line, as the document names them; an unknown one is a usage error.
func wireRoles(_ names: [String]) throws -> [Wire.Role] {
    try names.map { name in
        guard let role = Wire.Role(rawValue: name) else {
            throw Failure.usage("unknown role '\(name)'; roles: \(Wire.Role.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return role
    }
}
