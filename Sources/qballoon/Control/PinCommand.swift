import ArgumentParser
import NIOHTTP1
import QBalloonCore
import QBalloonDaemon
import QBalloonJSON

struct PinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pin",
        abstract: "Pin a VM's balloon to a size: the daemon's rules leave it there until unpinned.",
        discussion: """
            The running daemon sets the VM's balloon to SIZE and keeps it there, whatever its rules say, until \
            `qballoon unpin VM`, or until --for runs out. SIZE is bytes, a size with a binary unit (512M, \
            2GiB, 1.5G) or N% of the VM's RAM; it may not exceed the VM's max. A pin does not survive a restart \
            of the daemon unless it keeps state (state_dir); a pin with --for ends on its own.
            """)

    @OptionGroup var control: ControlOptions

    @Argument(help: ArgumentHelp("The VM's name, as `qballoon vms` lists it.", valueName: "VM"))
    var vm: String

    @Argument(help: ArgumentHelp("The size to hold it at: 2GiB, 512M, 50%.", valueName: "SIZE"))
    var size: String

    @Option(name: .customLong("for"), help: ArgumentHelp("Unpin on its own after this long: 30m, 2h.", valueName: "DURATION"))
    var duration: String?

    func validate() throws {
        do {
            _ = try MemorySize(size)
        } catch {
            throw ValidationError("\(error)")
        }
        if let duration {
            guard try parsedDuration(duration, option: "--for") > .zero else {
                throw ValidationError("--for must be more than 0")
            }
        }
    }

    func run() async throws {
        var body: [String: JSON] = ["size": .string(size)]
        if let duration { body["for"] = .string(duration) }
        let reply = try await control.client.request(.POST, "/v1/vms/\(ControlClient.path(vm))/pin", body: .object(body))
        print(reply.message ?? "\(vm) pinned to \(size)")
    }
}

struct UnpinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unpin",
        abstract: "Remove an operator's pin from a VM: the daemon's rules decide its balloon again.",
        discussion: """
            The balloon stays where the pin left it until the next round, when the rules decide again (within \
            their step and cooldown). Unpinning a VM that is not pinned is not an error.
            """)

    @OptionGroup var control: ControlOptions

    @Argument(help: ArgumentHelp("The VM's name, as `qballoon vms` lists it.", valueName: "VM"))
    var vm: String

    func run() async throws {
        let reply = try await control.client.request(.DELETE, "/v1/vms/\(ControlClient.path(vm))/pin")
        print(reply.message ?? "\(vm) unpinned")
    }
}
