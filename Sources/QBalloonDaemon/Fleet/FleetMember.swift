import QBalloonCore
import QBalloonRules

/// How the daemon reaches one VM: its QMP monitor, or a domain of a libvirt connection.
public enum VMAddress: Sendable, Hashable, CustomStringConvertible {
    /// A QMP monitor socket (`/run/qemu/db.qmp`, `tcp:127.0.0.1:4444`).
    case monitor(Endpoint)
    /// A domain of a libvirt connection (`qemu:///system`, `web`).
    case libvirt(uri: String, domain: String)

    /// The monitor's address, for a VM reached over QMP.
    public var monitor: Endpoint? {
        if case .monitor(let endpoint) = self { return endpoint }
        return nil
    }

    /// `/run/qemu/db.qmp`, or `qemu:///system domain web`.
    public var description: String {
        switch self {
        case .monitor(let endpoint): endpoint.unixPath ?? endpoint.description
        case .libvirt(let uri, let domain): "\(uri) domain \(domain)"
        }
    }
}

/// One VM the daemon should follow: a `[[vm]]` entry, one socket a glob entry matched, or one running domain a
/// libvirt entry covers.
public struct FleetMember: Sendable, Hashable {
    public var name: String
    public var address: VMAddress
    public var settings: VMSettings

    public init(name: String, address: VMAddress, settings: VMSettings) {
        self.name = name
        self.address = address
        self.settings = settings
    }

    public init(name: String, address: Endpoint, settings: VMSettings) {
        self.init(name: name, address: .monitor(address), settings: settings)
    }

    /// The VMs a config asks for, given the monitor sockets that exist now (for glob entries) and the running
    /// domains of each libvirt URI (for libvirt glob entries; a URI not listed has none known).
    /// A socket or domain belongs to the first entry that covers it (so a VM named above keeps its settings when a
    /// glob below matches it too); a second VM with a name already taken is skipped and reported, and so is a
    /// domain whose name cannot be a VM name.
    public static func members(
        of config: QBalloonConfig, sockets: [String], domains: [String: [String]] = [:]
    ) -> (members: [FleetMember], duplicates: [String]) {
        var members: [FleetMember] = []
        var taken: Set<String> = []
        var claimed: Set<VMAddress> = []
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
            if let uri = entry.libvirt, let domain = entry.domain {
                guard entry.domainGlob != nil else {
                    add(FleetMember(name: entry.name ?? domain, address: .libvirt(uri: uri, domain: domain), settings: entry.settings))
                    continue
                }
                for name in (domains[uri] ?? []).sorted() where entry.matches(domain: name) {
                    guard VMEntry.nameProblem(name) == nil else {
                        duplicates.append("\(name) (\(uri): a domain name with characters a VM name cannot have; give it a [[vm]] with domain and name)")
                        continue
                    }
                    add(FleetMember(name: name, address: .libvirt(uri: uri, domain: name), settings: entry.settings))
                }
            } else if let address = entry.address {
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

    /// The libvirt URIs of a config, in order, each once.
    public static func libvirtURIs(of config: QBalloonConfig) -> [String] {
        var seen: Set<String> = []
        return config.vms.compactMap(\.libvirt).filter { seen.insert($0).inserted }
    }
}
