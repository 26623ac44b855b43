internal import CLibCrypto

/// SHA-256 through OpenSSL's EVP interface (the same code `openssl dgst` and `sha256sum`-class
/// tools use, with its assembly and SHA extensions).
public enum SHA256 {
    public static let byteCount = 32

    /// The digest of `bytes` in one call.
    public static func hash<Bytes: ContiguousBytes>(_ bytes: Bytes) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: byteCount)
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { buffer in
            EVP_Digest(buffer.baseAddress, buffer.count, &digest, &length, EVP_sha256(), nil)
        }
        precondition(ok == 1 && length == 32, "EVP_Digest(SHA-256) cannot fail on valid input")
        return digest
    }

    /// Lowercase hex, as `sha256sum` prints it.
    public static func hex(_ digest: [UInt8]) -> String {
        digest.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}

public protocol ContiguousBytes {
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}
extension Array: ContiguousBytes where Element == UInt8 {}
extension ArraySlice: ContiguousBytes where Element == UInt8 {}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
