import QBalloon
import QBalloonCore
import QBalloonFakeQMP

/// Draws synthetic fleets from recorded shape traces (`Fixtures/traces/`): each VM picks a shape, a RAM size and
/// its own timing from a seeded generator, so the same seed always gives the same fleet.
///
/// A shape trace is a few minutes of a real guest; a generated VM stretches it over the whole duration, by the
/// shape's name (its trace's `vm`): a nightly batch runs once or twice a day at its own hour, growing at the
/// recorded pace slowed 10 to 40 times, holding, then freeing all at once; a leak grows at the recorded rate
/// slowed 20 to 120 times and starts over (a reboot) when it nears the VM's RAM; an idle VM wanders a little
/// each minute; a bursty-cache VM fills its page cache at random times and drops it a while later. Any other
/// shape is its recorded curve, repeated. Use scales with the VM's RAM (1, 2, 4 or 8 GiB) as a share of its
/// MemTotal, with ±15% of jitter per VM.
///
/// ```swift
/// let shapes = try paths.map { try Trace(parsing: String(contentsOfFile: $0, encoding: .utf8), file: $0) }
/// let fleet = FleetGenerator.workloads(shapes: shapes, vms: 100, duration: 86_400, seed: 1)
/// let trace = FleetGenerator.trace(of: fleet[0], duration: 86_400)   // what `qballoon record` would have seen
/// ```
public struct FleetGenerator: Sendable {
    /// The RAM sizes a VM is drawn with.
    public static let ramChoices: [UInt64] = [1 << 30, 2 << 30, 4 << 30, 8 << 30]
    /// The most VMs one fleet may have.
    public static let maxVMs = 10_000
    /// The longest fleet, seconds (a week: ``Trace/maxSamples`` at one a second).
    public static let maxDuration = Double(Trace.maxSamples)
    /// The QEMU version written in a generated trace's header.
    public static let qemu = "synthetic"

    /// `vms` synthetic VMs over `duration` seconds, in the compact form the simulator takes: a workload point
    /// only where the slope changes. Shapes whose guest never reported its memory are left out; no shapes left,
    /// no VMs.
    /// - Parameters:
    ///   - shapes: recorded traces, one per shape (`Fixtures/traces/*.trace`).
    ///   - vms: how many VMs (at most ``maxVMs``).
    ///   - duration: seconds (at most ``maxDuration``).
    ///   - seed: the same seed gives the same fleet.
    ///   - interval, start: unused here; taken so the call reads like ``traces(shapes:vms:duration:seed:interval:start:)``.
    public static func workloads(
        shapes: [Trace], vms: Int, duration: Double, seed: UInt64, interval: Double = 1, start: Double = 1_800_000_000
    ) -> [GeneratedVM] {
        let figures = shapes.compactMap(FleetShape.init)
        guard !figures.isEmpty, vms > 0, duration > 0 else { return [] }
        let count = min(vms, maxVMs)
        let duration = min(duration, maxDuration)
        let width = max(3, String(count).count)
        return (0..<count).map { index in
            var random = SeededRandom.forVM(index, seed: seed)
            let number = String(index + 1)
            let name = "vm" + String(repeating: "0", count: width - number.count) + number
            return draw(name: name, from: figures, duration: duration, random: &random)
        }
    }

    /// The same fleet as ``workloads(shapes:vms:duration:seed:interval:start:)`` as traces, one sample every
    /// `interval` seconds from `start` (Unix seconds). Memory: a day at 1 s is 86,400 samples a VM; for big
    /// fleets take the workloads and render one VM at a time with ``trace(of:duration:interval:start:)``.
    public static func traces(
        shapes: [Trace], vms: Int, duration: Double, seed: UInt64, interval: Double = 1, start: Double = 1_800_000_000
    ) -> [Trace] {
        workloads(shapes: shapes, vms: vms, duration: duration, seed: seed).map {
            trace(of: $0, duration: duration, interval: interval, start: start)
        }
    }

    // MARK: Drawing one VM

    static let mebibyte = 1_048_576.0
    static let day = 86_400.0

    static func draw(name: String, from shapes: [FleetShape], duration: Double, random: inout SeededRandom) -> GeneratedVM {
        let shape = shapes[random.index(below: shapes.count)]
        let ram = ramChoices[random.index(below: ramChoices.count)]
        let reserved = min(ram / 2, UInt64(shape.reservedShare * Double(ram)) / 4096 * 4096)
        let total = Double(ram - reserved)
        let size = random.double(in: 0.85...1.15)
        let unfreeable = (shape.baseUsed * total * size).rounded(.down)
        // The most the workload may take: it may near MemTotal, never pass it.
        let room = max(0, total * 0.9 - unfreeable)
        let baseCache = min(shape.baseCache * total * size, room)
        var workload: [(Double, Double)] = []
        var cache: [(Double, Double)] = [(0, baseCache), (duration, baseCache)]
        switch shape.kind {
        case .idle:
            workload = noise(shape: shape, total: total * size, duration: duration, random: &random)
        case .batch:
            workload = batches(shape: shape, total: total, size: size, room: room, duration: duration, random: &random)
        case .leak:
            workload = leak(shape: shape, total: total, size: size, room: room, duration: duration, random: &random)
        case .burstyCache:
            workload = noise(shape: shape, total: total * size, duration: duration, random: &random)
            cache = bursts(shape: shape, total: total, size: size, base: baseCache, room: room, duration: duration, random: &random)
        case .other:
            workload = repeated(shape: shape, total: total, size: size, unfreeable: unfreeable, room: room, duration: duration, random: &random)
        }
        let pageCache = clipped(cache, to: duration)
        return GeneratedVM(
            name: name, shape: shape.name, ram: ram, kernelReserved: reserved,
            cache: pageCache.map(\.used).max() ?? 0, unfreeable: UInt64(unfreeable),
            workload: FakeWorkload(points: clipped(workload, to: duration)),
            pageCache: FakeWorkload(points: pageCache))
    }

