import Foundation
import PaysignApplication
import Logging
import PaysignDomain
import PaysignFiles
import ServiceLifecycle

/// Imports revocation lists dropped into a configured file or folder (`crl-watch`): every few
/// seconds, each file whose modification time changed is read and imported (verified against
/// the trust anchors, refused when not newer than the held list), so a CRL copied in by the
/// authority's distribution job is applied without anyone calling the API. Only regular files are
/// read, never through a symbolic link, and none larger than `maximumBytes` (`WatchedFile`).
struct CRLWatcher: Service {
    let path: String?
    let authority: AuthorityDesk
    let logger: Logger
    var interval: Duration = .seconds(5)

    func run() async throws {
        guard let path else {
            // Nothing to watch; a service that returns would end the whole group.
            try? await gracefulShutdown()
            return
        }
        try await untilShutdown {
            var seen: [String: WatchedFile.Stamp] = [:]
            // A file refused for what it is (a link, not a regular file, too large) is named once
            // until it changes, not every few seconds.
            var refused: [String: String] = [:]
            while true {
                for file in Self.files(at: path) {
                    let read: WatchedFile.Read
                    do {
                        read = try WatchedFile.read(file, unlessStamped: seen[file], maximumBytes: Self.maximumBytes)
                    } catch let error as WatchedFile.Refusal {
                        if refused[file] != error.message { logger.warning("\(file): \(error.message)") }
                        refused[file] = error.message
                        continue
                    } catch {
                        continue
                    }
                    refused[file] = nil
                    guard case .changed(let bytes, let stamp) = read else { continue }
                    seen[file] = stamp
                    guard !bytes.isEmpty else { continue }
                    do {
                        let imported = try await authority.importWatchedCRL(bytes)
                        logger.notice("revocation list \(imported.number) from \(imported.issuer) imported from \(file) (\(imported.entries) entries)")
                    } catch let failure as UseCaseError {
                        logger.warning("\(file): \(failure.message)")
                    } catch {
                        logger.warning("\(file): \(error)")
                    }
                }
                try await Task.sleep(for: interval)
            }
        }
    }

    /// The largest file `crl-watch` reads: far more than any revocation list of a national CA
    /// (a million entries take about 40 MB), far less than the daemon's memory.
    static let maximumBytes = 64 << 20

    static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { [".crl", ".der", ".pem"].contains(where: $0.hasSuffix) }.sorted().map { path + "/" + $0 }
    }
}
