import Foundation
import QBalloonSimulator

/// Runs made up for the report's tests and for looking at the report: a guest whose need rises and falls, with a
/// spike, under a gentle policy (a target well above the need) or a tight one (just above it). No randomness, so
/// every page is the same; shapes a person can check by eye.
enum SampleRuns {
    static let mib: UInt64 = 1 << 20
    static let gib: UInt64 = 1 << 30
    /// 2025-01-10 12:00 UTC.
    static let start = 1_736_510_400.0

    /// A VM over `hours`, one point a minute. `tight` sets targets 10% above the need instead of 50%, and the
    /// spike (at `spikeAt`, a fraction of the run) is taller for a higher `index`.
    static func vm(_ name: String, index: Int = 0, hours: Double = 2, tight: Bool = false, spikeAt: Double = 0.6) -> VMRun {
        let ram = [4 * gib, 8 * gib, 2 * gib][index % 3]
        let minimum = ram / 8
        let points = Int(hours * 60)
        var timeline = Timeline()
        var actual = ram
        var target = ram
        var changes = 0
        for point in 0..<points {
            let phase = Double(point) / Double(points)
            let wave = 0.3 + 0.15 * sin(phase * 12.0 + Double(index))
            let spike = abs(phase - spikeAt) < 0.04 ? 0.25 + 0.05 * Double(index % 4) : 0
            let need = UInt64(Double(ram) * Swift.min(wave + spike, 1.1))
            if point % 10 == 0 {
                let wanted = Double(need) * (tight ? 1.1 : 1.5)
                let rounded = UInt64(wanted / Double(64 * mib)).advanced(by: 1) * 64 * mib
                let next = Swift.min(Swift.max(rounded, minimum), ram)
                if next != target { changes += 1 }
                target = next
            }
            // The balloon moves 512 MiB a minute towards its target.
            actual = actual > target ? Swift.max(target, actual - Swift.min(actual, 512 * mib)) : Swift.min(target, actual + 512 * mib)
            timeline.times.append(start + Double(point + 1) * 60)
            timeline.actual.append(actual)
            timeline.target.append(target)
            timeline.need.append(need)
            timeline.available.append(actual > need ? actual - need : 0)
        }
        let short = episodes(timeline, worst: { $0.available }, least: true) {
            $0.available < $0.actual / 10 && $0.need <= $0.actual
        }
        let outOfMemory = episodes(timeline, worst: { $0.need - $0.actual }, least: false) { $0.need > $0.actual }
        let returned = timeline.actual.map { Double(ram - $0) }
        let figures = VMFigures(
            returnedMean: returned.reduce(0, +) / Double(Swift.max(points, 1)),
            returnedLeast: timeline.actual.map { ram - $0 }.min() ?? 0,
            shortSeconds: short.map(\.seconds).reduce(0, +), outOfMemoryEvents: outOfMemory.count,
            outOfMemorySeconds: outOfMemory.map(\.seconds).reduce(0, +), changes: changes)
        return VMRun(
            name: name, ram: ram, max: ram, min: minimum, timeline: timeline, short: short, outOfMemory: outOfMemory,
            figures: figures)
    }

    /// A run of the VMs on a 64 GiB host (more for a big fleet), its host timeline and figures from theirs.
    static func run(config: String, vms: [VMRun], hours: Double = 2) -> SimulationRun {
        let ramTotal = vms.map(\.ram).reduce(0, +)
        let hostTotal = Swift.max(64 * gib, ramTotal / 2)
        let hostUse = 2 * gib
        var host = HostTimeline()
        host.times = vms.first?.timeline.times ?? []
        for index in host.times.indices {
            let actual = vms.map { $0.timeline.actual[index] }.reduce(0, +)
            host.returned.append(ramTotal - actual)
            host.available.append(hostTotal > hostUse + actual ? hostTotal - hostUse - actual : 0)
        }
        let vmHours = hours * Double(vms.count)
        let figures = SimulationFigures(
            returnedMean: vms.map(\.figures.returnedMean).reduce(0, +), returnedLeast: host.returned.min() ?? 0,
            shortSeconds: vms.map(\.figures.shortSeconds).reduce(0, +),
            outOfMemoryEvents: vms.map(\.figures.outOfMemoryEvents).reduce(0, +),
            outOfMemorySeconds: vms.map(\.figures.outOfMemorySeconds).reduce(0, +),
            changesPerVMHour: Double(vms.map(\.figures.changes).reduce(0, +)) / Swift.max(vmHours, 1),
            memoryBackP50: 90, memoryBackP99: 240, shortWithoutMemoryBack: 1, vmHours: vmHours)
        return SimulationRun(
            config: config, start: start, end: start + hours * 3600, hostTotal: hostTotal, hostUse: hostUse,
            reserve: hostTotal / 10, vms: vms, host: host, figures: figures)
    }

    typealias Point = (actual: UInt64, need: UInt64, available: UInt64)

    /// The intervals of consecutive points where `holds` is true (each point stands for the minute before it),
    /// with the least or the most of `worst` within each.
    private static func episodes(
        _ timeline: Timeline, worst: (Point) -> UInt64, least: Bool, where holds: (Point) -> Bool
    ) -> [Episode] {
        var found: [Episode] = []
        var open: Episode?
        for index in timeline.times.indices {
            let point = (actual: timeline.actual[index], need: timeline.need[index], available: timeline.available[index])
            if holds(point) {
                let value = worst(point)
                let worstSoFar = open.map { least ? Swift.min($0.worst, value) : Swift.max($0.worst, value) } ?? value
                open = Episode(start: open?.start ?? timeline.times[index] - 60, end: timeline.times[index], worst: worstSoFar)
            } else if let episode = open {
                found.append(episode)
                open = nil
            }
        }
        if let open { found.append(open) }
        return found
    }
}
