import GRDB

// For the tests, through `@testable import` (internal: no other module can call it). Raw SQL on
// the registry's database, bypassing every rule of the registry, the way someone with `sqlite3`
// and the file could: the tests tamper with the journal and simulate a newer paysignd with it.
// Nothing in this module calls it.
extension Registry {
    func unsafeExecute(_ sql: String) async throws {
        try await pool.writeWithoutTransaction { db in try db.execute(sql: sql) }
    }

    func unsafeStrings(_ sql: String) async throws -> [String] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: sql).map { row in
                let value: DatabaseValue = row[0]
                switch value.storage {
                case .string(let text): return text
                case .int64(let number): return String(number)
                default: return value.description
                }
            }
        }
    }
}
