import Foundation
import Synchronization

/// One-shot questions to pcscd.
public enum PCSC {
    /// The readers pcscd knows and whether a card sits in each, right now.
    ///
    /// Establishes a context, lists the readers, reads their state with `SCardGetStatusChange`
    /// (timeout 0) and releases the context. Never hangs: the calls run on their own thread and the
    /// answer is abandoned after 3 seconds (`PCSCError.Code.timedOut`).
    ///
    /// - Returns: the readers sorted by name; empty when pcscd runs without readers.
    /// - Throws: `PCSCError` with code `.noService` when pcscd is not running.
    public static func readers() throws -> [ReaderState] {
        try readers(timeout: .seconds(3))
    }

    /// `readers()` with another bound on how long pcscd may take to answer.
    public static func readers(timeout: Duration) throws -> [ReaderState] {
        try BoundedCall.run(timeout: timeout, what: "list the smart card readers") { () throws(PCSCError) in
            try snapshot()
        }
    }

    /// The name of a pcsclite return code: `0x8010001D` → `SCARD_E_NO_SERVICE`.
    ///
    /// Knows every `SCARD_S_*`, `SCARD_F_*`, `SCARD_E_*`, `SCARD_P_*` and `SCARD_W_*` code of
    /// pcsclite 1.9 (`0x8010001F`, both `SCARD_E_UNEXPECTED` and `SCARD_E_UNSUPPORTED_FEATURE` there,
    /// is named after the latter, which is what pcsclite returns it for). Accepts the 32-bit
    /// (negative) form too. Other values read `SCARD 0x…`.
    public static func name(of code: Int) -> String {
        let value = ReturnCode.normalized(code)
        if let name = ReturnCode.names[value] { return name }
        let hex = String(value, radix: 16, uppercase: true)
        return "SCARD 0x" + String(repeating: "0", count: max(0, 8 - hex.count)) + hex
    }

    /// The snapshot itself, on the calling thread.
    static func snapshot() throws(PCSCError) -> [ReaderState] {
        let context = try SCardContext()
        defer { context.release() }
        // A reader can leave between the list and the status call (SCARD_E_UNKNOWN_READER): read again.
        for _ in 0..<3 {
            let names = try context.listReaders().sorted()
            var result: [ReaderState] = []
            var vanished = false
            for start in stride(from: 0, to: names.count, by: SCard.maxReaderStates) {
                let chunk = Array(names[start..<min(start + SCard.maxReaderStates, names.count)])
                let states = ReaderStateArray(names: chunk, currentStates: chunk.map { _ in SCardStateFlags.unaware.rawValue })
                let rv = context.getStatusChange(states, timeoutMilliseconds: 0)
                if rv == ReturnCode.unknownReader {
                    vanished = true
                    break
                }
                guard rv == ReturnCode.success else { throw PCSCError.from(rv, function: "SCardGetStatusChange") }
                for index in 0..<states.count where !SCardStateFlags(event: states.eventState(index)).contains(.unknown) {
                    result.append(states.readerState(index))
                }
            }
            if !vanished { return result }
        }
        throw PCSCError(.other, "the reader list kept changing while it was read", function: "SCardGetStatusChange")
    }
}

/// Runs a blocking PC/SC call on a thread of its own and waits for it at most `timeout`.
///
/// A pcscd that accepts the connection but never answers would block the caller forever; with this
/// the caller gets `timedOut` and the thread is left to finish (and release its context) on its own.
enum BoundedCall {
    static func run<T: Sendable>(
        timeout: Duration, what: String, _ body: @escaping @Sendable () throws(PCSCError) -> T
    ) throws(PCSCError) -> T {
        let result = Mutex<Result<T, PCSCError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let outcome = Result<T, PCSCError> { () throws(PCSCError) in try body() }
            result.withLock { $0 = outcome }
            done.signal()
        }
        thread.name = "paysign.pcsc.call"
        thread.start()
        guard done.wait(timeout: .now() + timeout.dispatchInterval) == .success, let outcome = result.withLock({ $0 }) else {
            throw PCSCError(
                .timedOut,
                "pcscd did not answer within \(timeout) when asked to \(what): it may be hung; restart it with 'systemctl restart pcscd'")
        }
        return try outcome.get()
    }
}

extension Duration {
    /// The duration as Dispatch's interval (nanoseconds, saturating).
    var dispatchInterval: DispatchTimeInterval {
        let (seconds, attoseconds) = components
        let nanoseconds = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !nanoseconds.overflow, seconds < Int64(Int.max / 1_000_000_000) else { return .never }
        return .nanoseconds(Int(nanoseconds.partialValue + attoseconds / 1_000_000_000))
    }

    /// The duration in whole milliseconds, at least 1 and at most `UInt32.max - 1` (not `INFINITE`).
    var wholeMilliseconds: UInt32 {
        let (seconds, attoseconds) = components
        let value = Double(seconds) * 1000 + Double(attoseconds) / 1e15
        return UInt32(min(max(value.rounded(.up), 1), Double(UInt32.max - 1)))
    }
}
