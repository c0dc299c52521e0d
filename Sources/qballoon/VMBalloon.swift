import QBalloon
import QBalloonCore
import QBalloonJSON
import QBalloonLibvirt
import QBalloonQMP

/// A VM's balloon as the one-shot commands use it, whether reached over QMP or through libvirt: `status`,
/// `stats` and `set` are written once against this.
protocol VMBalloon: BalloonControl {
    /// How the VM was reached, as JSON members: `qmp`, or `libvirt` and `domain`.
    var identity: [String: JSON] { get }
    /// The same as the first line of `status`'s text.
    var identityLine: String { get }
    /// The device: its QOM path over QMP, its alias under libvirt.
    var devicePath: String { get }
    func qemuVersion() async throws -> QEMUVersion
    /// Seconds between the guest's statistics reports; 0 when polling is off.
    func pollingInterval() async throws -> Int
    func setPollingInterval(seconds: Int) async throws
    func features() async throws -> BalloonFeatures
    func stats() async throws -> GuestStats
    /// Throws when figures read from the VM cannot be true (``Plausibility``).
    func checkPlausible(actual: UInt64?, stats: GuestStats?, previous: GuestStats?, ramBytes: UInt64) throws
    /// The error for a guest that sends no statistics, naming the VM.
    func noStats(_ detail: String) -> any Error
}

struct QMPBalloon: VMBalloon {
    let device: BalloonDevice
    private var address: String { "\(device.client.address)" }

    var identity: [String: JSON] { ["qmp": .string(address)] }
    var identityLine: String { "monitor      \(address)" }
    var devicePath: String { device.path }
    func qemuVersion() async throws -> QEMUVersion { device.client.greeting.version }
    func actual() async throws -> UInt64 { try await device.actual() }
    func maxBytes() async throws -> UInt64 { try await device.maxBytes() }
    func setTarget(_ bytes: UInt64) async throws { try await device.setTarget(bytes) }
    func pollingInterval() async throws -> Int { try await device.pollingInterval() }
    func setPollingInterval(seconds: Int) async throws { try await device.setPollingInterval(seconds: seconds) }
    func features() async throws -> BalloonFeatures { try await device.features() }
    func stats() async throws -> GuestStats { try await device.stats() }
    func checkPlausible(actual: UInt64?, stats: GuestStats?, previous: GuestStats?, ramBytes: UInt64) throws {
        try device.checkPlausible(actual: actual, stats: stats, previous: previous, ramBytes: ramBytes)
    }
    func noStats(_ detail: String) -> any Error { BalloonError(code: .noStats, address: address, detail: detail) }
}

struct LibvirtBalloon: VMBalloon {
    let domain: LibvirtDomain
    /// The balloon as the domain's XML described it when the command started.
    let description: DomainBalloon

    var identity: [String: JSON] { ["libvirt": .string(domain.connection.uri), "domain": .string(domain.name)] }
    var identityLine: String { "libvirt      \(domain.connection.uri) domain \(domain.name)" }
    var devicePath: String { description.alias ?? "memballoon (\(description.model ?? "?"))" }
    func qemuVersion() async throws -> QEMUVersion {
        let version = try await domain.connection.hypervisorVersion()
        return QEMUVersion(major: version.major, minor: version.minor, micro: version.micro)
    }
    func actual() async throws -> UInt64 { try await domain.actual() }
    func maxBytes() async throws -> UInt64 { try await domain.maxBytes() }
    func setTarget(_ bytes: UInt64) async throws { try await domain.setTarget(bytes) }
    func pollingInterval() async throws -> Int { try await domain.balloon().statsPeriod }
    func setPollingInterval(seconds: Int) async throws { try await domain.setPollingInterval(seconds: seconds) }
    func features() async throws -> BalloonFeatures {
        BalloonFeatures(deflateOnOOM: description.deflateOnOOM, freePageReporting: description.freePageReporting)
    }
    func stats() async throws -> GuestStats { try await domain.stats() }
    func checkPlausible(actual: UInt64?, stats: GuestStats?, previous: GuestStats?, ramBytes: UInt64) throws {
        if let lie = Plausibility.check(actual: actual, stats: stats, previous: previous, ramBytes: ramBytes) {
            throw LibvirtError(code: .badReply, uri: domain.connection.uri, domain: domain.name, detail: "figures that cannot be true: \(lie)")
        }
    }
    func noStats(_ detail: String) -> any Error {
        LibvirtError(code: .noStats, uri: domain.connection.uri, domain: domain.name, detail: detail)
    }
}
