import Logging
import QBalloonCore
import QBalloonLibvirt

/// A VM that libvirt runs, reached through libvirt's API (never its QMP socket, which libvirt owns): its domain on
/// one of the daemon's libvirt connections (``LibvirtHub``).
///
/// Attaching reads the domain's XML (its balloon, `autodeflate`), turns the guest's statistics on
/// (`virDomainSetMemoryStatsPeriod`), reads its `<memory>` and qballoon's floor from its `<metadata>`
/// (``BalloonMetadata``); a read takes the domain's figures from the round's one call for all domains; a target is
/// set with `virDomainSetMemoryFlags(LIVE)`; `BALLOON_CHANGE` and the domain stopping arrive as events.
package struct LibvirtLink: VMLink {
    package let hub: LibvirtHub
    package let domain: String

    package init(hub: LibvirtHub, domain: String) {
        self.hub = hub
        self.domain = domain
    }

    package var description: String { "\(hub.uri) domain \(domain)" }

    package func connect(statsInterval: Int, events: @escaping @Sendable (VMEvent) -> Void) async throws -> any VMConnection {
        let (connection, generation) = try await hub.connection()
        do {
            let handle = try await connection.domain(named: domain)
            guard try await handle.isActive() else {
                throw LibvirtError(code: .call, uri: hub.uri, domain: domain, detail: "the domain is not running")
            }
            let balloon: DomainBalloon
            do {
                balloon = try await handle.requireBalloon()
            } catch let error as LibvirtError where error.code == .noBalloon {
                throw VMLinkError(.noBalloon, error.description)
            }
            if balloon.statsPeriod != statsInterval { try await handle.setPollingInterval(seconds: statsInterval) }
            let ram = try await handle.maxBytes()
            let floor = try await handle.metadata()?.min.map { BalloonPages.roundUp(min($0.bytes(ofMax: ram), ram)) }
            let follower = hub.follow(domain, events)
            return LibvirtVMConnection(
                hub: hub, domain: handle, generation: generation, follower: follower, ramBytes: ram,
                deflateOnOOM: balloon.deflateOnOOM, qemu: hub.hypervisor, floorBytes: floor)
        } catch {
            await hub.failed(error, generation: generation)
            throw Self.judge(error)
        }
    }

    /// The error as the daemon treats it: figures or XML from libvirt that cannot be used are
    /// ``VMLinkError/Kind/misconduct`` (nothing of the VM is used until a later attempt reads sane ones).
    static func judge(_ error: any Error) -> any Error {
        if let libvirt = error as? LibvirtError, libvirt.code == .badReply {
            return VMLinkError(.misconduct, libvirt.description)
        }
        return error
    }
}

/// A domain attached through its libvirt connection.
struct LibvirtVMConnection: VMConnection {
    let hub: LibvirtHub
    let domain: LibvirtDomain
    /// The hub's connection this was attached through: once it is gone, reads fail and the worker attaches again.
    let generation: Int
    let follower: Int
    let ramBytes: UInt64
    let deflateOnOOM: Bool?
    let qemu: String
    let floorBytes: UInt64?

    var preferredExecutor: (any TaskExecutor)? { nil }

    func read(includingActual: Bool) async throws -> VMReading {
        do {
            let figures = try await hub.figures(of: domain.name, generation: generation)
            guard let actual = figures.actual else {
                throw LibvirtError(
                    code: .badReply, uri: hub.uri, domain: domain.name, detail: "libvirt reported no balloon size (balloon.current)")
            }
            return VMReading(actual: actual, stats: figures.stats)
        } catch {
            throw LibvirtLink.judge(error)
        }
    }

    func setTarget(_ bytes: UInt64) async throws {
        do {
            try await domain.setTarget(bytes)
        } catch {
            await hub.failed(error, generation: generation)
            throw LibvirtLink.judge(error)
        }
    }

    func close() async {
        hub.unfollow(domain.name, id: follower)
    }
}
