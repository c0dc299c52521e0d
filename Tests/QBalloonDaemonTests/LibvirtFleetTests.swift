import QBalloonCore
import QBalloonRules
import Testing

@testable import QBalloonDaemon

/// Which libvirt domains a config's entries make VMs of, and the floor a domain's metadata adds: plain values,
/// no libvirt (the real libvirtd is in LibvirtTests).
@Suite struct LibvirtFleetTests {
    static let config = """
        [[vm]]
        libvirt = "qemu:///system"
        domain = "db"
        min = "2GiB"
        [[vm]]
        libvirt = "qemu:///system"
        domain = "ci-*"
        min = "1GiB"
        [[vm]]
        libvirt = "qemu+ssh://node2/system"
        [[vm]]
        qmp = "/run/qemu/*.qmp"
        """

    @Test func domainsAreMatchedByTheFirstEntryThatCoversThem() throws {
        let config = try QBalloonConfig.parse(Self.config, file: "x")
        let (members, skipped) = FleetMember.members(
            of: config, sockets: ["/run/qemu/web.qmp", "/run/qemu/ci-1.qmp"],
            domains: ["qemu:///system": ["ci-2", "db", "ci-1", "web", "ci-a b"], "qemu+ssh://node2/system": ["db", "mail"]])
        #expect(members.map(\.name) == ["db", "ci-1", "ci-2", "mail", "web"])
        #expect(members[0].address == .libvirt(uri: "qemu:///system", domain: "db"))
        #expect(members[0].settings.min == .bytes(2 << 30))
        #expect(members[1].settings.min == .bytes(1 << 30))
        #expect(members[3].address == .libvirt(uri: "qemu+ssh://node2/system", domain: "mail"))
        #expect(members[4].address == .monitor(.unixDomainSocket(path: "/run/qemu/web.qmp")))
        #expect("\(members[0].address)" == "qemu:///system domain db")
        // Names taken already (node2's db, the socket ci-1) and a domain name that cannot be a VM's are reported.
        #expect(skipped.contains("db (qemu+ssh://node2/system domain db)"))
        #expect(skipped.contains("ci-1 (/run/qemu/ci-1.qmp)"))
        #expect(skipped.contains { $0.hasPrefix("ci-a b (qemu:///system: a domain name with characters a VM name cannot have") })
        #expect(FleetMember.libvirtURIs(of: config) == ["qemu:///system", "qemu+ssh://node2/system"])
    }

    @Test func aNamedDomainIsFollowedWhetherItRunsOrNot() throws {
        let config = try QBalloonConfig.parse(Self.config, file: "x")
        let (members, _) = FleetMember.members(of: config, sockets: [], domains: [:])
        #expect(members.map(\.name) == ["db"])
    }

    @Test func theDomainsOwnFloorRaisesMinWithinTheConfigsBounds() throws {
        var settings = VMSettings()
        settings.min = .bytes(256 << 20)
        settings.max = .bytes(768 << 20)
        let ram: UInt64 = 1 << 30
        #expect(Orchestrator.limits(settings, ram: ram, floor: nil).min == 256 << 20)
        // Above the config's min: it raises it (to whole pages).
        #expect(Orchestrator.limits(settings, ram: ram, floor: 320 << 20).min == 320 << 20)
        #expect(Orchestrator.limits(settings, ram: ram, floor: (320 << 20) + 1).min == (320 << 20) + 4096)
        // Below the config's min: the config's stays. Above max: max.
        #expect(Orchestrator.limits(settings, ram: ram, floor: 64 << 20).min == 256 << 20)
        #expect(Orchestrator.limits(settings, ram: ram, floor: 900 << 20).min == 768 << 20)
        #expect(Orchestrator.limits(settings, ram: ram, floor: 900 << 20).max == 768 << 20)
    }
}
