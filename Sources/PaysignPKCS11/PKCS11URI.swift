/// A PKCS#11 URI (RFC 7512): how paysign names tokens, keys and certificates, never by slot id.
///
/// ```
/// pk11-URI  = "pkcs11:" pk11-path [ "?" pk11-query ]
/// pk11-path = [ pk11-pattr *(";" pk11-pattr) ]
/// pk11-pattr = pk11-token / pk11-manuf / pk11-serial / pk11-model / pk11-lib-manuf /
///              pk11-lib-ver / pk11-lib-desc / pk11-object / pk11-type / pk11-id /
///              pk11-slot-desc / pk11-slot-manuf / pk11-slot-id / pk11-v-pattr
/// pk11-query = [ pk11-qattr *("&" pk11-qattr) ]
/// pk11-qattr = pk11-pin-source / pk11-pin-value / pk11-module-name / pk11-module-path / pk11-v-qattr
/// ```
///
/// Attributes absent from the URI match anything. `pin-value` and `pin-source` are parsed but
/// refused by paysign's commands: a PIN never travels inside a name (rule D5).
public struct PKCS11URI: Hashable, Sendable, CustomStringConvertible, Codable {
    // Path attributes.
    public var token: String?
    public var manufacturer: String?
    public var serial: String?
    public var model: String?
    public var libraryManufacturer: String?
    public var libraryDescription: String?
    public var libraryVersion: String?
    public var object: String?
    public var type: ObjectClass?
    public var id: [UInt8]?
    public var slotDescription: String?
    public var slotManufacturer: String?
    public var slotID: UInt?
    /// Vendor attributes (`x-…`), kept in order, printed back unchanged.
    public var vendorPath: [(String, String)] = []

    // Query attributes.
    public var pinSource: String?
    public var pinValue: String?
    public var moduleName: String?
    public var modulePath: String?
    public var vendorQuery: [(String, String)] = []

    public init() {}

    /// Parses a URI; throws `PKCS11Error` with code `.invalidURI` naming what is wrong.
    public init(_ text: String) throws {
        let scheme = "pkcs11:"
        guard text.count >= scheme.count, text.prefix(scheme.count).lowercased() == scheme else {
            throw Self.invalid("'\(Self.abbreviate(Self.beforeQuery(text)))' is not a PKCS#11 URI: it must start with 'pkcs11:'")
        }
        let rest = text.dropFirst(scheme.count)
        let pathPart: Substring
        let queryPart: Substring?
        if let q = rest.firstIndex(of: "?") {
            pathPart = rest[..<q]
            queryPart = rest[rest.index(after: q)...]
        } else {
            pathPart = rest
            queryPart = nil
        }
        if rest.contains("#") { throw Self.invalid("a PKCS#11 URI has no fragment ('#')") }

        var seen = Set<String>()
        for attribute in pathPart.split(separator: ";", omittingEmptySubsequences: false) where !attribute.isEmpty {
            let (name, rawValue) = try Self.splitAttribute(attribute)
            guard seen.insert(name).inserted else { throw Self.invalid("the attribute '\(name)' appears twice") }
            let bytes = try Self.percentDecode(rawValue, attribute: name)
            func text() throws -> String {
                guard let s = String(validating: bytes, as: UTF8.self) else {
                    throw Self.invalid("the value of '\(name)' is not UTF-8")
                }
                return s
            }
            switch name {
            case "token": token = try text()
            case "manufacturer": manufacturer = try text()
            case "serial": serial = try text()
            case "model": model = try text()
            case "library-manufacturer": libraryManufacturer = try text()
            case "library-description": libraryDescription = try text()
            case "library-version":
                let v = try text()
                guard v.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({ UInt8($0) != nil }),
                    (1...2).contains(v.split(separator: ".").count)
                else { throw Self.invalid("library-version must be M or M.N, not '\(v)'") }
                libraryVersion = v
            case "object": object = try text()
            case "type":
                let t = try text()
                switch t {
                case "cert": type = .certificate
                case "public": type = .publicKey
                case "private": type = .privateKey
                case "secret-key", "data":
                    throw Self.invalid("type=\(t) objects cannot sign; use type=private or type=cert")
                default: throw Self.invalid("type must be cert, public or private, not '\(t)'")
                }
            case "id": id = bytes
            case "slot-description": slotDescription = try text()
            case "slot-manufacturer": slotManufacturer = try text()
            case "slot-id":
                guard let n = UInt(try text()) else { throw Self.invalid("slot-id must be a decimal number") }
                slotID = n
            default:
                guard name.hasPrefix("x-") else {
                    throw Self.invalid("unknown path attribute '\(name)' (RFC 7512 names token, manufacturer, serial, model, object, type, id, slot-description, …)")
                }
                vendorPath.append((name, try text()))
            }
        }
        if let queryPart {
            var seenQuery = Set<String>()
            for attribute in queryPart.split(separator: "&", omittingEmptySubsequences: false) where !attribute.isEmpty {
                let (name, rawValue) = try Self.splitAttribute(attribute)
                guard seenQuery.insert(name).inserted else {
                    throw Self.invalid("the query attribute '\(name)' appears twice")
                }
                let bytes = try Self.percentDecode(rawValue, attribute: name)
                guard let value = String(validating: bytes, as: UTF8.self) else {
                    throw Self.invalid("the value of '\(name)' is not UTF-8")
                }
                switch name {
                case "pin-source": pinSource = value
                case "pin-value": pinValue = value
                case "module-name": moduleName = value
                case "module-path": modulePath = value
                default:
                    guard name.hasPrefix("x-") else {
                        throw Self.invalid("unknown query attribute '\(name)' (RFC 7512 names pin-source, pin-value, module-name, module-path)")
                    }
                    vendorQuery.append((name, value))
                }
            }
        }
    }

