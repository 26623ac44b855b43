/// Who did something the audit journal records: the daemon itself, or a caller named by the
/// Unix socket's peer credentials (uid, the user name the system gives for it, and the operator
/// that user is mapped to in the registry, when it is).
///
/// Named `AuditActor`, not `Actor`: a public type called `Actor` in this module would shadow
/// Swift's `Actor` protocol in every module that imports it (`isolated (any Actor)?` stops
/// compiling there).
///
/// Encoded as a JSON object with sorted keys: `{"daemon":true}` or
/// `{"operator":3,"uid":1000,"user":"alice"}` (`operator` and `user` left out when unknown).
public enum AuditActor: Sendable, Hashable, Codable, CustomStringConvertible {
    case daemon
    /// A caller. `name` is nil when the system has no passwd entry for the uid.
    case user(uid: UInt32, name: String?, operatorID: Operator.ID?)

    /// A caller mapped to an operator of the registry.
    public static func `operator`(_ op: Operator, uid: UInt32) -> AuditActor {
        .user(uid: uid, name: op.unixUser, operatorID: op.id)
    }

    private enum CodingKeys: String, CodingKey {
        case daemon, uid, user, `operator`
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if try container.decodeIfPresent(Bool.self, forKey: .daemon) == true {
            self = .daemon
            return
        }
        self = .user(
            uid: try container.decode(UInt32.self, forKey: .uid),
            name: try container.decodeIfPresent(String.self, forKey: .user),
            operatorID: try container.decodeIfPresent(Operator.ID.self, forKey: .operator))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .daemon:
            try container.encode(true, forKey: .daemon)
        case .user(let uid, let name, let operatorID):
            try container.encode(uid, forKey: .uid)
            try container.encodeIfPresent(name, forKey: .user)
            try container.encodeIfPresent(operatorID, forKey: .operator)
        }
    }

    public var description: String {
        switch self {
        case .daemon: return "paysignd"
        case .user(let uid, let name, let operatorID):
            var text = "uid \(uid)"
            if let name { text += " (\(name))" }
            if let operatorID { text += ", operator \(operatorID)" }
            return text
        }
    }
}
