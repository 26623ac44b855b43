#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Where a PIN goes (rule D5), every step in this module but the last:
//   client   PINBody.json copies each PIN from its `PIN` straight into one pre-sized request body
//            that is wiped once sent (never into a String); the head and the body are written
//            separately (PaysignClient), so the PIN is never copied into a second buffer.
//   daemon   the HTTP server keeps the body in one buffer it zeroes once answered;
//            `PINFields.take` copies each PIN field into a `PIN` and overwrites it with stars
//            before any JSON decoder sees the body (`Request.decode(_:withPINs:)` in the daemon is
//            the one decode call every route that takes a PIN uses).
//   token    the use case (PaysignApplication) hands the `PIN` to `TokenLogin.login`, which gives
//            it to `C_Login` once, never retried (PaysignPKCS11, through `withBytes`); the `PIN`
//            is wiped when its last reference goes.

/// A PIN, held in memory that is locked against swapping where possible and wiped when released
/// (rule D5: the PIN never leaves the holder's control; it is never logged, printed or stored).
///
/// `description` never shows the bytes. Build one from the bytes a terminal or a file descriptor
/// gave, and let it go right after the one `C_Login` or `C_SetPIN` that needs it.
public final class PIN: @unchecked Sendable, CustomStringConvertible {
    // Immutable after init; wiped in deinit only, when nobody else can see it.
    private let storage: UnsafeMutableRawBufferPointer

    public init<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        _ = mlock(storage.baseAddress, storage.count)
        storage.copyBytes(from: bytes)
        count = bytes.count
    }

    /// The PIN from a string (for tests and for prompts that already hold a String).
    public convenience init(_ string: String) { self.init(Array(string.utf8)) }

    public let count: Int

    /// Lends the bytes for the duration of one C call (`C_Login`, `C_SetPIN`): for the modules of
    /// this package only, never for a product's caller.
    package func withBytes<T>(_ body: (UnsafeMutablePointer<UInt8>, Int) throws -> T) rethrows -> T {
        try body(storage.baseAddress!.assumingMemoryBound(to: UInt8.self), count)
    }

    public var description: String { "PIN(redacted)" }

    deinit {
        // memset_s is not in glibc; explicit_bzero is, and is not optimised away.
        explicit_bzero(storage.baseAddress!, storage.count)
        _ = munlock(storage.baseAddress, storage.count)
        storage.deallocate()
    }
}

extension PIN {
    /// Compares two PINs in constant time without copying them out.
    public func isEqual(to other: PIN) -> Bool {
        guard count == other.count else { return false }
        return withBytes { a, n in
            other.withBytes { b, _ in
                var difference: UInt8 = 0
                for i in 0..<n { difference |= a[i] ^ b[i] }
                return difference == 0
            }
        }
    }
}

extension PIN {
    /// Lends the bytes, for a client that copies them straight into the request that carries
    /// them (and wipes that request afterwards).
    public func withUnsafeBytes<T>(_ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        try withBytes { bytes, count in try body(UnsafeBufferPointer(start: bytes, count: count)) }
    }

    /// Lends the PIN as text for the one request that carries it to the daemon.
    public func withUnsafeText<T>(_ body: (Substring) throws -> T) rethrows -> T {
        try withBytes { bytes, count in
            try body(Substring(String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)))
        }
    }
}
