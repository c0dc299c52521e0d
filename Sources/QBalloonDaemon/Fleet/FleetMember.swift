import QBalloonCore
import QBalloonRules

/// One VM the daemon should follow: a `[[vm]]` entry, or one socket a glob entry matched.
public struct FleetMember: Sendable, Hashable {
    public var name: String
    public var address: Endpoint
    public var settings: VMSettings

    public init(name: String, address: Endpoint, settings: VMSettings) {
        self.name = name
        self.address = address
        self.settings = settings
    }

    /// The VMs a config asks for, given the monitor sockets that exist now (for glob entries).
    /// A socket belongs to the first entry that covers it (so a VM named above keeps its settings when a glob
    /// below matches its socket too); a second VM with a name already taken is skipped and reported.
    public static func members(of config: QBalloonConfig, sockets: [String]) -> (members: [FleetMember], duplicates: [String]) {
        var members: [FleetMember] = []
        var taken: Set<String> = []
        var claimed: Set<Endpoint> = []
        var duplicates: [String] = []
        func add(_ member: FleetMember) {
            guard claimed.insert(member.address).inserted else { return }
            if taken.insert(member.name).inserted {
                members.append(member)
            } else {
                duplicates.append("\(member.name) (\(member.address))")
            }
        }
        for entry in config.vms {
            if let address = entry.address {
                add(FleetMember(name: entry.name ?? entry.vmName(socketPath: address.unixPath ?? "\(address)"), address: address, settings: entry.settings))
            } else {
                for path in sockets.sorted() where entry.matches(socketPath: path) {
                    add(FleetMember(name: entry.vmName(socketPath: path), address: .unixDomainSocket(path: path), settings: entry.settings))
                }
            }
        }
        return (members, duplicates)
    }

    /// The socket globs of a config, to scan for sockets.
    public static func globs(of config: QBalloonConfig) -> [String] {
        config.vms.compactMap(\.socketGlob)
    }
}
