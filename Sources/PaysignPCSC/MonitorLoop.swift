internal import CPCSCLite
import Dispatch
import Foundation
import Logging
import Synchronization

/// The body of `ReaderMonitor`'s thread. Not Sendable: it lives and dies on that one thread.
final class MonitorLoop {
    private let monitor: ReaderMonitor
    private let logger: Logger
    private let continuation: AsyncStream<ReaderEvent>.Continuation
    private var shared: MonitorShared { monitor.shared }

    /// The readers as reported in the stream so far.
    private var known: [String: ReaderState] = [:]
    /// Each reader's last `dwEventState` (with pcsclite's event counter), fed back as `dwCurrentState`.
    private var lastEvent: [String: DWORD] = [:]
    /// True after `.serviceUnavailable` until pcscd answers again.
    private var serviceDown = false
    private var backoff: Duration
    private var warnedTooManyReaders = false

    init(monitor: ReaderMonitor, logger: Logger, continuation: AsyncStream<ReaderEvent>.Continuation) {
        self.monitor = monitor
        self.logger = logger
        self.continuation = continuation
        self.backoff = monitor.retryDelays.lowerBound
    }

    private enum Outcome {
        case stopped
        case failed(PCSCError)
    }

    private var stopping: Bool { shared.state.withLock { $0.phase != .running } }

    func run() {
        logger.debug("PC/SC monitor started")
        while !stopping {
            let context: SCardContext
            do {
                context = try SCardContext()
            } catch {
                serviceGone(error)
                pause()
                continue
            }
            let published = shared.state.withLock { state -> Bool in
                guard state.phase == .running else { return false }
                state.context = Int(context.handle)
                return true
            }
            guard published else {
                context.release()
                break
            }
            let outcome = watch(context)
            shared.state.withLock { $0.context = nil }
            context.release()
            if case .failed(let error) = outcome {
                if let rv = error.returnCode, PCSCError.isServiceGone(rv) {
                    serviceGone(error)
                } else {
                    logger.error(
                        "PC/SC monitor: \(error.message); reconnecting to pcscd",
                        metadata: ["pcsc.function": "\(error.function)", "pcsc.returnValue": "\(error.returnValue ?? "")"])
                }
                pause()
            }
        }
        shared.state.withLock {
            $0.phase = .finished
            $0.context = nil
        }
        continuation.finish()
        shared.finished.signal()
        logger.debug("PC/SC monitor stopped")
    }

    /// Waits the current back-off (or until `stop()`), then doubles it up to the upper bound.
    private func pause() {
        guard !stopping else { return }
        _ = shared.wake.wait(timeout: .now() + backoff.dispatchInterval)
        backoff = min(backoff * 2, monitor.retryDelays.upperBound)
    }

