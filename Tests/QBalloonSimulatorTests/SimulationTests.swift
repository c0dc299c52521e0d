import QBalloon
import QBalloonCore
import QBalloonFakeQMP
import QBalloonRules
@testable import QBalloonSimulator
import Testing

/// The simulator on small traces whose figures can be worked out by hand.
struct SimulationTests {
    static let mib: UInt64 = 1 << 20
    static let gib: UInt64 = 1 << 30
    static let start = 1_800_000_000.0

    /// A trace of a `ram` VM sampled every second for `seconds`, using `used(t)` (MemTotal minus MemAvailable), its
    /// kernel keeping 64 MiB outside MemTotal, nothing swapped.
    static func trace(_ name: String, ram: UInt64 = 2 << 30, seconds: Int, used: (Int) -> UInt64) -> Trace {
        let samples = (0..<seconds).map { second -> TraceSample in
            let total = ram - 64 * mib
            let available = total - used(second)
            return TraceSample(
                time: start + Double(second), actual: ram,
                stats: GuestStats(
                    swapIn: 0, swapOut: 0, majorFaults: 0, minorFaults: 0, free: available / 2, total: total,
                    available: available, diskCaches: available / 2, lastUpdate: Int64(start) + Int64(second)))
        }
        return Trace(header: TraceHeader(vm: name, ramBytes: ram, interval: 1, qemu: "test", start: start), samples: samples)
    }

    static func config(_ text: String) throws -> QBalloonConfig {
        try QBalloonConfig.parse(
            """
            [daemon]
            interval = "2s"
            control_socket = "off"
            \(text)

            [[vm]]
            qmp = "/run/qemu/*.qmp"
            """)
    }

    @Test func theNeedIsWhatTheGuestUsedAndMoreWhereItSwappedIn() throws {
        var trace = Self.trace("db", seconds: 4) { _ in 500 * Self.mib }
        // At second 2 it swapped in 30 MiB since the sample before; at second 3 it was short (available under a
        // tenth of total) and faulted 10,000 pages in (39 MiB, more than its swap-in of 5 MiB).
        trace.samples[2].stats.swapIn = 30 * Self.mib
        trace.samples[3].stats.swapIn = 35 * Self.mib
        trace.samples[3].stats.available = 100 * Self.mib
        trace.samples[3].stats.majorFaults = 10_000
        let needs = TraceGuest.need(of: trace).map(\.need)
        let total = 2 * Self.gib - 64 * Self.mib
        #expect(needs == [500 * Self.mib, 500 * Self.mib, 530 * Self.mib, total - 100 * Self.mib + 10_000 * 4096])
        let guest = try TraceGuest(trace: trace)
        #expect(guest.scenario.guest.kernelReserved == 64 * Self.mib)
        #expect(guest.scenario.ram == 2 * Self.gib)
        #expect(guest.scenario.workload.used(at: 2) == Double(530 * Self.mib))
    }

    @Test func aTraceWithNoMemoryFiguresIsRefusedByName() {
        var trace = Self.trace("blind", seconds: 3) { _ in 0 }
        for index in trace.samples.indices { trace.samples[index].stats.available = nil }
        let error = #expect(throws: TraceGuestError.self) { try TraceGuest(trace: trace) }
        #expect(error?.description == "trace of blind: no sample has both total and available memory: nothing to tell its need from")
    }

