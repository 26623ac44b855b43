import Foundation
import Logging
import PaysignPCSC
import Synchronization
import Testing

/// Against the real stack: pcscd, vpcd's "Virtual PCD 00 00" / "Virtual PCD 00 01", vicc.
/// Serialized because every test shares the one pcscd; each starts it if needed and leaves it running.
@Suite(.serialized)
struct PCSCTests {
    init() async throws {
        try Testbed.requireRoot()
        try await Testbed.run("start")
    }

    @Test func snapshotListsTheVirtualReaders() throws {
        let start = ContinuousClock.now
        let readers = try PCSC.readers()
        let took = ContinuousClock.now - start
        let names = readers.map(\.name)
        #expect(names.contains("Virtual PCD 00 00"))
        #expect(names.contains("Virtual PCD 00 01"))
        #expect(names == names.sorted())
        for reader in readers where reader.cardPresent {
            #expect(reader.atr?.isEmpty == false, "a present card has an ATR")
        }
        #expect(took < .seconds(1))
        print("snapshot: \(readers.count) readers in \(took.formatted)")
    }

    @Test func monitorSeesCardInsertedWithinASecond() async throws {
        let slot = try await Testbed.freeReader()
        let monitor = ReaderMonitor()
        let (log, _) = EventLog.consuming(monitor.events())
        defer { monitor.stop() }

        // The first picture: every reader as added, before anything else.
        let added = await log.first(within: .seconds(2)) { $0 == .readerAdded(slot.reader) }
        try #require(added != nil, "the monitor's first picture lacks \(slot.reader): \(log.events)")
        #expect(log.events.first.map { if case .readerAdded = $0 { true } else { false } } == true)
        let mark = log.count

        let spawned = ContinuousClock.now
        let pid = try await Testbed.run("insert", "\(slot.port)")
        let connected = ContinuousClock.now  // pcsc.sh returns once vicc is connected to vpcd
        defer { Testbed.runNow("remove", pid) }

        let inserted = await log.first(from: mark, within: .seconds(3)) {
            if case .cardInserted(reader: slot.reader, atr: _) = $0 { true } else { false }
        }
        let hit = try #require(inserted, "no cardInserted on \(slot.reader) within 3 s: \(log.events)")
        let fromConnect = hit.entry.at - connected
        let fromSpawn = hit.entry.at - spawned
        print("insert: cardInserted \(fromConnect.formatted) after vicc connected, \(fromSpawn.formatted) after it was started")
        #expect(fromConnect < .seconds(1), "insert seen within a second of the emulator connecting")
        #expect(fromSpawn < .seconds(2))
        if case .cardInserted(_, let atr) = hit.entry.event {
            #expect(atr.first == 0x3B, "vicc's ATR starts with TS = 3B")
        }
        let state = monitor.currentReaders.first { $0.name == slot.reader }
        #expect(state?.cardPresent == true)
        #expect(try PCSC.readers().first { $0.name == slot.reader }?.cardPresent == true)
    }

    @Test func monitorSeesCardRemovedWithinASecond() async throws {
        let slot = try await Testbed.freeReader()
        let monitor = ReaderMonitor()
        let (log, _) = EventLog.consuming(monitor.events())
        defer { monitor.stop() }
        try #require(await log.first(within: .seconds(2)) { $0 == .readerAdded(slot.reader) } != nil)

        let pid = try await Testbed.run("insert", "\(slot.port)")
        var removed = false
        defer { if !removed { Testbed.runNow("remove", pid) } }
        let inserted = await log.first(within: .seconds(3)) {
            if case .cardInserted(reader: slot.reader, atr: _) = $0 { true } else { false }
        }
        try #require(inserted != nil, "no cardInserted on \(slot.reader): \(log.events)")
        let mark = log.count

        let killed = ContinuousClock.now
        try await Testbed.run("remove", pid)
        removed = true
        let gone = await log.first(from: mark, within: .seconds(3)) { $0 == .cardRemoved(reader: slot.reader) }
        let hit = try #require(gone, "no cardRemoved on \(slot.reader) within 3 s: \(log.events)")
        let latency = hit.entry.at - killed
        print("remove: cardRemoved \(latency.formatted) after vicc was killed")
        #expect(latency < .seconds(1), "removal seen within a second")
        #expect(monitor.currentReaders.first { $0.name == slot.reader }?.cardPresent == false)
        // Only the card moved: the reader stays.
        #expect(!log.events[mark...].contains(.readerRemoved(slot.reader)))
    }

