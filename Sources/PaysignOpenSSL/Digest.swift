internal import CLibCrypto

/// SHA-256 through OpenSSL's EVP interface (the same code `openssl dgst` and `sha256sum`-class
/// tools use, with its assembly and SHA extensions).
public enum SHA256 {
    public static let byteCount = 32

    /// The digest of `bytes` in one call (the calling thread's reused context, SHA-256 fetched
    /// once: see `ThreadCrypto`).
    public static func hash<Bytes: ContiguousBytes>(_ bytes: Bytes) -> [UInt8] {
        let crypto = ThreadCrypto.current
        let digest = [UInt8](unsafeUninitializedCapacity: byteCount) { out, count in
            let ok = bytes.withUnsafeBytes { crypto.sha256($0, into: out.baseAddress!) }
            precondition(ok, "SHA-256 cannot fail on valid input")
            count = byteCount
        }
        return digest
    }

    /// Lowercase hex, as `sha256sum` prints it.
    public static func hex(_ digest: [UInt8]) -> String { Hex.string(digest) }
}

/// Bytes as lowercase hex: digests, key ids, ATRs. The one place paysign spells bytes out.
public enum Hex {
    public static func string<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

public protocol ContiguousBytes {
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}
extension Array: ContiguousBytes where Element == UInt8 {}
extension ArraySlice: ContiguousBytes where Element == UInt8 {}

