import ArgumentParser
import QBalloonFakeQMP
import QBalloonQMP

struct FakeQMPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fake-qmp",
        abstract: "Run a fake QEMU monitor with a simulated guest, for trying qballoon and for tests.",
        discussion: """
            Answers like QEMU 7.2 for every command qballoon uses, with a simulated guest whose workload,
            balloon speed, stall point and faults come from the scenario file (Fixtures/scenarios/README.md).
            Without --scenario: a 2 GiB VM whose guest uses 300 MiB. Runs until interrupted or a client sends
            `quit`. One client at a time, like QEMU.
            """)

    @Option(help: ArgumentHelp("Where to listen: unix:PATH, a path, or tcp:HOST:PORT (port 0: any free port).", valueName: "ADDR"))
    var listen: String

    @Option(help: ArgumentHelp("A scenario file (see Fixtures/scenarios/README.md).", valueName: "FILE"))
    var scenario: String?

    func validate() throws {
        do {
            _ = try QMPAddress(listen)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() async throws {
        let guest: FakeGuestScenario
        if let scenario {
            do {
                guest = try FakeGuestScenario.load(path: scenario)
            } catch {
                throw ValidationError("\(error)")
            }
        } else {
            guest = .idle
        }
        let server = try await FakeQMPServer.start(listen: try QMPAddress(listen), scenario: guest)
        print("fake QEMU monitor listening on \(server.boundAddress) (scenario: \(scenario ?? "built-in idle"))")
        await server.run()
    }
}