    /// The canonical text: path attributes in RFC 7512 order, values percent-encoded, `id` always
    /// fully encoded, and `pin-value` left out so that a printed URI never shows a PIN.
    public var description: String {
        var path: [String] = []
        func add(_ name: String, _ value: String?) {
            if let value { path.append(name + "=" + Self.percentEncode(Array(value.utf8))) }
        }
        add("library-manufacturer", libraryManufacturer)
        add("library-description", libraryDescription)
        add("library-version", libraryVersion)
        add("slot-manufacturer", slotManufacturer)
        add("slot-description", slotDescription)
        if let slotID { path.append("slot-id=\(slotID)") }
        add("model", model)
        add("manufacturer", manufacturer)
        add("serial", serial)
        add("token", token)
        if let id { path.append("id=" + id.map { Self.hexByte($0) }.joined()) }
        add("object", object)
        add("type", type?.rawValue)
        for (name, value) in vendorPath { add(name, value) }
        var query: [String] = []
        func addQuery(_ name: String, _ value: String?) {
            if let value { query.append(name + "=" + Self.percentEncode(Array(value.utf8), query: true)) }
        }
        addQuery("pin-source", pinSource)
        addQuery("module-name", moduleName)
        addQuery("module-path", modulePath)
        for (name, value) in vendorQuery { addQuery(name, value) }
        return "pkcs11:" + path.joined(separator: ";") + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    // MARK: Matching (RFC 7512 section 6: an attribute absent from the URI matches anything).

    public func matches(module: ModuleInfo) -> Bool {
        if let libraryManufacturer, libraryManufacturer != module.libraryManufacturer { return false }
        if let libraryDescription, libraryDescription != module.libraryDescription { return false }
        if let libraryVersion {
            let wanted = libraryVersion.contains(".") ? libraryVersion : libraryVersion + ".0"
            if wanted != module.libraryVersion { return false }
        }
        if let moduleName, moduleName != module.name { return false }
        if let modulePath, modulePath != module.path { return false }
        return true
    }

    public func matches(slot: SlotInfo) -> Bool {
        if let slotDescription, slotDescription != slot.slotDescription { return false }
        if let slotManufacturer, slotManufacturer != slot.manufacturer { return false }
        return true
    }

    public func matches(token info: TokenInfo) -> Bool {
        if let token, token != info.label { return false }
        if let manufacturer, manufacturer != info.manufacturer { return false }
        if let serial, serial != info.serialNumber { return false }
        if let model, model != info.model { return false }
        return true
    }

    public func matches(object info: ObjectInfo) -> Bool {
        if let object, object != info.label { return false }
        if let type, type != info.objectClass { return false }
        if let id, id != info.id { return false }
        return true
    }

    /// True when the URI names a token (some token attribute is present).
    public var namesToken: Bool { token != nil || serial != nil || model != nil || manufacturer != nil }

    /// A URI for exactly this token: model, manufacturer, serial and label.
    public static func token(_ info: TokenInfo) -> PKCS11URI {
        var uri = PKCS11URI()
        uri.model = info.model
        uri.manufacturer = info.manufacturer
        uri.serial = info.serialNumber
        uri.token = info.label
        return uri
    }

    /// This token URI narrowed to one object.
    public func object(_ info: ObjectInfo) -> PKCS11URI {
        var uri = self
        uri.id = info.id.isEmpty ? nil : info.id
        uri.object = info.label.isEmpty ? nil : info.label
        uri.type = info.objectClass
        return uri
    }

    // MARK: Coding as text.

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public static func == (a: PKCS11URI, b: PKCS11URI) -> Bool { a.description == b.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    // MARK: Helpers.

    private static func invalid(_ message: String) -> PKCS11Error {
        PKCS11Error(.invalidURI, "invalid PKCS#11 URI: " + message)
    }

    /// The part of a text before any query (`?`): what an error may quote, since a query can
    /// hold a PIN (`pin-value`) that must never be echoed (rule D5).
    private static func beforeQuery(_ text: String) -> String {
        text.firstIndex(of: "?").map { String(text[..<$0]) + "?…" } ?? text
    }

    private static func abbreviate(_ text: String) -> String {
        text.count > 40 ? String(text.prefix(40)) + "…" : text
    }

    private static func splitAttribute(_ attribute: Substring) throws -> (String, Substring) {
        guard let eq = attribute.firstIndex(of: "=") else {
            // Only the leading letters: the rest may be a value, a PIN among them (rule D5).
            let name = attribute.prefix { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
            throw invalid("an attribute\(name.isEmpty ? "" : " starting '\(abbreviate(String(name)))'") is not name=value")
        }
        let name = String(attribute[..<eq])
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw invalid("'\(abbreviate(name))' is not an attribute name")
        }
        return (name, attribute[attribute.index(after: eq)...])
    }

    private static func percentDecode(_ value: Substring, attribute: String) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        var iterator = value.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let hi = iterator.next().flatMap(hexValue), let lo = iterator.next().flatMap(hexValue) else {
                    throw invalid("a '%' in '\(attribute)' is not followed by two hex digits")
                }
                out.append(hi << 4 | lo)
            } else {
                out.append(byte)
            }
        }
        return out
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    private static func hexByte(_ b: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return "%" + String(digits[Int(b >> 4)]) + String(digits[Int(b & 0xF)])
    }

    /// Leaves RFC 3986 unreserved characters and a few safe sub-delimiters as they are.
    private static func percentEncode(_ bytes: [UInt8], query: Bool = false) -> String {
        var out = ""
        for b in bytes {
            let c = Character(Unicode.Scalar(b))
            let safe =
                (b < 0x80 && (c.isLetter || c.isNumber)) || "-._~".contains(c)
                || (query ? ":@!$'()*+,/".contains(c) : ":@!$'()*+,".contains(c))
            out += safe ? String(c) : hexByte(b)
        }
        return out
    }
}
