import QBalloonDaemon

/// Reads one series' value from Prometheus text: `name{vm="a"} 3`.
enum MetricsText {
    static func value(_ text: String, _ name: String, vm: String? = nil) -> Double? {
        let prefix = vm.map { "\(name){vm=\"\($0)\"} " } ?? "\(name) "
        for line in text.split(separator: "\n") where line.hasPrefix(prefix) {
            return Double(line.dropFirst(prefix.count).split(separator: " ").first ?? "")
        }
        return nil
    }

    static func value(_ metrics: DaemonMetrics, _ name: String, vm: String? = nil) -> Double? {
        value(String(decoding: metrics.exposition(), as: UTF8.self), name, vm: vm)
    }
}
