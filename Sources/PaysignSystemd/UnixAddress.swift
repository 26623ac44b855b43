import Glibc

/// `sockaddr_un` in and out: filesystem paths and Linux's abstract namespace (`@name`, stored with
/// a leading NUL byte and no terminating one).
enum UnixAddress {
    /// Where `sun_path` starts inside `sockaddr_un` (2 on Linux).
    static let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
    /// The capacity of `sun_path` (108 on Linux).
    static let pathCapacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)

    /// The address for `text`: a path starting with "/" or an abstract name starting with "@",
    /// and its length as `connect`/`sendto` want it (what systemd's `sockaddr_un_set_path` does).
    static func make(_ text: String) throws(SystemdError) -> (address: sockaddr_un, length: socklen_t) {
        var bytes = Array(text.utf8)
        let length: Int
        switch bytes.first {
        case UInt8(ascii: "/"):
            guard !bytes.contains(0), bytes.count < pathCapacity else {
                throw SystemdError(
                    .unsupportedAddress,
                    "the socket path '\(text)' is longer than the \(pathCapacity - 1) bytes"
                        + " a Unix socket address holds")
            }
            length = pathOffset + bytes.count + 1
        case UInt8(ascii: "@"):
            bytes[0] = 0
            guard bytes.count <= pathCapacity else {
                throw SystemdError(
                    .unsupportedAddress,
                    "the abstract socket name '\(text)' is longer than the \(pathCapacity) bytes"
                        + " a Unix socket address holds")
            }
            length = pathOffset + bytes.count
        default:
            throw SystemdError(
                .unsupportedAddress,
                "the socket address '\(text)' is neither a path (/…) nor an abstract name (@…),"
                    + " the only kinds paysign supports")
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        return (address, socklen_t(length))
    }

    /// The local address of socket `fd` (`getsockname`) as text: the path, "@name" for an abstract
    /// name, "" for an unnamed socket; nil when `fd` is not an `AF_UNIX` socket.
    static func local(of fd: Int32) -> String? {
        var address = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0, Int(length) >= MemoryLayout<sa_family_t>.size, address.sun_family == sa_family_t(AF_UNIX) else {
            return nil
        }
        let count = min(max(Int(length) - pathOffset, 0), pathCapacity)
        let bytes = withUnsafeBytes(of: address.sun_path) { Array($0.prefix(count)) }
        guard let first = bytes.first else { return "" }
        if first == 0 { return "@" + String(decoding: bytes.dropFirst(), as: UTF8.self) }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}
