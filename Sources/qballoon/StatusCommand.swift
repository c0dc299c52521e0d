import ArgumentParser
import QBalloonCore
import QBalloon
import QBalloonJSON
import QBalloonQMP

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a VM's balloon: actual size, maximum, device path, QEMU version, last guest statistics.")

    @OptionGroup var monitor: MonitorOptions

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() async throws {
        let report = try await withBalloon(monitor) { balloon in
            let status = BalloonStatus(
                identity: balloon.identity,
                identityLine: balloon.identityLine,
                version: try await balloon.qemuVersion(),
                path: balloon.devicePath,
                actual: try await balloon.actual(),
                max: try await balloon.maxBytes(),
                pollingInterval: try await balloon.pollingInterval(),
                features: try await balloon.features(),
                stats: try await balloon.stats(),
                now: WallClock.system.now())
            // Figures that cannot be true are not shown as if they were.
            try balloon.checkPlausible(actual: status.actual, stats: status.stats, previous: nil, ramBytes: status.max)
            return status
        }
        print(json ? report.json.encodedString(sortedKeys: true) : report.text)
    }
}

/// What `status` shows.
struct BalloonStatus {
    /// How the VM was reached: `qmp`, or `libvirt` and `domain` (``VMBalloon/identity``).
    var identity: [String: JSON]
    var identityLine: String
    var version: QEMUVersion
    var path: String
    var actual: UInt64
    var max: UInt64
    var pollingInterval: Int
    var features: BalloonFeatures
    var stats: GuestStats
    var now: Double

    var json: JSON {
        .object(identity.merging([
            "qemu_version": .string("\(version.major).\(version.minor).\(version.micro)"),
            "qemu_package": .string(version.package),
            "balloon_path": .string(path),
            "actual_bytes": .unsigned(actual),
            "max_bytes": .unsigned(max),
            "stats_polling_interval": .int(Int64(pollingInterval)),
            "deflate_on_oom": features.deflateOnOOM.map(JSON.bool) ?? .null,
            "free_page_reporting": features.freePageReporting.map(JSON.bool) ?? .null,
            "stats_updated": stats.lastUpdate.map { JSON.int($0) } ?? .null,
            "stats_age_seconds": stats.age(now: now).map { JSON.int(Int64($0.rounded())) } ?? .null,
            "stats": stats.json,
        ]) { first, _ in first })
    }

    static func onOff(_ flag: Bool?) -> String { flag.map { $0 ? "on" : "off" } ?? "unknown" }

    var text: String {
        var lines = [
            identityLine,
            "qemu         \(version)",
            "balloon      \(path)",
            "actual       \(MemorySize.format(actual)) (\(actual) bytes)",
            "max          \(MemorySize.format(max)) (\(max) bytes)",
            "features     deflate-on-oom \(Self.onOff(features.deflateOnOOM)), free-page-reporting \(Self.onOff(features.freePageReporting))",
        ]
        let polling = pollingInterval > 0 ? "polled every \(pollingInterval)s" : "polling off"
        if let age = stats.age(now: now) {
            lines.append("stats        \(polling), last report \(DurationText.format(seconds: age, style: .approximate)) ago")
            lines.append(contentsOf: statsLines(stats).map { "  " + $0 })
        } else {
            lines.append(
                "stats        \(polling), never reported"
                    + (pollingInterval > 0 ? " (no balloon driver in the guest?)" : " (turn polling on with `qballoon stats`)"))
        }
        return lines.joined(separator: "\n")
    }
}

func statsLines(_ stats: GuestStats) -> [String] {
    func size(_ value: UInt64?) -> String { value.map(MemorySize.format) ?? "unreported" }
    func count(_ value: UInt64?) -> String { value.map { "\($0)" } ?? "unreported" }
    return [
        "total        \(size(stats.total))",
        "available    \(size(stats.available))",
        "free         \(size(stats.free))",
        "disk caches  \(size(stats.diskCaches))",
        "swap in/out  \(size(stats.swapIn)) / \(size(stats.swapOut))",
        "faults       \(count(stats.majorFaults)) major, \(count(stats.minorFaults)) minor",
    ]
}
