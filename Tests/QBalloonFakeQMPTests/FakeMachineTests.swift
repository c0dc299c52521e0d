import QBalloonJSON
import Testing

@testable import QBalloonFakeQMP

private let MiB: UInt64 = 1 << 20
private let GiB: UInt64 = 1 << 30

/// Command handling and events without sockets: `(machine, session, input, time) -> reply + events`.
@Suite("FakeMachine commands and events")
struct FakeMachineTests {
    static let start = 1_700_000_000.0

    struct Harness {
        var machine: FakeMachine
        var session = FakeQMPSession()
        var now = FakeMachineTests.start

        init(scenario: FakeGuestScenario = FakeMachineTests.scenario(), faults: FakeQMPFaults = .none) {
            machine = FakeMachine(scenario: scenario, faults: faults, startTime: FakeMachineTests.start)
        }

        mutating func send(_ request: JSON) -> JSON {
            let outcome = machine.handle(request, session: &session, now: now)
            machine.setListening(session.negotiated, now: now)
            return outcome.reply
        }

        mutating func run(_ name: String, _ arguments: JSON? = nil, id: JSON = 1) -> JSON {
            var request: [String: JSON] = ["execute": .string(name), "id": id]
            if let arguments { request["arguments"] = arguments }
            return send(.object(request))
        }

        mutating func negotiate() {
            _ = run("qmp_capabilities")
        }
    }

    static func scenario() -> FakeGuestScenario {
        var scenario = FakeGuestScenario(name: "test", ram: 2 * GiB, workload: .constant(300 * MiB))
        scenario.balloon.speed = 256 * MiB
        return scenario
    }

    static func error(_ errorClass: String, _ desc: String, id: JSON? = 1) -> JSON {
        var members: [String: JSON] = ["error": ["class": .string(errorClass), "desc": .string(desc)]]
        if let id { members["id"] = id }
        return .object(members)
    }

