import Logging
import QBalloon
import QBalloonQMP
import QBalloonRules
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The daemon: follows every VM a config names, decides each interval with the rules engine, and applies
/// the decisions. A swift-service-lifecycle `Service`; graceful shutdown stops it (after giving every guest
/// its max back when `restore_on_exit` is set).
///
/// A VM's failure stays in its own ``VMWorker``: it is retried with backoff while the others go on.
/// ``requestReload()`` (SIGHUP) loads the config again: a config with errors is logged and ignored; VMs whose
/// entry did not change keep their connections and their rule history.
public final class Orchestrator: Service, Sendable {
    public struct Options: Sendable {
        /// The config file, for reloads.
        public var configPath: String
        /// `--dry-run`: decide and log, never send `balloon` (or the config's `dry_run`).
        public var dryRun: Bool
        /// Reads the host's memory; by default from the config's `/proc` paths.
        public var readHost: @Sendable (HostSettings) -> HostSample
        /// Called after every round.
        public var onRound: (@Sendable (RoundReport) -> Void)?
        public var metrics: DaemonMetrics?
        public var decisionLog: DecisionLog?

        public init(
            configPath: String, dryRun: Bool = false,
            readHost: @escaping @Sendable (HostSettings) -> HostSample = { settings in
                HostSample.read(meminfoPath: settings.meminfoPath, pressurePath: settings.pressurePath)
            },
            onRound: (@Sendable (RoundReport) -> Void)? = nil, metrics: DaemonMetrics? = nil,
            decisionLog: DecisionLog? = nil
        ) {
            self.configPath = configPath
            self.dryRun = dryRun
            self.readHost = readHost
            self.onRound = onRound
            self.metrics = metrics
            self.decisionLog = decisionLog
        }
    }

    private let options: Options
    private let logger: Logger
    private let initialConfig: QBalloonConfig
    private let reloadRequested = Atomic<Bool>(false)
    private let wake: AsyncStream<Void>.Continuation
    private let wakeups: AsyncStream<Void>
    /// VMs with a `balloon` command under way: a hung VM never collects a queue of them.
    private let applying = Mutex<Set<String>>([])

    public init(config: QBalloonConfig, options: Options, logger: Logger) {
        self.initialConfig = config
        self.options = options
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Reloads the config before the next round (and wakes the loop for it now).
    public func requestReload() {
        reloadRequested.store(true, ordering: .relaxed)
        wake.yield()
    }

    private struct Running: Sendable {
        var member: FleetMember
        var worker: VMWorker
        var task: Task<Void, Never>
    }

    public func run() async throws {
        logger.info("started", metadata: ["config": "\(options.configPath)", "dry_run": "\(dryRun(initialConfig))"])
        let (running, config) = await cancelWhenGracefulShutdown { await self.loop() }
        await shutDown(running: running, config: config)
    }

    /// Rounds until cancelled; returns the VMs still attached and the config in force.
    private func loop() async -> ([String: Running], QBalloonConfig) {
        var config = initialConfig
        var engine = makeEngine(config)
        var state = EngineState()
        var running: [String: Running] = [:]
        var lastReason: [String: String] = [:]
        var wakeups = self.wakeups.makeAsyncIterator()
        /// The sockets the fleet was last matched against; nil after a reload.
        var matched: [String]?
        while !Task.isCancelled {
            if reloadRequested.exchange(false, ordering: .relaxed), let reloaded = reload() {
                config = reloaded
                engine = makeEngine(config)
                matched = nil
            }
            // The fleet changes only with the config or the sockets: match them again only then.
            let sockets = SocketScanner.sockets(matching: FleetMember.globs(of: config))
            if sockets != matched {
                reconcile(config: config, sockets: sockets, running: &running)
                matched = sockets
            }
            let now = unixNow()
            let observations = running.values.map { $0.worker.observation }
            let samples = observations.compactMap { observation -> VMSample? in
                guard let member = running[observation.name]?.member, let actual = observation.actual,
                    let ram = observation.maxBytes
                else { return nil }
                return VMSample(
                    name: observation.name, settings: member.settings, actual: actual, ram: ram,
                    stats: observation.stats, now: now,
                    // Stale statistics still go to the engine, whose envelope never shrinks on them and stops an
                    // inflation under way; only a VM whose guest never reported is held out.
                    healthy: observation.health == .healthy || (observation.health == .noStats && observation.stats?.lastUpdate != nil))
            }
            let host = options.readHost(config.host)
            let round = engine.decide(&state, samples: samples, host: host, now: now)
            let dryRun = self.dryRun(config)
            var byVM: [String: Decision] = [:]
            for decision in round.decisions {
                byVM[decision.vm] = decision
                guard let target = decision.to, let worker = running[decision.vm]?.worker else { continue }
                lastReason[decision.vm] = "\(decision.reason)"
                options.decisionLog?.append(decision, at: now, dryRun: dryRun)
                logger.info("\(dryRun ? "would set" : "set") \(decision)", metadata: ["vm.name": "\(decision.vm)"])
                if !dryRun { apply(target, to: worker) }
            }
            if let metrics = options.metrics {
                metrics.record(host: host)
                for observation in observations {
                    metrics.record(observation, decision: byVM[observation.name], now: now)
                }
            }
            if let onRound = options.onRound {
                let rows = observations.sorted { $0.name < $1.name }.map { observation in
                    RoundReport.Row(
                        vm: observation.name, health: observation.health, actual: observation.actual,
                        target: observation.lastTarget, max: observation.maxBytes,
                        available: observation.stats?.available,
                        pressured: byVM[observation.name]?.pressured ?? false,
                        lastReason: lastReason[observation.name])
                }
                onRound(
                    RoundReport(
                        time: now, rows: rows, changes: round.decisions.filter(\.changes), host: host, dryRun: dryRun))
            }
            await sleep(config.daemon.interval, orUntil: &wakeups)
        }
        return (running, config)
    }

    /// Sleeps one interval, or less when a reload is asked for.
    private func sleep(_ interval: Duration, orUntil wakeups: inout AsyncStream<Void>.Iterator) async {
        let deadline = ContinuousClock.now + interval
        let timer = Task { [wake] in
            // Cancelled (woken early for a reload): no wake-up, or it would end the next sleep at once.
            guard (try? await Task.sleep(until: deadline)) != nil else { return }
            wake.yield()
        }
        _ = await wakeups.next()
        timer.cancel()
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
            interval: config.daemon.interval, statsInterval: config.daemon.statsInterval,
            staleAfter: config.daemon.staleAfter, commandTimeout: config.daemon.commandTimeout)
    }

