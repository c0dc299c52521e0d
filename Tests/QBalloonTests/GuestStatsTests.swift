import QBalloon
import QBalloonCore
import QBalloonJSON
import Testing

private let address = "unix:/run/qemu/db.qmp"
private let unreported = JSON.uint(.max)

/// A `qom-get ... guest-stats` value with QEMU 7.2's ten statistics; `overrides` replaces members.
private func qomValue(lastUpdate: JSON = .int(1_700_000_000), _ overrides: [String: JSON] = [:]) -> JSON {
    var stats: [String: JSON] = [
        "stat-swap-in": .int(10),
        "stat-swap-out": .int(20),
        "stat-major-faults": .int(30),
        "stat-minor-faults": .int(40),
        "stat-free-memory": .int(500 << 20),
        "stat-total-memory": .int(2 << 30),
        "stat-available-memory": .int(1536 << 20),
        "stat-disk-caches": .int(700 << 20),
        "stat-htlb-pgalloc": .int(0),
        "stat-htlb-pgfail": .int(0),
    ]
    stats.merge(overrides) { _, new in new }
    return .object(["stats": .object(stats), "last-update": lastUpdate])
}

@Suite struct GuestStatsTests {
    @Test func readsEveryStatistic() throws {
        let stats = try GuestStats(qomValue: qomValue(), address: address)
        #expect(stats.swapIn == 10)
        #expect(stats.swapOut == 20)
        #expect(stats.majorFaults == 30)
        #expect(stats.minorFaults == 40)
        #expect(stats.free == 500 << 20)
        #expect(stats.total == 2 << 30)
        #expect(stats.available == 1536 << 20)
        #expect(stats.diskCaches == 700 << 20)
        #expect(stats.hugetlbAllocations == 0)
        #expect(stats.hugetlbFailures == 0)
        #expect(stats.all.count == 10)
        #expect(stats.lastUpdate == 1_700_000_000)
        #expect(stats.used == 512 << 20)
    }

