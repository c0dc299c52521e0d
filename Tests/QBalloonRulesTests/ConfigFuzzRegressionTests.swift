import Testing
@testable import QBalloonRules

/// Configs the fuzzer (scripts/fuzz.sh) found crashing the loader, kept in Fixtures/fuzz/regressions/config/.
@Suite("Config fuzz regressions")
struct ConfigFuzzRegressionTests {
    static let directory = fuzzRegressions("config")

    /// toml++ (under TOMLKit) asserts, aborting the process, when a table header's name starts with a character
    /// no key starts with: `[*`, or a `[` that ends its line. The loader refuses those with an error instead.
    @Test("a table header whose name cannot be a key is an error, not an abort", arguments: [
        "table-name-not-a-key.toml", "table-bracket-ends-line.toml", "fuzzer-found-table-header.toml",
        "table-name-not-a-key-after-bom.toml", "fuzzer-found-table-header-after-bom.toml",
    ])
    func tableHeaderWithoutName(file: String) throws {
        let error = try #require(throws: ConfigErrors.self) { try QBalloonConfig.load(path: "\(Self.directory)/\(file)") }
        #expect(error.errors.count == 1)
        #expect(error.description.contains("bad TOML: expected a table name after '['"))
    }

    /// A `min` within a page of UInt64.max loads (it is not above a percentage `max`), and rounding it up to a
    /// whole page overflowed when the engine resolved it against the VM's RAM: the daemon crashed on its first round.
    @Test("a min near the top of UInt64 resolves to the VM's max")
    func hugeMin() throws {
        let config = try QBalloonConfig.load(path: "\(Self.directory)/min-near-top-of-uint64.toml")
        let limits = config.vms[0].settings.resolve(ramBytes: 4 << 30)
        #expect(limits.min == 4 << 30)
        #expect(limits.max == 4 << 30)
    }

    /// `qballoon check` shows what the growth allowance adds up to over the daemon's reaction time: with an allowance
    /// near the largest size a second, that product did not fit UInt64 and the summary crashed.
    @Test("a huge growth allowance summarises")
    func hugeGrowthAllowance() throws {
        let config = try QBalloonConfig.load(path: "\(Self.directory)/growth-allowance-near-top-of-uint64.toml")
        #expect(config.summary.contains(" EiB)"))
    }

    /// A host reserve in bytes beyond Int64.max loads, and the arbiter's signed sums trapped on it: the daemon
    /// crashed on its first round. A reserve larger than the host keeps all of the host's memory.
    @Test("a host reserve near the top of UInt64 keeps the whole host")
    func hugeHostReserve() throws {
        let config = try QBalloonConfig.load(path: "\(Self.directory)/host-reserve-near-top-of-uint64.toml")
        var state = EngineState()
        let guest = sample("db", config: config, actual: 4 * GiB, ram: 4 * GiB, stats: stats(total: 4 * GiB - 64 * MiB, available: 3 * GiB))
        let round = DecisionEngine(config: config).decide(
            &state, samples: [guest], host: HostSample(total: 16 * GiB, available: 2 * GiB), now: 0)
        #expect(round.host.reserve == 16 * GiB)
    }

    @Test("the error points at the character after the bracket")
    func position() throws {
        let error = try #require(throws: ConfigErrors.self) {
            try QBalloonConfig.parse("[[vm]]\nqmp = \"/q/a.qmp\"\n[[ *x]]\n", file: "x.toml")
        }
        #expect(error.description == "x.toml:3:4: bad TOML: expected a table name after '[', a bare or quoted key\n    [[ *x]]\n       ^")
    }

    @Test("headers with spaces and quotes, and lines of a multi-line value, are left to toml++")
    func otherBrackets() throws {
        let config = try QBalloonConfig.parse("[ daemon ]\ninterval = \"2s\"\n[[ \"vm\" ]]\nqmp = \"/q/a.qmp\"\n", file: "x.toml")
        #expect(config.vms.count == 1)
        let error = try #require(throws: ConfigErrors.self) {
            try QBalloonConfig.parse(
                "[[vm]]\nqmp = \"/q/a.qmp\"\n[[rule]]\nname = \"r\"\nwhen = \"true\"\nset = \"max\"\nvms = [\n  [\n    \"a\"\n  ]\n]\n",
                file: "x.toml")
        }
        #expect(error.description == "x.toml:7:7: rule \"r\": vms: must be a list of VM names or globs, like [\"db\", \"web-*\"]")
    }
}