    /// Starts workers for new VMs, stops those gone, restarts those whose connection settings changed.
    private func reconcile(config: QBalloonConfig, sockets: [String], running: inout [String: Running]) {
        let (members, duplicates) = FleetMember.members(of: config, sockets: sockets)
        for duplicate in duplicates { logger.warning("ignoring a second VM named \(duplicate)") }
        let wanted = Dictionary(uniqueKeysWithValues: members.map { ($0.name, $0) })
        for (name, current) in running {
            guard let member = wanted[name] else {
                logger.info("detached: no longer in the config or its socket is gone", metadata: ["vm.name": "\(name)"])
                current.task.cancel()
                running[name] = nil
                options.metrics?.forget(vm: name)
                continue
            }
            if current.worker.settings != workerSettings(member, config) {
                logger.info("its connection settings changed: reattaching", metadata: ["vm.name": "\(name)"])
                current.task.cancel()
                running[name] = nil
            } else {
                running[name]?.member = member
            }
        }
        for (name, member) in wanted where running[name] == nil {
            let worker = VMWorker(settings: workerSettings(member, config), logger: logger)
            let task = Task { await worker.run() }
            running[name] = Running(member: member, worker: worker, task: task)
        }
    }

    private func apply(_ target: UInt64, to worker: VMWorker) {
        let name = worker.settings.name
        let busy = applying.withLock { !$0.insert(name).inserted }
        if busy {
            logger.warning("the previous balloon command is still waiting: skipping", metadata: ["vm.name": "\(name)"])
            return
        }
        let logger = self.logger
        Task {
            defer { _ = self.applying.withLock { $0.remove(name) } }
            do {
                try await worker.apply(target: target)
            } catch {
                logger.warning("cannot set the balloon: \(error)", metadata: ["vm.name": "\(name)"])
            }
        }
    }

    /// Loads the config file again; nil (and the errors logged) when it has errors.
    private func reload() -> QBalloonConfig? {
        do {
            let config = try QBalloonConfig.load(path: options.configPath)
            logger.info("reloaded \(options.configPath)")
            return config
        } catch {
            logger.error("reload refused, the running config stays: \(error)")
            return nil
        }
    }

    private func shutDown(running: [String: Running], config: QBalloonConfig) async {
        if config.daemon.restoreOnExit && !dryRun(config) {
            logger.info("restoring every guest to its max before exit")
            await withTaskGroup(of: Void.self) { group in
                for entry in running.values {
                    guard let max = entry.worker.observation.maxBytes else { continue }
                    group.addTask { [logger] in
                        do {
                            try await entry.worker.apply(target: max)
                        } catch {
                            logger.warning("cannot restore: \(error)", metadata: ["vm.name": "\(entry.member.name)"])
                        }
                    }
                }
            }
        }
        for entry in running.values { entry.task.cancel() }
        for entry in running.values { await entry.task.value }
        logger.info("stopped")
    }
}

/// Reloads the orchestrator's config on SIGHUP.
public struct ReloadOnHangup: Service {
    let orchestrator: Orchestrator

    public init(orchestrator: Orchestrator) {
        self.orchestrator = orchestrator
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals { orchestrator.requestReload() }
        }
    }
}
