import Foundation
import QBalloon
import QBalloonRules
import QBalloonSimulator
import QBalloonTestSupport
import Testing

/// Every shipped config on every recorded trace of the test guest (Fixtures/traces/), on a host with room for all
/// the VMs' RAM and on an overcommitted one (3 GiB for 4 GiB of VMs, 256 MiB of its own): no guest is ever out of
/// memory where the config can keep its promises on that host, and where it cannot, the simulator says so first.
struct ShippedPoliciesTests {
    static let mib: UInt64 = 1 << 20
    static let gib: UInt64 = 1 << 30

    static let guests: [TraceGuest] = {
        let folder = TestEnvironment.repositoryRoot + "/Fixtures/traces"
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".trace") }.sorted()
        return files.compactMap { file in
            guard let text = try? String(contentsOfFile: folder + "/" + file, encoding: .utf8),
                let trace = try? Trace(parsing: text, file: file)
            else { return nil }
            return try? TraceGuest(trace: trace)
        }
    }()

    static let configs = ShippedConfigs.names.map { "Configs/" + $0 } + [ShippedConfigs.installedDefault]

    static let hosts: [Simulation.Options] = [.init(), .init(hostMemory: 3 * gib, hostUse: 256 * mib)]

    @Test(arguments: configs, [0, 1])
    func noGuestIsOutOfMemoryWhereTheConfigCanKeepItsPromises(config path: String, host: Int) throws {
        #expect(Self.guests.count == 4)
        let config = try QBalloonConfig.load(path: TestEnvironment.repositoryRoot + "/" + path)
        let run = Simulation(config: config, name: path, guests: Self.guests, options: Self.hosts[host]).run()
        let figures = run.figures
        let summary =
            "\(path) on host \(host): returned \(Int(figures.returnedMean) >> 20) MiB (least \(figures.returnedLeast >> 20)), "
            + "\(figures.outOfMemoryEvents) would-be OOM, short \(figures.shortSeconds) s, \(Int(figures.changesPerVMHour)) changes per VM-hour, "
            + "\(run.warnings.count) warning(s)"
        print(summary)
        #expect(run.vms.map(\.name) == ["bursty-cache", "idle", "nightly-batch", "slow-leak"])
        #expect(run.end - run.start >= 300)
        if run.warnings.isEmpty {
            #expect(run.figures.outOfMemoryEvents == 0, "\(summary)")
            #expect(run.figures.shortSeconds <= 10, "\(summary)")
        }
        if path == ShippedConfigs.installedDefault {
            // The package's config watches and changes nothing.
            #expect(run.figures.changesPerVMHour == 0 && run.figures.returnedMean == 0, "\(summary)")
        } else {
            #expect(run.figures.returnedMean > Double(256 * Self.mib), "\(summary)")
            #expect(run.figures.returnedLeast > 0, "\(summary)")
        }
    }

    /// The example config keeps a 2 GiB reserve (1 GiB hard) and half of each VM's RAM: on the overcommitted host
    /// that cannot all hold, and the simulator says so (and shows the guest it holds back).
    @Test func aConfigThatCannotHoldOnTheHostIsNamed() throws {
        let config = try QBalloonConfig.load(path: TestEnvironment.repositoryRoot + "/Configs/example.toml")
        let run = Simulation(config: config, name: "example", guests: Self.guests, options: Self.hosts[1]).run()
        #expect(run.warnings.count == 1)
        #expect(run.warnings.first?.hasPrefix("the VMs' min (2 GiB together), the hard reserve (1 GiB) and the host's own use (256 MiB) add up to more than the host's 3 GiB") == true)
        let roomy = Simulation(config: config, name: "example", guests: Self.guests, options: Self.hosts[0]).run()
        #expect(roomy.warnings.isEmpty)
    }
}
