import ArgumentParser
import QBalloonCore
import QBalloonFakeQMP
import QBalloonQMP

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

struct FakeQMPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fake-qmp",
        abstract: "Run a fake QEMU monitor with a simulated guest, for trying qballoon and for tests.",
        discussion: """
            Answers like QEMU 7.2 for every command qballoon uses, with a simulated guest whose workload, \
            balloon speed, stall point and faults come from the scenario file (Fixtures/scenarios/README.md). \
            Without --scenario: a 2 GiB VM whose guest uses 300 MiB. Runs until interrupted or a client sends \
            `quit`. One client at a time, like QEMU.

            A fleet: --count N runs N fake VMs, each with its own monitor, in this one process (no thread per \
            VM). A %d in --listen is replaced by the VM's number, 1 to N (%04d pads it with zeros):
              qballoon fake-qmp --count 1000 --listen unix:/tmp/fleet/vm-%d.qmp
            Every VM plays the same scenario; `quit` stops only the VM it was sent to, and the process runs \
            until every VM has stopped. Each VM takes two open files (its listening socket and its client): \
            the open-files limit is raised to its hard limit (ulimit -Hn), and a fleet that cannot fit is \
            refused before it starts; split a larger one over several processes with different names.
            """)

    @Option(help: ArgumentHelp(
        "Where to listen: unix:PATH, a path, or tcp:HOST:PORT (port 0: any free port). With --count, a %d in it is the VM's number.",
        valueName: "ADDR"))
    var listen: String

    @Option(help: ArgumentHelp("A scenario file (see Fixtures/scenarios/README.md).", valueName: "FILE"))
    var scenario: String?

    @Option(help: ArgumentHelp("How many fake VMs to run, numbered 1 to N; --listen must then contain %d.", valueName: "N"))
    var count: Int = 1

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        let template: AddressTemplate
        do {
            template = try AddressTemplate(listen)
        } catch {
            // One VM: a % that is not a placeholder is part of the path.
            guard count == 1 else { throw ValidationError("--listen: \(error)") }
            template = AddressTemplate(literal: listen)
        }
        if count > 1, !template.isNumbered {
            throw ValidationError("--count \(count) needs a %d in --listen, e.g. unix:/tmp/fleet/vm-%d.qmp")
        }
        for number in Set([1, count]) {
            do {
                _ = try Endpoint(template.address(number))
            } catch {
                throw ValidationError("\(error)")
            }
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
        let scenarioName = scenario ?? "built-in idle"
        let template = (try? AddressTemplate(listen)) ?? AddressTemplate(literal: listen)
        if count == 1 {
            let server = try await FakeQMPServer.start(listen: try Endpoint(template.address(1)), scenario: guest)
            print("fake QEMU monitor listening on \(server.boundAddress) (scenario: \(scenarioName))")
            fflush(nil)
            await server.run()
            return
        }
        try Self.raiseOpenFilesLimit(toFit: count)
        var servers: [FakeQMPServer] = []
        servers.reserveCapacity(count)
        do {
            for number in 1...count {
                servers.append(try await FakeQMPServer.start(listen: try Endpoint(template.address(number)), scenario: guest))
            }
        } catch {
            for server in servers { await server.stop() }
            throw error
        }
        print(
            "\(count) fake QEMU monitors listening on \(servers[0].boundAddress) ... \(servers[count - 1].boundAddress)"
                + " (scenario: \(scenarioName))")
        fflush(nil)
        await withDiscardingTaskGroup { group in
            for server in servers {
                group.addTask { await server.run() }
            }
        }
    }

    /// Raises the soft open-files limit to the hard one; refuses a fleet that would not fit.
    private static func raiseOpenFilesLimit(toFit count: Int) throws {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        // Two per VM (listening socket, client), and a few for the process and the event loops.
        let needed = 2 * count + 32
        if limit.rlim_cur != rlim_t.max, needed > Int(clamping: limit.rlim_cur) {
            throw ValidationError(
                "--count \(count) needs about \(needed) open files, and the limit is \(limit.rlim_cur) (ulimit -n):"
                    + " run fewer VMs per process")
        }
    }
}

/// `--listen` with an optional `%d` or `%0Nd` that stands for the VM's number.
struct AddressTemplate {
    private let prefix: Substring
    private let suffix: Substring
    /// Zero-padded width; nil when there is no placeholder.
    private let width: Int?

    var isNumbered: Bool { width != nil }

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    init(literal text: String) {
        (prefix, suffix, width) = (text[...], "", nil)
    }

    init(_ text: String) throws {
        guard let percent = text.firstIndex(of: "%") else {
            (prefix, suffix, width) = (text[...], "", nil)
            return
        }
        var index = text.index(after: percent)
        var digits = ""
        while index < text.endIndex, text[index].isASCII, text[index].isNumber {
            digits.append(text[index])
            index = text.index(after: index)
        }
        guard index < text.endIndex, text[index] == "d", digits.isEmpty || digits.hasPrefix("0") else {
            throw Invalid(description: "'\(text)': the only placeholder is %d (or %0Nd, zero-padded to N digits)")
        }
        let rest = text[text.index(after: index)...]
        guard !rest.contains("%") else {
            throw Invalid(description: "'\(text)' has more than one %")
        }
        prefix = text[..<percent]
        suffix = rest
        width = Int(digits) ?? 0
    }

    /// The address of VM `number`.
    func address(_ number: Int) -> String {
        guard let width else { return String(prefix) }
        var digits = String(number)
        if digits.count < width { digits = String(repeating: "0", count: width - digits.count) + digits }
        return prefix + digits + suffix
    }
}
