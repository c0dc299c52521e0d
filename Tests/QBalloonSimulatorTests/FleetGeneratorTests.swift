import Foundation
import QBalloon
import QBalloonCore
import QBalloonFakeQMP
import QBalloonSimulator
import QBalloonTestSupport
import Testing

/// Fleets drawn from the shipped shape traces (Fixtures/traces/): the same seed draws the same fleet, every trace
/// reads back, and each VM looks like the shape it was drawn from.
@Suite struct FleetGeneratorTests {
    static let shapes: [Trace] = ShippedTracesTests.shapes.compactMap { try? ShippedTracesTests.load($0) }
    static let day = 86_400.0
    static let fleet = FleetGenerator.workloads(shapes: shapes, vms: 100, duration: day, seed: 1)

    @Test func theSameSeedDrawsTheSameFleetAndAnotherSeedAnother() {
        #expect(Self.shapes.count == 4)
        #expect(FleetGenerator.workloads(shapes: Self.shapes, vms: 100, duration: Self.day, seed: 1) == Self.fleet)
        let other = FleetGenerator.workloads(shapes: Self.shapes, vms: 100, duration: Self.day, seed: 2)
        #expect(other != Self.fleet)
        #expect(zip(other, Self.fleet).filter { $0 == $1 }.isEmpty, "a VM drawn the same with another seed")
        // A VM's draw is its own: the first 10 of a fleet of 100 are a fleet of 10.
        #expect(Array(Self.fleet.prefix(10)).map(\.workload)
            == FleetGenerator.workloads(shapes: Self.shapes, vms: 10, duration: Self.day, seed: 1).map(\.workload))
    }

    @Test func namesCountsRAMAndShapes() {
        #expect(Self.fleet.count == 100)
        #expect(Self.fleet.first?.name == "vm001" && Self.fleet.last?.name == "vm100")
        #expect(Set(Self.fleet.map(\.name)).count == 100)
        #expect(Set(Self.fleet.map(\.ram)) == Set(FleetGenerator.ramChoices))
        #expect(Set(Self.fleet.map(\.shape)) == Set(ShippedTracesTests.shapes))
        for vm in Self.fleet {
            // The test guest keeps ~63 MiB of 1 GiB outside MemTotal: about 6% at any size.
            let share = Double(vm.kernelReserved) / Double(vm.ram)
            #expect(share > 0.03 && share < 0.1, "\(vm.name): kernel reserve \(vm.kernelReserved) of \(vm.ram)")
        }
        #expect(FleetGenerator.workloads(shapes: [], vms: 10, duration: Self.day, seed: 1).isEmpty)
    }

    @Test func workloadPointsAreInOrderAndWithinRAM() {
        for vm in Self.fleet {
            let points = vm.workload.points
            #expect(points.first?.at == 0 && points.last?.at == Self.day, "\(vm.name)")
            #expect(zip(points, points.dropFirst()).allSatisfy { $0.at <= $1.at }, "\(vm.name): points out of order")
            #expect(points.allSatisfy { vm.unfreeable + $0.used <= vm.total }, "\(vm.name): use above MemTotal")
            #expect(vm.pageCache.points.allSatisfy { $0.used <= vm.cache }, "\(vm.name)")
            // Compact: points where the slope changes, not one a second (idle noise is one a minute).
            #expect(points.count <= 1_600, "\(vm.name): \(points.count) points")
        }
    }

    /// Over two days, so a batch drawn late on the first day still runs whole within them.
    @Test func eachVMLooksLikeItsShape() {
        let days = 2 * Self.day
        for vm in FleetGenerator.workloads(shapes: Self.shapes, vms: 100, duration: days, seed: 5) {
            let total = Double(vm.total)
            let levels = stride(from: 0.0, through: days, by: 60).map { vm.workload.used(at: $0) }
            let spread = (levels.max() ?? 0) - (levels.min() ?? 0)
            switch vm.shape {
            case "idle":
                #expect(spread < 0.05 * total, "\(vm.name) (idle): use moves \(spread)")
            case "nightly-batch":
                #expect(spread > 0.2 * total, "\(vm.name) (nightly-batch): use moves only \(spread)")
                // It frees all at once: a fall of most of it between two points a second apart.
                let points = vm.workload.points
                let frees = zip(points, points.dropFirst()).filter { $1.at - $0.at <= 1 && Double($0.used) - Double($1.used) > 0.2 * total }
                #expect(frees.count >= 1 && frees.count <= 5, "\(vm.name) (nightly-batch): \(frees.count) frees in two days")
            case "slow-leak":
                // Grows minute after minute, but for the reboots.
                let steps = Array(zip(levels, levels.dropFirst()))
                let rises = steps.filter { $1 > $0 }.count
                #expect(Double(rises) > 0.9 * Double(steps.count), "\(vm.name) (slow-leak): rises in \(rises) of \(steps.count) minutes")
            case "bursty-cache":
                let cache = stride(from: 0.0, through: days, by: 60).map { vm.pageCache.used(at: $0) }
                let low = cache.min() ?? 0
                var bursts = 0
                var high = false
                for level in cache {
                    if !high, level > low + 0.05 * total { high = true }
                    if high, level < low + 0.01 * total { high = false; bursts += 1 }
                }
                #expect(bursts >= 20, "\(vm.name) (bursty-cache): \(bursts) bursts in two days")
                #expect(spread < 0.05 * total, "\(vm.name) (bursty-cache): use moves \(spread)")
            default:
                Issue.record("\(vm.name): unknown shape \(vm.shape)")
            }
        }
    }

    @Test func tracesAreTheWorkloadsRenderedAndReadBack() throws {
        let hour = 3600.0
        let traces = FleetGenerator.traces(shapes: Self.shapes, vms: 8, duration: hour, seed: 7)
        let workloads = FleetGenerator.workloads(shapes: Self.shapes, vms: 8, duration: hour, seed: 7)
        #expect(traces == workloads.map { FleetGenerator.trace(of: $0, duration: hour) })
        for (trace, vm) in zip(traces, workloads) {
            #expect(trace.header.vm == vm.name && trace.header.ramBytes == vm.ram && trace.header.qemu == "synthetic")
            #expect(trace.header.start == 1_800_000_000 && trace.header.interval == 1)
            #expect(trace.samples.count == 3600)
            let back = try Trace(parsing: trace.text, file: vm.name)
            #expect(back.header == trace.header)
            #expect(back.samples.count == trace.samples.count)
            for (sample, read) in zip(trace.samples, back.samples) {
                #expect(read.time == sample.time && read.actual == vm.ram)
                #expect(read.stats.used == sample.stats.used && read.stats.diskCaches == sample.stats.diskCaches)
            }
            for sample in trace.samples {
                let stats = sample.stats
                let total = try #require(stats.total), available = try #require(stats.available)
                #expect(total == vm.total && available <= total, "\(vm.name) at \(sample.time): available \(available) of \(total)")
                #expect((stats.free ?? 0) + (stats.diskCaches ?? 0) <= available)
                #expect(stats.lastUpdate == Int64(sample.time.rounded(.down)))
                #expect(stats.swapIn == 0 && stats.swapOut == 0)
            }
            let faults = trace.samples.compactMap(\.stats.minorFaults)
            #expect(zip(faults, faults.dropFirst()).allSatisfy { $0 <= $1 })
        }
    }

    @Test func aShapeWithAnotherNameIsRepeatedAsRecorded() throws {
        var shape = try ShippedTracesTests.load("nightly-batch")
        shape.header.vm = "web"
        let vm = try #require(FleetGenerator.workloads(shapes: [shape], vms: 1, duration: Self.day, seed: 3).first)
        #expect(vm.shape == "web")
        let levels = stride(from: 0.0, through: Self.day, by: 30).map { vm.workload.used(at: $0) }
        #expect((levels.max() ?? 0) - (levels.min() ?? 0) > 0.2 * Double(vm.total))
    }
}
