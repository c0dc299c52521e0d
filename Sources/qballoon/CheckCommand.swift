import ArgumentParser
import QBalloonRules

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Load and validate a config file without connecting to anything.",
        discussion: """
            Prints a summary (daemon settings, the host reserve, each VM's effective limits, the rules in order) \
            and exits 0, or lists every error with its file, line and column and exits 2. Rule expressions are \
            type-checked here: an unknown variable, a unit error or a type error is found now, not when the rule \
            first fires.
            """)

    @Option(help: ArgumentHelp("The config file (TOML).", valueName: "FILE"))
    var config: String

    func run() throws {
        let loaded: QBalloonConfig
        do {
            loaded = try QBalloonConfig.load(path: config)
        } catch {
            for problem in error.errors { printError(problem.description) }
            let count = error.errors.count
            printError("qballoon: \(config): \(count) error\(count == 1 ? "" : "s")")
            throw ExitCode(ExitStatus.usage)
        }
        print(loaded.summary)
    }
}
