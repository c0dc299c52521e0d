import Logging
import QBalloonCore
import QBalloonRules
import ServiceLifecycle
import UnixSignals

/// The daemon, assembled: the decision loop, the metrics endpoint (`metrics_listen`), the decision log
/// (`decision_log`) and, for a process of its own, the signals (SIGTERM and SIGINT shut it down gracefully,
/// SIGHUP reloads the config), in one `ServiceGroup`. The one way it is built: `qballoon run`, `qballoon demo`,
/// the tests and an embedding program all use it.
///
/// ```swift
/// let config = try QBalloonConfig.load(path: "/etc/qballoon/qballoon.toml")
/// let daemon = try Daemon(config: config, options: .init(configPath: "/etc/qballoon/qballoon.toml", logger: logger))
/// try await daemon.run()          // until SIGTERM with handlesSignals, or daemon.shutDown()
/// ```
public final class Daemon: Sendable {
    public struct Options: Sendable {
        /// The config file, read again on reload.
        public var configPath: String
        /// Decide and log, never send `balloon` (the config's `dry_run` does the same).
        public var dryRun: Bool
        public var logger: Logger
        /// Paces the decision loop and times reconnect backoff. A test passes a clock it moves by hand.
        public var clock: any Clock<Duration>
        /// The time of day, to tell how old the guests' statistics are. A test passes one that follows its clock.
        public var wallClock: WallClock
        /// Reads the host's memory; ``HostReader/read(_:)`` (from `/proc`) by default.
        public var readHost: @Sendable (HostSettings) -> HostSample
        /// The way into each VM, given its config entry, the command timeout and a logger naming it; by default QMP
        /// for a monitor (``QMPLink``) and libvirt's API for a libvirt domain.
        public var link: (@Sendable (FleetMember, Duration, Logger) -> any VMLink)?
        /// Lists the unix sockets that match glob entries (`qmp = "/run/qemu/*.qmp"`); by default, those on disk.
        public var scanSockets: @Sendable ([String]) -> [String]
        /// Called after every decision round (live views, tests).
        public var onRound: (@Sendable (RoundReport) -> Void)?
        /// Handle SIGTERM, SIGINT (graceful shutdown) and SIGHUP (reload) for this process.
        public var handlesSignals: Bool
        /// Called with the metrics endpoint's address once it listens.
        public var metricsBound: (@Sendable (Endpoint) -> Void)?
        /// Record metrics here (and serve them if the config has `metrics_listen`); by default a registry is made
        /// only for `metrics_listen`. For a program that serves them its own way, and for tests.
        public var metrics: DaemonMetrics?
        /// Refuse to reload a config file that someone other than root or this user could have written
        /// (``ConfigFileSafety``, as OpenSSH's `StrictModes`). `qballoon run` checks the first load too.
        public var strictModes: Bool
        /// Tell the service manager about readiness, reloads, shutdown, status and liveness; by default the one in
        /// the environment (`$NOTIFY_SOCKET`) when ``handlesSignals`` is set, else none.
        public var notifier: SystemdNotifier?
        /// Called with the control socket's path once it listens (`control_socket`).
        public var controlBound: (@Sendable (String) -> Void)?

        public init(
            configPath: String, dryRun: Bool = false, logger: Logger, clock: any Clock<Duration> = ContinuousClock(),
            wallClock: WallClock = .system,
            readHost: @escaping @Sendable (HostSettings) -> HostSample = HostReader.read,
            link: (@Sendable (FleetMember, Duration, Logger) -> any VMLink)? = nil,
            scanSockets: (@Sendable ([String]) -> [String])? = nil,
            onRound: (@Sendable (RoundReport) -> Void)? = nil, handlesSignals: Bool = false,
            metricsBound: (@Sendable (Endpoint) -> Void)? = nil, metrics: DaemonMetrics? = nil,
            strictModes: Bool = true, notifier: SystemdNotifier? = nil, controlBound: (@Sendable (String) -> Void)? = nil
        ) {
            self.controlBound = controlBound
            self.strictModes = strictModes
            self.notifier = notifier ?? (handlesSignals ? SystemdNotifier.fromEnvironment() : nil)
            self.configPath = configPath
            self.dryRun = dryRun
            self.logger = logger
            self.clock = clock
            self.wallClock = wallClock
            self.readHost = readHost
            self.link = link
            self.scanSockets = scanSockets ?? { [scanner = SocketScanner()] in scanner.sockets(matching: $0) }
            self.onRound = onRound
            self.handlesSignals = handlesSignals
            self.metricsBound = metricsBound
            self.metrics = metrics
        }
    }

