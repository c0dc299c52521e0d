import ArgumentParser
import QBalloonCore
import QBalloon
import QBalloonJSON
import QBalloonQMP

struct SetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Set a VM's balloon target and wait until the guest gets there.",
        discussion: """
            SIZE is bytes, a size with a binary unit (K, M, G, T, KiB, MiB, GiB, TiB: all powers of 1024; 1.5G is \
            allowed), or N% of the VM's maximum RAM. Targets above the VM's RAM are clamped to it by QEMU.

            Results: reached (exit 0); stalled: the guest stopped moving short of the target (exit 3; the target \
            is then reset to where the balloon stopped plus 1/16 of RAM, at least 64 MiB, so the guest, which has \
            nothing left to free, does not run out of memory; --keep-target leaves it); timeout: still moving \
            when --timeout ran out (exit 3); sent: with --no-wait (exit 0).
            """)

    @OptionGroup var monitor: MonitorOptions

    @Argument(help: ArgumentHelp("The target: 2GiB, 512M, 1073741824, 50%.", valueName: "SIZE"))
    var size: String

    @Option(help: ArgumentHelp("How long to wait for the guest to get there.", valueName: "DURATION"))
    var timeout: String = "60s"

    @Option(
        name: .customLong("stall-after"),
        help: ArgumentHelp("Report 'stalled' when the balloon has not moved for this long.", valueName: "DURATION"))
    var stallAfter: String = "2s"

    @Flag(
        name: .customLong("keep-target"),
        help: "On a stall, leave the target in place (the guest may run out of memory).")
    var keepTarget = false

    @Flag(name: .customLong("no-wait"), help: "Send the target and return without following the balloon.")
    var noWait = false

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        do {
            _ = try MemorySize(size)
        } catch {
            throw ValidationError("\(error)")
        }
        guard try parsedDuration(timeout, option: "--timeout") > .zero else {
            throw ValidationError("--timeout must be more than 0")
        }
        guard try parsedDuration(stallAfter, option: "--stall-after") > .zero else {
            throw ValidationError("--stall-after must be more than 0")
        }
    }

    func run() async throws {
        let size = try MemorySize(size)
        let wait = BalloonWait(
            timeout: try DurationText.parse(timeout), stallAfter: try DurationText.parse(stallAfter), stopAtStall: !keepTarget)
        let (outcome, identity) = try await withBalloon(monitor) { balloon in
            let max = try await balloon.maxBytes()
            let bytes = size.bytes(ofMax: max)
            guard bytes > 0 else {
                throw ValidationError("\(size) of \(MemorySize.format(max)) is less than one page")
            }
            if noWait {
                try await balloon.setTarget(bytes)
                let sent = BalloonOutcome(
                    requested: bytes, target: BalloonPages.effectiveTarget(requested: bytes, ramBytes: max),
                    actual: try await balloon.actual(), result: .sent)
                return (sent, balloon.identity)
            }
            return (try await balloon.setTarget(bytes, waiting: wait), balloon.identity)
        }
        if json {
            var document: JSON = .object(identity.merging([
                "requested_bytes": .unsigned(outcome.requested),
                "target_bytes": .unsigned(outcome.target),
                "actual_bytes": .unsigned(outcome.actual),
                "result": .string(outcome.result.rawValue),
            ]) { first, _ in first })
            if case .object(var members) = document, outcome.result == .stalled {
                members["target_reset_to_bytes"] = outcome.resetTo.map(JSON.unsigned) ?? .null
                document = .object(members)
            }
            print(document.encodedString(sortedKeys: true))
        } else {
            print(describe(outcome))
        }
        switch outcome.result {
        case .reached, .sent: return
        case .stalled, .timeout: throw ExitCode(ExitStatus.stoppedShort)
        }
    }

    private func describe(_ outcome: BalloonOutcome) -> String {
        let target = MemorySize.format(outcome.target)
        let actual = MemorySize.format(outcome.actual)
        switch outcome.result {
        case .reached: return "reached \(target) (actual \(actual))"
        case .sent: return "sent target \(target) (actual now \(actual))"
        case .stalled:
            let reset = outcome.resetTo.map { "; target reset to \(MemorySize.format($0)) to leave the guest some room" } ?? ""
            return "stalled at \(actual), short of the target \(target): the guest stopped giving memory back or taking it"
                + reset
        case .timeout: return "timeout: still moving at \(actual) toward \(target) when --timeout ran out"
        }
    }
}
