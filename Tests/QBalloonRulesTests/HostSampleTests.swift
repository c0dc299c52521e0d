import Testing
@testable import QBalloonRules

@Suite("Host figures from /proc")
struct HostSampleTests {
    static let meminfo = """
        MemTotal:       16318420 kB
        MemFree:         1234567 kB
        MemAvailable:    9000000 kB
        Buffers:          123456 kB
        SwapTotal:       8388604 kB
        SwapFree:        8388000 kB
        HugePages_Total:       0
        garbage line
        """

    static let pressure = """
        some avg10=1.25 avg60=0.50 avg300=0.10 total=123456
        full avg10=0.30 avg60=0.20 avg300=0.00 total=65432
        """

    @Test("meminfo and PSI")
    func parse() {
        let host = HostSample(meminfo: Self.meminfo, pressure: Self.pressure)
        #expect(host.total == 16_318_420 * 1024)
        #expect(host.available == 9_000_000 * 1024)
        #expect(host.free == 1_234_567 * 1024)
        #expect(host.swapTotal == 8_388_604 * 1024)
        #expect(host.swapFree == 8_388_000 * 1024)
        #expect(host.pressure == MemoryPressure(someAvg10: 1.25, someAvg60: 0.5, someAvg300: 0.1, fullAvg10: 0.3, fullAvg60: 0.2, fullAvg300: 0))
        #expect(HostSample.parseMeminfo(Self.meminfo)["HugePages_Total"] == 0)
    }

    @Test("no PSI, old kernels: no 'full' line; empty meminfo")
    func missing() {
        #expect(HostSample(meminfo: Self.meminfo, pressure: nil).pressure == nil)
        let some = MemoryPressure(parsing: "some avg10=2.00 avg60=1.00 avg300=0.00 total=1\n")
        #expect(some?.someAvg10 == 2 && some?.fullAvg10 == nil)
        #expect(MemoryPressure(parsing: "nonsense") == nil)
        #expect(HostSample(meminfo: "", pressure: nil) == HostSample())
    }
}