    /// Idle: a new level each minute, anywhere within the shape's recorded spread (at least 1 MiB).
    static func noise(shape: FleetShape, total: Double, duration: Double, random: inout SeededRandom) -> [(Double, Double)] {
        let level = max(shape.noise * total, mebibyte)
        return stride(from: 0.0, through: duration + 60, by: 60).map { ($0, random.double(in: 0...level)) }
    }

    /// A batch once or twice a day at its own hours (±10 minutes from day to day): grows at the recorded pace slowed
    /// 10 to 40 times, holds 20 to 120 minutes, frees all at once.
    static func batches(
        shape: FleetShape, total: Double, size: Double, room: Double, duration: Double, random: inout SeededRandom
    ) -> [(Double, Double)] {
        var hours = [random.double(in: 0...day)]
        if random.next() % 2 == 0 { hours.append(hours[0] + random.double(in: 8 * 3600...16 * 3600)) }
        var points: [(Double, Double)] = [(-day, 0)]
        for dayStart in stride(from: -day, through: duration, by: day) {
            for hour in hours {
                let start = dayStart + hour + random.double(in: -600...600)
                let amount = min(shape.peakExtra * total * size * random.double(in: 0.8...1.2), room)
                let stretch = random.double(in: 10...40)
                let rate = shape.riseRate > 0 ? shape.riseRate * total / stretch : amount / (stretch * 60)
                let rise = max(1, amount / max(rate, 1))
                let hold = random.double(in: 20 * 60...120 * 60)
                guard start > (points.last?.0 ?? -.infinity) else { continue }
                points += [(start, 0), (start + rise, amount), (start + rise + hold, amount), (start + rise + hold + 1, 0)]
            }
        }
        return points
    }

    /// A leak at the recorded rate slowed 20 to 120 times, already some way along at the start; when it nears the
    /// VM's RAM the guest reboots and it starts again from nothing.
    static func leak(
        shape: FleetShape, total: Double, size: Double, room: Double, duration: Double, random: inout SeededRandom
    ) -> [(Double, Double)] {
        guard room > mebibyte else { return [(0, 0), (duration, 0)] }
        let stretch = random.double(in: 20...120)
        let recorded = shape.growth > 0 ? shape.growth * total * size : room / (6 * 3600)
        let rate = recorded / stretch
        var level = random.double(in: 0...(0.9 * room))
        var time = 0.0
        var points: [(Double, Double)] = [(0, level)]
        while time <= duration {
            let full = time + (room - level) / rate
            points.append((full, room))
            // A reboot: a minute with nothing running, then the leak starts over.
            points.append((full + 1, 0))
            points.append((full + 60, 0))
            time = full + 60
            level = 0
        }
        return points
    }

    /// Page cache filled at random times (every 10 to 90 minutes) by reads at the recorded speed slowed 5 to 30
    /// times, held 2 to 40 minutes, dropped at once.
    static func bursts(
        shape: FleetShape, total: Double, size: Double, base: Double, room: Double, duration: Double,
        random: inout SeededRandom
    ) -> [(Double, Double)] {
        var points: [(Double, Double)] = [(-3600, base)]
        var time = random.double(in: -3600...0)
        while time <= duration {
            let amount = min(shape.peakCacheExtra * total * size * random.double(in: 0.3...1), max(0, room - base))
            let rate = max(shape.cacheFillRate * total, mebibyte) / random.double(in: 5...30)
            let fill = max(1, amount / rate)
            let hold = random.double(in: 2 * 60...40 * 60)
            if time > points[points.count - 1].0 {
                points += [(time, base), (time + fill, base + amount), (time + fill + hold, base + amount), (time + fill + hold + 1, base)]
            }
            time += fill + hold + 1 + random.double(in: 10 * 60...90 * 60)
        }
        return points
    }

    /// Any other shape: its recorded use, a point a minute, over and over from a random place in it.
    static func repeated(
        shape: FleetShape, total: Double, size: Double, unfreeable: Double, room: Double, duration: Double,
        random: inout SeededRandom
    ) -> [(Double, Double)] {
        guard let last = shape.curve.last, last.at > 0 else { return [(0, 0), (duration, 0)] }
        let period = last.at + 60
        var points: [(Double, Double)] = []
        var origin = -random.double(in: 0...period)
        while origin <= duration {
            for point in shape.curve {
                points.append((origin + point.at, min(room, max(0, point.used * total * size - unfreeable))))
            }
            origin += period
        }
        return points
    }

    /// The points from 0 to `duration`, with the values where the line crosses both ends; whole bytes.
    static func clipped(_ points: [(Double, Double)], to duration: Double) -> [FakeWorkload.Point] {
        func value(at time: Double) -> Double {
            guard let first = points.first else { return 0 }
            if time <= first.0 { return first.1 }
            for (lower, upper) in zip(points, points.dropFirst()) where time <= upper.0 {
                let span = upper.0 - lower.0
                return span > 0 ? lower.1 + (upper.1 - lower.1) * (time - lower.0) / span : upper.1
            }
            return points[points.count - 1].1
        }
        var result = [FakeWorkload.Point(at: 0, used: UInt64(max(0, value(at: 0))))]
        for point in points where point.0 > 0 && point.0 < duration {
            result.append(FakeWorkload.Point(at: point.0, used: UInt64(max(0, point.1))))
        }
        result.append(FakeWorkload.Point(at: duration, used: UInt64(max(0, value(at: duration)))))
        return result
    }
}
