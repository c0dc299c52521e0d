#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import QBalloonCore
import QBalloonRules
import ServiceLifecycle
import Synchronization

/// The daemon's decision loop: follows every VM a config names, decides each interval with the rules engine,
/// and hands each decision to the VM's worker. A swift-service-lifecycle `Service` (``Daemon`` assembles it).
///
/// Structure: `run()` is one task group. Its children are one ``VMWorker`` per VM and a ticker; the loop itself
/// runs in `run()`'s own task. On graceful shutdown the loop ends, every worker is told to stop (after giving
/// its guest the whole RAM back when `restore_on_exit` is set, once the command it has in flight is answered),
/// and `run()` returns when the last worker has. A VM's failure stays in its worker: it is retried with backoff
/// while the others go on.
///
/// Time comes in through the clock and the wall clock of ``Options``, so a test drives the loop in virtual time.
package final class Orchestrator: Service, Sendable {
    package struct Options: Sendable {
        /// The config file, for reloads.
        package var configPath: String
        /// `--dry-run`: decide and log, never send `balloon` (or the config's `dry_run`).
        package var dryRun: Bool
        package var clock: DaemonClock
        package var wallClock: WallClock
        /// Reads the host's memory.
        package var readHost: @Sendable (HostSettings) -> HostSample
        /// The way into a VM; nil: QMP for a monitor, libvirt's API for a domain.
        package var link: (@Sendable (FleetMember, Duration, Logger) -> any VMLink)?
        /// Lists the unix sockets matching globs (for `qmp = "/run/qemu/*.qmp"`).
        package var scanSockets: @Sendable ([String]) -> [String]
        /// Called after every round.
        package var onRound: (@Sendable (RoundReport) -> Void)?
        package var metrics: DaemonMetrics?
        package var decisionLog: DecisionLog?
        /// Refuse a reload from a config file others could have written (``ConfigFileSafety``).
        package var strictModes = true
        /// The service manager to tell about readiness, reloads, shutdown, status and liveness (systemd).
        package var notifier: SystemdNotifier?
        /// The operator's holds and the control socket's view of each round.
        package var control: OperatorControls?
        /// Records every VM each round (`record_dir`).
        package var recorder: TraceRecorder?
    }

    private enum Wake: Sendable {
        /// `act`: a round now, for an operator's act.
        case tick, reload, act, stop
    }

    private let options: Options
    private let logger: Logger
    private let initialConfig: QBalloonConfig
    private let wakes: AsyncStream<Wake>
    private let wake: AsyncStream<Wake>.Continuation
    /// The decision interval now (it changes with a reload); the ticker reads it.
    private let interval: Mutex<Duration>
    /// The workers running now, for ``workersAreIdle(except:)``.
    private let workers = Mutex<[String: VMWorker]>([:])
    /// Those waiting for the outcome of a reload (the control socket's `POST /v1/reload`).
    private let reloadWaiters = Mutex<[CheckedContinuation<ReloadOutcome, Never>]>([])
    /// The libvirt connections of the config's `libvirt` entries.
    private let libvirt: LibvirtHubs
    /// Turns to connect: at most this many VMs are being attached at once (``AttachGate``).
    private let attachGate = AttachGate(limit: Orchestrator.attachingAtOnce, holdLimit: Orchestrator.attachTurn)
    static let attachingAtOnce = 64
    /// A connection still opening after this gives its turn to the next VM (it goes on opening): monitors that
    /// accept and then hang delay the others' attaching by this at most. A session normally opens in
    /// milliseconds; 10,000 VMs attach in ~5 s, 64 at a time.
    static let attachTurn: Duration = .seconds(2)

    package init(config: QBalloonConfig, options: Options, logger: Logger) {
        self.initialConfig = config
        self.options = options
        self.logger = logger
        self.interval = Mutex(config.daemon.interval)
        // Unbounded: a wake dropped could be a reload someone waits on. Ticks come once per interval at most.
        let (wakes, wake) = AsyncStream.makeStream(of: Wake.self)
        (self.wakes, self.wake) = (wakes, wake)
        // A domain started or stopped, or libvirt came and went: a round now attaches and detaches.
        libvirt = LibvirtHubs(logger: logger) { wake.yield(.act) }
    }

    /// Reloads the config before the next round, now.
    package func requestReload() {
        wake.yield(.reload)
    }

    /// Reloads the config now and returns what became of it (the running config stays when it is refused).
    package func reloadNow() async -> ReloadOutcome {
        await withCheckedContinuation { continuation in
            reloadWaiters.withLock { $0.append(continuation) }
            if case .terminated = wake.yield(.reload) { answerReloads(.refused("the daemon is stopping")) }
        }
    }

    /// A round now (after an operator's act), not at the next tick.
    package func requestRound() {
        wake.yield(.act)
    }

    private func answerReloads(_ outcome: ReloadOutcome) {
        let waiting = reloadWaiters.withLock { waiters in
            defer { waiters.removeAll() }
            return waiters
        }
        for waiter in waiting { waiter.resume(returning: outcome) }
    }

    /// Whether every worker but those named has nothing to do (for tests stepping virtual time).
    package func workersAreIdle(except busy: Set<String> = []) -> Bool {
        workers.withLock { $0.allSatisfy { busy.contains($0.key) || $0.value.mailbox.isIdle } }
    }

    /// The loop's own state, owned by `run()`'s task.
    private struct Loop {
        var config: QBalloonConfig
        var engine: DecisionEngine
        var state = EngineState()
        /// By VM name, with the member it was started for.
        var running: [String: (member: FleetMember, worker: VMWorker)] = [:]
        /// The names in `running`, sorted: rounds and reports list VMs in this order.
        var names: [String] = []
        /// `running`'s members and workers in the order of `names`, for the round's walks over every VM (a
        /// lookup by name copies the entry).
        var members: [FleetMember] = []
        var workers: [VMWorker] = []
        var lastReason: [String: String] = [:]
        /// The engine's latest decision about each VM, and the latest that changed its balloon (for the control socket).
        var lastDecision: [String: ControlSnapshot.Stamped] = [:]
        var lastChange: [String: ControlSnapshot.Stamped] = [:]
        /// The sockets the fleet was last matched against; nil after a reload.
        var matched: [String]?
        /// The running libvirt domains (by URI) the fleet was last matched against.
        var matchedDomains: [String: [String]] = [:]
        /// VMs already told about shrinking without deflate-on-oom.
        var warnedNoDeflateOnOOM: Set<String> = []
        /// Whether the service manager was told the daemon is ready (since start, or since the last reload).
        var announcedReady = false
        var lastStatus = ""
        /// When the watchdog was last told the loop is alive.
        var lastWatchdog: Duration?
    }

    package func run() async throws {
        logger.info("started", metadata: ["config": "\(options.configPath)", "dry_run": "\(dryRun(initialConfig))"])
        await withDiscardingTaskGroup { group in
            var loop = Loop(config: initialConfig, engine: makeEngine(initialConfig))
            await withTaskGroup(of: Void.self) { ticker in
                ticker.addTask { await self.tick() }
                await withGracefulShutdownHandler {
                    round(&loop, group: &group)
                    for await wake in wakes {
                        switch wake {
                        case .tick, .act:
                            round(&loop, group: &group)
                        case .reload:
                            var now = timespec()
                            clock_gettime(CLOCK_MONOTONIC, &now)
                            options.notifier?.send("RELOADING=1\nMONOTONIC_USEC=\(Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000)")
                            loop.announcedReady = false
                            let outcome = reload(&loop)
                            round(&loop, group: &group)
                            answerReloads(outcome)
                        case .stop:
                            options.notifier?.send("STOPPING=1")
                            answerReloads(.refused("the daemon is stopping"))
                            return
                        }
                    }
                } onGracefulShutdown: { [wake] in
                    wake.yield(.stop)
                }
                ticker.cancelAll()
            }
            // Every worker finishes the command it has in flight, restores its guest if asked, and stops; the
            // group waits for the last one.
            let restore = loop.config.daemon.restoreOnExit && !dryRun(loop.config)
            if restore { logger.info("restoring every guest to its max before exit") }
            for (_, entry) in loop.running {
                entry.worker.mailbox.stop(restoringTo: restore ? entry.worker.facts.ramBytes : nil)
            }
        }
        workers.withLock { $0.removeAll() }
        await libvirt.closeAll()
        wake.finish()
        answerReloads(.refused("the daemon is stopping"))
        logger.info("stopped")
    }

    /// Wakes the loop at every multiple of the interval since the daemon started, until cancelled.
    private func tick() async {
        while !Task.isCancelled {
            let step = max(interval.withLock { $0 }, .milliseconds(1))
            let now = options.clock.now()
            let next = step * Int((now / step).rounded(.down) + 1)
            do {
                try await options.clock.sleep(next)
            } catch {
                return
            }
            wake.yield(.tick)
        }
    }

    // MARK: A round

    private func round(_ loop: inout Loop, group: inout DiscardingTaskGroup) {
        let config = loop.config
        // The fleet changes only with the config or the sockets: match them again only then.
        let globs = FleetMember.globs(of: config)
        let sockets = globs.isEmpty ? [] : options.scanSockets(globs)
        // libvirt's domains: this round's read of each connection starts now (the polls below wait for it); the
        // fleet follows the domains the last read found running.
        let uris = FleetMember.libvirtURIs(of: config)
        let domains = uris.isEmpty ? [:] : libvirt.roundStarts(uris: uris, callTimeout: config.daemon.commandTimeout)
        if sockets != loop.matched || domains != loop.matchedDomains {
            reconcile(&loop, sockets: sockets, domains: domains, group: &group)
            loop.matched = sockets
            loop.matchedDomains = domains
        }
        let now = options.wallClock.now()
        let facts = loop.workers.map(\.facts)
        let holds = options.control?.holdsForRound(now: now)
        var samples: [VMSample] = []
        samples.reserveCapacity(facts.count)
        for (index, fact) in facts.enumerated() {
            guard let actual = fact.actual, let ram = fact.ramBytes else { continue }
            var sample = VMSample(
                name: fact.name, limits: Self.limits(loop.members[index].settings, ram: ram, floor: fact.floorBytes), actual: actual,
                ram: ram, stats: fact.stats, reachable: fact.problem == nil, connection: fact.connectionID)
            if let holds, !holds.isEmpty { sample.hold = holds.hold(for: fact.name, max: sample.limits.max) }
            samples.append(sample)
        }
        if let recorder = options.recorder {
            for fact in facts {
                guard let actual = fact.actual, let ram = fact.ramBytes, fact.problem == nil else { continue }
                recorder.record(vm: fact.name, ramBytes: ram, actual: actual, stats: fact.stats, qemu: fact.qemu, at: now)
            }
        }
        let host = options.readHost(config.host)
        let round = loop.engine.decide(&loop.state, samples: samples, host: host, now: now)
        var verdicts: [String: VMVerdict] = [:]
        verdicts.reserveCapacity(samples.count)
        for (sample, verdict) in zip(samples, round.verdicts) { verdicts[sample.name] = verdict }

        let dryRun = self.dryRun(config)
        var decided: [String: Decision] = [:]
        let keepsDecisions = options.control != nil
        for decision in round.decisions {
            decided[decision.vm] = decision
            if keepsDecisions {
                loop.lastDecision[decision.vm] = ControlSnapshot.Stamped(time: now, decision: decision)
                if decision.changes { loop.lastChange[decision.vm] = ControlSnapshot.Stamped(time: now, decision: decision) }
            }
            guard let target = decision.to, let worker = loop.running[decision.vm]?.worker else { continue }
            loop.lastReason[decision.vm] = "\(decision.reason)"
            if target < decision.from, worker.facts.deflateOnOOM == false, loop.warnedNoDeflateOnOOM.insert(decision.vm).inserted {
                let fix =
                    worker.settings.address.monitor == nil
                    ? "libvirt: <memballoon model='virtio' autodeflate='on'>" : "QEMU: -device virtio-balloon-pci,deflate-on-oom=on"
                logger.warning(
                    "shrinking a guest whose balloon has no deflate-on-oom: if it runs out of memory before it is given memory back, its OOM killer acts (\(fix))",
                    metadata: ["vm.name": "\(decision.vm)"])
            }
            options.decisionLog?.append(decision, at: now, dryRun: dryRun)
            worker.logBudget.log(
                logger, .info, "\(dryRun ? "would set" : "set") \(decision)", metadata: ["vm.name": "\(decision.vm)"],
                now: options.clock.seconds)
            if !dryRun, let replaced = worker.mailbox.target(target) {
                logger.debug(
                    "the previous target \(MemorySize.format(replaced)) was not sent yet: replaced",
                    metadata: ["vm.name": "\(decision.vm)"])
            }
        }
        var polls = PollBatch()
        for worker in loop.workers { polls.poll(worker) }
        polls.start()

        // Each VM's state as shown, made once for whoever shows it this round.
        let watched = options.metrics != nil || options.notifier != nil || options.onRound != nil || options.control != nil
        let statuses = watched ? facts.map { VMStatus(facts: $0, verdict: verdicts[$0.name]) } : []
        if let metrics = options.metrics {
            metrics.record(host: host, reserve: round.host.reserve)
            for (fact, status) in zip(facts, statuses) {
                metrics.record(
                    fact, status: status, verdict: verdicts[fact.name], changed: decided[fact.name]?.changes ?? false,
                    pinned: holds?.pins[fact.name] != nil, paused: holds?.isPaused(fact.name) ?? false, now: now)
            }
        }
        if let notifier = options.notifier { tell(notifier, &loop, facts: facts, statuses: statuses) }
        if let control = options.control, let holds {
            // The snapshot is made from what the round already has, only if someone asks for it: the closure keeps
            // this round's values (copied only if the loop changes them before they are dropped).
            let members = loop.members, lastDecision = loop.lastDecision, lastChange = loop.lastChange
            let stallFloors = loop.state.stallFloors(at: now)
            let reserve = round.host.reserve, interval = config.daemon.interval.seconds, configPath = options.configPath
            control.publish(
                { [verdicts] in
                    var vms: [ControlSnapshot.VM] = []
                    vms.reserveCapacity(facts.count)
                    for (index, (fact, status)) in zip(facts, statuses).enumerated() {
                        let member = members[index]
                        let stall = stallFloors[fact.name]
                        vms.append(
                            ControlSnapshot.VM(
                                name: fact.name, socket: "\(member.address)",
                                facts: fact, status: status, verdict: verdicts[fact.name],
                                limits: fact.ramBytes.map { Self.limits(member.settings, ram: $0, floor: fact.floorBytes) },
                                pin: holds.pins[fact.name], paused: holds.isPaused(fact.name),
                                lastDecision: lastDecision[fact.name], lastChange: lastChange[fact.name],
                                stallFloor: stall?.floor, stallFloorUntil: stall?.until))
                    }
                    return ControlSnapshot(
                        time: now, vms: vms, host: host, reserve: reserve, hostPaused: holds.hostPaused,
                        dryRun: dryRun, interval: interval, configPath: configPath)
                }, decisions: round.decisions)
        }
        if let onRound = options.onRound {
            let rows = zip(facts, statuses).map { fact, status in
                let verdict = verdicts[fact.name]
                return RoundReport.Row(
                    vm: fact.name, status: status, actual: fact.actual,
                    target: fact.lastTarget, max: fact.ramBytes, available: fact.stats?.available,
                    pressured: verdict?.pressured ?? false, lastReason: loop.lastReason[fact.name])
            }
            onRound(
                RoundReport(time: now, rows: rows, changes: round.decisions.filter(\.changes), host: host, dryRun: dryRun))
        }
    }

    /// A VM's limits: its settings resolved against its RAM, with the floor the VM asks for itself (a libvirt
    /// domain's metadata) raising `min`, never above `max`, never lowering the config's.
    static func limits(_ settings: VMSettings, ram: UInt64, floor: UInt64?) -> VMLimits {
        var limits = settings.resolve(ramBytes: ram)
        if let floor { limits.min = Swift.min(Swift.max(limits.min, BalloonPages.roundUp(floor)), limits.max) }
        return limits
    }

    // MARK: The service manager

    /// After a round: ready once every VM has been tried (read, or failed) after a start or reload, the status
    /// line when it changed, and the watchdog at least every half of its interval, from this loop only: a loop
    /// that stops making rounds stops the pings, and systemd restarts the daemon.
    private func tell(_ notifier: SystemdNotifier, _ loop: inout Loop, facts: [VMFacts], statuses: [VMStatus]) {
        var lines: [String] = []
        let status = Self.statusLine(facts: facts, statuses: statuses)
        // Tried: read once (per-poll VMs are never attached between polls), or failed.
        if !loop.announcedReady, facts.allSatisfy({ $0.actual != nil || $0.problem != nil }) {
            loop.announcedReady = true
            lines.append("READY=1")
        }
        if status != loop.lastStatus || !lines.isEmpty {
            loop.lastStatus = status
            lines.append("STATUS=\(status)")
        }
        if let interval = notifier.watchdogInterval {
            let now = options.clock.now()
            if loop.lastWatchdog.map({ now - $0 >= .seconds(interval / 2) }) ?? true {
                loop.lastWatchdog = now
                lines.append("WATCHDOG=1")
            }
        }
        if !lines.isEmpty { notifier.send(lines.joined(separator: "\n")) }
    }

    /// One line for `systemctl status`: VMs by state, and the memory their balloons hold for the host.
    static func statusLine(facts: [VMFacts], statuses: [VMStatus]) -> String {
        var counts: [String: Int] = [:]
        var returned: UInt64 = 0
        for (fact, status) in zip(facts, statuses) {
            counts[status.label, default: 0] += 1
            if let ram = fact.ramBytes, let actual = fact.actual, ram > actual { returned += ram - actual }
        }
        let states = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        return "\(facts.count) VM\(facts.count == 1 ? "" : "s")\(states.isEmpty ? "" : ": " + states); "
            + "\(MemorySize.format(returned)) returned to the host"
    }

    // MARK: Fleet

    private func dryRun(_ config: QBalloonConfig) -> Bool { options.dryRun || config.daemon.dryRun }

    /// The engine must know about `--dry-run` too: it remembers sent targets, and one never sent would look
    /// like a stalled inflation.
    private func makeEngine(_ config: QBalloonConfig) -> DecisionEngine {
        var engine = DecisionEngine(config: config)
        engine.dryRun = dryRun(config)
        return engine
    }

    private func workerSettings(_ member: FleetMember, _ config: QBalloonConfig) -> VMWorker.Settings {
        VMWorker.Settings(
            name: member.name, address: member.address, connect: member.settings.connect,
            statsInterval: max(1, Int(config.daemon.statsInterval.seconds.rounded())),
            commandTimeout: config.daemon.commandTimeout,
            // A libvirt VM's attempt while libvirt is away costs nothing (its connection keeps its own backoff):
            // retry often, to follow libvirt as soon as it is back.
            backoffCap: member.address.monitor == nil ? 5 : 30)
    }

    /// Starts workers for new VMs, stops those gone, restarts those whose connection settings changed.
    private func reconcile(_ loop: inout Loop, sockets: [String], domains: [String: [String]], group: inout DiscardingTaskGroup) {
        let config = loop.config
        let (members, duplicates) = FleetMember.members(of: config, sockets: sockets, domains: domains)
        for duplicate in duplicates { logger.warning("ignoring a second VM named \(duplicate)") }
        let wanted = Dictionary(uniqueKeysWithValues: members.map { ($0.name, $0) })
        for (name, current) in loop.running {
            guard let member = wanted[name] else {
                logger.info(
                    current.member.address.monitor == nil
                        ? "detached: no longer in the config or its domain no longer runs"
                        : "detached: no longer in the config or its socket is gone",
                    metadata: ["vm.name": "\(name)"])
                current.worker.mailbox.stop(restoringTo: nil)
                loop.running[name] = nil
                loop.lastDecision[name] = nil
                loop.lastChange[name] = nil
                options.metrics?.forget(vm: name)
                continue
            }
            if current.worker.settings != workerSettings(member, config) {
                logger.info("its connection settings changed: reattaching", metadata: ["vm.name": "\(name)"])
                current.worker.mailbox.stop(restoringTo: nil)
                loop.running[name] = nil
            } else {
                loop.running[name]?.member = member
            }
        }
        for (name, member) in wanted where loop.running[name] == nil {
            let settings = workerSettings(member, config)
            // One logger for the VM's worker, its link and its connection: one copy of its metadata per VM.
            let vmLogger = VMWorker.logger(logger, for: settings)
            let link = self.link(for: member, commandTimeout: settings.commandTimeout, logger: vmLogger)
            let worker = VMWorker(settings: settings, link: link, attachGate: attachGate, clock: options.clock, logger: vmLogger)
            loop.running[name] = (member, worker)
            group.addTask { await worker.run() }
        }
        loop.names = loop.running.keys.sorted()
        loop.members = loop.names.map { loop.running[$0]!.member }
        loop.workers = loop.names.map { loop.running[$0]!.worker }
        let running = loop.running.mapValues(\.worker)
        workers.withLock { $0 = running }
    }

    /// The way into a VM: the one given in the options, else QMP for a monitor and libvirt's API for a domain.
    private func link(for member: FleetMember, commandTimeout: Duration, logger: Logger) -> any VMLink {
        if let link = options.link { return link(member, commandTimeout, logger) }
        switch member.address {
        case .monitor(let endpoint):
            return QMPLink(address: endpoint, commandTimeout: commandTimeout, logger: logger)
        case .libvirt(let uri, let domain):
            return LibvirtLink(hub: libvirt.hub(uri, callTimeout: commandTimeout), domain: domain)
        }
    }

    /// Loads the config file again; a config with errors is logged and the running one stays.
    private func reload(_ loop: inout Loop) -> ReloadOutcome {
        let config: QBalloonConfig
        if options.strictModes, let problem = ConfigFileSafety.problem(path: options.configPath) {
            logger.error("reload refused, the running config stays: \(problem)")
            return .refused("\(problem)")
        }
        do {
            config = try QBalloonConfig.load(path: options.configPath)
        } catch {
            logger.error("reload refused, the running config stays: \(error)")
            return .refused("\(error)")
        }
        if config.daemon.controlSocket != loop.config.daemon.controlSocket
            || config.daemon.controlGroup != loop.config.daemon.controlGroup
            || config.daemon.stateDirectory != loop.config.daemon.stateDirectory
            || config.daemon.recordDirectory != loop.config.daemon.recordDirectory
            || config.daemon.recordMaxBytes != loop.config.daemon.recordMaxBytes
        {
            logger.warning("control_socket, control_group, state_dir, record_dir and record_max_bytes change only when the daemon restarts")
        }
        logger.info("reloaded \(options.configPath)")
        loop.config = config
        loop.engine = makeEngine(config)
        loop.matched = nil
        interval.withLock { $0 = config.daemon.interval }
        return .reloaded(options.configPath)
    }
}