    /// A 2 GiB VM held to max 1 GiB: the first round (t = 0) has no reading yet; the second (t = 2 s) reads a report
    /// made before the engine saw the balloon, which it does not shrink on; the third (t = 4 s) sets 1 GiB. The
    /// balloon moves 256 MiB a second, so the looks at t = 1..60 see 0 returned four times, then 256, 512, 768 MiB,
    /// then 1 GiB for 53 s: a mean of (1536 + 53 × 1024) / 60 MiB; the least after the warm-up (a tenth of the
    /// run: from t = 6) 512 MiB. From t = 30 to 40 the guest needs 1229 MiB of the 1 GiB it
    /// may have (its kernel keeps 64 MiB besides): out of memory and short from the look at 30 to the look at 41,
    /// with 1229 + 64 - 1024 = 269 MiB that did not fit, and no memory back (it is at its max).
    @Test func figuresOfAGuestHeldBelowWhatItNeeds() throws {
        let trace = Self.trace("held", seconds: 61) { second in (30...40).contains(second) ? 1229 * Self.mib : 300 * Self.mib }
        var guest = try TraceGuest(trace: trace)
        // The trace's points are a second apart: make the step sharp, as the sentence above counts it.
        guest.scenario.workload = FakeWorkload(points: [
            .init(at: 0, used: 300 * Self.mib), .init(at: 29.999, used: 300 * Self.mib), .init(at: 30, used: 1229 * Self.mib),
            .init(at: 40, used: 1229 * Self.mib), .init(at: 40.001, used: 300 * Self.mib),
        ])
        let config = try Self.config(
            """
            [defaults]
            max = "1GiB"
            min = "1GiB"
            step = "2GiB"
            cooldown = "0s"
            """)
        let run = Simulation(config: config, name: "held.toml", guests: [guest], options: .init(keepDecisions: true)).run()
        #expect(run.end - run.start == 60)
        #expect(run.decisions.map(\.time) == [Self.start + 4])
        #expect(run.decisions.first?.to == Self.gib)
        #expect(run.decisions.first?.reason == "limits")
        let vm = try #require(run.vms.first)
        #expect(vm.max == Self.gib && vm.min == Self.gib)
        #expect(abs(vm.figures.returnedMean - Double((1536 + 53 * 1024) * Self.mib) / 60) < 1)
        #expect(vm.figures.returnedLeast == 512 * Self.mib)
        #expect(run.figures.returnedLeast == 512 * Self.mib)
        #expect(vm.outOfMemory == [Episode(start: Self.start + 30, end: Self.start + 41, worst: (1229 + 64 - 1024) * Self.mib)])
        #expect(vm.short.map(\.seconds) == [11])
        #expect(vm.figures.changes == 1)
        #expect(run.figures.changesPerVMHour == 60)
        #expect(run.figures.outOfMemoryEvents == 1)
        #expect(run.figures.memoryBackP50 == nil)
        #expect(run.figures.shortWithoutMemoryBack == 1)
        #expect(run.figures.returnedMean == vm.figures.returnedMean)
    }

    /// A rule holds the guest at 1 GiB; at t = 30 its need jumps from 300 to 940 MiB, which fits (1 GiB less the 64 MiB
    /// its kernel keeps) but leaves 20 MiB available: short from the look at 30. The guest reports every 2 s, so the
    /// report made at 30 is read by the poll after the round at 30 and acted on by the round at 32 (pressure: grow);
    /// the balloon moves 256 MiB a second, so the look at 33 sees more memory: 3 s from short to memory back.
    @Test func theDelayFromShortToMemoryBack() throws {
        let trace = Self.trace("jump", seconds: 91) { second in second >= 30 ? 940 * Self.mib : 300 * Self.mib }
        var guest = try TraceGuest(trace: trace)
        guest.scenario.workload = FakeWorkload(points: [
            .init(at: 0, used: 300 * Self.mib), .init(at: 29.999, used: 300 * Self.mib), .init(at: 30, used: 940 * Self.mib),
        ])
        let config = try Self.config(
            """
            [defaults]
            min = "512MiB"
            step = "2GiB"
            cooldown = "0s"

            [[rule]]
            name = "one gigabyte"
            when = "true"
            set = "1GiB"
            """)
        let run = Simulation(config: config, name: "jump.toml", guests: [guest], options: .init(keepDecisions: true)).run()
        let vm = try #require(run.vms.first)
        #expect(run.decisions.first.map { ($0.time, $0.to, $0.rule) } ?? (0, nil, nil) == (Self.start + 4, Self.gib, "one gigabyte"))
        let growth = try #require(run.decisions.first { $0.to > $0.from })
        #expect(growth.time == Self.start + 32)
        // Pressure 28 s after the shrink at t = 4, within shrink_watch (30 s): the shrink is undone at once.
        #expect(growth.reason == "shrink undone")
        #expect(vm.short.first?.start == Self.start + 30)
        #expect(run.figures.memoryBackP50 == 3)
        #expect(run.figures.memoryBackP99 == 3)
        #expect(run.figures.outOfMemoryEvents == 0)
    }

