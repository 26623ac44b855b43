import Foundation
import PaysignClient

/// The people of the payment-order flow in a daemon's registry, as the suites that drive the real
/// daemon need them: entity EG-0101, its data-entry clerk and reviewer, first signers officer1 (on
/// site) and officer2, the Ministry representative, and their tokens from the test PKI. The national
/// IDs are those the test certificates carry (`Certs/make-test-pki.sh`).
public enum FlowSetup {
    public static let entity = "EG-0101"

    /// A request as root (an administrator), in process.
    public static func call(_ socket: String, _ method: String, _ path: String, json fields: [String: Any]? = nil) throws -> HTTPAnswer {
        let body = try fields.map { try JSONSerialization.data(withJSONObject: $0) }
        let response = try DaemonClient(socketPath: socket).send(
            method, path, body: body, contentType: body == nil ? nil : "application/json", headers: [])
        return HTTPAnswer(status: response.status, headers: response.headers, body: response.body)
    }

    /// The entity, its people and their registered tokens; throws on the first refusal.
    public static func setUpEntity(socket: String, pki: TestPKI) throws {
        func created(_ answer: HTTPAnswer, _ what: String) throws {
            guard answer.status == 201 else { throw Shell.Failure(message: "\(what): \(answer.text)") }
        }
        try created(try call(socket, "POST", "/v1/entities", json: ["code": entity, "name": "Test Entity \(entity)"]), "entity")
        for (user, nid, name, role) in [(UnixUsers.clerk, "29505050100055", "Data Entry Clerk", "data-entry"),
                                        (UnixUsers.reviewer, "29912120100066", "Accounts Reviewer", "reviewer")] {
            try created(try call(socket, "POST", "/v1/operators", json: [
                "unixUser": user, "nationalID": nid, "name": name, "entity": entity, "roles": [role],
            ]), user)
        }
        for (user, nid, name, step, onSite) in [(UnixUsers.officer1, "28001010100011", "Officer One", "first", true),
                                                (UnixUsers.officer2, "28502020100022", "Officer Two", "first", false),
                                                (UnixUsers.ministry, "27503030100033", "MoF Representative", "second", false)] {
            try created(try call(socket, "POST", "/v1/holders", json: [
                "unixUser": user, "nationalID": nid, "name": name, "entity": entity, "step": step, "onSite": onSite,
            ]), user)
        }
        try registerActive(socket: socket, [("officer1", UnixUsers.officer1), ("officer2", UnixUsers.officer2), ("ministry", UnixUsers.ministry)].map {
            (pki.token($0.0).uri, $0.1)
        })
    }

    /// Registers tokens to their holders, active, as the certification authority does it (D6:
    /// an administrator registers a token `issued`, only the authority makes it active): the
    /// authority's operator (`UnixUsers.authority`) is added first when the registry lacks it.
    public static func registerActive(socket: String, _ tokens: [(uri: String, holder: String)]) throws {
        let operators = try call(socket, "GET", "/v1/operators")
        let known = (try? JSONSerialization.jsonObject(with: operators.body) as? [[String: Any]])?.contains { $0["unixUser"] as? String == UnixUsers.authority } ?? false
        if !known {
            let added = try call(socket, "POST", "/v1/operators", json: [
                "unixUser": UnixUsers.authority, "nationalID": "28806060100066", "name": "e-Certification Unit", "roles": ["certification-authority"],
            ])
            guard added.status == 201 else { throw Shell.Failure(message: "the authority's operator: \(added.text)") }
        }
        for (uri, holder) in tokens {
            let answer = try UnixUsers.request(
                as: UnixUsers.authority, socket: socket, "POST", "/v1/registered-tokens",
                body: try JSONSerialization.data(withJSONObject: ["token": uri, "holder": holder, "state": "active"]),
                contentType: "application/json")
            guard answer.status == 201 else { throw Shell.Failure(message: "registering \(uri) to \(holder): \(answer.text)") }
        }
    }

    /// The 25th of next month (Cairo): a value date every supplier order accepts.
    public static func valueDate() -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Africa/Cairo")!
        let next = calendar.date(byAdding: .month, value: 1, to: Date())!
        let parts = calendar.dateComponents([.year, .month], from: next)
        return String(format: "%04d-%02d-25", parts.year!, parts.month!)
    }

    /// One supplier order of one payroll line, uploaded by the clerk and reviewed by the reviewer
    /// (each as their Unix user): its id and file number.
    public static func reviewedOrder(socket: String, seed: Int) throws -> (id: Int64, fileNumber: String) {
        let script = TestPKI.repositoryRoot.appendingPathComponent("scripts/make-payroll.py").path
        let csv = try Shell.run("python3", [script, "1", String(seed)])
        guard csv.status == 0 else { throw Shell.Failure(message: "make-payroll.py: \(csv.stderr)") }
        let upload = try UnixUsers.request(
            as: UnixUsers.clerk, socket: socket, "POST", "/v1/orders?entity=\(entity)&kind=supplier&valueDate=\(valueDate())",
            body: Data(csv.stdout.utf8), contentType: "text/csv")
        guard upload.status == 201, let id = (upload.object?["id"] as? NSNumber)?.int64Value,
            let fileNumber = upload.object?["fileNumber"] as? String
        else { throw Shell.Failure(message: "upload: \(upload.text)") }
        let review = try UnixUsers.request(
            as: UnixUsers.reviewer, socket: socket, "POST", "/v1/orders/\(id)/review",
            body: try JSONSerialization.data(withJSONObject: ["fileNumber": fileNumber]), contentType: "application/json")
        guard review.status == 200 else { throw Shell.Failure(message: "review: \(review.text)") }
        return (id, fileNumber)
    }
}