    @Test("only qmp_capabilities works before negotiation, and only once")
    func negotiation() {
        var harness = Harness()
        #expect(
            harness.run("query-balloon")
                == Self.error("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'"))
        #expect(
            harness.run("no-such-command")
                == Self.error("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'"))
        // Argument errors are not reworded.
        #expect(
            harness.run("qmp_capabilities", ["enable": ["foo"]])
                == Self.error("GenericError", "Parameter 'null' does not accept value 'foo'"))
        #expect(harness.run("qmp_capabilities", id: "neg") == ["return": [:], "id": "neg"])
        #expect(
            harness.run("qmp_capabilities", id: [1, ["a": 2]])
                == Self.error(
                    "CommandNotFound", "Capabilities negotiation is already complete, command ignored",
                    id: [1, ["a": 2]]))
        #expect(
            harness.run("query-status") == [
                "return": ["status": "running", "singlestep": false, "running": true], "id": 1,
            ])
    }

    @Test("ids come back verbatim; no id, no id")
    func ids() {
        var harness = Harness()
        harness.negotiate()
        for id: JSON in [7, "x", 2.5, nil, ["seq": [1, 2.5, nil, true]], [1, 2], .uint(UInt64.max)] {
            #expect(harness.run("query-balloon", id: id)["id"] == id)
        }
        #expect(harness.send(["execute": "query-balloon"]) == ["return": ["actual": .unsigned(2 * GiB)]])
        #expect(
            harness.send(["execute": "nope"])
                == Self.error("CommandNotFound", "The command nope has not been found", id: nil))
    }

    @Test("input that is not a command gets QEMU's errors")
    func badInput() {
        var harness = Harness()
        harness.negotiate()
        #expect(harness.send([1, 2]) == Self.error("GenericError", "QMP input must be a JSON object", id: nil))
        #expect(harness.send(["id": 3]) == Self.error("GenericError", "QMP input lacks member 'execute'", id: 3))
        #expect(
            harness.send(["execute": 42, "id": 3])
                == Self.error("GenericError", "QMP input member 'execute' must be a string", id: 3))
        #expect(
            harness.send(["execute": "query-balloon", "arguments": [1], "id": 3])
                == Self.error("GenericError", "QMP input member 'arguments' must be an object", id: 3))
        #expect(
            harness.send(["execute": "query-balloon", "bogus": 1, "id": 3])
                == Self.error("GenericError", "QMP input member 'bogus' is unexpected", id: 3))
        #expect(
            harness.send(["exec-oob": "query-balloon", "id": 3])
                == Self.error("GenericError", "QMP input member 'exec-oob' is unexpected", id: 3))
    }

    @Test("arguments are checked like QEMU's QAPI visitor")
    func arguments() {
        var harness = Harness()
        harness.negotiate()
        #expect(harness.run("balloon") == Self.error("GenericError", "Parameter 'value' is missing"))
        #expect(
            harness.run("balloon", ["value": "abc"])
                == Self.error("GenericError", "Invalid parameter type for 'value', expected: integer"))
        #expect(
            harness.run("balloon", ["value": 1.5e9])
                == Self.error("GenericError", "Invalid parameter type for 'value', expected: integer"))
        #expect(
            harness.run("balloon", ["value": .uint(UInt64.max)])
                == Self.error("GenericError", "Invalid parameter type for 'value', expected: integer"))
        #expect(
            harness.run("balloon", ["value": 1, "extra": 1])
                == Self.error("GenericError", "Parameter 'extra' is unexpected"))
        #expect(harness.run("balloon", ["value": 0]) == Self.error("GenericError", "Parameter 'target' expects a size"))
        #expect(
            harness.run("balloon", ["value": -1]) == Self.error("GenericError", "Parameter 'target' expects a size"))
        #expect(harness.run("query-balloon", ["x": 1]) == Self.error("GenericError", "Parameter 'x' is unexpected"))
        #expect(
            harness.run("qom-list", ["path": 5])
                == Self.error("GenericError", "Invalid parameter type for 'path', expected: string"))
        #expect(
            harness.run("qmp_capabilities", ["enable": "oob"])
                == Self.error("GenericError", "Invalid parameter type for 'enable', expected: array"))
    }

    @Test("balloon and memory queries")
    func balloon() {
        var harness = Harness()
        harness.negotiate()
        #expect(
            harness.run("query-memory-size-summary") == [
                "return": ["base-memory": .unsigned(2 * GiB), "plugged-memory": 0], "id": 1,
            ])
        #expect(harness.run("balloon", ["value": .int(Int64(GiB))]) == ["return": [:], "id": 1])
        harness.now += 2
        #expect(harness.run("query-balloon") == ["return": ["actual": .unsigned(2 * GiB - 512 * MiB)], "id": 1])
        #expect(harness.run("balloon", ["value": .int(Int64(64 * GiB))]) == ["return": [:], "id": 1])
        harness.now += 60
        #expect(harness.run("query-balloon") == ["return": ["actual": .unsigned(2 * GiB)], "id": 1])
        let version = harness.run("query-version")["return"]
        #expect(version?["qemu"]?["major"] == 7)
        #expect(version?["qemu"]?["minor"] == 2)
    }

    @Test("without a balloon device")
    func noDevice() {
        var faults = FakeQMPFaults()
        faults.noBalloonDevice = true
        var harness = Harness(faults: faults)
        harness.negotiate()
        let notActive = Self.error("DeviceNotActive", "No balloon device has been activated")
        #expect(harness.run("query-balloon") == notActive)
        #expect(harness.run("balloon", ["value": 0]) == notActive)
        #expect(harness.run("balloon") == Self.error("GenericError", "Parameter 'value' is missing"))
        #expect(
            harness.run("qom-list", ["path": "/machine/peripheral"]) == [
                "return": [["name": "type", "type": "string"]], "id": 1,
            ])
        #expect(
            harness.run("qom-get", ["path": "/machine/peripheral/balloon0", "property": "guest-stats"])
                == Self.error("DeviceNotFound", "Device '/machine/peripheral/balloon0' not found"))
    }

    @Test("QOM paths and properties, with and without device id")
    func qom() {
        var harness = Harness()
        harness.negotiate()
        let child: JSON = ["name": "balloon0", "type": "child<virtio-balloon-pci>"]
        #expect(
            harness.run("qom-list", ["path": "/machine/peripheral"])["return"] == [
                ["name": "type", "type": "string"], child,
            ])
        #expect(
            harness.run("qom-list", ["path": "/machine/peripheral-anon"])["return"] == [
                ["name": "type", "type": "string"]
            ])
        let properties = harness.run("qom-list", ["path": "/machine/peripheral/balloon0"])["return"]?.arrayValue ?? []
        #expect(properties.contains(["name": "guest-stats", "type": "guest statistics"]))
        #expect(properties.contains(["name": "guest-stats-polling-interval", "type": "int"]))
        #expect(harness.run("qom-list", ["path": "balloon0"])["return"]?.arrayValue?.count == properties.count)
        #expect(
            harness.run("qom-list", ["path": "device[0]"])
                == Self.error("GenericError", "Path 'device[0]' is ambiguous"))
        #expect(
            harness.run("qom-list", ["path": "/machine/nope"])
                == Self.error("DeviceNotFound", "Device '/machine/nope' not found"))
        #expect(
            harness.run("qom-get", ["path": "/machine/peripheral/balloon0", "property": "type"])["return"]
                == "virtio-balloon-pci")
        #expect(
            harness.run("qom-get", ["path": "/machine/peripheral/balloon0", "property": "nope"])
                == Self.error("GenericError", "Property 'virtio-balloon-pci.nope' not found"))
        #expect(
            harness.run("qom-get", ["path": "/machine/peripheral/balloon0/virtio-backend", "property": "nope"])
                == Self.error("GenericError", "Property 'virtio-balloon-device.nope' not found"))

        var anonymous = Self.scenario()
        anonymous.balloon.id = nil
        var anon = Harness(scenario: anonymous)
        anon.negotiate()
        #expect(
            anon.run("qom-list", ["path": "/machine/peripheral-anon"])["return"]
                == [["name": "type", "type": "string"], ["name": "device[0]", "type": "child<virtio-balloon-pci>"]])
        #expect(
            anon.run(
                "qom-get", ["path": "/machine/peripheral-anon/device[0]", "property": "guest-stats-polling-interval"])[
                    "return"] == 0)
    }

    @Test("polling interval and guest statistics through qom-set and qom-get")
    func statsThroughQOM() {
        var harness = Harness()
        harness.negotiate()
        let path: JSON = "/machine/peripheral/balloon0"
        func set(_ value: JSON) -> JSON {
            harness.run("qom-set", ["path": path, "property": "guest-stats-polling-interval", "value": value])
        }
        #expect(set(-1) == Self.error("GenericError", "timer value must be greater than zero"))
        #expect(set(4_294_967_296) == Self.error("GenericError", "timer value is too big"))
        #expect(
            set("2")
                == Self.error(
                    "GenericError", "Invalid parameter type for 'guest-stats-polling-interval', expected: integer"))
        #expect(
            harness.run("qom-set", ["path": path, "property": "guest-stats", "value": 1])
                == Self.error("GenericError", "Property 'virtio-balloon-device.guest-stats' is not writable"))
        harness.now += 0.7
        #expect(set(2) == ["return": [:], "id": 1])
        #expect(harness.run("qom-get", ["path": path, "property": "guest-stats-polling-interval"])["return"] == 2)
        let stats = harness.run("qom-get", ["path": path, "property": "guest-stats"])["return"]
        #expect(stats?["last-update"] == .int(Int64(Self.start)))
        #expect(stats?["stats"]?.objectValue?.count == 10)
        #expect(stats?["stats"]?["stat-total-memory"] == .unsigned(2 * GiB))
        harness.now += 4
        #expect(
            harness.run("qom-get", ["path": "balloon0", "property": "guest-stats"])["return"]?["last-update"]
                == .int(Int64(Self.start) + 4))
    }

    @Test("quit sends SHUTDOWN before its reply and closes")
    func quit() {
        var harness = Harness()
        harness.negotiate()
        let outcome = harness.machine.handle(["execute": "quit", "id": 9], session: &harness.session, now: harness.now)
        #expect(outcome.reply == ["return": [:], "id": 9])
        #expect(outcome.closesConnection)
        #expect(outcome.events.count == 1)
        #expect(outcome.events.first?["event"] == "SHUTDOWN")
        #expect(outcome.events.first?["data"] == ["guest": false, "reason": "host-qmp-quit"])
        #expect(outcome.events.first?["timestamp"]?["seconds"] == .int(Int64(Self.start)))
    }

    @Test("BALLOON_CHANGE: one per second at most, and the last value always arrives")
    func balloonChangeRateLimit() {
        var harness = Harness()
        harness.negotiate()
        _ = harness.run("balloon", ["value": .int(Int64(GiB))])
        // 1 GiB at 256 MiB/s takes 4 s. Look every 0.1 s for 6 s.
        var delivered: [(time: Double, actual: UInt64, stamp: Double)] = []
        for step in 1...60 {
            let now = Self.start + Double(step) / 10
            for event in harness.machine.dueEvents(now: now) {
                #expect(event["event"] == "BALLOON_CHANGE")
                let seconds = event["timestamp"]?["seconds"]?.doubleValue ?? 0
                let micros = event["timestamp"]?["microseconds"]?.doubleValue ?? 0
                delivered.append((now, event["data"]?["actual"]?.uint64Value ?? 0, seconds + micros / 1e6))
            }
        }
        #expect(delivered.count >= 4)
        #expect(delivered.first.map { $0.time - Self.start } ?? 99 <= 0.1 + 1e-9)
        for (earlier, later) in zip(delivered, delivered.dropFirst()) {
            #expect(later.time - earlier.time >= 1 - 1e-9)
            #expect(later.actual < earlier.actual)
            #expect(later.stamp <= later.time)
        }
        #expect(delivered.last?.actual == GiB)
        // Once settled, nothing more is due and no wake-up is needed.
        #expect(harness.machine.dueEvents(now: Self.start + 20).isEmpty)
        #expect(harness.machine.nextWakeup() == nil)
    }

    @Test("no events before negotiation or without listeners, and no wake-ups for a settled guest")
    func eventsNeedListeners() {
        var harness = Harness()
        #expect(harness.machine.nextWakeup() == nil)
        harness.negotiate()
        _ = harness.run("balloon", ["value": .int(Int64(GiB))])
        #expect(harness.machine.nextWakeup() != nil)
        // The client leaves: events stop, and nothing needs waking.
        harness.machine.setListening(false, now: Self.start)
        #expect(harness.machine.dueEvents(now: Self.start + 1).isEmpty)
        #expect(harness.machine.nextWakeup() == nil)
    }
}
