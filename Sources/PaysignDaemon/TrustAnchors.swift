import Foundation
import PaysignOpenSSL

/// The configuration's `trust-anchors`: the certificates revocation lists and signed orders must
/// chain to, read once at start-up.
enum TrustAnchors {
    /// The certificates of a PEM file, or of every `.pem`/`.crt` file of a folder.
    static func load(_ path: String?) throws -> [Certificate] {
        guard let path else { return [] }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DaemonError("trust-anchors: \(path) does not exist")
        }
        let files: [String]
        if isDirectory.boolValue {
            files = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
                .filter { $0.hasSuffix(".pem") || $0.hasSuffix(".crt") }.sorted().map { path + "/" + $0 }
        } else {
            files = [path]
        }
        var out: [Certificate] = []
        for file in files {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw DaemonError("trust-anchors: cannot read \(file)")
            }
            for block in pemBlocks(text, label: "CERTIFICATE") {
                do { out.append(try Certificate(pemEncoded: block)) } catch {
                    throw DaemonError("trust-anchors: \(file) holds a certificate OpenSSL cannot read: \(error)")
                }
            }
        }
        if out.isEmpty { throw DaemonError("trust-anchors: \(path) holds no PEM certificate") }
        return out
    }

    static func pemBlocks(_ text: String, label: String) -> [String] {
        let begin = "-----BEGIN \(label)-----", end = "-----END \(label)-----"
        var blocks: [String] = []
        var rest = text[...]
        while let start = rest.range(of: begin), let stop = rest.range(of: end, range: start.upperBound..<rest.endIndex) {
            blocks.append(String(rest[start.lowerBound..<stop.upperBound]) + "\n")
            rest = rest[stop.upperBound...]
        }
        return blocks
    }

}
