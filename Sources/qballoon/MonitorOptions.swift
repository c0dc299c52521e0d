import ArgumentParser
import QBalloonCore
import QBalloon
import QBalloonLibvirt
import QBalloonQMP

/// The options every command that talks to a VM takes: its QMP monitor, or its libvirt connection and domain.
struct MonitorOptions: ParsableArguments {
    @Option(
        name: .customLong("qmp"),
        help: ArgumentHelp("The VM's QMP monitor: unix:PATH, a socket path, or tcp:HOST:PORT.", valueName: "ADDR"))
    var qmpOption: String?

    @Option(
        name: .customLong("libvirt"),
        help: ArgumentHelp("A libvirt connection (qemu:///system), with --domain, in place of --qmp.", valueName: "URI"))
    var libvirt: String?

    @Option(help: ArgumentHelp("The libvirt domain's name (with --libvirt).", valueName: "NAME"))
    var domain: String?

    @Option(
        name: .customLong("command-timeout"),
        help: ArgumentHelp("How long to wait for QEMU (or libvirt) to answer a command (and to greet).", valueName: "DURATION"))
    var commandTimeout: String = "10s"

    func validate() throws {
        if case .qmp(let address) = try VMChoice(qmp: qmpOption, libvirt: libvirt, domain: domain) {
            do {
                _ = try Endpoint(address)
            } catch {
                throw ValidationError("\(error)")
            }
        }
        let timeout = try parsedDuration(commandTimeout, option: "--command-timeout")
        guard timeout > .zero else { throw ValidationError("--command-timeout must be more than 0") }
    }

    var choice: VMChoice { get throws { try VMChoice(qmp: qmpOption, libvirt: libvirt, domain: domain) } }

    /// The QMP address, for commands that only speak QMP.
    var qmp: String {
        get throws {
            guard case .qmp(let address) = try choice else {
                throw ValidationError("this command takes --qmp ADDR only (libvirt domains: status, stats, set)")
            }
            return address
        }
    }

    var address: Endpoint { get throws { try Endpoint(try qmp) } }

    /// Connects and negotiates, with the command timeout as the greeting timeout too.
    func connect() async throws -> QMPClient {
        let timeout = try DurationText.parse(commandTimeout)
        return try await QMPClient.connect(
            to: try address, options: QMPClient.Options(commandTimeout: timeout, connectTimeout: timeout))
    }
}

/// Which way into the VM the command line chose: exactly one of `--qmp ADDR` and `--libvirt URI --domain NAME`.
enum VMChoice: Hashable {
    case qmp(String)
    case libvirt(uri: String, domain: String)

    /// - Throws: `ValidationError` (exit 2) naming what is missing or extra.
    init(qmp: String?, libvirt: String?, domain: String?) throws {
        switch (qmp, libvirt, domain) {
        case (let qmp?, nil, nil): self = .qmp(qmp)
        case (nil, let uri?, let domain?):
            guard !uri.isEmpty else { throw ValidationError("--libvirt needs a URI, e.g. qemu:///system") }
            guard !domain.isEmpty else { throw ValidationError("--domain needs a domain's name") }
            self = .libvirt(uri: uri, domain: domain)
        case (nil, nil, nil): throw ValidationError("give the VM: --qmp ADDR, or --libvirt URI --domain NAME")
        case (_?, _, _): throw ValidationError("--qmp and --libvirt/--domain are two ways to one VM: give one of them")
        case (nil, _?, nil): throw ValidationError("--libvirt needs --domain NAME")
        case (nil, nil, _?): throw ValidationError("--domain needs --libvirt URI")
        }
    }
}

func parsedDuration(_ text: String, option: String) throws -> Duration {
    do {
        return try DurationText.parse(text)
    } catch {
        throw ValidationError("\(option): \(error)")
    }
}

/// Runs `body` with a connected client and closes it afterwards, whatever happens.
func withClient<T>(_ options: MonitorOptions, _ body: (QMPClient) async throws -> T) async throws -> T {
    let client = try await options.connect()
    do {
        let result = try await body(client)
        await client.close()
        return result
    } catch {
        await client.close()
        throw error
    }
}

/// Runs `body` with the VM's balloon, reached the way the options say, and closes the connection afterwards.
func withBalloon<T>(_ options: MonitorOptions, _ body: (any VMBalloon) async throws -> T) async throws -> T {
    switch try options.choice {
    case .qmp:
        return try await withClient(options) { client in
            try await body(QMPBalloon(device: try await BalloonDevice.find(on: client)))
        }
    case .libvirt(let uri, let name):
        let connection = try await LibvirtConnection.open(uri, callTimeout: try DurationText.parse(options.commandTimeout))
        do {
            let domain = try await connection.domain(named: name)
            let balloon = LibvirtBalloon(domain: domain, description: try await domain.requireBalloon())
            let result = try await body(balloon)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }
}
