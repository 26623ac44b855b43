public import ArgumentParser
import Dispatch
import Foundation
public import Logging
import PaysignPCSC
import PaysignPKCS11
import PaysignTokens

/// The daemon. For now it is the token monitor alone: it loads the PKCS#11 modules, watches PC/SC
/// readers and cards, cuts off a token's sessions the moment its card leaves, and logs what it
/// sees until SIGTERM or SIGINT. The Unix-socket API, registry and journal come next.
@main
struct Paysignd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paysignd",
        abstract: "The paysign daemon: owns the tokens (for now: watches tokens, readers and cards).")

    @Option(name: .customLong("module"), help: ArgumentHelp("Load only this PKCS#11 module; default: every module p11-kit registers.", valueName: "path"))
    var module: String?

    @Option(
        name: .customLong("bind"),
        help: ArgumentHelp("Tie a token to a reader, READER=TOKEN-URI (for modules that do not name their reader).", valueName: "reader=uri"))
    var bindings: [String] = []

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "paysignd")
        let parsed = try bindings.map { text -> PresenceBinding in
            guard let cut = text.range(of: "=pkcs11:") else {
                throw ValidationError("--bind takes READER=TOKEN-URI, e.g. 'Virtual PCD 00 00=pkcs11:token=officer1'")
            }
            let uri = try PKCS11URI(String(text[text.index(after: cut.lowerBound)...]))
            return PresenceBinding(token: uri, reader: String(text[..<cut.lowerBound]))
        }
        let service: TokenService
        do {
            service = try TokenService(modules: module.map { .path($0) } ?? .registered, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("paysignd: \(error)\n".utf8))
            throw ExitCode(2)
        }
        defer { service.close() }
        let inventory = await service.inventory(readers: false)
        logger.info("tokens present: \(inventory.tokens.map { "'\($0.label)'" }.joined(separator: ", "))")

        let monitor = ReaderMonitor(logger: logger)
        let watcher = PresenceWatcher(library: service.library, bindings: parsed, logger: logger)
        let signals = [SIGTERM, SIGINT].map { signal -> any DispatchSourceSignal in
            Foundation.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal)
            source.setEventHandler {
                logger.notice("signal \(signal): shutting down")
                monitor.stop()
            }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        let events = monitor.events()
        let (logged, continuation) = AsyncStream.makeStream(of: ReaderEvent.self)
        async let watching: Void = watcher.run(logged)
        for await event in events {
            logger.info("\(event)")
            continuation.yield(event)
        }
        continuation.finish()
        await watching
        logger.notice("stopped")
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
