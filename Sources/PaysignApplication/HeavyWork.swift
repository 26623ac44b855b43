import Dispatch

/// CPU-heavy steps of a use case (judging a 32 MiB order file line by line, verifying a CMS
/// signature and its chain) run here, one at a time, on a thread of their own: never on Swift's
/// cooperative threads, of which there is one per core. So one caller's large uploads never hold
/// every cooperative thread while another caller's signature waits for one (issue 16: no caller
/// can starve another); they wait for each other instead.
enum HeavyWork {
    private static let queue = DispatchQueue(label: "paysign.heavy-work", qos: .utility)

    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: body()) }
        }
    }
}
