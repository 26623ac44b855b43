import Dispatch
import Foundation
public import Logging
import Synchronization

/// Watches pcscd for readers and cards coming and going, and survives pcscd restarts.
///
/// ```swift
/// let monitor = ReaderMonitor(logger: logger)
/// for await event in monitor.events() {
///     switch event {
///     case .cardInserted(let reader, _): …
///     case .cardRemoved(let reader): …   // abort a signature on that reader's token
///     default: break
///     }
/// }
/// ```
///
/// The blocking `SCardGetStatusChange` runs on a dedicated thread, never on Swift's cooperative
/// pool. It watches every reader plus pcsclite's plug-and-play pseudo reader
/// (`\\?PnP?\Notification`), so readers appear and disappear as they are plugged in and out. When
/// pcscd is absent or goes away (`SCARD_E_NO_SERVICE`, `SCARD_E_SERVICE_STOPPED`,
/// `SCARD_F_COMM_ERROR`) the monitor reports `.serviceUnavailable` once, logs a warning, reports
/// the readers it knew as removed, and retries with exponential back-off (`retryDelays`); when
/// pcscd answers again it reports `.serviceAvailable` followed by the readers and cards.
/// A pcscd without readers is not an outage: the monitor waits for a reader to be plugged in.
public final class ReaderMonitor: Sendable {
    private let logger: Logger
    /// The shortest and longest pause between attempts to reach pcscd.
    public let retryDelays: ClosedRange<Duration>
    /// How long one `SCardGetStatusChange` waits before the thread looks again (a safety net:
    /// `stop()` wakes it at once with `SCardCancel`).
    let waitTimeout: Duration = .seconds(1)
    let shared = MonitorShared()

    /// - Parameters:
    ///   - logger: where the monitor says that pcscd went away or came back (warning / notice) and
    ///     what it saw (debug).
    ///   - retryDelays: the back-off while pcscd cannot be reached: the first retry waits the lower
    ///     bound, each further one twice as long, up to the upper bound. Default 0.1 s … 5 s.
    public init(
        logger: Logger = Logger(label: "paysign.pcsc"),
        retryDelays: ClosedRange<Duration> = .milliseconds(100) ... .seconds(5)
    ) {
        self.logger = logger
        self.retryDelays = max(retryDelays.lowerBound, .milliseconds(1)) ... max(retryDelays.upperBound, .milliseconds(1))
    }

    /// Starts the monitor and returns its events.
    ///
    /// The stream first describes the present: `.readerAdded` for every reader and `.cardInserted`
    /// for every card already in one (or `.serviceUnavailable` when pcscd is not running). Then it
    /// reports changes as they happen. It ends after `stop()`.
    ///
    /// One consumer is enough: the first call starts the monitor, and later calls (or calls after
    /// `stop()`) return a stream that is already finished. When the consumer goes away (its task
    /// is cancelled, or it drops the stream) the monitor stops.
    public func events() -> AsyncStream<ReaderEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: ReaderEvent.self, bufferingPolicy: .unbounded)
        let start = shared.state.withLock { state -> Bool in
            guard state.phase == .idle else { return false }
            state.phase = .running
            return true
        }
        guard start else {
            logger.warning("ReaderMonitor.events() was called again or after stop(); it serves one consumer, so this stream is empty")
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            // Also runs when the monitor's own thread finishes the stream; then this does nothing.
            self?.requestStop()
        }
        let thread = Thread { [self] in
            MonitorLoop(monitor: self, logger: logger, continuation: continuation).run()
        }
        thread.name = "paysign.pcsc.monitor"
        thread.stackSize = 1 << 19
        thread.start()
        return stream
    }

    /// Stops the monitor: `SCardCancel` wakes the blocked `SCardGetStatusChange` at once, the
    /// context is released and the stream finishes. Returns when that is done (normally within a
    /// few milliseconds, bounded at 2 seconds).
    ///
    /// Idempotent, and safe from any thread or task. Also happens when the stream's consumer goes away.
    public func stop() {
        guard requestStop() else { return }
        let deadline = DispatchTime.now() + .seconds(2)
        while true {
            // pcsclite drops a cancel that arrives before the wait has begun: repeat until the thread is gone.
            if let context = shared.state.withLock({ $0.context }) { SCard.cancel(context) }
            if shared.finished.wait(timeout: .now() + .milliseconds(20)) == .success {
                shared.finished.signal()  // let other callers of stop() through too
                return
            }
            if DispatchTime.now() >= deadline {
                logger.error("the PC/SC monitor thread did not stop within 2 seconds; pcscd may be hung")
                return
            }
        }
    }

    /// The readers as the monitor last saw them, sorted by name; empty before `events()` and while
    /// pcscd is unavailable.
    public var currentReaders: [ReaderState] {
        shared.state.withLock { $0.readers.values.sorted { $0.name < $1.name } }
    }

    /// Asks the thread to stop without waiting for it; true when a thread is (still) running.
    @discardableResult
    func requestStop() -> Bool {
        let (running, context) = shared.state.withLock { state -> (Bool, Int?) in
            switch state.phase {
            case .idle:
                state.phase = .finished
                return (false, nil)
            case .running:
                state.phase = .stopping
                return (true, state.context)
            case .stopping:
                return (true, state.context)
            case .finished:
                return (false, nil)
            }
        }
        guard running else { return false }
        shared.wake.signal()
        if let context { SCard.cancel(context) }
        return true
    }
}

/// What the monitor's thread shares with the callers of `stop()` and `currentReaders`.
final class MonitorShared: Sendable {
    enum Phase: Sendable { case idle, running, stopping, finished }

    struct State: Sendable {
        var phase: Phase = .idle
        /// The `SCARDCONTEXT` the thread is using, for `SCardCancel`; nil between connections.
        var context: Int?
        /// The readers as last seen.
        var readers: [String: ReaderState] = [:]
    }

    let state = Mutex(State())
    /// Signalled to end a back-off pause early (by `stop()`).
    let wake = DispatchSemaphore(value: 0)
    /// Signalled once when the thread has finished the stream; each waiter signals it again.
    let finished = DispatchSemaphore(value: 0)
}