    /// Two configs on the same day, where the better one is known for each figure: one keeps every guest whole (it
    /// returns nothing, and nobody is ever short), the other squeezes each guest to its use plus 64 MiB (it returns
    /// the most, and the guest whose need jumps by 1.2 GiB at once is short and out of memory until it is given
    /// memory back).
    @Test func compareMarksTheBetterConfigInEachRow() throws {
        let guests = try [
            Self.trace("idle", seconds: 600) { _ in 300 * Self.mib },
            Self.trace("spike", seconds: 600) { second in (300..<400).contains(second) ? 1500 * Self.mib : 300 * Self.mib },
        ].map { try TraceGuest(trace: $0) }
        let keep = try Self.config(
            """
            [defaults]
            min = "100%"
            """)
        let squeeze = try Self.config(
            """
            [defaults]
            min = "256MiB"
            step = "2GiB"
            cooldown = "0s"
            headroom = "64MiB"
            growth_allowance = "0B/s"
            peak_window = "10s"
            pressure_hold = "10s"

            [[rule]]
            name = "squeeze"
            when = "true"
            set = "used + 64MiB"
            """)
        let runs = [keep, squeeze].enumerated().map { index, config in
            Simulation(config: config, name: index == 0 ? "keep.toml" : "squeeze.toml", guests: guests).run()
        }
        #expect(runs[0].figures.returnedMean == 0)
        #expect(runs[0].figures.shortSeconds == 0 && runs[0].figures.outOfMemoryEvents == 0)
        #expect(runs[1].figures.returnedMean > Double(2 * Self.gib))
        #expect(runs[1].figures.outOfMemoryEvents >= 1)
        let rows = Dictionary(uniqueKeysWithValues: FigureTable.rows(runs).map { ($0.label, $0) })
        #expect(rows["memory returned, mean"]?.better == 1)
        #expect(rows["time short"]?.better == 0)
        #expect(rows["would-be OOM events"]?.better == 0)
        #expect(rows["would-be OOM time"]?.better == 0)
        #expect(rows["balloon changes per VM-hour"]?.better == 0)
        #expect(rows["would-be OOM events"]?.values.first == "0")
        // The guest that kept everything was never short: no delay to compare.
        #expect(rows["memory back, median"]?.better == nil)
    }

    @Test func aTieMarksNothing() {
        #expect(FigureTable.better([1, 1], .less) == nil)
        #expect(FigureTable.better([2, 1], .less) == 1)
        #expect(FigureTable.better([2, 1], .more) == 0)
        #expect(FigureTable.better([2, nil], .more) == nil)
        #expect(FigureTable.better([2], .more) == nil)
        #expect(FigureTable.better([2, 1], .neither) == nil)
    }

    /// Two 2 GiB VMs that keep all their RAM on a host with 3 GiB for them: after the warm-up (a tenth of the minute,
    /// from t = 6) the guests hold more than the host has at every look, 55 of them a second apart; the host's
    /// MemAvailable reads 0 all along (the bucket of every second).
    @Test func theTimeTheHostIsOutOfMemory() throws {
        let guests = try ["a", "b"].map { name in try TraceGuest(trace: Self.trace(name, seconds: 61) { _ in 300 * Self.mib }) }
        let config = try Self.config(
            """
            [defaults]
            min = "100%"
            """)
        let run = Simulation(config: config, name: "keep.toml", guests: guests, options: .init(hostMemory: 3 * Self.gib)).run()
        #expect(run.figures.hostOvercommittedSeconds == 55)
        #expect(run.host.available.allSatisfy { $0 == 0 } && run.host.available.count == 60)
        #expect(run.host.returned.allSatisfy { $0 == 0 })
        #expect(run.warnings.count == 1, "4 GiB of min on a 3 GiB host")
        let roomy = Simulation(config: config, name: "keep.toml", guests: guests, options: .init(hostMemory: 5 * Self.gib)).run()
        #expect(roomy.figures.hostOvercommittedSeconds == 0 && roomy.warnings.isEmpty)
        #expect(roomy.host.available.allSatisfy { $0 == Self.gib })
    }
}
