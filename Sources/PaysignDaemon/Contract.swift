import Foundation
import PaysignAPI
import PaysignDomain

/// The request and answer bodies of the API are the types swift-openapi-generator makes from
/// `Sources/PaysignAPI/openapi.json` (`Components.Schemas.*`): the daemon decodes requests into
/// them and encodes answers from them, the client does the reverse, and neither keeps a copy.
typealias Wire = Components.Schemas

/// What the document says beyond the generated types, read once from the embedded bytes: the
/// properties of each schema, so an unknown field is refused with the list of the allowed ones.
enum Contract {
    /// What the document says of each schema's properties, by schema name.
    struct Schema: Sendable {
        /// The property names, sorted.
        var fields: [String]
        /// The values a property (or the items of an array property) may take, in the document's
        /// order, when it is an enum.
        var values: [String: [String]]
        /// The properties a body must have.
        var required: Set<String>
        /// The rule a property's value enforces (`x-rule`, e.g. a signature's step, D2).
        var rules: [String: RuleNumber]
    }

    static let schemas: [String: Schema] = {
        guard let document = try? JSONSerialization.jsonObject(with: Data(OpenAPIDocument.bytes)) as? [String: Any],
            let components = document["components"] as? [String: Any],
            let all = components["schemas"] as? [String: Any]
        else { return [:] }
        func values(_ schema: [String: Any]) -> [String]? {
            if let values = schema["enum"] as? [String] { return values }
            if let items = schema["items"] as? [String: Any] { return values(items) }
            if let ref = schema["$ref"] as? String, let name = ref.split(separator: "/").last,
                let target = all[String(name)] as? [String: Any]
            {
                return values(target)
            }
            return nil
        }
        var schemas: [String: Schema] = [:]
        for (name, schema) in all {
            guard let properties = (schema as? [String: Any])?["properties"] as? [String: Any] else { continue }
            var enums: [String: [String]] = [:]
            var rules: [String: RuleNumber] = [:]
            for (field, property) in properties {
                guard let property = property as? [String: Any] else { continue }
                if let list = values(property) { enums[field] = list }
                if let rule = (property["x-rule"] as? String).flatMap(RuleNumber.init(rawValue:)) { rules[field] = rule }
            }
            let required = Set((schema as? [String: Any])?["required"] as? [String] ?? [])
            schemas[name] = Schema(fields: properties.keys.sorted(), values: enums, required: required, rules: rules)
        }
        return schemas
    }()

    /// What the document says of the schema `type` was generated from, or nil when the type is
    /// not one of the document's schemas.
    static func schema<T>(of type: T.Type) -> Schema? {
        schemas[String(describing: type)]
    }

    /// `state must be issued or active, not 'revoked'`.
    static func sentence(field: String, values: [String], got value: Any?) -> String {
        let list = values.count == 2 ? "\(values[0]) or \(values[1])" : "one of \(values.joined(separator: ", "))"
        // The caller's value, cut short and without control characters, as QueryParameter quotes one.
        let quoted = (value as? String).map { String(String.UnicodeScalarView($0.unicodeScalars.filter { $0.properties.generalCategory != .control }).prefix(40)) }
        return "\(field) must be \(list)" + (quoted.map { ", not '\($0)'" } ?? "")
    }
}

extension Contract {
    /// A value of one of the document's enums as the domain type with the same values (roles,
    /// token actions, revocation causes); `ContractTests` keeps the two lists equal, and a value
    /// the domain lacks is the daemon's own failure, never a crash.
    static func domain<T: RawRepresentable>(_ value: some RawRepresentable<String>, as type: T.Type = T.self) throws -> T
    where T.RawValue == String {
        guard let domain = T(rawValue: value.rawValue) else {
            throw Problem(.internalError, "the API document's '\(value.rawValue)' is no \(T.self) the daemon knows")
        }
        return domain
    }

    /// A domain value as the document's enum of the same values (the reverse of `domain`).
    static func wire<T: RawRepresentable>(_ value: some RawRepresentable<String>, as type: T.Type = T.self) throws -> T
    where T.RawValue == String {
        guard let wire = T(rawValue: value.rawValue) else {
            throw Problem(.internalError, "the daemon's '\(value.rawValue)' is no \(T.self) of the API document")
        }
        return wire
    }
}

extension Request {
    /// Decodes a JSON body into a schema of the document, strictly: `application/json` only, a JSON
    /// object, no field the schema does not name, one sentence per problem (problem details).
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try requireJSON()
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(body)) } catch {
            throw Problem(.invalidJSON, "the body is not valid JSON")
        }
        guard let dictionary = object as? [String: Any] else {
            throw Problem(.invalidJSON, "the body must be a JSON object")
        }
        // The generated decoder refuses unknown fields too (additionalProperties: false); this
        // says which are allowed.
        let schema = Contract.schema(of: T.self)
        if let allowed = schema?.fields, let field = Set(dictionary.keys).subtracting(allowed).sorted().first {
            throw Problem(.invalidField, "unknown field '\(field)'; allowed: \(allowed.joined(separator: ", "))")
        }
        do { return try JSONDecoder().decode(T.self, from: Data(body)) } catch let DecodingError.keyNotFound(key, _) {
            throw Problem(.invalidField, "the field '\(key.stringValue)' is missing")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw Problem(.invalidField, "the field '\(Self.path(context))' has the wrong type")
        } catch let DecodingError.dataCorrupted(context) {
            // A word that is not one of an enum's: the sentence names the allowed ones.
            if let field = context.codingPath.first?.stringValue, let values = schema?.values[field] {
                var value = dictionary[field]
                if let index = context.codingPath.dropFirst().first?.intValue, let list = value as? [Any], list.indices.contains(index) {
                    value = list[index]
                }
                throw Problem(.invalidField, Contract.sentence(field: field, values: values, got: value), rule: schema?.rules[field])
            }
            throw Problem(.invalidField, "the field '\(Self.path(context))' is invalid: \(context.debugDescription)")
        } catch {
            throw Problem(.invalidJSON, "the body could not be read")
        }
    }

    /// A JSON body is sent as `application/json` (415 otherwise).
    func requireJSON() throws {
        let contentType = headers["content-type"]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard contentType == "application/json" else {
            throw Problem(.unsupportedMediaType, "send the body as application/json (got \(headers["content-type"] ?? "no content type"))")
        }
    }

    private static func path(_ context: DecodingError.Context) -> String {
        context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }
}
