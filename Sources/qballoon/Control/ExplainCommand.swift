import ArgumentParser
import NIOHTTP1
import QBalloonCore
import QBalloonDaemon
import QBalloonJSON

struct ExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Explain what a running daemon does with one VM, and why.",
        discussion: """
            Shows the VM's state and figures (balloon, limits, what the guest reports), whether an operator \
            pinned or paused it, the engine's last decision about it (the reason, the figures it saw, each limit \
            that changed what a rule wanted, one per line) and the last time its balloon moved. An unknown VM \
            is an error that lists the VMs the daemon knows.
            """)

    @OptionGroup var control: ControlOptions

    @Argument(help: ArgumentHelp("The VM's name, as `qballoon vms` lists it.", valueName: "VM"))
    var vm: String

    @Flag(help: "Print the daemon's JSON for the VM (GET /v1/vms/VM) instead of the explanation.")
    var json = false

    func run() async throws {
        let client = control.client
        let reply = try await client.request(.GET, "/v1/vms/\(ControlClient.path(vm))")
        if json {
            print(reply.body.encodedString(sortedKeys: true))
            return
        }
        let view = VMView(reply.body)
        // Whether the whole host is paused decides what `paused` means; a daemon that cannot say is no reason to fail.
        let host = try? await client.request(.GET, "/v1/host")
        print(VMExplanation.render(view, hostPaused: host?.body["paused"]?.boolValue, now: WallClock.system.now()))
    }
}
