import QBalloon
import QBalloonCore
import QBalloonFakeQMP

/// A recorded VM made into a guest the simulator can run: what it needed over time (its workload), and how its
/// memory behaves (the memory its kernel keeps outside MemTotal, the page cache it keeps when it has room), for the
/// fake QEMU's guest model (`FakeGuest`) to answer balloon targets with.
///
/// The need model (README, "Try a policy first"):
/// - What the guest used at each sample: MemTotal minus MemAvailable (`total - available`).
/// - Where the trace shows it was short, more: the bytes it swapped in since the sample before (memory it needed
///   and did not have), or, when its available memory was under a tenth of its total, its major faults times the
///   page size if that is more (the workload refaulting what was pushed out). Neither is counted on a guest with
///   room: page-cache misses fault too.
/// - Counters that go back (a reboot) count nothing; a sample without the two memory figures keeps the need of
///   the sample before.
///
/// Its limits: a guest that was short while recorded shows only part of what it lacked (swap-in is a lower
/// bound, and a guest without swap shows nothing before its OOM killer acts); page cache counts as available,
/// so a workload that lives on its cache looks smaller than it is; the guest's own pressure (PSI) is not in the
/// balloon's statistics; the need is replayed as it was recorded, whatever the policy then does (a real workload
/// slowed by a small guest would also take longer).
///
/// ```swift
/// let trace = try Trace(parsing: text, file: "db.trace")
/// let guest = try TraceGuest(trace: trace)
/// guest.scenario.workload.used(at: 60)   // what it needed a minute in, bytes
/// ```
public struct TraceGuest: Sendable, Hashable {
    /// The VM's name (the trace's).
    public var name: String
    /// When the recording started: the guest's time 0.
    public var start: Double
    /// How long the trace lasts, in seconds.
    public var duration: Double
    /// The guest to run: RAM, kernel reserve, page cache, workload.
    public var scenario: FakeGuestScenario

    /// How fast the simulated balloon moves, both ways, unless told otherwise: 256 MiB/s, about what a Linux guest's
    /// driver does under KVM (the test guest under TCG is slower).
    public static let defaultBalloonSpeed: UInt64 = 256 << 20

    public init(name: String, start: Double, duration: Double, scenario: FakeGuestScenario) {
        self.name = name
        self.start = start
        self.duration = duration
        self.scenario = scenario
    }

    /// The guest a trace shows. Throws ``TraceGuestError`` for a trace with no sample that has both MemTotal and
    /// MemAvailable (nothing to tell its need from).
    public init(trace: Trace, balloonSpeed: UInt64 = TraceGuest.defaultBalloonSpeed) throws(TraceGuestError) {
        let needs = Self.need(of: trace)
        guard let first = trace.samples.first, let last = trace.samples.last, !needs.isEmpty else {
            throw TraceGuestError(vm: trace.header.vm, reason: "no sample has both total and available memory: nothing to tell its need from")
        }
        let reserved = Self.kernelReserved(of: trace)
        var points: [FakeWorkload.Point] = []
        points.reserveCapacity(needs.count)
        for (time, need) in needs {
            let point = FakeWorkload.Point(at: max(0, time - trace.header.start), used: need)
            // A run of equal needs keeps its two ends only: a day of an idle guest is a few points, not 86,400.
            if points.count >= 2, points[points.count - 1].used == need, points[points.count - 2].used == need {
                points[points.count - 1] = point
            } else {
                points.append(point)
            }
        }
        let guest = FakeGuestScenario.Guest(
            unfreeable: 0, shmem: 0, cache: Self.median(trace.samples.compactMap(\.stats.diskCaches)) ?? 0,
            kernelReserved: reserved)
        self.init(
            name: trace.header.vm, start: trace.header.start, duration: max(0, last.time - min(first.time, trace.header.start)),
            scenario: FakeGuestScenario(
                name: trace.header.vm, ram: trace.header.ramBytes, balloon: .init(speed: balloonSpeed), guest: guest,
                workload: FakeWorkload(points: points)))
    }

    /// What the guest needed at each sample, by the model above: (time, bytes), for the samples from the first with
    /// both memory figures on.
    public static func need(of trace: Trace) -> [(time: Double, need: UInt64)] {
        var needs: [(time: Double, need: UInt64)] = []
        needs.reserveCapacity(trace.samples.count)
        var previous: GuestStats?
        for sample in trace.samples {
            let stats = sample.stats
            defer { previous = stats }
            guard let used = stats.used else {
                if let last = needs.last { needs.append((sample.time, last.need)) }
                continue
            }
            var short: UInt64 = 0
            if let swapIn = stats.swapIn, let before = previous?.swapIn, swapIn > before { short = swapIn - before }
            if let total = stats.total, let available = stats.available, available < total / 10,
                let faults = stats.majorFaults, let before = previous?.majorFaults, faults > before
            {
                let (bytes, overflow) = (faults - before).multipliedReportingOverflow(by: FakeGuest.pageSize)
                short = max(short, overflow ? .max : bytes)
            }
            let (need, overflow) = used.addingReportingOverflow(short)
            needs.append((sample.time, min(overflow ? .max : need, trace.header.ramBytes)))
        }
        return needs
    }

    /// The memory the guest's kernel keeps outside MemTotal: the median of `actual - total` over the samples (0 when
    /// the guest never reported its total).
    static func kernelReserved(of trace: Trace) -> UInt64 {
        let gaps = trace.samples.compactMap { sample -> UInt64? in
            guard let total = sample.stats.total, total <= sample.actual else { return nil }
            return sample.actual - total
        }
        return median(gaps) ?? 0
    }

    static func median(_ values: [UInt64]) -> UInt64? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        return sorted[sorted.count / 2]
    }
}

/// A trace the simulator cannot run, and why.
public struct TraceGuestError: Error, Sendable, Hashable, CustomStringConvertible {
    public var vm: String
    public var reason: String

    public var description: String { "trace of \(vm): \(reason)" }
}

extension TraceGuest {
    /// A VM of a synthetic fleet (``FleetGenerator``), played from `start` for `duration` seconds.
    public init(generated vm: GeneratedVM, start: Double, duration: Double, balloonSpeed: UInt64 = TraceGuest.defaultBalloonSpeed) {
        let guest = FakeGuestScenario.Guest(
            unfreeable: vm.unfreeable, shmem: 0, cache: vm.cache, kernelReserved: vm.kernelReserved)
        self.init(
            name: vm.name, start: start, duration: duration,
            scenario: FakeGuestScenario(
                name: vm.name, ram: vm.ram, balloon: .init(speed: balloonSpeed), guest: guest, workload: vm.workload))
    }
}
