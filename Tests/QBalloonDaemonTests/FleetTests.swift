import QBalloon
import QBalloonCore
import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonQMP
import QBalloonRules
import QBalloonTestSupport
import Testing

/// Which VMs the daemon follows and how it holds their monitors: glob entries (virtual time; the socket
/// scan itself is checked against real sockets in ``QMPLinkTests``), per-poll connections (real sockets).
@Suite(.timeLimit(.minutes(1)))
struct FleetTests {
    static let gib = TestFleet.gib

    @Test func aGlobAttachesSocketsThatAppearAndDetachesThoseThatGo() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("first")
            let metrics = DaemonMetrics()
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults() + """
                    [[vm]]
                    qmp = "\(fleet.directory)/*.qmp"

                    """ + TestConfig.reclaimRule, metrics: metrics)
            try await fleet.waitFor("first attached") { report in
                report.rows.map(\.vm) == ["first"] && report.row("first")?.status == .ok
            }
            try await fleet.startVM("second")
            try await fleet.waitFor("second attached") { $0.row("second")?.status == .ok }
            try await fleet.waitFor("second reclaimed") { _ in try await fleet.guest("second").target < Self.gib }

            await fleet.stopVM("first")
            try await fleet.waitFor("first detached") { report in report.rows.map(\.vm) == ["second"] }
            #expect(!fleet.logs.matching("detached", vm: "first").isEmpty)
            #expect(MetricsText.value(metrics, "qballoon_vm_actual_bytes", vm: "first") == nil, "first's series stay")
            try await fleet.rounds(3) { #expect($0.row("second")?.status == .ok) }
        }
    }

    @Test func perPollLeavesTheMonitorFreeBetweenPolls() async throws {
        try await TestFleet.run(.sockets) { fleet in
            try await fleet.startVM("shared")
            try await fleet.startVM("held")
            try await fleet.startDaemon(
                // A per-poll VM is read only when its connection comes up: on a machine slowed down (by ThreadSanitizer,
                // or by everything else CI runs) a 2 s stall_after once took a moving balloon for a stalled one.
                config: TestConfig.daemon() + TestConfig.defaults(#"stall_after = "10s""#)
                    + TestConfig.vm("shared", in: fleet, #"connect = "per-poll""#)
                    + TestConfig.vm("held", in: fleet) + TestConfig.reclaimRule)
            try await fleet.waitFor("both reclaimed, per-poll too", within: 100) { report in
                let shared = try await fleet.guest("shared")
                let held = try await fleet.guest("held")
                return report.row("shared")?.status == .ok && shared.target < Self.gib && shared.actual == shared.target
                    && held.target < Self.gib
            }
            // Another tool gets the per-poll VM's monitor between polls...
            let options = QMPClient.Options(commandTimeout: .seconds(2), connectTimeout: .seconds(3))
            for _ in 0..<3 {
                let client = try await QMPClient.connect(to: .unixDomainSocket(path: fleet.socket("shared")), options: options)
                let balloon = try await BalloonDevice.find(on: client)
                // The same guest: its balloon, which may still be moving, read between two looks at the guest.
                let before = try await fleet.guest("shared").actual
                let seen = try await balloon.actual()
                let after = try await fleet.guest("shared").actual
                #expect(min(before, after) <= seen && seen <= max(before, after), "QMP said \(seen), the guest had \(before) then \(after)")
                #expect(try await balloon.pollingInterval() == 1, "the daemon turned statistics polling on")
                await client.close()
                try await fleet.nextRound()
            }
            // ...but not the persistent VM's: QEMU serves one client at a time.
            await #expect(throws: QMPError.self) {
                let client = try await QMPClient.connect(
                    to: .unixDomainSocket(path: fleet.socket("held")),
                    options: .init(commandTimeout: .milliseconds(500), connectTimeout: .milliseconds(500)))
                await client.close()
            }
            try await fleet.waitFor("per-poll VM healthy after sharing") { $0.row("shared")?.status == .ok }
            // Each foreign session may keep the daemon out for a while (how many rounds depends on how fast this
            // machine is: under ThreadSanitizer, more), but at most once each: count the times it became unreachable.
            let states = fleet.history.compactMap { $0.row("shared")?.status.label }
            let episodes = zip([""] + states, states).filter { $0 != "unreachable" && $1 == "unreachable" }.count
            #expect(episodes <= 3, "the per-poll VM became unreachable \(episodes) times: \(states)")
        }
    }
}

extension FleetTests {
    /// `example.toml`'s layout: a named entry for one socket, then a glob over the folder. The named entry's
    /// socket keeps that entry (its name and settings); the glob takes only the others.
    @Test func aSocketNamedByAnEntryIsNotTakenAgainByAGlob() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("db")
            try await fleet.startVM("web")
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults() + """
                    [[vm]]
                    name = "database"
                    qmp = "\(fleet.socket("db"))"
                    min = "1.5GiB"

                    [[vm]]
                    qmp = "\(fleet.directory)/*.qmp"

                    """ + TestConfig.reclaimRule)
            try await fleet.waitFor("both reclaimed") { report in
                let db = try await fleet.guest("db")
                let web = try await fleet.guest("web")
                return db.target == 1536 << 20 && db.actual == db.target && web.target < Self.gib && web.actual == web.target
            }
            try await fleet.rounds(4) { report in
                #expect(report.rows.map(\.vm) == ["database", "web"])
                #expect(report.rows.allSatisfy { $0.status == .ok })
            }
            #expect(try await fleet.guest("db").target == 1536 << 20, "the glob's settings were applied to database's socket")
        }
    }
}