    /// The metrics, when the config has `metrics_listen` or ``Options/metrics`` was given.
    public let metrics: DaemonMetrics?
    package let orchestrator: Orchestrator
    /// Pins, pauses and the control socket's view, when the config has a `control_socket`.
    package let controls: OperatorControls?
    private let group: ServiceGroup

    /// Builds the daemon for a loaded config; nothing runs until ``run()``.
    /// - Throws: ``DecisionLogError`` when the decision log cannot be opened, ``TraceRecorderError`` when `record_dir`
    ///   cannot be made or read.
    public init(config: QBalloonConfig, options: Options) throws {
        let logger = options.logger
        let metrics = options.metrics ?? config.daemon.metricsListen.map { _ in DaemonMetrics() }
        let decisionLog = try config.daemon.decisionLog.map {
            try DecisionLog(path: $0 == "-" ? "/dev/stdout" : $0, maxBytes: config.daemon.decisionLogMax)
        }
        let recorder = try config.daemon.recordDirectory.map { directory throws(TraceRecorderError) in
            try TraceRecorder(
                directory: directory, maxBytes: config.daemon.recordMaxBytes, interval: config.daemon.interval.seconds,
                logger: logger)
        }
        let controls = config.daemon.controlSocket.map { _ in
            OperatorControls(
                stateDirectory: config.daemon.stateDirectory, logger: logger, decisionLog: decisionLog, metrics: metrics,
                wallClock: options.wallClock)
        }
        let orchestrator = Orchestrator(
            config: config,
            options: .init(
                configPath: options.configPath, dryRun: options.dryRun, clock: DaemonClock(options.clock),
                wallClock: options.wallClock, readHost: options.readHost, link: options.link,
                scanSockets: options.scanSockets, onRound: options.onRound, metrics: metrics, decisionLog: decisionLog,
                strictModes: options.strictModes, notifier: options.notifier, control: controls, recorder: recorder),
            logger: logger)
        var services: [any Service] = [orchestrator]
        if let listen = config.daemon.metricsListen, let metrics {
            services.append(
                MetricsServer(listen: listen, metrics: metrics, logger: logger, bound: options.metricsBound ?? { _ in }))
        }
        if let controls, let path = config.daemon.controlSocket {
            controls.connect(wake: { orchestrator.requestRound() }, reload: { await orchestrator.reloadNow() })
            services.append(
                ControlServer(
                    path: path, group: config.daemon.controlGroup, controls: controls, logger: logger,
                    bound: options.controlBound ?? { _ in }))
        }
        if options.handlesSignals { services.append(ReloadOnHangup(orchestrator: orchestrator)) }
        self.metrics = metrics
        self.orchestrator = orchestrator
        self.controls = controls
        self.group = ServiceGroup(
            configuration: .init(
                services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                gracefulShutdownSignals: options.handlesSignals ? [.sigterm, .sigint] : [],
                logger: logger))
    }

    /// Runs until shut down (``shutDown()``, or a signal with ``Options/handlesSignals``).
    public func run() async throws {
        try await group.run()
    }

    /// Shuts down gracefully, as SIGTERM does: restores the guests if the config says so, then ``run()`` returns.
    public func shutDown() async {
        await group.triggerGracefulShutdown()
    }

    /// Loads the config file again before the next round, as SIGHUP does. A config with errors is logged and
    /// the running one stays.
    public func reload() {
        orchestrator.requestReload()
    }
}

/// Reloads the orchestrator's config on SIGHUP.
struct ReloadOnHangup: Service {
    let orchestrator: Orchestrator

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals { orchestrator.requestReload() }
        }
    }
}
