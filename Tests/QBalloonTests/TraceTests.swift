import QBalloon
import QBalloonCore
import Testing

/// The trace format (Fixtures/traces/README.md): written and read back the same, unreported figures left out,
/// and every bad line named.
struct TraceTests {
    static let header = TraceHeader(vm: "db", ramBytes: 2 << 30, interval: 1, qemu: "7.2.0", start: 1_000)

    @Test func aTraceReadsBackAsItWasWritten() throws {
        let full = GuestStats(
            swapIn: 0, swapOut: 4096, majorFaults: 3, minorFaults: 900, free: 300 << 20, total: 1 << 30,
            available: 600 << 20, diskCaches: 200 << 20, lastUpdate: 1_000)
        let partial = GuestStats(total: 1 << 30, available: 500 << 20, lastUpdate: 1_001)
        let trace = Trace(
            header: Self.header,
            samples: [
                TraceSample(time: 1_000.25, actual: 1 << 30, stats: full),
                TraceSample(time: 1_001.25, actual: 1 << 30, stats: partial),
                TraceSample(time: 1_002.25, actual: 1 << 30, stats: GuestStats()),
            ])
        let text = trace.text
        #expect(text.split(separator: "\n").count == 4)
        #expect(try Trace(parsing: text) == trace)
        let second = String(text.split(separator: "\n")[2])
        #expect(second == #"{"actual":1073741824,"available":524288000,"reported":1001,"t":1001.25,"total":1073741824}"#)
        #expect(!text.contains("18446744073709551615"), "an unreported figure is left out, never written as all-ones")
    }

    @Test(arguments: [
        ("", "trace:1: empty: no header line"),
        ("{\"vm\": \"db\"}\n", "trace:1: the header: no \"qballoon_trace\" version: is this a qballoon trace?"),
        ("{\"qballoon_trace\": 2, \"vm\": \"db\"}\n", "trace:1: the header: version 2; this qballoon reads version 1"),
        (Self.header.line + "\nnot json\n", "trace:2: not JSON"),
        (Self.header.line + "\n{\"t\": 5, \"actual\": 1}\n{\"t\": 4, \"actual\": 1}\n", "trace:3: time 4.0 is before the sample above (5.0)"),
        (Self.header.line + "\n{\"t\": 5, \"actual\": 4294967296}\n", "trace:2: actual 4294967296 is above the VM's RAM (2147483648)"),
        (Self.header.line + "\n{\"t\": 5, \"actual\": 1, \"free\": -3}\n", "trace:2: \"free\" must be a whole number, not -3"),
        (Self.header.line + "\n{\"actual\": 1}\n", "trace:2: no \"t\" (Unix seconds)"),
        (Self.header.line + "\n{\"t\": 1e20, \"actual\": 1}\n", "trace:2: \"t\" must be Unix seconds, from 0 to 10^11, not 1e+20"),
        (Self.header.line + "\n{\"t\": -1, \"actual\": 1}\n", "trace:2: \"t\" must be Unix seconds, from 0 to 10^11, not -1.0"),
        (
            "{\"qballoon_trace\": 1, \"vm\": \"db\", \"ram\": 1073741824, \"interval\": 1, \"start\": 1.8e89}\n",
            "trace:1: the header: \"start\" must be Unix seconds, from 0 to 10^11"
        ),
    ])
    func badLinesAreNamed(text: String, expected: String) {
        #expect(throws: TraceError.self) { try Trace(parsing: text) }
        do {
            _ = try Trace(parsing: text)
        } catch {
            #expect(error.description.hasPrefix(expected), "\(error)")
        }
    }
}
