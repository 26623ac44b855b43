import Foundation
import PaysignPKCS11
#if canImport(Glibc)
import Glibc
import PaysignSecrets
#endif

/// Where a PIN comes from: the terminal with echo off, or a file descriptor for automation.
/// Never from the command line or the environment, where other users and logs can see it (D5).
enum PINInput {
    /// Reads one line from `fd` (without the newline) into a `PIN`; the buffer is wiped.
    static func read(fd: Int32) throws -> PIN {
        // Room for the longest PIN up front: a growing array would leave copies in freed memory.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(260)
        defer { for i in bytes.indices { bytes[i] = 0 } }
        var byte: UInt8 = 0
        while true {
            let n = Glibc.read(fd, &byte, 1)
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure.usage("cannot read the PIN from file descriptor \(fd): \(String(cString: strerror(errno)))")
            }
            if n == 0 || byte == UInt8(ascii: "\n") { break }
            bytes.append(byte)
            if bytes.count > 256 { throw Failure.usage("the PIN on file descriptor \(fd) is longer than 256 bytes") }
        }
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        if bytes.isEmpty { throw Failure.usage("file descriptor \(fd) gave an empty PIN") }
        let pin = PIN(bytes)
        return pin
    }

    /// Prompts on the controlling terminal with echo turned off.
    static func prompt(_ text: String) throws -> PIN {
        let tty = open("/dev/tty", O_RDWR | O_NOCTTY)
        guard tty >= 0 else {
            throw Failure.usage("no terminal to ask for the PIN; pass it on a file descriptor with --pin-fd")
        }
        defer { close(tty) }
        var saved = termios()
        tcgetattr(tty, &saved)
        var silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        _ = text.withCString { Glibc.write(tty, $0, strlen($0)) }
        tcsetattr(tty, TCSAFLUSH, &silent)
        defer {
            tcsetattr(tty, TCSAFLUSH, &saved)
            _ = "\n".withCString { Glibc.write(tty, $0, 1) }
        }
        return try read(fd: tty)
    }

    static func obtain(fd: Int32?, prompt text: String) throws -> PIN {
        if let fd { return try read(fd: fd) }
        return try prompt(text)
    }
}
