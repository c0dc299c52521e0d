import ArgumentParser
import NIOHTTP1
import QBalloonDaemon

struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Make a running daemon read its config file again, and say whether it took it.",
        discussion: """
            The same as `systemctl reload qballoon` (SIGHUP), but it waits for the answer: the config is taken \
            (exit 0), or it has errors and is refused (exit 1, with the errors; the running config stays). \
            Check a config before with `qballoon check FILE`.
            """)

    @OptionGroup var control: ControlOptions

    func run() async throws {
        let reply = try await control.client.request(.POST, "/v1/reload")
        print(reply.message ?? "reloaded")
    }
}
