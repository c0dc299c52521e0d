import Foundation
import QBalloon
import QBalloonCore
import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonRules
import QBalloonSimulator
import QBalloonTestSupport
import Testing

/// `qballoon simulate` decides as `qballoon run` does: the daemon (assembled as `qballoon run` assembles it, in
/// virtual time) against simulated VMs that replay two traces, and the simulator on the same traces, with every
/// shipped config, make the same balloon changes, decision for decision: same time, VM, from, to and reason, and the
/// same figures and adjustments in the line the daemon logs.
@Suite(.timeLimit(.minutes(3)))
struct SimulatorAgreementTests {
    static let mib: UInt64 = 1 << 20
    static let gib: UInt64 = 1 << 30

    /// A trace of a 1 GiB VM like the test guest (63 MiB outside MemTotal, 64 MiB of page cache), sampled every
    /// second from the virtual clock's start, its use following `workload`.
    static func trace(_ name: String, epoch: Double, seconds: Int, workload: FakeWorkload) -> Trace {
        let samples = (0..<seconds).map { second -> TraceSample in
            let total = gib - 63 * mib
            let used = UInt64(workload.used(at: Double(second)))
            let available = total - used
            return TraceSample(
                time: epoch + Double(second), actual: gib,
                stats: GuestStats(
                    swapIn: 0, swapOut: 0, majorFaults: 0, minorFaults: UInt64(second) * 500, free: available - min(available, 64 * mib),
                    total: total, available: available, diskCaches: min(available, 64 * mib),
                    lastUpdate: Int64(epoch) + Int64(second)))
        }
        return Trace(header: TraceHeader(vm: name, ramBytes: gib, interval: 1, qemu: "test", start: epoch), samples: samples)
    }

    static let seconds = 360

    @Test(arguments: ShippedConfigs.names)
    func theDaemonAndTheSimulatorMakeTheSameDecisions(config name: String) async throws {
        try await TestFleet.run { fleet in
            let epoch = fleet.clock.wallClock.now()
            let guests = try [
                Self.trace("batch", epoch: epoch, seconds: Self.seconds, workload: ReferenceWorkloadTests.trialBatch),
                Self.trace("idle", epoch: epoch, seconds: Self.seconds, workload: ReferenceWorkloadTests.trialIdle),
            ].map { try TraceGuest(trace: $0) }
            try await Self.expectSameDecisions(
                fleet, guests: guests, config: name, hostTotal: 2 * Self.gib + 256 * Self.mib, seconds: Self.seconds - 1,
                simulatedSeconds: Double(Self.seconds - 1), epoch: epoch)
        }
    }

    /// The same with the real traces of the test guest (Fixtures/traces/: idle, nightly-batch, slow-leak,
    /// bursty-cache), four 1 GiB VMs on a host of 3 GiB that keeps 256 MiB for itself.
    @Test(arguments: ShippedConfigs.names)
    func theSameDecisionsOnTheRecordedTraces(config name: String) async throws {
        let folder = TestEnvironment.repositoryRoot + "/Fixtures/traces"
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".trace") }.sorted()
        #expect(files.count >= 4, "\(files)")
        try await TestFleet.run { fleet in
            let epoch = fleet.clock.wallClock.now()
            let guests = try files.map { file -> TraceGuest in
                var guest = try TraceGuest(
                    trace: try Trace(parsing: try String(contentsOfFile: folder + "/" + file, encoding: .utf8), file: file))
                guest.start = epoch
                return guest
            }
            let seconds = Int(guests.map(\.duration).min() ?? 0)
            #expect(seconds >= 300)
            try await Self.expectSameDecisions(
                fleet, guests: guests, config: name, hostTotal: 3 * Self.gib, seconds: seconds, simulatedSeconds: Double(seconds),
                epoch: epoch)
        }
    }

    /// Runs the daemon on `guests` in `fleet` (a look at every guest every second, as the simulator takes) and the
    /// simulator on the same guests, host and config, and expects the same changes, decision for decision.
    static func expectSameDecisions(
        _ fleet: TestFleet, guests: [TraceGuest], config name: String, hostTotal: UInt64, seconds: Int, simulatedSeconds: Double,
        epoch: Double
    ) async throws {
        for guest in guests { try await fleet.startVM(guest.name, scenario: guest.scenario) }
        fleet.host.synthetic(total: hostTotal, hostUse: 256 * Self.mib)
        let text = try ShippedConfigs.adapted(name, in: .init(sockets: fleet.directory))
        try await fleet.startDaemon(config: text)
        try await fleet.advance(by: .seconds(seconds)) {
            for guest in guests { _ = try await fleet.guest(guest.name) }
        }
        let daemon = fleet.history.flatMap { round in
            round.changes.map { "t=\(round.time - epoch) \($0.vm) \($0.from) -> \($0.to ?? 0) \($0.reason): \($0)" }
        }
        let run = Simulation(
            config: try QBalloonConfig.parse(text, file: name), name: name, guests: guests,
            options: .init(hostMemory: hostTotal, hostUse: 256 * Self.mib, duration: simulatedSeconds, keepDecisions: true)
        ).run()
        let simulated = run.decisions.map { "t=\($0.time - epoch) \($0.vm) \($0.from) -> \($0.to) \($0.reason): \($0.text)" }
        print("\(name): \(daemon.count) changes from the daemon, \(simulated.count) from the simulator")
        #expect(daemon.count >= 5, "too few changes to compare: \(daemon)")
        #expect(simulated == daemon)
        if simulated != daemon {
            let first = zip(simulated, daemon).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(simulated.count, daemon.count)
            Issue.record(
                "first difference at change \(first): simulator \(simulated.dropFirst(first).prefix(3)) daemon \(daemon.dropFirst(first).prefix(3))")
        }
    }
}
