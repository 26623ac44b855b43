import Foundation
import PaysignStore
import Prometheus

/// The outbox (payable orders on their way to the payment center, D8) in Prometheus's text format,
/// rendered by swift-prometheus from a registry made for this one answer: the entity's side of
/// the figures the center exports on its own operations port.
struct OutboxFigures {
    let prometheusText: [UInt8]

    init(_ entries: [Registry.OutboxEntry], now: Date) {
        let registry = PrometheusCollectorRegistry()
        // paysign_outbox_NAME[_UNIT]
        func gauge(_ name: String, unit: String = "", _ help: String, _ labels: [(String, String)] = []) -> Gauge {
            registry.makeGauge(
                descriptor: MetricNameDescriptor(namespace: "paysign", subsystem: "outbox", metricName: name, unitName: unit, helpText: help),
                labels: labels)
        }
        let pending = entries.filter { $0.state == "pending" }
        gauge("pending", "Payable orders not yet answered for good by the payment center").set(Int64(pending.count))
        gauge("oldest_pending", unit: "seconds", "How long the oldest waiting order has waited (0: none waits)")
            .set(pending.map { now.timeIntervalSince($0.queuedAt) }.max() ?? 0)
        gauge("pending_attempts", "Attempts spent so far on the orders still waiting").set(Int64(pending.reduce(0) { $0 + $1.attempts }))
        let delivered = entries.filter { $0.state == "delivered" }
        for outcome in ["accepted", "invalid", "refused"] {
            gauge("delivered", "Orders the payment center answered for good, by its answer", [("outcome", outcome)])
                .set(Int64(delivered.filter { $0.outcome == outcome }.count))
        }
        for state in ["accepted", "paid", "returned"] {
            gauge("center_state", "Accepted orders by where they stand at the payment center, as last polled", [("state", state)])
                .set(Int64(delivered.filter { $0.outcome == "accepted" && ($0.centerState ?? "accepted") == state }.count))
        }
        prometheusText = registry.emitToBuffer()
    }
}
