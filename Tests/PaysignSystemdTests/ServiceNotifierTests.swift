import Foundation
import PaysignSystemd
import Testing

/// `sd_notify` against a real `AF_UNIX`/`SOCK_DGRAM` socket standing in for systemd's: every
/// datagram is read back and compared byte for byte.
struct ServiceNotifierTests {
    @Test func sendsTheExactDatagramsToAPath() throws {
        let dir = try Sockets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/notify"
        let systemd = try Sockets.unix(Int32(SOCK_DGRAM.rawValue), path: path, listen: false)
        defer { close(systemd) }
        try expectExactDatagrams(ServiceNotifier(socketAddress: path), reading: systemd)
    }

    @Test func sendsTheExactDatagramsToAnAbstractName() throws {
        let name = Sockets.abstractName()
        let systemd = try Sockets.unix(Int32(SOCK_DGRAM.rawValue), path: name, listen: false)
        defer { close(systemd) }
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": name], processID: getpid())
        try expectExactDatagrams(notifier, reading: systemd)
    }

    private func expectExactDatagrams(_ notifier: ServiceNotifier, reading systemd: Int32) throws {
        #expect(notifier.isEnabled)
        #expect(notifier.ready())
        #expect(Sockets.receive(systemd) == "READY=1\nMAINPID=\(getpid())")
        #expect(notifier.status("serving /run/paysign/paysign.sock, 2 tokens present"))
        #expect(Sockets.receive(systemd) == "STATUS=serving /run/paysign/paysign.sock, 2 tokens present")
        #expect(notifier.status("two\nlines"))
        #expect(Sockets.receive(systemd) == "STATUS=two lines")
        #expect(notifier.watchdog())
        #expect(Sockets.receive(systemd) == "WATCHDOG=1")
        #expect(notifier.reloading())
        let reloading = try #require(Sockets.receive(systemd))
        let lines = reloading.split(separator: "\n")
        #expect(lines.count == 2 && lines[0] == "RELOADING=1" && lines[1].hasPrefix("MONOTONIC_USEC="))
        #expect(UInt64(lines[1].dropFirst("MONOTONIC_USEC=".count)).map { $0 > 0 } == true)
        #expect(notifier.stopping())
        #expect(Sockets.receive(systemd) == "STOPPING=1")
    }

    @Test func withoutNotifySocketEveryCallIsANoOp() throws {
        for notifier in [ServiceNotifier(socketAddress: nil), ServiceNotifier(environment: [:], processID: getpid()),
                         ServiceNotifier(environment: ["NOTIFY_SOCKET": ""], processID: getpid())] {
            #expect(!notifier.isEnabled)
            #expect(!notifier.ready() && !notifier.stopping() && !notifier.status("x") && !notifier.watchdog())
            #expect(!notifier.reloading())
            #expect(try notifier.notify("READY=1") == false)
        }
    }

    @Test func failuresReturnFalseAndSayWhyWhenAsked() throws {
        let dir = try Sockets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let nobody = ServiceNotifier(socketAddress: dir + "/nobody-listens")
        #expect(!nobody.ready())
        let error = try #require(throws: SystemdError.self) { try nobody.notify("READY=1") }
        #expect(error.code == .sendFailed)
        #expect(error.errno == ENOENT)
        #expect(error.message.hasPrefix("cannot notify systemd at '\(dir)/nobody-listens' (No such file or directory"))

        for address in ["vsock:2:1234", "relative/path", "/" + String(repeating: "x", count: 200)] {
            let bad = ServiceNotifier(socketAddress: address)
            #expect(!bad.ready())
            let error = try #require(throws: SystemdError.self) { try bad.notify("READY=1") }
            #expect(error.code == .unsupportedAddress)
            #expect(!error.message.contains("\n"))
        }
    }

    @Test func readsTheWatchdogIntervalMeantForThisProcess() {
        let pid = getpid()
        let cases: [([String: String], Duration?)] = [
            (["WATCHDOG_USEC": "30000000"], .seconds(30)),
            (["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(pid)"], .seconds(30)),
            (["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"], nil),
            (["WATCHDOG_USEC": "0"], nil),
            (["WATCHDOG_USEC": "soon"], nil),
            ([:], nil),
        ]
        for (environment, expected) in cases {
            var withSocket = environment
            withSocket["NOTIFY_SOCKET"] = "/run/systemd/notify"
            let notifier = ServiceNotifier(environment: withSocket, processID: pid)
            #expect(notifier.watchdogInterval == expected, "\(environment)")
            #expect(notifier.socketAddress == "/run/systemd/notify")
        }
    }
}
