import QBalloonCore
import QBalloonJSON

/// A recorded trace of one VM: what its balloon and its guest reported over time, to replay policies on
/// (Fixtures/traces/README.md has the format). JSON lines: a header, then one line per sample.
///
/// ```swift
/// var lines = [TraceHeader(vm: "db", ramBytes: 4 << 30, interval: 1, qemu: "7.2.0", start: now).line]
/// lines.append(TraceSample(time: now, actual: actual, stats: stats).line)
/// let trace = try Trace(parsing: text)      // back again, every line checked
/// ```
public struct Trace: Sendable, Hashable {
    public var header: TraceHeader
    public var samples: [TraceSample]

    public init(header: TraceHeader, samples: [TraceSample]) {
        self.header = header
        self.samples = samples
    }

    /// The format's version, written in every header.
    public static let version = 1
    /// At most this many samples are read from one trace (a week at one a second).
    public static let maxSamples = 7 * 86_400
    /// The times a trace may name, in Unix seconds: from the epoch to 10^11 (the year 5138). Further than that is
    /// not a recording, and a guest model stamping its reports in whole seconds could not count it.
    public static let times: ClosedRange<Double> = 0...100_000_000_000

    /// Reads a trace's text; throws ``TraceError`` naming the line at fault.
    public init(parsing text: String, file: String = "trace") throws(TraceError) {
        var header: TraceHeader?
        var samples: [TraceSample] = []
        var number = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            if line.allSatisfy({ $0 == " " || $0 == "\r" }) { continue }
            let json: JSON
            do {
                json = try JSON.decode(String(line))
            } catch {
                throw TraceError(file: file, line: number, reason: "not JSON: \(PeerText.excerpt("\(error)", limit: 200))")
            }
            if header == nil {
                header = try TraceHeader(json: json, file: file, line: number)
                continue
            }
            guard samples.count < Self.maxSamples else {
                throw TraceError(file: file, line: number, reason: "more than \(Self.maxSamples) samples")
            }
            let sample = try TraceSample(json: json, file: file, line: number)
            if let last = samples.last, sample.time < last.time {
                throw TraceError(file: file, line: number, reason: "time \(sample.time) is before the sample above (\(last.time))")
            }
            if let ram = header?.ramBytes, sample.actual > ram {
                throw TraceError(file: file, line: number, reason: "actual \(sample.actual) is above the VM's RAM (\(ram))")
            }
            samples.append(sample)
        }
        guard let header else { throw TraceError(file: file, line: 1, reason: "empty: no header line") }
        self.init(header: header, samples: samples)
    }

    /// The whole trace as text: the header line, then one line per sample.
    public var text: String {
        ([header.line] + samples.map(\.line)).joined(separator: "\n") + "\n"
    }
}

/// The first line of a trace: which VM, how big, how often, from which QEMU, from when.
public struct TraceHeader: Sendable, Hashable {
    public var vm: String
    /// The VM's RAM: the most `actual` can be.
    public var ramBytes: UInt64
    /// Seconds between samples, as recorded.
    public var interval: Double
    /// The QEMU version that reported (`7.2.0 (Debian 1:7.2+dfsg-7+deb12u18)`); empty if unknown.
    public var qemu: String
    /// When the recording started, in Unix seconds.
    public var start: Double

    public init(vm: String, ramBytes: UInt64, interval: Double, qemu: String, start: Double) {
        self.vm = vm
        self.ramBytes = ramBytes
        self.interval = interval
        self.qemu = qemu
        self.start = start
    }

    public var json: JSON {
        [
            "qballoon_trace": .int(Int64(Trace.version)), "vm": .string(vm), "ram": .unsigned(ramBytes),
            "interval": .double(interval), "qemu": .string(qemu), "start": .double(start),
        ]
    }

    public var line: String { json.encodedString(sortedKeys: true) }

