import Logging
import QBalloon
import QBalloonCore
import QBalloonJSON
import QBalloonQMP

/// A VM reached over its QMP monitor socket: the way into plain QEMU, Proxmox and any VM started with `-qmp`.
///
/// ```swift
/// let link = QMPLink(address: try Endpoint("/run/qemu/db.qmp"), commandTimeout: .seconds(10), logger: logger)
/// let connection = try await link.connect(statsInterval: 2) { event in ... }
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

    public func connect(statsInterval: Int, events: @escaping @Sendable (VMEvent) -> Void) async throws -> any VMConnection {
        // QEMU's events, in the daemon's words, straight from the connection's event loop: no task per VM.
        let options = QMPClient.Options(
            commandTimeout: commandTimeout, connectTimeout: commandTimeout,
            eventHandler: { event in
                switch event.name {
                case "BALLOON_CHANGE":
                    if let actual = event.data["actual"]?.uint64Value { events(.actualChanged(actual)) }
                case "SHUTDOWN":
                    events(.shutdown)
                default:
                    break
                }
            })
        let client = try await Self.judged { try await QMPClient.connect(to: address, options: options, logger: logger) }
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
            let features = try await device.features()
            logger.debug("balloon found", metadata: ["balloon.path": "\(device.path)"])
            return QMPConnection(
                device: device, ramBytes: ram, deflateOnOOM: features.deflateOnOOM, qemu: "\(client.greeting.version)")
        } catch {
            await client.close()
            throw Self.judge(error)
        }
    }

    /// The error as the daemon treats it: a peer that broke QMP or answered with what QEMU never sends is
    /// ``VMLinkError/Kind/misconduct``.
    static func judge(_ error: any Error) -> any Error {
        if let qmp = error as? QMPError, qmp.code == .protocolViolation || qmp.code == .badReply {
            return VMLinkError(.misconduct, qmp.description)
        }
        if let balloon = error as? BalloonError, balloon.code == .badReply {
            return VMLinkError(.misconduct, balloon.description)
        }
        return error
    }

    nonisolated(nonsending) static func judged<T>(_ body: nonisolated(nonsending) () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw judge(error)
        }
    }
}

/// An open QMP session with a VM whose balloon was found. A class: the worker keeps it twice (as its connection and
/// as the one read without a task), and a struct this size would be boxed apart for each.
final class QMPConnection: TasklessReading {
    let device: BalloonDevice
    let ramBytes: UInt64
    let deflateOnOOM: Bool?
    let qemu: String

    init(device: BalloonDevice, ramBytes: UInt64, deflateOnOOM: Bool?, qemu: String) {
        self.device = device
        self.ramBytes = ramBytes
        self.deflateOnOOM = deflateOnOOM
        self.qemu = qemu
    }

    var preferredExecutor: (any TaskExecutor)? { device.client.taskExecutor }

    nonisolated(nonsending) func read(includingActual: Bool) async throws -> VMReading {
        // Not through `judged`: its closure and generic frames would be two more on every poll's stack.
        do {
            let actual = includingActual ? try await device.actual() : nil
            return VMReading(actual: actual, stats: try await device.stats())
        } catch {
            throw QMPLink.judge(error)
        }
    }

    var readThread: ObjectIdentifier { device.client.eventLoopID }

    func onReadThread(_ work: @escaping @Sendable () -> Void) {
        device.client.onEventLoop(work)
    }

    func read(includingActual: Bool, done: @escaping @Sendable (Result<VMReading, any Error>) -> Void) {
        device.read(includingActual: includingActual) { result in
            switch result {
            case .success(let reading): done(.success(VMReading(actual: reading.actual, stats: reading.stats)))
            case .failure(let error): done(.failure(QMPLink.judge(error)))
            }
        }
    }

    func setTarget(_ bytes: UInt64) async throws {
        try await QMPLink.judged { try await device.setTarget(bytes) }
    }

    func close() async {
        await device.client.close()
    }
}