    @Test func survivesPcscdRestart() async throws {
        let logs = CapturingLogHandler.Store()
        let logger = Logger(label: "test.pcsc") { _ in CapturingLogHandler(store: logs) }
        let monitor = ReaderMonitor(logger: logger, retryDelays: .milliseconds(50) ... .milliseconds(400))
        let (log, _) = EventLog.consuming(monitor.events())
        defer {
            monitor.stop()
            Testbed.runNow("start")  // other suites need pcscd
        }
        for reader in Testbed.readerPorts.map(\.reader) {
            try #require(await log.first(within: .seconds(2)) { $0 == .readerAdded(reader) } != nil)
        }
        // A card in a reader, to see it reported removed before its reader goes.
        let slot = try await Testbed.freeReader()
        let pid = try await Testbed.run("insert", "\(slot.port)")
        defer { Testbed.runNow("remove", pid) }  // vicc exits by itself when pcscd goes; this tidies up
        try #require(
            await log.first(within: .seconds(3)) {
                if case .cardInserted(reader: slot.reader, atr: _) = $0 { true } else { false }
            } != nil)
        let hadCard = monitor.currentReaders.filter(\.cardPresent).map(\.name)
        #expect(hadCard.contains(slot.reader))
        let mark = log.count

        let stopping = ContinuousClock.now
        try await Testbed.run("stop")
        let stopped = ContinuousClock.now
        print("restart: 'pcsc.sh stop' took \((stopped - stopping).formatted)")
        let down = await log.first(from: mark, within: .seconds(3)) {
            if case .serviceUnavailable = $0 { true } else { false }
        }
        let hit = try #require(down, "no serviceUnavailable after pcscd stopped: \(log.events)")
        print("restart: serviceUnavailable \((hit.entry.at - stopping).formatted) after 'pcsc.sh stop' began")
        if case .serviceUnavailable(let sentence) = hit.entry.event {
            #expect(sentence.contains("pcscd"))
        }
        for reader in Testbed.readerPorts.map(\.reader) {
            let removed = await log.first(from: mark, within: .seconds(1)) { $0 == .readerRemoved(reader) }
            #expect(removed != nil, "\(reader) reported removed")
            if hadCard.contains(reader), let removed {
                let cardGone = await log.first(from: mark, within: .zero) { $0 == .cardRemoved(reader: reader) }
                #expect(cardGone.map { $0.index < removed.index } == true, "card removed before its reader")
            }
        }
        #expect(monitor.currentReaders.isEmpty)

        // The snapshot fails at once, in a sentence that names pcscd.
        let asked = ContinuousClock.now
        do {
            let readers = try PCSC.readers()
            Issue.record("PCSC.readers() answered \(readers) without pcscd")
        } catch let error as PCSCError {
            #expect(error.code == .noService)
            #expect(error.returnValue == "SCARD_E_NO_SERVICE")
            #expect(error.message.contains("pcscd"))
            print("restart: PCSC.readers() threw \"\(error)\"")
        }
        let took = ContinuousClock.now - asked
        print("restart: PCSC.readers() without pcscd failed in \(took.formatted)")
        #expect(took < .milliseconds(500))

        // Several retries later still one outage, and one warning.
        try await Task.sleep(for: .milliseconds(700))
        let outages = log.events[mark...].filter { if case .serviceUnavailable = $0 { true } else { false } }
        #expect(outages.count == 1)
        let warnings = logs.records.withLock { $0.filter { $0.level == .warning } }
        #expect(warnings.count == 1)
        #expect(warnings.first?.message.contains("pcscd") == true)
        print("restart: logged warning \"\(warnings.first?.message ?? "")\"")

