import Foundation
internal import CLibCrypto

extension SHA256 {
    /// The SHA-256 of a file's bytes and their count, read in 1 MiB pieces (a payroll file may be
    /// hundreds of megabytes; it is never held whole). Throws when the file cannot be read.
    public static func hashFile(atPath path: String) throws -> (digest: [UInt8], byteCount: Int) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw OpenSSLError(.internalError, "cannot open \(path)")
        }
        defer { try? handle.close() }
        guard let context = EVP_MD_CTX_new() else { throw OpenSSLError(.internalError, "EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestInit_ex(context, ThreadCrypto.sha256, nil) == 1 else { throw OpenSSLError(.internalError, "SHA-256 unavailable") }
        var total = 0
        while true {
            let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty { break }
            total += chunk.count
            let ok = chunk.withUnsafeBytes { EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
            guard ok == 1 else { throw OpenSSLError(.internalError, "SHA-256 failed") }
        }
        var digest = [UInt8](repeating: 0, count: byteCount)
        var length: UInt32 = 0
        guard EVP_DigestFinal_ex(context, &digest, &length) == 1, length == 32 else {
            throw OpenSSLError(.internalError, "SHA-256 failed")
        }
        return (digest, total)
    }
}
