import QBalloonCore
import QBalloonJSON
import Testing

@testable import QBalloonFakeQMP

private let MiB: UInt64 = 1 << 20
private let GiB: UInt64 = 1 << 30

@Suite("Scenarios, workloads and sizes")
struct FakeScenarioTests {
    static let shipped = TestPaths.files(in: TestPaths.scenarios, endingWith: ".json")

    @Test("scenario sizes are read with the one size parser: binary units, zero allowed")
    func sizes() throws {
        func size(_ text: String) -> UInt64? { try? MemorySize.bytes(parsing: text, allowingZero: true) }
        #expect(size("2GiB") == 2 * GiB)
        #expect(size("300MiB") == 300 * MiB)
        #expect(size("1.5G") == 3 * GiB / 2)
        #expect(size("512m") == 512 * MiB)
        #expect(size("4096") == 4096)
        #expect(size("64 KiB") == 64 << 10)
        #expect(size("1TiB") == 1 << 40)
        #expect(size("0") == 0)
        #expect(size("2GB") == nil)
        #expect(size("lots") == nil)
        #expect(size("-1MiB") == nil)
        #expect(size("") == nil)
        let bad = try JSON.decode(#"{"ram": "1GiB", "guest": {"cache": "2GB"}}"#)
        let error = #expect(throws: FakeScenarioError.self) { try FakeGuestScenario(json: bad, source: "inline") }
        #expect("\(error.map { "\($0)" } ?? "")".contains("unknown unit 'GB'"), "the size error says what is wrong")
    }

    @Test("workload points are joined by lines, hold at the ends, and loop")
    func workloadPoints() {
        let points: [FakeWorkload.Point] = [.init(at: 10, used: 100 * MiB), .init(at: 20, used: 300 * MiB)]
        let once = FakeWorkload(points: points)
        #expect(once.used(at: 0) == Double(100 * MiB))
        #expect(once.used(at: 15) == Double(200 * MiB))
        #expect(once.used(at: 99) == Double(300 * MiB))
        let looping = FakeWorkload(points: [.init(at: 0, used: 0), .init(at: 10, used: 100 * MiB)], loop: true)
        #expect(looping.used(at: 5) == Double(50 * MiB))
        #expect(looping.used(at: 25) == Double(50 * MiB))
    }

    @Test("bursts ramp up, hold, ramp down and repeat")
    func bursts() {
        let bursts = FakeWorkload.Bursts(every: 10, length: 4, extra: 100 * MiB, start: 5, ramp: 1)
        let workload = FakeWorkload(points: [.init(at: 0, used: 50 * MiB)], bursts: bursts)
        #expect(workload.used(at: 4) == Double(50 * MiB))
        #expect(workload.used(at: 5.5) == Double(100 * MiB))
        #expect(workload.used(at: 7) == Double(150 * MiB))
        #expect(workload.used(at: 8.5) == Double(100 * MiB))
        #expect(workload.used(at: 10) == Double(50 * MiB))
        #expect(workload.used(at: 17) == Double(150 * MiB))
    }

    @Test("every shipped scenario loads", arguments: shipped)
    func shippedScenarioLoads(_ name: String) throws {
        let scenario = try FakeGuestScenario.load(path: "\(TestPaths.scenarios)/\(name)")
        #expect(scenario.name == String(name.dropLast(5)))
        #expect(scenario.ram > 0)
    }

    @Test("the shipped scenarios say what they promise")
    func shippedContents() throws {
        let idle = try FakeGuestScenario.load(path: "\(TestPaths.scenarios)/idle.json")
        #expect(idle.ram == 2 * GiB)
        #expect(idle.workload.used(at: 100) == Double(300 * MiB))
        let growing = try FakeGuestScenario.load(path: "\(TestPaths.scenarios)/growing.json")
        #expect(growing.workload.loop)
        #expect(growing.workload.used(at: 30) > growing.workload.used(at: 0) * 3)
        let bursty = try FakeGuestScenario.load(path: "\(TestPaths.scenarios)/bursty.json")
        #expect(bursty.workload.bursts != nil)
        let stall = try FakeGuestScenario.load(path: "\(TestPaths.scenarios)/stall.json")
        let floor = stall.workload.used(at: 0) + Double(stall.guest.unfreeable + stall.guest.shmem)
        #expect(floor >= Double(stall.ram) * 0.7)
        #expect(try FakeGuestScenario.load(path: "\(TestPaths.scenarios)/no-stats.json").faults.noGuestStats)
        #expect(try FakeGuestScenario.load(path: "\(TestPaths.scenarios)/no-balloon.json").faults.noBalloonDevice)
        #expect(try FakeGuestScenario.load(path: "\(TestPaths.scenarios)/anonymous-device.json").balloon.id == nil)
    }

    @Test("faults are read from the scenario")
    func faults() throws {
        let json = try JSON.decode(
            #"{"faults": {"noGreeting": true, "closeAfterCommands": 3, "closeOn": ["quit"], "replyDelay": 0.5, "delayOn": ["query-balloon"], "hangOn": "all", "garbageOn": "none", "writeChunkSize": 2}}"#
        )
        let faults = try FakeGuestScenario(json: json, source: "inline").faults
        #expect(faults.noGreeting)
        #expect(faults.closeAfterCommands == 3)
        #expect(faults.closeOn == .only(["quit"]))
        #expect(faults.replyDelay == 0.5)
        #expect(faults.delayOn.contains("query-balloon"))
        #expect(!faults.delayOn.contains("balloon"))
        #expect(faults.hangOn.contains("balloon"))
        #expect(!faults.hangOn.contains("qmp_capabilities"))
        #expect(faults.garbageOn == .none)
        #expect(faults.writeChunkSize == 2)
    }

    @Test(
        "a bad field is named with the file",
        arguments: [
            (#"{"ram": "lots"}"#, "ram", "expected a size"),
            (#"{"ram": "2GB"}"#, "ram", "expected a size"),
            (#"{"rams": "2GiB"}"#, "rams", "unknown field"),
            (#"{"workload": {}}"#, "workload.points", "missing"),
            (
                #"{"workload": {"points": [{"at": 5, "used": "1GiB"}, {"at": 2, "used": "1GiB"}]}}"#,
                "workload.points[1].at", "times must increase"
            ),
            (#"{"workload": {"points": [{"at": 0, "used": true}]}}"#, "workload.points[0].used", "expected a size"),
            (#"{"workload": {"points": [{"at": 0, "used": 1}], "loop": true}}"#, "workload.loop", "last point"),
            (#"{"guest": {"unreportedStats": ["stat-nope"]}}"#, "guest.unreportedStats[0]", "expected one of"),
            (#"{"guest": {"unfreeable": "3GiB"}}"#, "guest.unfreeable", "less than ram"),
            (#"{"faults": {"hangOn": "some"}}"#, "faults.hangOn", "expected \"all\""),
            (#"{"balloon": {"id": 5}}"#, "balloon.id", "device id"),
            (#"[1]"#, "", "expected an object"),
        ])
    func badField(_ text: String, _ field: String, _ reason: String) throws {
        let directory = TestPaths.makeTemporaryDirectory()
        defer { TestPaths.removeDirectory(directory) }
        let path = directory + "/broken.json"
        TestPaths.writeText(text, to: path)
        let error = #expect(throws: FakeScenarioError.self) { try FakeGuestScenario.load(path: path) }
        #expect(error?.file == path)
        #expect(error?.field == field)
        #expect(error?.reason.contains(reason) == true, "\(String(describing: error))")
        #expect(error?.description.hasPrefix(path) == true)
    }

    @Test("a missing file or bad JSON is an error naming the file")
    func unreadable() {
        let missing = #expect(throws: FakeScenarioError.self) {
            try FakeGuestScenario.load(path: "/nonexistent/x.json")
        }
        #expect(missing?.description.contains("/nonexistent/x.json") == true)
        let directory = TestPaths.makeTemporaryDirectory()
        defer { TestPaths.removeDirectory(directory) }
        TestPaths.writeText("{not json", to: directory + "/bad.json")
        let bad = #expect(throws: FakeScenarioError.self) { try FakeGuestScenario.load(path: directory + "/bad.json") }
        #expect(bad?.reason.contains("not valid JSON") == true)
    }
}
