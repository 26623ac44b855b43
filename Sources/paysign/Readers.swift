import ArgumentParser
import Foundation
import PaysignPCSC

struct Readers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List PC/SC readers and cards, or watch them come and go.")

    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Keep printing reader and card events until interrupted.") var watch = false
    @Option(help: ArgumentHelp("With --watch: stop after this many seconds.", valueName: "seconds"))
    var duration: Double?

    func run() async throws {
        guard watch else {
            let readers: [ReaderState]
            do { readers = try PCSC.readers() } catch { throw Failure.usage("\(error)") }
            if json { try printJSON(readers) } else {
                if readers.isEmpty { print("No PC/SC reader.") }
                for reader in readers {
                    print("Reader '\(reader.name)': " + (reader.cardPresent ? "card present" : "no card"))
                }
            }
            return
        }
        let monitor = ReaderMonitor()
        let deadline = duration.map { ContinuousClock.now + .milliseconds(Int($0 * 1000)) }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in monitor.events() {
                    print(Self.describe(event))
                    fflush(nil)
                }
            }
            if let deadline {
                group.addTask {
                    try? await Task.sleep(until: deadline)
                    monitor.stop()
                }
            }
            await group.waitForAll()
        }
    }

    static func describe(_ event: ReaderEvent) -> String {
        let time = Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        switch event {
        case .readerAdded(let name): return "\(time) reader added: \(name)"
        case .readerRemoved(let name): return "\(time) reader removed: \(name)"
        case .cardInserted(let reader, _): return "\(time) card inserted: \(reader)"
        case .cardRemoved(let reader): return "\(time) card removed: \(reader)"
        case .serviceUnavailable(let why): return "\(time) pcscd unavailable: \(why)"
        case .serviceAvailable: return "\(time) pcscd available"
        }
    }
}
