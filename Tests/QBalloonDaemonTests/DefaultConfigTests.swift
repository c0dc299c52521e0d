import Foundation
import QBalloonCore
import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonRules
import QBalloonTestSupport
import Testing

/// The config the package installs as /etc/qballoon/qballoon.toml watches and changes nothing until a rule says
/// so: on the reference workloads (ReferenceWorkloadTests), on a host short of memory, no guest is shrunk; the one
/// thing it does unasked is feed a guest that someone else ballooned down and that now needs memory.
@Suite(.timeLimit(.minutes(1)))
struct DefaultConfigTests {
    static let mib: UInt64 = 1 << 20
    static let gib: UInt64 = 1 << 30

    static func adapted(in fleet: TestFleet) throws -> String {
        try ShippedConfigs.adapted(file: ShippedConfigs.installedDefault, in: .init(sockets: fleet.directory))
    }

    @Test func itLoadsAndHasNoRuleAndNoReserve() throws {
        let path = TestEnvironment.repositoryRoot + "/" + ShippedConfigs.installedDefault
        let config = try QBalloonConfig.load(path: path)
        #expect(config.rules.isEmpty)
        #expect(config.host.reserve == .bytes(0))
        #expect(config.vms.map(\.qmp) == ["/run/qemu/*.qmp"])
        #expect(config.daemon.decisionLog == "/var/log/qballoon/decisions.jsonl")
    }

    @Test func onAnOvercommittedHostNoGuestIsTouched() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("idle", scenario: ReferenceWorkloadTests.guest(ReferenceWorkloadTests.idle))
            try await fleet.startVM("batch", scenario: ReferenceWorkloadTests.guest(ReferenceWorkloadTests.batch(rate: 20)))
            // 2 GiB of guests on 2.25 GiB: the host is far below any reserve a config with rules would defend.
            fleet.host.synthetic(total: 2 * Self.gib + 256 * Self.mib, hostUse: 256 * Self.mib)
            try await fleet.startDaemon(config: try Self.adapted(in: fleet))
            try await fleet.advance(by: .seconds(300)) {
                for name in ["idle", "batch"] {
                    let guest = try await fleet.guest(name)
                    #expect(guest.actual == Self.gib, "\(name) was moved to \(guest.actual)")
                }
            }
            let changes = fleet.history.flatMap(\.changes)
            #expect(changes.isEmpty, "\(changes)")
            #expect(fleet.history.count >= 100, "the daemon made \(fleet.history.count) rounds")
            #expect(fleet.history.last?.rows.allSatisfy { $0.available != nil } == true, "the guests' figures are read")
        }
    }

    @Test func aGuestSomeoneElseShrankGetsMemoryBackWhenItNeedsIt() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("batch", scenario: ReferenceWorkloadTests.guest(ReferenceWorkloadTests.batch(rate: 20)))
            try await fleet.squeeze("batch", to: 512 * Self.mib)
            try await fleet.startDaemon(config: try Self.adapted(in: fleet))
            var least = UInt64.max
            try await fleet.advance(by: .seconds(120)) {
                let guest = try await fleet.guest("batch")
                least = min(least, guest.actual)
                #expect(guest.swapped < 4096, "batch ran out of memory at \(guest.actual)")
            }
            let changes = fleet.history.flatMap(\.changes)
            #expect(!changes.isEmpty, "the guest that needed memory was not fed")
            for change in changes { #expect((change.to ?? 0) > change.from, "a shrink: \(change)") }
            #expect(least >= 512 * Self.mib)
            #expect(try await fleet.guest("batch").actual > 700 * Self.mib)
        }
    }
}