        let back = log.count
        let started = ContinuousClock.now
        try await Testbed.run("start")
        let available = await log.first(from: back, within: .seconds(5)) { $0 == .serviceAvailable }
        let up = try #require(available, "no serviceAvailable after pcscd restarted: \(log.events)")
        print("restart: serviceAvailable \((up.entry.at - started).formatted) after 'pcsc.sh start' began")
        for reader in Testbed.readerPorts.map(\.reader) {
            let added = await log.first(from: back, within: .seconds(2)) { $0 == .readerAdded(reader) }
            #expect(added.map { $0.index > up.index } == true, "\(reader) added again after serviceAvailable")
        }
        #expect(Set(monitor.currentReaders.map(\.name)).isSuperset(of: Testbed.readerPorts.map(\.reader)))
        #expect(logs.records.withLock { $0.contains { $0.level == .notice } })
    }

    @Test func stopReturnsPromptlyAndFinishesTheStream() async throws {
        let monitor = ReaderMonitor()
        let (log, task) = EventLog.consuming(monitor.events())
        try #require(await log.first(within: .seconds(2)) { $0 == .readerAdded("Virtual PCD 00 00") } != nil)
        try await Task.sleep(for: .milliseconds(100))  // let the thread block in SCardGetStatusChange

        let start = ContinuousClock.now
        monitor.stop()
        let took = ContinuousClock.now - start
        print("stop: returned in \(took.formatted)")
        #expect(took < .seconds(1))
        let ended = await log.waitForEnd(within: .seconds(1))
        #expect(ended != nil, "the stream finished")
        await task.value

        let again = ContinuousClock.now
        monitor.stop()
        #expect(ContinuousClock.now - again < .milliseconds(100), "stop() is idempotent")
        var late = monitor.events().makeAsyncIterator()
        #expect(await late.next() == nil, "events() after stop() is an empty stream")
    }

    @Test func stopDuringBackOffReturnsPromptly() async throws {
        defer { Testbed.runNow("start") }
        try await Testbed.run("stop")
        let monitor = ReaderMonitor(retryDelays: .seconds(5) ... .seconds(5))
        let (log, _) = EventLog.consuming(monitor.events())
        let down = await log.first(within: .seconds(2)) { if case .serviceUnavailable = $0 { true } else { false } }
        try #require(down != nil, "the first event without pcscd is serviceUnavailable: \(log.events)")
        #expect(down?.index == 0)

        let start = ContinuousClock.now
        monitor.stop()
        let took = ContinuousClock.now - start
        print("stop during back-off: returned in \(took.formatted)")
        #expect(took < .seconds(1))
        #expect(await log.waitForEnd(within: .seconds(1)) != nil)
    }

    @Test func consumerGoingAwayStopsTheMonitor() async throws {
        let monitor = ReaderMonitor()
        let (log, task) = EventLog.consuming(monitor.events())
        try #require(await log.first(within: .seconds(2)) { $0 == .readerAdded("Virtual PCD 00 00") } != nil)
        task.cancel()
        #expect(await log.waitForEnd(within: .seconds(1)) != nil)
        // The thread has been asked to stop; stop() only waits for it to be gone.
        let start = ContinuousClock.now
        monitor.stop()
        #expect(ContinuousClock.now - start < .seconds(1))
    }

    @Test func namesEveryReturnCodeOfPcsclite() throws {
        let header = try String(contentsOfFile: "/usr/include/PCSC/pcsclite.h", encoding: .utf8)
        var checked = 0
        for line in header.split(separator: "\n") where line.hasPrefix("#define SCARD_") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 3, fields[2].hasPrefix("((LONG)0x") else { continue }
            let name = String(fields[1])
            let hex = fields[2].dropFirst("((LONG)0x".count).prefix { $0.isHexDigit }
            let value = try #require(Int(hex, radix: 16))
            if value == 0x8010_001F {
                #expect(["SCARD_E_UNEXPECTED", "SCARD_E_UNSUPPORTED_FEATURE"].contains(PCSC.name(of: value)))
            } else {
                #expect(PCSC.name(of: value) == name)
            }
            checked += 1
        }
        #expect(checked >= 60)
        #expect(PCSC.name(of: 0x8010_001D) == "SCARD_E_NO_SERVICE")
        #expect(PCSC.name(of: Int(Int32(bitPattern: 0x8010_001D))) == "SCARD_E_NO_SERVICE")
        #expect(PCSC.name(of: 0x8010_0099) == "SCARD 0x80100099")
    }
}