    /// Follows pcscd on one context until it fails or the monitor stops.
    private func watch(_ context: SCardContext) -> Outcome {
        var plugAndPlayState: DWORD = 0
        var answered = false
        while !stopping {
            // Listing every round also catches readers that came or went between two waits.
            let listed: [String]
            do {
                listed = try context.listReaders().sorted()
            } catch {
                return .failed(error)
            }
            let keep = Set(listed)
            for name in known.keys.sorted() where !keep.contains(name) { readerGone(name) }

            let watched = Array(listed.prefix(SCard.maxReaderStates - 1))
            if watched.count < listed.count && !warnedTooManyReaders {
                warnedTooManyReaders = true
                logger.warning("pcscd has \(listed.count) readers; only the first \(watched.count) are watched")
            }
            let states = ReaderStateArray(
                names: [SCard.plugAndPlayReader] + watched,
                currentStates: [plugAndPlayState] + watched.map { lastEvent[$0] ?? SCardStateFlags.unaware.rawValue })
            // The first wait only collects the present state (unaware readers answer at once).
            let timeout = answered ? monitor.waitTimeout.wholeMilliseconds : 0
            let rv = context.getStatusChange(states, timeoutMilliseconds: DWORD(timeout))
            switch rv {
            case ReturnCode.success, ReturnCode.timeout:
                if !answered {
                    answered = true
                    serviceBack()
                }
                guard rv == ReturnCode.success else { continue }
                plugAndPlayState = states.eventState(0) & ~SCardStateFlags.changed.rawValue
                for index in 1..<states.count {
                    let event = states.eventState(index)
                    let name = states.names[index]
                    if SCardStateFlags(event: event).contains(.unknown) {
                        readerGone(name)
                        continue
                    }
                    let previous = lastEvent[name]
                    lastEvent[name] = event & ~SCardStateFlags.changed.rawValue
                    // pcsclite counts card movements in the high word: a change while a card stays
                    // present means it was swapped between two waits.
                    let moved = previous.map { SCardStateFlags.counter(of: $0) != SCardStateFlags.counter(of: event) } ?? false
                    update(states.readerState(index), cardMoved: moved)
                }
            case ReturnCode.cancelled:
                continue  // stop() (the loop condition sees it), or a cancel meant for an earlier wait
            case ReturnCode.unknownReader, ReturnCode.readerUnavailable:
                continue  // a reader left between the list and the wait: list again
            default:
                return .failed(PCSCError.from(rv, function: "SCardGetStatusChange"))
            }
        }
        return .stopped
    }

    // MARK: Events

    private func emit(_ event: ReaderEvent) {
        logger.debug("PC/SC event", metadata: ["pcsc.event": "\(event)"])
        continuation.yield(event)
    }

    private func publish() {
        let snapshot = known
        shared.state.withLock { $0.readers = snapshot }
    }

    private func update(_ new: ReaderState, cardMoved: Bool) {
        let old = known[new.name]
        known[new.name] = new
        publish()
        guard let old else {
            emit(.readerAdded(new.name))
            if new.cardPresent { emit(.cardInserted(reader: new.name, atr: new.atr ?? [])) }
            return
        }
        switch (old.cardPresent, new.cardPresent) {
        case (true, false):
            emit(.cardRemoved(reader: new.name))
        case (false, true):
            emit(.cardInserted(reader: new.name, atr: new.atr ?? []))
        case (true, true):
            let swapped = cardMoved || (old.atr != nil && new.atr != nil && old.atr != new.atr)
            if swapped {
                emit(.cardRemoved(reader: new.name))
                emit(.cardInserted(reader: new.name, atr: new.atr ?? []))
            } else if old.atr == nil, let atr = new.atr {
                // pcscd reported the card before it had powered it; the ATR is news, the card is not.
                logger.debug("PC/SC card powered", metadata: ["pcsc.reader": "\(new.name)", "pcsc.atrLength": "\(atr.count)"])
            }
        case (false, false):
            break
        }
    }

    private func readerGone(_ name: String) {
        lastEvent[name] = nil
        guard let old = known.removeValue(forKey: name) else { return }
        publish()
        if old.cardPresent { emit(.cardRemoved(reader: name)) }
        emit(.readerRemoved(name))
    }

    private func serviceGone(_ error: PCSCError) {
        guard !serviceDown else {
            logger.debug("pcscd still unavailable; retrying", metadata: ["pcsc.retryIn": "\(backoff)"])
            return
        }
        serviceDown = true
        logger.warning(
            "\(error.message); reader and card events resume when it answers again",
            metadata: ["pcsc.function": "\(error.function)", "pcsc.returnValue": "\(error.returnValue ?? "")"])
        emit(.serviceUnavailable(error.message))
        for name in known.keys.sorted() { readerGone(name) }
        lastEvent = [:]
    }

    private func serviceBack() {
        backoff = monitor.retryDelays.lowerBound
        guard serviceDown else { return }
        serviceDown = false
        logger.notice("pcscd answers again; reader and card events resume")
        emit(.serviceAvailable)
    }
}
