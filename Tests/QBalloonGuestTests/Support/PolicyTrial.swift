import Foundation
import QBalloonCore
import QBalloonRules
import QBalloonTestSupport

/// A config tried the way an operator comparing tools would: two real 1 GiB guests on an overcommitted synthetic
/// host of 2.25 GiB (256 MiB its own, given to the daemon through `[host] meminfo`), one idle with a burst, one
/// running a batch job that writes a tmpfs file (`memload` in the guest), and what came of it measured from both
/// sides: inside each guest, its `MemAvailable` every second and its kernel's OOM kills; outside, the balloons'
/// `actual` every second (memory returned, the host under its reserve) and the daemon's changes.
///
/// Two workloads: ``Workload/reference`` (2.5 minutes, run in CI for every shipped config) and ``Workload/trial``
/// (the 6 minutes of issue 9's side-by-side table, run by `scripts/policy-trial.sh`).
struct PolicyTrial {
    static let MiB: UInt64 = 1 << 20
    static let guestMiB = 1024
    static let hostTotal: UInt64 = 2304 * MiB
    static let hostOwnUse: UInt64 = 256 * MiB

    enum Workload: String, Sendable {
        /// After 75 s (the rules' `for 60s` have run), the batch guest grows at 20 MiB/s to 400 MiB, then at
        /// 40 MiB/s to 700 MiB, holds 10 s and frees it; 15 s later it takes 400 MiB at once for 10 s. The idle
        /// guest takes a burst of 90% of the headroom the policy promises at once, for 15 s.
        case reference
        /// Issue 9's trial: the batch guest writes at 20 MiB/s from 30 s up to 700 MiB, holds it 90 s, frees it,
        /// 60 s later takes 400 MiB at once for 30 s; the idle guest has a 100 MiB burst at 280 s for 30 s.
        case trial
    }

    /// What each guest's shell runs (in the background), and how long the trial lasts.
    struct Plan {
        var seconds: Double
        var batch: String
        var idle: String
        /// When both guests are idle and the daemon has had time to reclaim (seconds since the start).
        var quiet: Range<Double>
    }

    static func plan(_ workload: Workload, idleBurstMiB: Int) -> Plan {
        switch workload {
        case .reference:
            return Plan(
                seconds: 150,
                batch: "sleep 75; memload write /w/a 0 400 20; memload write /w/a 400 700 40; sleep 10; rm /w/a; "
                    + "sleep 15; memload write /w/b 0 400 0; sleep 10; rm /w/b",
                idle: "sleep 100; memload write /w/i 0 \(idleBurstMiB) 0; sleep 15; rm /w/i", quiet: 45..<75)
        case .trial:
            return Plan(
                seconds: 360,
                batch: "sleep 30; memload write /w/a 0 700 20; sleep 90; rm /w/a; sleep 60; memload write /w/b 0 400 0; "
                    + "sleep 30; rm /w/b",
                idle: "sleep 280; memload write /w/i 0 100 0; sleep 30; rm /w/i", quiet: 0..<0)
        }
    }

    /// What came of it.
    struct Outcome: CustomStringConvertible {
        var config: String
        var workload: Workload
        /// Bytes the balloons held back from the guests' RAM, summed over the samples.
        var returnedSum = 0.0
        var samples = 0
        /// The same while both guests are idle, before the batch job starts (from 45 s to 75 s of the reference).
        var returnedIdleSum = 0.0
        var idleSamples = 0
        var hostBelowReserve = 0.0
        var short: [String: Double] = [:]
        var longestShort: [String: Double] = [:]
        var oomKills: [String: Int] = [:]
        var changes = 0
        /// Seconds the guest's sampler covered (less than the trial: it was killed or starved).
        var sampled: [String: Double] = [:]

        var meanReturned: Double { returnedSum / Double(Swift.max(samples, 1)) }
        var meanReturnedWhileIdle: Double { returnedIdleSum / Double(Swift.max(idleSamples, 1)) }
        var totalOOMKills: Int { oomKills.values.reduce(0, +) }

