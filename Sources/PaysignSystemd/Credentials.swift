import Foundation

/// systemd's credentials (`LoadCredential=NAME:PATH` in the unit puts a copy of the file, readable
/// by the service alone, in `$CREDENTIALS_DIRECTORY`): how a machine's token PIN and keys reach
/// paysign's services, never through a configuration file, the command line or the environment
/// (the variable holds a folder, not a secret).
public struct SystemdCredentials: Sendable {
    public let directory: String?

    /// The credentials systemd gave this process.
    public init() {
        directory = ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"]
    }

    public init(directory: String?) {
        self.directory = directory
    }

    /// A credential's bytes; one sentence when it is missing.
    public func bytes(_ name: String) throws -> [UInt8] {
        guard let directory else {
            throw SystemdCredentialError("the credential \(name) is missing: $CREDENTIALS_DIRECTORY is not set (give it with LoadCredential=\(name):PATH in the unit)")
        }
        guard let bytes = try read("\(directory)/\(name)") else {
            throw SystemdCredentialError("the credential \(name) is missing from $CREDENTIALS_DIRECTORY (give it with LoadCredential=\(name):PATH in the unit)")
        }
        return bytes
    }

    /// A secret (a PIN): the bytes without a final line break; the caller wipes them.
    public func secret(_ name: String) throws -> [UInt8] {
        var bytes = try bytes(name)
        while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
        guard !bytes.isEmpty else { throw SystemdCredentialError("the credential \(name) is empty") }
        return bytes
    }

    public func optionalString(_ name: String) throws -> String? {
        guard let directory, let bytes = try read("\(directory)/\(name)") else { return nil }
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .newlines)
    }

    /// The file's bytes (at most 64 KiB, never through a link); nil when it does not exist.
    func read(_ path: String) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw SystemdCredentialError("the credential \(path) cannot be opened (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        defer { for index in buffer.indices { buffer[index] = 0 } }
        while true {
            let count = Foundation.read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            bytes += buffer[0..<count]
            guard bytes.count <= 64 << 10 else { throw SystemdCredentialError("the credential \(path) is over 64 KiB") }
        }
        return bytes
    }
}

public struct SystemdCredentialError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