    init(json: JSON, file: String, line: Int) throws(TraceError) {
        func fail(_ reason: String) -> TraceError { TraceError(file: file, line: line, reason: "the header: \(reason)") }
        guard let version = json["qballoon_trace"]?.int64Value else {
            throw fail("no \"qballoon_trace\" version: is this a qballoon trace?")
        }
        guard version == Trace.version else { throw fail("version \(version); this qballoon reads version \(Trace.version)") }
        guard let vm = json["vm"]?.stringValue, !vm.isEmpty, vm.utf8.count <= 255 else { throw fail("\"vm\" must be the VM's name") }
        guard let ram = json["ram"]?.uint64Value, ram >= 1 << 20, ram <= 1 << 50 else {
            throw fail("\"ram\" must be the VM's RAM in bytes, from 1 MiB to 1 PiB")
        }
        guard let interval = json["interval"]?.doubleValue, interval > 0, interval <= 3600 else {
            throw fail("\"interval\" must be seconds, more than 0 and at most 3600")
        }
        guard let start = json["start"]?.doubleValue, Trace.times.contains(start) else {
            throw fail("\"start\" must be Unix seconds, from 0 to 10^11")
        }
        self.init(vm: vm, ramBytes: ram, interval: interval, qemu: json["qemu"]?.stringValue ?? "", start: start)
    }
}

/// One sample: when it was taken, the balloon's `actual`, and the guest's figures as it reported them (those it
/// did not report are left out of the line and nil here).
public struct TraceSample: Sendable, Hashable {
    /// When the sample was taken, in Unix seconds.
    public var time: Double
    public var actual: UInt64
    /// The guest's statistics; `lastUpdate` is when the guest made its report.
    public var stats: GuestStats

    public init(time: Double, actual: UInt64, stats: GuestStats) {
        self.time = time
        self.actual = actual
        self.stats = stats
    }

    /// The names of the guest's figures in a trace line, in order.
    static let figureNames = ["total", "free", "available", "caches", "swap_in", "swap_out", "major_faults", "minor_faults"]

    /// The guest's figure named `name` in a trace line.
    static func figure(_ name: String, of stats: GuestStats) -> UInt64? {
        switch name {
        case "total": return stats.total
        case "free": return stats.free
        case "available": return stats.available
        case "caches": return stats.diskCaches
        case "swap_in": return stats.swapIn
        case "swap_out": return stats.swapOut
        case "major_faults": return stats.majorFaults
        case "minor_faults": return stats.minorFaults
        default: return nil
        }
    }

    static func set(_ name: String, _ value: UInt64, in stats: inout GuestStats) {
        switch name {
        case "total": stats.total = value
        case "free": stats.free = value
        case "available": stats.available = value
        case "caches": stats.diskCaches = value
        case "swap_in": stats.swapIn = value
        case "swap_out": stats.swapOut = value
        case "major_faults": stats.majorFaults = value
        case "minor_faults": stats.minorFaults = value
        default: break
        }
    }

    public var json: JSON {
        var object: [String: JSON] = ["t": .double((time * 1000).rounded() / 1000), "actual": .unsigned(actual)]
        if let update = stats.lastUpdate { object["reported"] = .int(update) }
        for name in Self.figureNames {
            if let value = Self.figure(name, of: stats) { object[name] = .unsigned(value) }
        }
        return .object(object)
    }

    public var line: String { json.encodedString(sortedKeys: true) }

    init(json: JSON, file: String, line: Int) throws(TraceError) {
        func fail(_ reason: String) -> TraceError { TraceError(file: file, line: line, reason: reason) }
        guard case .object(let object) = json else { throw fail("a sample must be a JSON object") }
        guard let time = object["t"]?.doubleValue else { throw fail("no \"t\" (Unix seconds)") }
        guard Trace.times.contains(time) else { throw fail("\"t\" must be Unix seconds, from 0 to 10^11, not \(time)") }
        guard let actual = object["actual"]?.uint64Value else { throw fail("no \"actual\" (bytes)") }
        var stats = GuestStats()
        if let reported = object["reported"] {
            guard let update = reported.int64Value else { throw fail("\"reported\" must be Unix seconds") }
            stats.lastUpdate = update
        }
        for name in Self.figureNames {
            guard let value = object[name] else { continue }
            guard let number = value.uint64Value else { throw fail("\"\(name)\" must be a whole number, not \(value)") }
            Self.set(name, number, in: &stats)
        }
        self.init(time: time, actual: actual, stats: stats)
    }
}

public struct TraceError: Error, Sendable, Hashable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let reason: String
    public var description: String { "\(file):\(line): \(reason)" }
}