        var description: String {
            let guests = ["idle", "batch"]
            return "\(config) (\(workload.rawValue)): returned \(String(format: "%.2f", meanReturned / Double(1 << 30))) GiB on average"
                + (idleSamples > 0 ? " (\(String(format: "%.2f", meanReturnedWhileIdle / Double(1 << 30))) GiB while both idle), " : ", ")
                + "host below its reserve \(Int(hostBelowReserve.rounded())) s, "
                + "short " + guests.map { "\($0) \(String(format: "%.0f", short[$0] ?? 0)) s (longest \(String(format: "%.0f", longestShort[$0] ?? 0)) s)" }.joined(separator: ", ")
                + ", OOM kills " + guests.map { "\($0) \(oomKills[$0] ?? 0)" }.joined(separator: ", ")
                + ", \(changes) balloon changes"
        }

        /// A row of the side-by-side table.
        var markdownRow: String {
            let shortText = ["idle", "batch"].map { String(format: "%.0f", short[$0] ?? 0) }.joined(separator: " / ")
            return "| \(config) | \(String(format: "%.2f", meanReturned / Double(1 << 30))) GiB | \(Int(hostBelowReserve.rounded())) s "
                + "| \(shortText) s | \(totalOOMKills) | \(changes) |"
        }
    }

    /// The config's settings for a 1 GiB guest and the headroom it promises a flat guest (the configured
    /// headroom, or the growth allowance over the daemon's reaction time if more), with the host reserve.
    struct Promise {
        var headroom: UInt64
        var reserve: UInt64
        var reactionTime: Double
    }

    static func promise(of configText: String?) throws -> Promise {
        guard let configText else {
            return Promise(headroom: UInt64(guestMiB) * MiB * 15 / 100, reserve: hostTotal / 10, reactionTime: 0)
        }
        let config = try QBalloonConfig.parse(configText, file: "trial.toml")
        let limits = config.defaults.resolve(ramBytes: UInt64(guestMiB) * MiB)
        let engine = DecisionEngine(config: config)
        let headroom = Swift.max(Double(limits.headroom), limits.growthAllowance * engine.reactionTime)
        return Promise(
            headroom: UInt64(headroom), reserve: config.host.reserve.bytes(ofMax: hostTotal),
            reactionTime: engine.reactionTime)
    }

