import ArgumentParser
import QBalloonCore
import QBalloon
import QBalloonJSON
import QBalloonQMP

struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Print each fresh sample of the guest's memory statistics.",
        discussion: """
            Turns the balloon's statistics polling on (guest-stats-polling-interval) when it is off, or when \
            --interval asks for another period, and leaves it on when done. A sample is printed when the guest \
            sends a new report; if none comes within three periods (at least 10s), the command fails.
            """)

    @OptionGroup var monitor: MonitorOptions

    @Option(help: ArgumentHelp("Seconds between guest reports (whole seconds, at least 1).", valueName: "SECONDS"))
    var interval: Int?

    @Option(help: ArgumentHelp("Stop after this many samples (default: run until interrupted).", valueName: "N"))
    var count: Int?

    @Flag(help: "Print one JSON object per line.")
    var json = false

    func validate() throws {
        if let interval, interval < 1 { throw ValidationError("--interval must be a whole number of seconds, at least 1") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        try await withBalloon(monitor) { balloon in
            var period = try await balloon.pollingInterval()
            if period == 0 || (interval != nil && interval != period) {
                period = interval ?? 2
                try await balloon.setPollingInterval(seconds: period)
            }
            let patience = max(10, Double(period) * 3)
            let ram = try await balloon.maxBytes()
            var previous: GuestStats?
            var lastSeen = try await balloon.stats().lastUpdate
            var printed = 0
            var waitingSince = WallClock.system.now()
            while count.map({ printed < $0 }) ?? true {
                try await Task.sleep(for: .milliseconds(250))
                let stats = try await balloon.stats()
                let now = WallClock.system.now()
                guard let update = stats.lastUpdate, update != lastSeen else {
                    if now - waitingSince > patience {
                        throw balloon.noStats(
                            "the guest sent no statistics within \(Int(patience))s with polling every \(period)s"
                                + " (is the virtio_balloon driver loaded in the guest?)")
                    }
                    continue
                }
                lastSeen = update
                waitingSince = now
                let actual = try await balloon.actual()
                try balloon.checkPlausible(actual: actual, stats: stats, previous: previous, ramBytes: ram)
                previous = stats
                print(json ? sampleJSON(stats, actual: actual).encodedString(sortedKeys: true) : sampleText(stats, actual: actual))
                printed += 1
            }
        }
    }

    private func sampleJSON(_ stats: GuestStats, actual: UInt64) -> JSON {
        [
            "time": stats.lastUpdate.map { JSON.int($0) } ?? .null,
            "actual_bytes": .unsigned(actual),
            "stats": stats.json,
        ]
    }

    private func sampleText(_ stats: GuestStats, actual: UInt64) -> String {
        func size(_ value: UInt64?) -> String { value.map(MemorySize.format) ?? "-" }
        func count(_ value: UInt64?) -> String { value.map { "\($0)" } ?? "-" }
        return "t=\(stats.lastUpdate ?? 0) actual=\(MemorySize.format(actual)) total=\(size(stats.total))"
            + " available=\(size(stats.available)) free=\(size(stats.free)) caches=\(size(stats.diskCaches))"
            + " swap_in=\(size(stats.swapIn)) swap_out=\(size(stats.swapOut))"
            + " major_faults=\(count(stats.majorFaults)) minor_faults=\(count(stats.minorFaults))"
    }
}
