import Foundation
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

extension Registry {
    /// For the tests: leaves at `directory` a registry as a paysignd that knew only the migrations
    /// up to `lastMigration` would have (the shipped migrations are never edited, so this is that
    /// build's schema), then runs `sql` on it to write rows the way that build did.
    static func unsafeCreateDatabase(at directory: URL, upTo lastMigration: String, sql: String) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        let pool = try DatabasePool(path: directory.appendingPathComponent(fileName).path, configuration: configuration)
        try Schema.migrator.migrate(pool, upTo: lastMigration)
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA application_id = \(Schema.applicationID)")
            try db.execute(sql: sql)
        }
        try pool.close()
    }
}
