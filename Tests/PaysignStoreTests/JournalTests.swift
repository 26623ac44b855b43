import Foundation
import PaysignDomain
import PaysignTestSupport
import Testing

@testable import PaysignStore

@Suite("The audit journal")
struct JournalTests {
    /// SQL text literal.
    static func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

    static let dropGuards = "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;"

    @Test("the hash encoding matches an independent implementation (Python, in AuditChain's documentation)")
    func goldenVector() async throws {
        let clock = sequenceClock(["2025-05-01T09:30:00.123Z", "2025-05-01T09:30:01.000Z"])
        try await withRegistry(clock: clock) { registry, _ in
            let first = try await registry.append(
                .configurationLoaded(.init(path: "/etc/paysign/paysignd.yaml", sha256: Fixture.digest)), by: .daemon)
            let second = try await registry.append(
                .loginFailed(.init(tokenSerial: "0123456789abcdef", pinState: .finalTry, remainingTries: 1)),
                by: .user(uid: 1000, name: "alice", operatorID: 3))

            #expect(first.at == "2025-05-01T09:30:00.123Z")
            #expect(first.actorJSON == #"{"daemon":true}"#)
            #expect(first.detailJSON == #"{"path":"/etc/paysign/paysignd.yaml","sha256":"\#(Fixture.digest.hex)"}"#)
            #expect(first.previousHash == AuditChain.genesis)
            #expect(first.hash.hex == "f7d2617c7a12dc4303688b39234c6e52cfa78bff0b4799f373d59281951076f4")

            #expect(second.actorJSON == #"{"operator":3,"uid":1000,"user":"alice"}"#)
            #expect(second.detailJSON == #"{"pinState":"final-try","remainingTries":1,"tokenSerial":"0123456789abcdef"}"#)
            #expect(second.previousHash == first.hash)
            #expect(second.hash.hex == "534cf1a618a3d8d317416db32fa16f8d3475b8a45501d79e69115dfbc1194b80")

            let head = try await registry.journalHead()
            #expect(head == JournalHead(seq: 2, hash: second.hash))
            let digest = try Shell.run("openssl", ["dgst", "-sha256", "-r"], stdin: Data(head.signingInput))
            #expect(digest.stdout.hasPrefix("2d29565e1ab2c85901f1e91eb3ce72db3067f583e1603c8afd01e84dadb33e42 "))
        }
    }

    @Test("times are written to the nearest millisecond, so a time read back writes the same text again")
    func timestampsRoundTrip() {
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
        for base in ["2026-03-15T12:30:45", "1969-12-31T23:59:59", "2000-02-29T00:00:00"] {
            for millisecond in 0..<1000 {
                let digits = String(millisecond)
                let text = base + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
                let date = try! style.parse(text)
                #expect(Timestamp.string(date) == text)
                #expect(Timestamp.date(text).map(Timestamp.string) == text)
            }
        }
        #expect(Timestamp.string(Date(timeIntervalSince1970: 0.0004)) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.string(Date(timeIntervalSince1970: 0.0006)) == "1970-01-01T00:00:00.001Z")
        #expect(Timestamp.string(Date(timeIntervalSince1970: 59.9996)) == "1970-01-01T00:01:00.000Z")
        #expect(Timestamp.string(Date(timeIntervalSince1970: -0.0006)) == "1969-12-31T23:59:59.999Z")
    }

    @Test("1,000 entries verify intact, and every stored hash recomputes from its columns")
    func thousandEntriesIntact() async throws {
        try await withRegistry { registry, _ in
            let head = try await registry.append(contentsOf: Fixture.appendable(1000), by: .daemon)
            #expect(head.seq == 1000)
            #expect(try await registry.verifyJournal() == .intact(entries: 1000, head: head.hash))

            var previous = AuditChain.genesis
            var after: Int64 = 0
            while true {
                let page = try await registry.auditEntries(after: after, limit: 300)
                guard let last = page.last else { break }
                for entry in page {
                    #expect(entry.previousHash == previous)
                    let recomputed = AuditChain.hash(
                        seq: entry.seq, at: entry.at, actor: entry.actorJSON, kind: entry.kind.rawValue,
                        detail: entry.detailJSON, previousHash: entry.previousHash.hex)
                    #expect(recomputed == entry.hash)
                    previous = entry.hash
                }
                after = last.seq
            }
            #expect(after == 1000)
        }
    }

    struct Tampering: Sendable, CustomTestStringConvertible {
        var label: String
        var sql: String
        var brokenAt: Int64
        var testDescription: String { label }
    }

