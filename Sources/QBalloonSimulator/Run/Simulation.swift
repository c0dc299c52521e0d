import QBalloonCore
import QBalloonFakeQMP
import QBalloonRules

/// Replays guests through a config in virtual time: the daemon's own decision engine (``DecisionEngine``: its
/// rules, safety envelope and host arbiter, the same code `qballoon run` calls), with the fake QEMU's guest model
/// (`FakeGuest`: balloon speed, the stall point, swapping when the workload does not fit) answering its targets,
/// every VM on one simulated host. Nothing sleeps: a day of 100 VMs takes seconds.
///
/// It goes the way the daemon goes: a round at the start and every `interval` after; each round decides on what
/// the VMs' last poll read (none at the first), sends the targets, then polls every VM (the first poll turns on the
/// guest's statistics every `stats_interval`). The host's MemAvailable is its memory less its own use less what the
/// guests have. Between rounds, each guest is looked at every ``Options/sampleEvery`` seconds for the figures.
///
/// ```swift
/// let config = try QBalloonConfig.load(path: "Configs/conservative.toml")
/// let guests = try traces.map { try TraceGuest(trace: $0) }
/// let run = Simulation(config: config, name: "conservative.toml", guests: guests, options: .init()).run()
/// run.figures.outOfMemoryEvents
/// ```
public struct Simulation: Sendable {
    public struct Options: Sendable, Hashable {
        /// The host's MemTotal; nil: the guests' RAM and the host's own use, summed (nothing overcommitted).
        public var hostMemory: UInt64?
        /// What the host's own processes use.
        public var hostUse: UInt64
        /// How long to run, in seconds; nil: as long as the longest guest's trace.
        public var duration: Double?
        /// Seconds between two looks at the guests for the figures.
        public var sampleEvery: Double
        /// Keep every balloon change in ``SimulationRun/decisions``.
        public var keepDecisions: Bool

        public init(
            hostMemory: UInt64? = nil, hostUse: UInt64 = 0, duration: Double? = nil, sampleEvery: Double = 1,
            keepDecisions: Bool = false
        ) {
            self.hostMemory = hostMemory
            self.hostUse = hostUse
            self.duration = duration
            self.sampleEvery = sampleEvery
            self.keepDecisions = keepDecisions
        }
    }

    public var config: QBalloonConfig
    /// The config as the user named it, for what is shown.
    public var name: String
    public var guests: [TraceGuest]
    public var options: Options

    public init(config: QBalloonConfig, name: String, guests: [TraceGuest], options: Options = Options()) {
        self.config = config
        self.name = name
        self.guests = guests
        self.options = options
    }

    /// The settings a VM of this name gets: those of the first `[[vm]]` entry that names it (its `name`, its
    /// socket's file stem, or a glob that matches a socket of that name in the glob's folder), else `[defaults]`.
    public static func settings(for vm: String, in config: QBalloonConfig) -> VMSettings {
        for entry in config.vms {
            if let name = entry.name, name == vm { return entry.settings }
            if entry.name == nil, entry.matches(domain: vm) { return entry.settings }
            if entry.name == nil, let path = entry.address?.unixPath, entry.vmName(socketPath: path) == vm { return entry.settings }
            if let glob = entry.socketGlob {
                let folder = glob.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
                let file = glob.split(separator: "/").last.map(String.init) ?? ""
                let extensionPart = file.lastIndex(of: ".").map { String(file[$0...]) } ?? ""
                let path = "\(folder)/\(vm)\(extensionPart)"
                if entry.matches(socketPath: path), entry.vmName(socketPath: path) == vm { return entry.settings }
            }
        }
        return config.defaults
    }

    /// What the config cannot keep on the simulated host: when the VMs' min and the hard reserve (with the host's own
    /// use) add up to more than the host has, the arbiter, which never grows a guest into the hard reserve, holds
    /// back a guest that needs memory once the others are at their min.
    public func warnings() -> [String] {
        let ramTotal = guests.reduce(UInt64(0)) { $0 &+ $1.scenario.ram }
        let hostTotal = options.hostMemory ?? ramTotal &+ options.hostUse
        let hard = DecisionEngine(config: config).reserves(hostTotal: hostTotal).hard
        let floors = guests.reduce(UInt64(0)) { $0 &+ Self.settings(for: $1.name, in: config).resolve(ramBytes: $1.scenario.ram).min }
        let (needed, overflow) = floors.addingReportingOverflow(hard &+ options.hostUse)
        guard overflow || needed > hostTotal else { return [] }
        return [
            "the VMs' min (\(MemorySize.format(floors)) together), the hard reserve (\(MemorySize.format(hard))) and the host's own use "
                + "(\(MemorySize.format(options.hostUse))) add up to more than the host's \(MemorySize.format(hostTotal)): once the others "
                + "are at their min, a guest that needs memory is held back (growth never takes the host into its hard reserve); "
                + "lower min or the reserves, or give the host more memory"
        ]
    }

