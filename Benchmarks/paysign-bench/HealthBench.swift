import Foundation
import Synchronization
import PaysignClient

/// `GET /v1/health` round trips over the daemon's socket, from `clients` threads at once, each a
/// new connection per request as the `paysign` client makes them.
enum HealthBench {
    static func run(socket: String, clients: Int, seconds: Double) -> (rate: Double, p50: Double, p99: Double, errors: Int) {
        let results = Mutex<(latencies: [Double], errors: Int)>(([], 0))
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        let group = DispatchGroup()
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<clients {
            group.enter()
            let thread = Thread {
                let client = DaemonClient(socketPath: socket, timeout: .seconds(10))
                var mine: [Double] = []
                var failed = 0
                while DispatchTime.now().uptimeNanoseconds < deadline {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    if let response = try? client.get("/v1/health"), response.status == 200 {
                        mine.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                    } else {
                        failed += 1
                    }
                }
                results.withLock {
                    $0.latencies += mine
                    $0.errors += failed
                }
                group.leave()
            }
            thread.start()
        }
        group.wait()
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let (unsorted, errors) = results.withLock { $0 }
        let latencies = unsorted.sorted()
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
        }
        return (Double(latencies.count) / elapsed, percentile(0.5), percentile(0.99), errors)
    }
}