    static let tamperings: [Tampering] = [
        Tampering(
            label: "detail of entry 500 edited",
            sql: #"UPDATE audit SET detail = '{"tokenSerial":"EDITED"}' WHERE seq = 500"#, brokenAt: 500),
        Tampering(label: "time of entry 10 edited", sql: "UPDATE audit SET at = '2020-01-01T00:00:00.000Z' WHERE seq = 10", brokenAt: 10),
        Tampering(label: "actor of entry 999 edited", sql: #"UPDATE audit SET actor = '{"uid":0,"user":"root"}' WHERE seq = 999"#, brokenAt: 999),
        Tampering(label: "kind of entry 250 edited", sql: "UPDATE audit SET kind = 'signature' WHERE seq = 250", brokenAt: 250),
        Tampering(
            label: "hash of entry 300 replaced",
            sql: "UPDATE audit SET hash = '\(String(repeating: "1", count: 64))' WHERE seq = 300", brokenAt: 300),
        Tampering(label: "detail of entry 700 made a blob", sql: "UPDATE audit SET detail = X'7B7D' WHERE seq = 700", brokenAt: 700),
        Tampering(label: "entry 500 deleted", sql: "DELETE FROM audit WHERE seq = 500", brokenAt: 500),
        Tampering(label: "entries 400 to 410 deleted", sql: "DELETE FROM audit WHERE seq BETWEEN 400 AND 410", brokenAt: 400),
        Tampering(label: "entry 1 deleted", sql: "DELETE FROM audit WHERE seq = 1", brokenAt: 1),
        Tampering(
            label: "first entry's previousHash changed",
            sql: "UPDATE audit SET previousHash = '\(String(repeating: "f", count: 64))' WHERE seq = 1", brokenAt: 1),
    ]

    @Test("editing or deleting entries with SQL breaks the chain at the first affected entry", arguments: tamperings)
    func tamperingIsFound(_ tampering: Tampering) async throws {
        try await withRegistry { registry, _ in
            try await registry.append(contentsOf: Fixture.appendable(1000), by: .daemon)
            try await registry.unsafeExecute(Self.dropGuards + tampering.sql)
            let result = try await registry.verifyJournal()
            guard case .broken(let seq, let reason) = result else {
                Issue.record("expected a broken journal, got \(result)")
                return
            }
            #expect(seq == tampering.brokenAt, "\(reason)")
            print("\(tampering.label): \(result)")
        }
    }

    @Test("an entry edited with its own hash recomputed breaks the chain at the next entry")
    func editWithRecomputedHash() async throws {
        try await withRegistry { registry, _ in
            try await registry.append(contentsOf: Fixture.appendable(20), by: .daemon)
            let entry = try #require(try await registry.auditEntries(after: 9, limit: 1).first)
            let detail = #"{"tokenSerial":"FORGED"}"#
            let hash = AuditChain.hash(
                seq: 10, at: entry.at, actor: entry.actorJSON, kind: entry.kind.rawValue, detail: detail,
                previousHash: entry.previousHash.hex)
            try await registry.unsafeExecute(
                Self.dropGuards + "UPDATE audit SET detail = \(Self.quoted(detail)), hash = '\(hash.hex)' WHERE seq = 10")
            #expect(try await registry.verifyJournal() == .broken(at: 11, reason: "its previousHash does not match the hash of entry 10"))
        }
    }

    @Test("the journal's triggers refuse UPDATE and DELETE (the chain is what stops someone who drops them)")
    func appendOnlyTriggers() async throws {
        try await withRegistry { registry, _ in
            try await registry.append(contentsOf: Fixture.appendable(3), by: .daemon)
            for sql in ["UPDATE audit SET detail = '{}' WHERE seq = 2", "DELETE FROM audit WHERE seq = 3"] {
                await #expect(throws: (any Error).self) { try await registry.unsafeExecute(sql) }
            }
            #expect(try await registry.verifyJournal().isIntact)
        }
    }

    @Test("signed heads: stored and listed with a head-signed entry; truncation and rewriting are found")
    func headSignatures() async throws {
        try await withRegistry { registry, _ in
            let certificate = try TestCertificates.daemon.get()
            try await registry.append(contentsOf: Fixture.appendable(100), by: .daemon)
            let head = try await registry.journalHead()
            let stored = try await registry.recordHeadSignature(
                seq: head.seq, hash: head.hash, signature: [0xDE, 0xAD], certificateDER: certificate,
                algorithm: "ecdsa-with-SHA256")
            #expect(stored.seq == 100)
            #expect(stored.auditSeq == 101)
            #expect(stored.signingInput == head.signingInput)
            #expect(try await registry.headSignatures() == [stored])
            let entry = try #require(try await registry.auditEntries(after: 100).first)
            guard case .headSigned(let detail) = entry.event else {
                Issue.record("expected head-signed, got \(entry.event)")
                return
            }
            #expect(detail.seq == 100 && detail.hash == head.hash && detail.algorithm == "ecdsa-with-SHA256")

            // A head that is not this journal's.
            let wrongHash = await expectStoreError {
                try await registry.recordHeadSignature(
                    seq: 50, hash: head.hash, signature: [1], certificateDER: certificate, algorithm: "ecdsa-with-SHA256")
            }
            #expect(wrongHash?.code == .headMismatch)
            let noSuchEntry = await expectStoreError {
                try await registry.recordHeadSignature(
                    seq: 5000, hash: head.hash, signature: [1], certificateDER: certificate, algorithm: "ecdsa-with-SHA256")
            }
            #expect(noSuchEntry?.code == .headMismatch)
            let notACertificate = await expectStoreError {
                try await registry.recordHeadSignature(
                    seq: 100, hash: head.hash, signature: [1], certificateDER: [0x30, 0x00], algorithm: "ecdsa-with-SHA256")
            }
            #expect(notACertificate?.field == "certificateDER")
            try await registry.append(contentsOf: Fixture.appendable(10), by: .daemon)
            #expect(try await registry.verifyJournal().isIntact)

            // Cutting the newest entries off leaves a chain that is intact but no longer reaches the signed head.
            try await registry.unsafeExecute(Self.dropGuards + "DELETE FROM audit WHERE seq > 90")
            let truncated = try await registry.verifyJournal()
            #expect(truncated.brokenSeq == 91, "\(truncated)")
        }
    }

    @Test("rewriting the journal with a fresh, consistent chain no longer matches the signed head")
    func rewrittenChain() async throws {
        try await withRegistry { registry, _ in
            try await registry.append(contentsOf: Fixture.appendable(60), by: .daemon)
            let head = try await registry.journalHead()
            try await registry.recordHeadSignature(
                seq: head.seq, hash: head.hash, signature: [1], certificateDER: try TestCertificates.daemon.get(),
                algorithm: "ecdsa-with-SHA256")
            // The forger edits entry 30 and recomputes every hash from there on, so the chain links.
            var entries = try await registry.auditEntries(after: 0, limit: 1000)
            entries[29].detailJSON = #"{"serial":"FORGED"}"#
            var sql = Self.dropGuards
            var previous = entries[28].hash
            for index in 29..<entries.count {
                let e = entries[index]
                let hash = AuditChain.hash(
                    seq: e.seq, at: e.at, actor: e.actorJSON, kind: e.kind.rawValue, detail: e.detailJSON,
                    previousHash: previous.hex)
                sql += "UPDATE audit SET detail = \(Self.quoted(e.detailJSON)), previousHash = '\(previous.hex)', "
                    + "hash = '\(hash.hex)' WHERE seq = \(e.seq);"
                previous = hash
            }
            try await registry.unsafeExecute(sql)
            let result = try await registry.verifyJournal()
            #expect(result.brokenSeq == 60, "\(result)")
        }
    }

    @Test("concurrent appends are serialised into one unbroken chain")
    func concurrentAppends() async throws {
        try await withRegistry { registry, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<20 {
                    group.addTask {
                        for index in 0..<50 {
                            try await registry.append(
                                .tokenInserted(.init(serial: "T\(task)-\(index)")),
                                by: .user(uid: UInt32(1000 + task), name: "u\(task)", operatorID: nil))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let head = try await registry.journalHead()
            #expect(head.seq == 1000)
            #expect(try await registry.verifyJournal() == .intact(entries: 1000, head: head.hash))
        }
    }

    @Test("verifying 100,000 entries (times printed, not asserted)")
    func verifyHundredThousand() async throws {
        try await withTemporaryDirectory { directory in
            let registry = try await Registry.open(at: directory)
            let events = Fixture.appendable(100_000)
            let clock = ContinuousClock()
            var head: JournalHead?
            let writing = try await clock.measure { head = try await registry.append(contentsOf: events, by: .daemon) }
            var result: JournalVerification?
            let verifying = try await clock.measure { result = try await registry.verifyJournal() }
            #expect(result == .intact(entries: 100_000, head: try #require(head).hash))
            try registry.close()
            // Opening runs PRAGMA quick_check over the whole file.
            var reopened: Registry?
            let opening = try await clock.measure { reopened = try await Registry.open(at: directory) }
            try reopened?.close()
            let size = try FileManager.default.attributesOfItem(
                atPath: directory.appendingPathComponent("paysign.sqlite").path)[.size] as? Int ?? 0
            print(
                "journal: 100,000 entries appended in one transaction in \(writing), verified in \(verifying); "
                    + "reopening the \(size / 1_000_000) MB file (with quick_check) took \(opening)")
        }
    }
}

extension JournalVerification {
    var brokenSeq: Int64? {
        if case .broken(let seq, _) = self { return seq }
        return nil
    }
}
