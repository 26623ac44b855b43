import Foundation
import Testing

@testable import PaysignPKCS11

/// A token's thread asks for `TokenThreadPriority.nice` when it starts, so the token gets a core
/// before the bookkeeping around its signatures; a refusal leaves it at the default priority.
@Suite("A slot's thread runs at the nice value asked for, and works on when it is refused", .serialized)
struct TokenThreadPriorityTests {
    /// The calling thread's nice value and name, from /proc/thread-self.
    static func niceAndName() -> (nice: Int, name: String) {
        let stat = (try? String(contentsOfFile: "/proc/thread-self/stat", encoding: .utf8)) ?? ""
        // The name is in parentheses and may hold spaces; the fields after it are space-separated.
        guard let close = stat.lastIndex(of: ")"), let open = stat.firstIndex(of: "(") else { return (Int.min, "") }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the name: state (3), …; nice is field 19 of stat(5), the 17th after the name.
        return (Int(fields[16]) ?? Int.min, String(stat[stat.index(after: open)..<close]))
    }

    /// Whether this process may lower a thread's nice value to `nice` (root, or RLIMIT_NICE).
    static func mayLower(to nice: Int32) -> Bool {
        if geteuid() == 0 { return true }
        // "Max nice priority  SOFT  HARD" in /proc/self/limits; the lowest nice allowed is 20 - SOFT.
        let limits = (try? String(contentsOfFile: "/proc/self/limits", encoding: .utf8)) ?? ""
        guard let line = limits.split(separator: "\n").first(where: { $0.hasPrefix("Max nice priority") }),
            let soft = line.split(separator: " ").dropFirst(3).first.flatMap({ Int($0) })
        else { return false }
        return 20 - soft <= Int(nice)
    }

    @Test("a prioritized worker thread takes the nice value and its name; an ordinary one keeps the default")
    func prioritizedThread() async throws {
        TokenThreadPriority.nice = -3
        defer { TokenThreadPriority.nice = nil }
        // A new thread starts at its creator's nice value: read it on this thread, before any await.
        let base = Self.niceAndName().nice
        let slot = WorkerThread(name: "prio-test-slot", prioritized: true)
        let plain = WorkerThread(name: "prio-test-module")
        defer {
            slot.shutdown()
            plain.shutdown()
        }
        let onSlot = try await slot.run { Self.niceAndName() }
        let onPlain = try await plain.run { Self.niceAndName() }
        #expect(onSlot.name == "prio-test-slot")
        #expect(onPlain.nice == base, "a module's thread (not a token's) keeps the process's priority")
        if Self.mayLower(to: -3) {
            #expect(onSlot.nice == -3)
        } else {
            // Refused (no CAP_SYS_NICE, RLIMIT_NICE 0): the thread still works, at the default.
            #expect(onSlot.nice == base)
        }
    }

    @Test("with no nice value set, a slot's thread keeps the default priority")
    func unsetLeavesDefault() async throws {
        TokenThreadPriority.nice = nil
        let base = Self.niceAndName().nice
        let slot = WorkerThread(name: "prio-test-unset", prioritized: true)
        defer { slot.shutdown() }
        let onSlot = try await slot.run { Self.niceAndName() }
        #expect(onSlot.nice == base)
        #expect(onSlot.name == "prio-test-unset")
    }
}