    /// Runs `config` (a shipped config's file name; nil: no daemon at all) on `workload` in `s`.
    static func run(_ config: String?, _ workload: Workload, in s: Scenario) async throws -> (Outcome, DaemonProcess?) {
        let idle = s.guest("idle", ramMiB: guestMiB)
        let batch = s.guest("batch", ramMiB: guestMiB)
        let meminfo = "\(s.directory)/host.meminfo"
        let configText = try config.map {
            try ShippedConfigs.adapted($0, in: .init(sockets: s.directory, hostMeminfo: meminfo, decisionLog: "{decision_log}"))
        }
        let promise = try promise(of: configText)
        let burst = Int(promise.headroom * 9 / 10 / (4 * MiB)) * 4
        let plan = plan(workload, idleBurstMiB: burst)
        s.note(
            "\(config ?? "no daemon"): headroom promised \(mib(promise.headroom)) (idle burst \(burst) MiB), reserve \(mib(promise.reserve)), reaction \(seconds(promise.reactionTime))")

        // The host: its own 256 MiB, and what the guests' balloons leave it.
        @Sendable func hostAvailable(_ held: UInt64) -> UInt64 {
            let used = hostOwnUse + held
            return used >= hostTotal ? 0 : hostTotal - used
        }
        try GuestEndToEndTests.writeHostMeminfo(meminfo, totalMiB: hostTotal / MiB, availableBytes: hostAvailable(2 * UInt64(guestMiB) * MiB))
        try await s.boot([idle, batch])
        s.background {
            while !Task.isCancelled {
                if let a = try? await idle.actual(), let b = try? await batch.actual() {
                    try? GuestEndToEndTests.writeHostMeminfo(meminfo, totalMiB: hostTotal / MiB, availableBytes: hostAvailable(a + b))
                }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }

        var daemon: DaemonProcess?
        if let configText {
            let process = try s.daemon(config: configText)
            try process.start()
            daemon = process
            try await s.waitUntil("the daemon attaches to both guests and they report", timeout: 60) {
                guard process.logLines(containing: "] attached").count >= 2 else { return false }
                let reported = (try await idle.stats().lastUpdate, try await batch.stats().lastUpdate)
                return reported.0 != nil && reported.1 != nil
            }
        }

        // The workloads run in the guests on their own clocks; the samplers too.
        for guest in [idle, batch] {
            try await guest.sh("rm -f /run/mem.log; memload sample /run/mem.log >/dev/null 2>&1 &")
        }
        try await batch.sh("(\(plan.batch)) >/run/plan.log 2>&1 &")
        try await idle.sh("(\(plan.idle)) >/run/plan.log 2>&1 &")
        s.note("workload \(workload.rawValue) started for \(Int(plan.seconds)) s")

        var outcome = Outcome(config: config ?? "none", workload: workload)
        let start = Date()
        var nextSample = start
        var lastProgress = start
        while Date().timeIntervalSince(start) < plan.seconds {
            nextSample = nextSample.addingTimeInterval(1)
            if let a = try? await idle.actual(), let b = try? await batch.actual() {
                let returned = Double(2 * UInt64(guestMiB) * MiB - a - b)
                outcome.returnedSum += returned
                outcome.samples += 1
                if plan.quiet.contains(Date().timeIntervalSince(start)) {
                    outcome.returnedIdleSum += returned
                    outcome.idleSamples += 1
                }
                // Below the reserve by more than a page or two (the arbiter takes it back to the reserve exactly).
                if hostAvailable(a + b) + MiB < promise.reserve { outcome.hostBelowReserve += 1 }
                if Date().timeIntervalSince(lastProgress) >= 15 {
                    lastProgress = Date()
                    s.note("idle at \(mib(a)), batch at \(mib(b))")
                }
            }
            let wait = nextSample.timeIntervalSinceNow
            if wait > 0 { try await Task.sleep(for: .milliseconds(Int(wait * 1000))) }
        }

        for guest in [idle, batch] {
            let log = try await guest.sh("cat /run/mem.log", timeout: 30)
            let memory = MemoryLog(log)
            outcome.short[guest.name] = memory.shortSeconds
            outcome.longestShort[guest.name] = memory.longestShort
            outcome.sampled[guest.name] = memory.span
            let kills = try await guest.sh("dmesg | grep -c 'Killed process' || true")
            outcome.oomKills[guest.name] = Int(kills.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            let planLog = try await guest.sh("cat /run/plan.log")
            s.note("\(guest.name): \(planLog.split(separator: "\n").joined(separator: "; ")); short episodes \(memory.episodes.map { String(format: "%.0fs at +%.0fs", $0.seconds, $0.start - (memory.samples.first?.time ?? 0)) })")
        }
        outcome.changes = daemon?.decisions().count ?? 0
        s.note("policy trial: \(outcome)")
        return (outcome, daemon)
    }
}

/// The guest's `memload sample` log: `UPTIME MEMTOTAL_KB MEMAVAILABLE_KB` a line, about every second.
/// Short: `MemAvailable` under 10% of `MemTotal` (Linux takes ballooned pages out of MemTotal, so this is 10% of
/// what the guest has), the same measure as the virtual reference workloads.
struct MemoryLog {
    struct Sample {
        var time: Double
        var total: UInt64
        var available: UInt64
        var isShort: Bool { available * 10 < total }
    }

    struct Episode {
        var start: Double
        var seconds: Double
    }

    var samples: [Sample]

    init(_ text: String) {
        samples = text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 3, let time = Double(fields[0]), let total = UInt64(fields[1]), let available = UInt64(fields[2])
            else { return nil }
            return Sample(time: time, total: total, available: available)
        }
    }

    /// Stretches where the guest was short: from a short sample to the next sample.
    var episodes: [Episode] {
        var episodes: [Episode] = []
        var current: Episode?
        for (index, sample) in samples.enumerated() {
            let next = index + 1 < samples.count ? samples[index + 1].time : sample.time + 1
            if sample.isShort {
                if current == nil { current = Episode(start: sample.time, seconds: 0) }
                current!.seconds += next - sample.time
            } else if let done = current {
                episodes.append(done)
                current = nil
            }
        }
        if let current { episodes.append(current) }
        return episodes
    }

    var shortSeconds: Double { episodes.reduce(0) { $0 + $1.seconds } }
    var longestShort: Double { episodes.map(\.seconds).max() ?? 0 }
    var span: Double { (samples.last?.time ?? 0) - (samples.first?.time ?? 0) }
}