    /// Runs the simulation to its end.
    public func run() -> SimulationRun {
        let start = guests.map(\.start).min() ?? 0
        let duration = max(0, options.duration ?? guests.map(\.duration).max() ?? 0)
        let end = start + duration
        let engine = DecisionEngine(config: config)
        let interval = max(0.001, config.daemon.interval.seconds)
        let statsInterval = Int64(max(1, Int(config.daemon.statsInterval.seconds.rounded())))
        let step = max(0.001, options.sampleEvery)
        let ramTotal = guests.reduce(UInt64(0)) { $0 &+ $1.scenario.ram }
        let hostTotal = options.hostMemory ?? ramTotal &+ options.hostUse
        let capacity = hostTotal > options.hostUse ? hostTotal - options.hostUse : 0
        let sendsTargets = !config.daemon.dryRun

        // Every guest replays from the run's start: traces recorded at different times play side by side.
        var simulated = guests.map { FakeGuest(scenario: $0.scenario, startTime: start) }
        let limits = guests.map { Self.settings(for: $0.name, in: config).resolve(ramBytes: $0.scenario.ram) }
        var index: [String: Int] = [:]
        for (position, guest) in guests.enumerated() { index[guest.name] = position }
        let bucket = max(step, duration / Double(Timeline.maxPoints))
        let leastFrom = start + VMObserver.warmUp(duration: duration)
        var observers = guests.map { VMObserver(ram: $0.scenario.ram, start: start, bucketSeconds: bucket, leastFrom: leastFrom) }
        var hostObserver = HostObserver(start: start, bucketSeconds: bucket, leastFrom: leastFrom)
        var state = EngineState()
        var readings: [VMSample] = []
        readings.reserveCapacity(guests.count)
        var decisions: [SimulatedDecision] = []
        var reserve: UInt64 = 0
        var rounds = 0
        var looks = 1

        func hostAvailable() -> UInt64 {
            var held: UInt64 = 0
            for position in simulated.indices { held &+= simulated[position].actual }
            return capacity > held ? capacity - held : 0
        }

        while true {
            let nextRound = start + Double(rounds) * interval
            let nextLook = start + Double(looks) * step
            let now = min(nextRound, nextLook)
            if now > end + 1e-9 { break }
            if nextRound == now {
                for position in simulated.indices { simulated[position].advance(to: now) }
                let available = hostAvailable()
                let host = HostSample(total: hostTotal, available: available, free: available / 2, swapTotal: 0, swapFree: 0)
                let round = engine.decide(&state, samples: readings, host: host, now: now)
                reserve = round.host.reserve
                for decision in round.decisions {
                    guard let target = decision.to, let position = index[decision.vm] else { continue }
                    observers[position].countChange()
                    if options.keepDecisions {
                        decisions.append(
                            SimulatedDecision(
                                time: now, vm: decision.vm, from: decision.from, to: target,
                                reason: "\(decision.reason)", rule: decision.reason.ruleName, text: decision.description))
                    }
                    if sendsTargets { simulated[position].setTarget(Int64(clamping: target), at: now) }
                }
                // The poll after the round: the first one turns the guest's statistics on.
                readings.removeAll(keepingCapacity: true)
                for position in simulated.indices {
                    if rounds == 0 { simulated[position].setPollingInterval(statsInterval, at: now) }
                    readings.append(
                        VMSample(
                            name: guests[position].name, limits: limits[position], actual: simulated[position].actual,
                            ram: guests[position].scenario.ram, stats: simulated[position].guestStats))
                }
                rounds += 1
            }
            if nextLook == now {
                var returned: UInt64 = 0
                for position in simulated.indices {
                    simulated[position].advance(to: now)
                    let guest = simulated[position].state
                    observers[position].observe(guest, at: now, seconds: step)
                    returned &+= observers[position].ram > guest.actual ? observers[position].ram - guest.actual : 0
                }
                var held: UInt64 = 0
                for position in simulated.indices { held &+= simulated[position].actual }
                hostObserver.observe(
                    available: capacity > held ? capacity - held : 0, overcommitted: held > capacity, returned: returned,
                    at: now, seconds: step)
                looks += 1
            }
        }
        for position in observers.indices { observers[position].finish(at: end) }
        let vms = guests.indices.map { position in
            VMRun(
                name: guests[position].name, ram: guests[position].scenario.ram, max: limits[position].max,
                min: limits[position].min, timeline: observers[position].timeline, short: observers[position].short,
                outOfMemory: observers[position].outOfMemory, figures: observers[position].figures)
        }
        return SimulationRun(
            config: name, start: start, end: end, hostTotal: hostTotal, hostUse: options.hostUse, reserve: reserve,
            vms: vms, host: hostObserver.timeline,
            figures: SimulationFigures(vms: observers, host: hostObserver, seconds: duration), decisions: decisions,
            warnings: warnings())
    }
}
