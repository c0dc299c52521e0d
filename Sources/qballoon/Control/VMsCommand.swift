import ArgumentParser
import NIOHTTP1
import QBalloonDaemon
import QBalloonJSON

struct VMsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vms",
        abstract: "List the VMs a running daemon manages: state, balloon, what the guest has free, the last rule.",
        discussion: """
            Asks the daemon (`qballoon run`) over its control socket. One row per VM, sorted by name: STATE is \
            ok, or what keeps the daemon from managing it (connecting, unreachable, no_balloon, quarantined, \
            no_stats, stale_stats), or paused or pinned by an operator; ACTUAL/MAX is the balloon's size and the \
            most the config lets it have; TARGET the last target the VM accepted; AVAILABLE what the guest \
            reports it could use without swapping; STATS-AGE how old that report is; LAST RULE the rule (or \
            reason) of the engine's latest decision. `qballoon explain VM` tells the whole story of one VM.
            """)

    @OptionGroup var control: ControlOptions

    @Flag(help: "Print the daemon's JSON (GET /v1/vms: the host and every VM) instead of the table.")
    var json = false

    func run() async throws {
        let reply = try await control.client.request(.GET, "/v1/vms")
        print(json ? reply.body.encodedString(sortedKeys: true) : VMTable.render(RoundView(reply.body)))
    }
}
