import ArgumentParser
import NIOHTTP1
import QBalloonDaemon
import QBalloonJSON

struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Pause a running daemon's balloon changes, for one VM or for the whole host.",
        discussion: """
            A paused VM keeps its balloon where it is: the daemon still watches it (`qballoon vms` shows it \
            paused) but changes nothing, even under host pressure. Without VM, the whole host is paused. \
            `qballoon resume` undoes it. A pause lasts until resumed (or until the daemon restarts, unless it \
            keeps state in state_dir).
            """)

    @OptionGroup var control: ControlOptions

    @Argument(help: ArgumentHelp("The VM to pause; none pauses every VM.", valueName: "VM"))
    var vm: String?

    func run() async throws {
        let body: JSON = vm.map { ["vm": .string($0)] } ?? [:]
        let reply = try await control.client.request(.POST, "/v1/pause", body: body)
        print(reply.message ?? "paused")
    }
}

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Resume a running daemon's balloon changes, for one VM or for the whole host.",
        discussion: """
            With VM, that VM's own pause ends (if the whole host is paused, it stays paused with it). Without \
            VM, the whole host resumes and every VM's own pause ends too.
            """)

    @OptionGroup var control: ControlOptions

    @Argument(help: ArgumentHelp("The VM to resume; none resumes the host and every VM.", valueName: "VM"))
    var vm: String?

    func run() async throws {
        let body: JSON = vm.map { ["vm": .string($0)] } ?? [:]
        let reply = try await control.client.request(.POST, "/v1/resume", body: body)
        print(reply.message ?? "resumed")
    }
}
