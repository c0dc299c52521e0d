import ArgumentParser
import CMalloc
import Logging
import QBalloonCore
import QBalloonDaemon
import QBalloonRules

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the orchestrator: follow every VM of the config and set their balloons by its rules.",
        discussion: """
            SIGTERM or SIGINT stop it gracefully (with restore_on_exit, every guest gets its max back first). \
            SIGHUP reloads the config: a config with errors is logged and the running one stays; VMs whose \
            entry did not change keep their connections and their rule history.

            Under systemd (qballoon.service, Type=notify) it reports READY once every VM has been tried, \
            RELOADING and READY around a reload, a one-line STATUS (VMs by state, memory returned to the host), \
            and watchdog pings only while its decision loop makes rounds. Metrics and the decision log are \
            where the config's [daemon] section puts them.
            """)

    @Option(help: ArgumentHelp("The config file (TOML).", valueName: "FILE"))
    var config: String = "/etc/qballoon/qballoon.toml"

    @Flag(name: .customLong("dry-run"), help: "Decide and log everything, never send a balloon command.")
    var dryRun = false

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level: '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
    }

    func run() async throws {
        // Run as root beside every VM: a config someone else could write is someone else's daemon.
        if let problem = ConfigFileSafety.problem(path: config) {
            printError("refusing the config: \(problem)")
            throw ExitCode(ExitStatus.usage)
        }
        let loaded = try loadConfig(config)
        let logger = makeLogger(level: Logger.Level(rawValue: logLevel) ?? .info)
        if qballoon_malloc_arenas() > 0 {
            logger.debug("malloc: \(qballoon_malloc_arenas()) arena (MALLOC_ARENA_MAX chooses otherwise)")
        }
        let daemon = try Daemon(
            config: loaded, options: .init(configPath: config, dryRun: dryRun, logger: logger, handlesSignals: true))
        try await daemon.run()
    }
}

/// Loads a config; its errors, every one, end the command with exit 2.
func loadConfig(_ path: String) throws -> QBalloonConfig {
    do {
        return try QBalloonConfig.load(path: path)
    } catch {
        printError("\(error)")
        throw ExitCode(ExitStatus.usage)
    }
}

/// Plain readable lines on standard error, metadata first: `2026-11-27T04:30:00+0000 info qballoon: vm.name=db ...`.
func makeLogger(level: Logger.Level) -> Logger {
    var logger = Logger(label: "qballoon") { label in StreamLogHandler.standardError(label: label) }
    logger.logLevel = level
    return logger
}