    @Test func readsARealReplyWithAllOnesValues() throws {
        let reply = try JSON.decode(
            """
            {"return": {"stats": {"stat-htlb-pgfail": 18446744073709551615, "stat-swap-out": 0, \
            "stat-available-memory": 18446744073709551615, "stat-free-memory": 18446744073709551615, \
            "stat-minor-faults": 18446744073709551615, "stat-major-faults": 18446744073709551615, \
            "stat-total-memory": 18446744073709551615, "stat-swap-in": 0, "stat-disk-caches": 18446744073709551615, \
            "stat-htlb-pgalloc": 18446744073709551615}, "last-update": 0}, "id": 7}
            """)
        let stats = try GuestStats(qomValue: try #require(reply["return"]), address: address)
        #expect(stats == GuestStats(swapIn: 0, swapOut: 0, all: stats.all, lastUpdate: nil))
        #expect(stats.all["stat-free-memory"] == GuestStats.unreported)
        #expect(stats.all["stat-swap-in"] == 0)
        #expect(stats.used == nil)
        #expect(stats.age(now: 1_700_000_000) == nil)
    }

    static let statNames: [String] = [
        "stat-swap-in", "stat-swap-out", "stat-major-faults", "stat-minor-faults", "stat-free-memory",
        "stat-total-memory", "stat-available-memory", "stat-disk-caches", "stat-htlb-pgalloc", "stat-htlb-pgfail",
    ]

    @Test(arguments: statNames)
    func allOnesMeansUnreported(name: String) throws {
        let stats = try GuestStats(qomValue: qomValue([name: unreported]), address: address)
        let fields: [String: UInt64?] = [
            "stat-swap-in": stats.swapIn, "stat-swap-out": stats.swapOut, "stat-major-faults": stats.majorFaults,
            "stat-minor-faults": stats.minorFaults, "stat-free-memory": stats.free, "stat-total-memory": stats.total,
            "stat-available-memory": stats.available, "stat-disk-caches": stats.diskCaches,
            "stat-htlb-pgalloc": stats.hugetlbAllocations, "stat-htlb-pgfail": stats.hugetlbFailures,
        ]
        for (field, value) in fields {
            if field == name { #expect(value == nil, "\(field)") } else { #expect(value != nil, "\(field)") }
        }
        #expect(stats.all[name] == UInt64.max, "kept in `all` as QEMU sent it")
    }

    @Test func oneBelowAllOnesIsAValue() throws {
        let stats = try GuestStats(qomValue: qomValue(["stat-swap-in": .uint(.max - 1)]), address: address)
        #expect(stats.swapIn == UInt64.max - 1)
    }

    @Test func missingStatisticIsNil() throws {
        let value = JSON.object(["stats": .object(["stat-free-memory": .int(1)]), "last-update": .int(5)])
        let stats = try GuestStats(qomValue: value, address: address)
        #expect(stats.free == 1)
        #expect(stats.available == nil)
        #expect(stats.all == ["stat-free-memory": 1])
    }

    @Test func unknownStatisticsAreKept() throws {
        let stats = try GuestStats(
            qomValue: qomValue(["stat-oom-kills": .int(3), "stat-alloc-stalls": unreported]), address: address)
        #expect(stats.all["stat-oom-kills"] == 3)
        #expect(stats.all["stat-alloc-stalls"] == .max)
        #expect(stats.all.count == 12)
    }

    /// The ten figures are fields, the rest kept by name; `all` puts them back together as QEMU sent them, and
    /// setting it takes them apart again.
    @Test func allIsWhatQEMUSentWhicheverWayItIsKept() {
        var stats = GuestStats(
            qemuNames: ["stat-free-memory": .max, "stat-total-memory": 2 << 30, "stat-oom-kills": 4], lastUpdate: 9)
        #expect(stats.free == nil && stats.total == 2 << 30)
        #expect(stats.others == ["stat-oom-kills": 4])
        #expect(stats.all == ["stat-free-memory": .max, "stat-total-memory": 2 << 30, "stat-oom-kills": 4])
        stats.available = 1 << 30
        #expect(stats.all["stat-available-memory"] == 1 << 30, "a field set by hand shows in `all`")
        stats.all = ["stat-swap-in": 7]
        #expect(stats.swapIn == 7 && stats.others.isEmpty)
        #expect(stats.all == ["stat-swap-in": 7, "stat-total-memory": 2 << 30, "stat-available-memory": 1 << 30])
        #expect(GuestStats(free: 5, all: ["stat-free-memory": 6]).free == 5, "a field given wins over `all`")
        #expect(GuestStats(all: ["stat-free-memory": 6]).free == 6)
        #expect(
            GuestStats(qemuNames: ["stat-htlb-pgfail": 1], lastUpdate: 1) == GuestStats(hugetlbFailures: 1, lastUpdate: 1))
    }

    static let lastUpdates: [(JSON, Int64?)] = [
        (.int(0), nil),
        (.int(-1), nil),
        (.int(1_700_000_000), 1_700_000_000),
        (.uint(.max), .max),
    ]

    @Test(arguments: lastUpdates)
    func lastUpdate(value: JSON, expected: Int64?) throws {
        let stats = try GuestStats(qomValue: qomValue(lastUpdate: value), address: address)
        #expect(stats.lastUpdate == expected)
    }

    static let ages: [(now: Double, age: Double?)] = [(1_700_000_003.5, 3.5), (1_700_000_000, 0), (1_600_000_000, 0)]

    @Test(arguments: ages)
    func age(now: Double, age: Double?) throws {
        let stats = try GuestStats(qomValue: qomValue(), address: address)
        #expect(stats.age(now: now) == age)
    }

    static let usedCases: [(total: UInt64?, available: UInt64?, used: UInt64?)] = [
        (2 << 30, 512 << 20, 1536 << 20),
        (2 << 30, 2 << 30, 0),
        // A guest can report more available than total for a moment; never underflow.
        (1 << 30, 2 << 30, 0),
        (nil, 512 << 20, nil),
        (2 << 30, nil, nil),
    ]

    @Test(arguments: usedCases)
    func used(total: UInt64?, available: UInt64?, used: UInt64?) {
        #expect(GuestStats(total: total, available: available).used == used)
    }

    static let badShapes: [(JSON, String)] = [
        (.object(["last-update": .int(1)]), "guest-stats reply has no 'stats' object"),
        (.object(["stats": .array([]), "last-update": .int(1)]), "guest-stats reply has no 'stats' object"),
        (.string("stats"), "guest-stats reply has no 'stats' object"),
        (.null, "guest-stats reply has no 'stats' object"),
        (.object(["stats": .object([:])]), "guest-stats reply has no integer 'last-update'"),
        (qomValue(lastUpdate: .string("0")), "guest-stats reply has no integer 'last-update'"),
        (qomValue(lastUpdate: .double(1.5)), "guest-stats reply has no integer 'last-update'"),
        (
            qomValue(["stat-free-memory": .string("12")]),
            "guest-stats value 'stat-free-memory' is a string, expected an unsigned integer"
        ),
        (qomValue(["stat-swap-in": .int(-1)]), "guest-stats value 'stat-swap-in' is a number, expected an unsigned"),
        (qomValue(["stat-swap-in": .double(1.5)]), "guest-stats value 'stat-swap-in' is a number"),
        (qomValue(["stat-swap-in": .null]), "guest-stats value 'stat-swap-in' is null"),
    ]

    @Test(arguments: badShapes)
    func badShapesAreBadReplies(value: JSON, detail: String) {
        let error = #expect(throws: BalloonError.self) { try GuestStats(qomValue: value, address: address) }
        #expect(error?.code == .badReply)
        #expect(error?.address == address)
        #expect(error?.detail.hasPrefix(detail) == true, "\(error?.detail ?? "")")
        #expect(error?.description.hasPrefix("\(address): ") == true)
    }

    @Test func jsonKeys() throws {
        let stats = try GuestStats(qomValue: qomValue(["stat-free-memory": unreported]), address: address)
        let json = try #require(stats.json.objectValue)
        #expect(
            Set(json.keys) == [
                "available_bytes", "free_bytes", "total_bytes", "disk_caches_bytes", "swap_in_bytes", "swap_out_bytes",
                "major_faults", "minor_faults",
            ])
        #expect(json["available_bytes"] == .int(1536 << 20))
        #expect(json["free_bytes"] == .null)
        #expect(json["total_bytes"] == .int(2 << 30))
        #expect(json["disk_caches_bytes"] == .int(700 << 20))
        #expect(json["swap_in_bytes"] == .int(10))
        #expect(json["swap_out_bytes"] == .int(20))
        #expect(json["major_faults"] == .int(30))
        #expect(json["minor_faults"] == .int(40))
    }

    @Test func jsonKeepsWideValuesExact() {
        let stats = GuestStats(swapIn: .max - 1)
        #expect(stats.json["swap_in_bytes"] == .uint(.max - 1))
        #expect(stats.json.encodedString(sortedKeys: true).contains(#""swap_in_bytes":18446744073709551614"#))
        #expect(stats.json["available_bytes"] == .null)
    }
}
