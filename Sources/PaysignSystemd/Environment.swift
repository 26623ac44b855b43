import Glibc

/// The process environment, read and cleared through libc (no Foundation in this module).
///
/// `setenv`/`unsetenv` are not thread-safe in glibc: the callers that clear variables do it at
/// start-up, before the daemon starts threads, as `sd_listen_fds(3)` expects.
enum Environment {
    /// The values of `names` that are set.
    static func read(_ names: [String]) -> [String: String] {
        var values: [String: String] = [:]
        for name in names {
            if let value = getenv(name) { values[name] = String(cString: value) }
        }
        return values
    }

    static func unset(_ names: [String]) {
        for name in names { unsetenv(name) }
    }

    /// A decimal number as systemd writes it: ASCII digits only, no sign, no spaces.
    static func decimal(_ text: String?) -> UInt64? {
        guard let text, !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return UInt64(text)
    }

    /// A process id as systemd writes it (`parse_pid`): a decimal number above 0 that fits `pid_t`.
    static func processID(_ text: String?) -> Int32? {
        guard let value = decimal(text), value > 0, value <= UInt64(Int32.max) else { return nil }
        return Int32(value)
    }
}
