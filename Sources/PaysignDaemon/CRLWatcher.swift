import Foundation
import PaysignApplication
import Logging
import PaysignDomain
import ServiceLifecycle

/// Imports revocation lists dropped into a configured file or folder (`crl-watch`): every few
/// seconds, each file whose modification time changed is read and imported (verified against
/// the trust anchors, refused when not newer than the held list), so a CRL copied in by the
/// authority's distribution job is applied without anyone calling the API.
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
        try await cancelWhenGracefulShutdown {
            var seen: [String: Date] = [:]
            while true {
                for file in Self.files(at: path) {
                    guard let modified = (try? FileManager.default.attributesOfItem(atPath: file))?[.modificationDate] as? Date,
                        seen[file] != modified
                    else { continue }
                    seen[file] = modified
                    guard let data = FileManager.default.contents(atPath: file), !data.isEmpty else { continue }
                    do {
                        let imported = try await authority.importWatchedCRL(Array(data))
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

    static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { [".crl", ".der", ".pem"].contains(where: $0.hasSuffix) }.sorted().map { path + "/" + $0 }
    }
}
