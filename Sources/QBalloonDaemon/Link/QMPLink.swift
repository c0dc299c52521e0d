import Logging
import QBalloon
import QBalloonCore
import QBalloonQMP

/// A VM reached over its QMP monitor socket: the way into plain QEMU, Proxmox and any VM started with `-qmp`.
///
/// ```swift
/// let link = QMPLink(address: try Endpoint("/run/qemu/db.qmp"), commandTimeout: .seconds(10), logger: logger)
/// let connection = try await link.connect(statsInterval: 2)
/// ```
public struct QMPLink: VMLink {
    public let address: Endpoint
    public let commandTimeout: Duration
    private let logger: Logger

    /// - Parameters:
    ///   - commandTimeout: how long QEMU may take to greet and to answer each command.
    ///   - logger: carries `vm.name`; the client adds `qmp.socket`.
    public init(address: Endpoint, commandTimeout: Duration, logger: Logger) {
        self.address = address
        self.commandTimeout = commandTimeout
        self.logger = logger
    }

    public var description: String { address.description }

    public func connect(statsInterval: Int) async throws -> any VMConnection {
        let client = try await QMPClient.connect(
            to: address, options: .init(commandTimeout: commandTimeout, connectTimeout: commandTimeout), logger: logger)
        do {
            let device: BalloonDevice
            do {
                device = try await BalloonDevice.find(on: client)
            } catch let error as BalloonError where error.code == .noDevice {
                throw VMLinkError(.noBalloon, error.description)
            }
            if try await device.pollingInterval() != statsInterval {
                try await device.setPollingInterval(seconds: statsInterval)
            }
            let ram = try await device.maxBytes()
            logger.debug("balloon found", metadata: ["balloon.path": "\(device.path)"])
            return QMPConnection(device: device, ramBytes: ram)
        } catch {
            await client.close()
            throw error
        }
    }
}

/// An open QMP session with a VM whose balloon was found.
struct QMPConnection: VMConnection {
    let device: BalloonDevice
    let ramBytes: UInt64

    /// The client's events in the daemon's words; they end when the connection does.
    var events: any AsyncSequence<VMEvent, Never> & Sendable {
        device.client.events.compactMap { @Sendable event -> VMEvent? in
            switch event.name {
            case "BALLOON_CHANGE": return event.data["actual"]?.uint64Value.map(VMEvent.actualChanged)
            case "SHUTDOWN": return .shutdown
            default: return nil
            }
        }
    }

    var preferredExecutor: (any TaskExecutor)? { device.client.taskExecutor }

    func read(includingActual: Bool) async throws -> VMReading {
        let actual = includingActual ? try await device.actual() : nil
        return VMReading(actual: actual, stats: try await device.stats())
    }

    func setTarget(_ bytes: UInt64) async throws {
        try await device.setTarget(bytes)
    }

    func close() async {
        await device.client.close()
    }
}
