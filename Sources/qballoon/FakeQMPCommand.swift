import ArgumentParser

struct FakeQMPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fake-qmp",
        abstract: "Run a fake QEMU monitor with a simulated guest, for trying qballoon and for tests.")

    @Option(help: ArgumentHelp("Where to listen: unix:PATH, a path, or tcp:HOST:PORT.", valueName: "ADDR"))
    var listen: String

    @Option(help: ArgumentHelp("A scenario file (see Fixtures/scenarios/README.md).", valueName: "FILE"))
    var scenario: String?

    func run() async throws {
        throw ValidationError("fake-qmp is not wired yet")
    }
}
