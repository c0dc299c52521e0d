import Foundation
import QBalloon
import QBalloonCore
import QBalloonTestSupport
import Testing

/// The real traces in Fixtures/traces/ (recorded by scripts/record-traces.sh from the test guest) read back, and
/// each shows the shape its README says it has.
@Suite struct ShippedTracesTests {
    static let folder = TestEnvironment.repositoryRoot + "/Fixtures/traces"
    static let shapes = ["idle", "nightly-batch", "slow-leak", "bursty-cache"]
    static let MiB = 1_048_576.0

    static func load(_ name: String) throws -> Trace {
        let path = "\(folder)/\(name).trace"
        return try Trace(parsing: try String(contentsOfFile: path, encoding: .utf8), file: path)
    }

    /// (seconds since the start, used MiB, caches MiB) of every sample the guest had reported in.
    static func figures(_ trace: Trace) -> [(t: Double, used: Double, caches: Double)] {
        trace.samples.compactMap { sample in
            guard let used = sample.stats.used, let caches = sample.stats.diskCaches else { return nil }
            return (sample.time - trace.header.start, Double(used) / MiB, Double(caches) / MiB)
        }
    }

    @Test func everyShippedTraceReadsBack() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.folder).filter { $0.hasSuffix(".trace") }.sorted()
        #expect(files == Self.shapes.map { "\($0).trace" }.sorted())
        for file in files {
            let path = "\(Self.folder)/\(file)"
            let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
            #expect(size < 1 << 20, "\(file) is \(size) bytes")
            let trace = try Trace(parsing: try String(contentsOfFile: path, encoding: .utf8), file: path)
            #expect(trace.header.vm + ".trace" == file)
            #expect(trace.header.ramBytes == 1 << 30 && trace.header.interval == 1 && trace.header.qemu.hasPrefix("7.2"))
            #expect(trace.samples.count >= 300 && trace.samples.count <= 600, "\(file): \(trace.samples.count) samples")
            #expect(Self.figures(trace).count >= trace.samples.count - 5, "\(file): the guest's figures are missing")
            #expect(trace.samples.allSatisfy { $0.actual == trace.header.ramBytes })
        }
    }

    @Test func idleStaysFlat() throws {
        let used = Self.figures(try Self.load("idle")).map(\.used)
        let spread = (used.max() ?? 0) - (used.min() ?? 0)
        #expect(spread < 32, "idle's use moved by \(spread) MiB")
    }

    @Test func nightlyBatchGrowsAndFreesTwice() throws {
        let figures = Self.figures(try Self.load("nightly-batch"))
        let base = figures.map(\.used).min() ?? 0
        // Count the rises above base + 200 MiB followed by a fall back below base + 50 MiB.
        var cycles = 0
        var high = false
        for figure in figures {
            if !high, figure.used > base + 200 { high = true }
            if high, figure.used < base + 50 { high = false; cycles += 1 }
        }
        #expect(cycles == 2, "nightly-batch: \(cycles) grow-and-free cycles")
    }

    @Test func slowLeakGrowsSteadily() throws {
        let figures = Self.figures(try Self.load("slow-leak"))
        let first = try #require(figures.first), last = try #require(figures.last)
        let rate = (last.used - first.used) / (last.t - first.t)
        #expect(rate > 0.7 && rate < 1.3, "slow-leak grew \(rate) MiB/s")
        // Roughly monotonic: never more than 8 MiB below the highest seen so far.
        var highest = first.used
        for figure in figures {
            #expect(figure.used > highest - 8, "slow-leak fell to \(figure.used) MiB at \(figure.t) s after \(highest)")
            highest = max(highest, figure.used)
        }
    }

    @Test func burstyCacheFillsAndDropsRepeatedly() throws {
        let figures = Self.figures(try Self.load("bursty-cache"))
        let base = figures.map(\.caches).min() ?? 0
        var bursts = 0
        var high = false
        for figure in figures {
            if !high, figure.caches > base + 100 { high = true }
            if high, figure.caches < base + 20 { high = false; bursts += 1 }
        }
        #expect(bursts >= 5, "bursty-cache: \(bursts) fills and drops of the page cache")
        // Page cache is not use: used (total - available) moves only by what Linux keeps out of MemAvailable while
        // there is cache (its low watermark, ~57 MiB in this guest), never by the hundreds of MiB cached.
        let used = figures.map(\.used)
        #expect((used.max() ?? 0) - (used.min() ?? 0) < 80, "bursty-cache: use moved \(used.min() ?? 0)...\(used.max() ?? 0) MiB")
    }
}
