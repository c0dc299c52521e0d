import QBalloonCore
@testable import QBalloonRules

let GiB: UInt64 = 1 << 30
let MiB: UInt64 = 1 << 20

/// The repository's top folder (this file is Tests/QBalloonRulesTests/Support.swift in it): the shipped configs and
/// the fuzzers' regressions are read from there.
let repositoryRoot = "/" + "\(#filePath)".split(separator: "/").dropLast(3).joined(separator: "/")

/// Where the inputs that once crashed fuzz target `target` are kept: Fixtures/fuzz/regressions/TARGET.
func fuzzRegressions(_ target: String) -> String {
    repositoryRoot + "/Fixtures/fuzz/regressions/" + target
}

/// A config with one glob VM entry, `defaults` lines and the given rules (name, when, set).
func makeConfig(defaults: String = "", host: String = "", rules: [(String, String, String)] = []) throws -> QBalloonConfig {
    var text = "[daemon]\ninterval = \"2s\"\n[host]\n\(host)\n[defaults]\n\(defaults)\n[[vm]]\nqmp = \"/run/qemu/*.qmp\"\n"
    for (name, when, set) in rules {
        text += "[[rule]]\nname = \"\(name)\"\nwhen = \"\(when)\"\nset = \"\(set)\"\n"
    }
    return try QBalloonConfig.parse(text, file: "test.toml")
}

/// Guest statistics reported `age` seconds before `now`.
func stats(total: UInt64, available: UInt64, majorFaults: UInt64 = 0, swapIn: UInt64 = 0) -> GuestStats {
    GuestStats(
        swapIn: swapIn, swapOut: 0, majorFaults: majorFaults, minorFaults: 0, free: available / 2, total: total,
        available: available, diskCaches: available / 4)
}

/// A sample of VM `name`, whose statistics (if any) the guest reported `age` seconds before `now` (QEMU
/// stamps reports in whole seconds); `age: nil` is a guest that never reported.
func sample(
    _ name: String, config: QBalloonConfig, actual: UInt64, ram: UInt64 = 8 << 30, stats: GuestStats?,
    age: Double? = 1, at now: Double = 0, shares: Int? = nil, min: MemorySize? = nil, reachable: Bool = true
) -> VMSample {
    var settings = config.vms[0].settings
    if let shares { settings.shares = shares }
    if let min { settings.min = min }
    var stats = stats
    stats?.lastUpdate = age.map { Int64((now - $0).rounded(.down)) }
    return VMSample(
        name: name, limits: settings.resolve(ramBytes: ram), actual: actual, ram: ram, stats: stats, reachable: reachable)
}

/// Evaluates an expression over the given figures (others unknown); nil for unknown.
func evaluate(_ text: String, expecting type: ValueType = .bool, _ figures: [Variable: Double] = [:]) throws -> Double? {
    var layout = FrameLayout()
    let compiled = try ExpressionCompiler.compile(text, expecting: type, layout: &layout)
    var frame = [Double](repeating: .nan, count: layout.size)
    for (variable, value) in figures { frame[variable.rawValue] = value }
    let value = frame.withUnsafeBufferPointer { compiled($0.baseAddress!) }
    return value.isNaN ? nil : value
}

/// The full error text for a rule whose `when` (or `set`) is `expression`, in a file where `when` is line 7.
func ruleError(when: String = "available > 1GiB", set: String = "actual") -> String {
    let text = """
        [[vm]]
        qmp = "/run/qemu/*.qmp"

        [[rule]]
        name = "r"
        # the next line is line 7
        when = "\(when)"
        set = "\(set)"
        """
    do {
        _ = try QBalloonConfig.parse(text, file: "x.toml")
        return "no error"
    } catch {
        return error.description
    }
}

func configError(_ text: String) -> String {
    do {
        _ = try QBalloonConfig.parse(text, file: "x.toml")
        return "no error"
    } catch {
        return error.description
    }
}

/// Runs a dry round 30 s before `now` on the same samples (statistics reported 30 s earlier): afterwards each
/// guest's need has a known, flat trend, as after the daemon's first rounds, and nothing was sent.
func warmUp(_ engine: DecisionEngine, _ state: inout EngineState, _ samples: [VMSample], now: Double) {
    var dry = engine
    dry.dryRun = true
    let earlier = samples.map { sample -> VMSample in
        var sample = sample
        let update = sample.stats?.lastUpdate
        sample.stats?.lastUpdate = update.map { $0 - 30 }
        return sample
    }
    _ = dry.decide(&state, samples: earlier, host: HostSample(), now: now - 30)
}
