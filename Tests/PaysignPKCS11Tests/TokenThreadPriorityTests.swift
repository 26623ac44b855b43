import Foundation
import Testing

@testable import PaysignPKCS11

/// A token's thread runs at `TokenThreadPriority.nice`, so the token gets a core before the
/// bookkeeping around its signatures; the tasks it wakes do not run at that value (a pool thread
/// started from it takes its quality of service's). A refusal leaves it at the default priority.
@Suite("A slot's thread runs at the nice value asked for, and works on when it is refused", .serialized)
struct TokenThreadPriorityTests {
    struct ThreadState: Sendable, Equatable {
        var tid: Int
        var name: String
        var nice: Int
    }

    /// A thread's id, name and nice value from its stat file (`/proc/thread-self/stat` for the
    /// calling thread).
    static func state(_ path: String = "/proc/thread-self/stat") -> ThreadState? {
        guard let stat = try? String(contentsOfFile: path, encoding: .utf8),
            let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")"),
            let tid = Int(stat[..<open].trimmingCharacters(in: .whitespaces))
        else { return nil }
        // After the name: state is field 3 of proc_pid_stat(5), nice field 19.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 16, let nice = Int(fields[16]) else { return nil }
        return ThreadState(tid: tid, name: String(stat[stat.index(after: open)..<close]), nice: nice)
    }

    /// Whether this process may lower a thread's nice value to `nice`: CAP_SYS_NICE (bit 23 of
    /// CapEff; root in a container may lack it), or an RLIMIT_NICE that reaches it.
    static func mayLower(to nice: Int) -> Bool {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        if let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
            let caps = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16),
            caps & (1 << 23) != 0
        {
            return true
        }
        // "Max nice priority  SOFT  HARD" in /proc/self/limits; the lowest nice allowed is 20 - SOFT.
        let limits = (try? String(contentsOfFile: "/proc/self/limits", encoding: .utf8)) ?? ""
        guard let line = limits.split(separator: "\n").first(where: { $0.hasPrefix("Max nice priority") }),
            let soft = line.split(separator: " ").dropFirst(3).first.flatMap({ Int($0) })
        else { return false }
        return 20 - soft <= nice
    }

    @Test("a slot's thread runs at the nice value asked for; a module's thread and the tasks it wakes do not")
    func prioritizedThread() async throws {
        TokenThreadPriority.nice = -3
        defer { TokenThreadPriority.nice = nil }
        // A new thread starts at its creator's nice value: read it on this thread, before any await.
        let base = try #require(Self.state()).nice
        let slot = WorkerThread(name: "prio-test-slot", prioritized: true)
        let plain = WorkerThread(name: "prio-test-module")
        defer {
            slot.shutdown()
            plain.shutdown()
        }
        let onSlot = try #require(try await slot.run { Self.state() })
        let onPlain = try #require(try await plain.run { Self.state() })
        #expect(onSlot.name == "prio-test-slot")
        #expect(onPlain.nice == base, "a module's thread (not a token's) keeps the process's priority")
        if Self.mayLower(to: -3) {
            #expect(onSlot.nice == -3)
        } else {
            // Refused (no CAP_SYS_NICE, RLIMIT_NICE 0): the thread still works, at the default.
            #expect(onSlot.nice == base)
        }
        // Work the slot's thread hands to the thread pool (as waking a task does) runs at the
        // pool's own value, also on a pool thread started from the slot's thread: libdispatch sets
        // it from the quality of service, the cooperative pool's being the default (0).
        let woken = try #require(try await slot.run { () -> ThreadState? in
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var seen: ThreadState?
            DispatchQueue.global().async {
                seen = Self.state()
                done.signal()
            }
            done.wait()
            return seen
        })
        #expect(woken.nice == 0)
        let task = try #require(try await slot.run { () -> ThreadState? in
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var seen: ThreadState?
            Task.detached {
                seen = Self.state()
                done.signal()
            }
            done.wait()
            return seen
        })
        #expect(task.nice == 0)
    }

    @Test("a higher nice value is always granted (the mechanism works without any privilege)")
    func raisingIsAllowed() async throws {
        TokenThreadPriority.nice = 7
        defer { TokenThreadPriority.nice = nil }
        let slot = WorkerThread(name: "prio-test-seven", prioritized: true)
        defer { slot.shutdown() }
        let onSlot = try #require(try await slot.run { Self.state() })
        #expect(onSlot.nice == 7)
    }

    @Test("with no nice value set, a slot's thread keeps the default priority")
    func unsetLeavesDefault() async throws {
        TokenThreadPriority.nice = nil
        let base = try #require(Self.state()).nice
        let slot = WorkerThread(name: "prio-test-unset", prioritized: true)
        defer { slot.shutdown() }
        let onSlot = try #require(try await slot.run { Self.state() })
        #expect(onSlot.nice == base)
        #expect(onSlot.name == "prio-test-unset")
    }
}
