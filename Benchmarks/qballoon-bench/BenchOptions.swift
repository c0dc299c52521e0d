/// Command-line settings. Defaults are the figures `make bench` reports; `--quick` is a smoke test.
struct BenchOptions {
    var qemu = "qemu-system-x86_64"
    var workDirectory: String?
    var rounds = 15
    var perRound = 200
    var warmUp = 300
    var throughputSeconds = 3.0
    var throughputTasks = 16
    var decodeIterations = 200_000
    /// Alternating blocks the decode iterations are split into.
    var decodeBlocks = 100
    var schemaIterations = 30
    /// For profilers: run only this many sequential round trips with one client, then exit.
    var profile: ProfileTarget?
    var profileCount = 20_000
    /// With `--profile client|minimal`: a monitor socket of a QEMU started by hand.
    var qmpPath: String?
    /// With `--profile decode|foundation`: a file holding one reply.
    var payloadPath: String?
    /// Write the captured replies (guest-stats, realistic variant, schema) here.
    var savePayloads: String?
    /// Run only the simulator's benchmark (no QEMU): this many VMs over this many hours.
    var simulate = false
    var simulateVMs = 100
    var simulateHours = 24.0
    /// Run only the NIO floor of `scripts/bench-daemon.sh` (NIOFloor.swift): poll these sockets every interval.
    var nioFloor: (interval: Double, pattern: String)?

    enum ProfileTarget: String {
        case client, minimal, decode, foundation
        case clientOnLoop = "client-on-loop"
    }

    struct UsageError: Error, CustomStringConvertible {
        let description: String
    }

    static let usage = """
        usage: qballoon-bench [--qemu PATH] [--workdir DIR] [--rounds N] [--per-round N] [--warmup N]
                              [--throughput-seconds S] [--tasks N] [--decode-iterations N] [--decode-blocks N]
                              [--schema-iterations N] [--quick] [--save-payloads DIR]
               qballoon-bench --profile client|client-on-loop|minimal --qmp PATH [--count N]
               qballoon-bench --profile decode|foundation --payload FILE [--count N]
               qballoon-bench --simulate [--vms N] [--hours H]
               qballoon-bench --nio-floor INTERVAL_SECONDS 'DIR/*.qmp'
        """

    init(arguments: [String]) throws {
        var rest = arguments[...]
        func value(_ flag: String) throws -> String {
            guard let next = rest.popFirst() else { throw UsageError(description: "\(flag) needs a value\n\(Self.usage)") }
            return next
        }
        func integer(_ flag: String) throws -> Int {
            let text = try value(flag)
            guard let number = Int(text), number > 0 else {
                throw UsageError(description: "\(flag): '\(text)' is not a positive integer")
            }
            return number
        }
        while let flag = rest.popFirst() {
            switch flag {
            case "--qemu": qemu = try value(flag)
            case "--workdir": workDirectory = try value(flag)
            case "--rounds": rounds = try integer(flag)
            case "--per-round": perRound = try integer(flag)
            case "--warmup": warmUp = try integer(flag)
            case "--throughput-seconds":
                let text = try value(flag)
                guard let seconds = Double(text), seconds > 0 else {
                    throw UsageError(description: "\(flag): '\(text)' is not a positive number")
                }
                throughputSeconds = seconds
            case "--tasks": throughputTasks = try integer(flag)
            case "--decode-iterations": decodeIterations = try integer(flag)
            case "--decode-blocks": decodeBlocks = try integer(flag)
            case "--schema-iterations": schemaIterations = try integer(flag)
            case "--quick":
                rounds = 2
                perRound = 100
                warmUp = 50
                throughputSeconds = 0.5
                decodeBlocks = 4
                decodeIterations = 2_000
                schemaIterations = 4
            case "--profile":
                let text = try value(flag)
                guard let target = ProfileTarget(rawValue: text) else {
                    throw UsageError(description: "--profile: '\(text)' is not client, client-on-loop, minimal, decode or foundation")
                }
                profile = target
            case "--count": profileCount = try integer(flag)
            case "--qmp": qmpPath = try value(flag)
            case "--payload": payloadPath = try value(flag)
            case "--save-payloads": savePayloads = try value(flag)
            case "--simulate": simulate = true
            case "--vms": simulateVMs = try integer(flag)
            case "--hours":
                let text = try value(flag)
                guard let hours = Double(text), hours > 0, hours <= 168 else {
                    throw UsageError(description: "\(flag): '\(text)' is not a number of hours from 0 to 168")
                }
                simulateHours = hours
            case "--nio-floor":
                let text = try value(flag)
                guard let interval = Double(text), interval > 0, interval <= 3600 else {
                    throw UsageError(description: "\(flag): '\(text)' is not a number of seconds from 0 to 3600")
                }
                nioFloor = (interval, try value(flag))
            case "-h", "--help": throw UsageError(description: Self.usage)
            default: throw UsageError(description: "unknown option '\(flag)'\n\(Self.usage)")
            }
        }
    }
}
