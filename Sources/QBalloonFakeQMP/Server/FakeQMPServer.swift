import Logging
import NIOCore
import NIOPosix
import QBalloonCore
import QBalloonJSON
import QBalloonQMP

/// A fake QEMU 7.2 monitor with a simulated guest behind its balloon, listening on a unix socket or TCP port.
///
/// It answers the commands qballoon uses as QEMU 7.2 does (checked against recorded transcripts), sends
/// `BALLOON_CHANGE` events as the simulated balloon moves, and can misbehave on purpose
/// (``FakeQMPFaults``). Like QEMU's socket monitor it serves one client at a time: a second client is
/// accepted but gets its greeting only when the first leaves. `quit` stops the server.
///
/// It costs nothing while idle: no threads of its own, and no timers unless a client is listening while
/// the balloon moves. Many servers can share one event loop group.
///
/// ```swift
/// let server = try await FakeQMPServer.start(listen: .hostname("127.0.0.1", port: 0), scenario: .idle)
/// let client = try await QMPClient.connect(to: server.boundAddress)
/// _ = try await client.execute("balloon", arguments: ["value": .int(1 << 30)])
/// await server.stop()
/// ```
public final class FakeQMPServer: Sendable {
    /// Where clients connect: the listen address, with the real port when TCP port 0 was asked for.
    public let boundAddress: Endpoint
    private let eventLoop: any EventLoop
    private let core: NIOLoopBound<FakeQMPServerCore>
    private let stopped: EventLoopFuture<Void>

    private init(
        boundAddress: Endpoint, eventLoop: any EventLoop, core: NIOLoopBound<FakeQMPServerCore>,
        stopped: EventLoopFuture<Void>
    ) {
        self.boundAddress = boundAddress
        self.eventLoop = eventLoop
        self.core = core
        self.stopped = stopped
    }

    /// Starts listening. A stale unix socket file at the path is removed first (any other kind of file is an
    /// error); the socket file is removed again when the server stops.
    /// - Parameters:
    ///   - address: `unix:PATH` or `tcp:HOST:PORT`; port 0 picks a free port (see ``boundAddress``).
    ///   - scenario: the VM and its guest; its time 0 is now.
    ///   - faults: how the monitor misbehaves; `nil` uses the scenario's ``FakeGuestScenario/faults``.
    ///   - clock: the guest's time; ``FakeClock/system`` unless a test steps time by hand.
    ///   - eventLoopGroup: where the server runs; it uses one loop of it.
    ///   - logger: connection and lifecycle messages at debug level.
    /// - Throws: ``FakeQMPServerError`` when it cannot listen.
    public static func start(
        listen address: Endpoint, scenario: FakeGuestScenario = .idle, faults: FakeQMPFaults? = nil,
        clock: FakeClock = .system, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "qballoon.fake-qmp", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> FakeQMPServer {
        var logger = logger
        logger[metadataKey: "qmp.socket"] = "\(address)"
        let eventLoop = eventLoopGroup.next()
        let faults = faults ?? scenario.faults
        let serverLogger = logger
        let core = try await eventLoop.submit {
            NIOLoopBound(
                FakeQMPServerCore(
                    scenario: scenario, faults: faults, clock: clock, eventLoop: eventLoop, logger: serverLogger),
                eventLoop: eventLoop)
        }.get()
        let bootstrap = ServerBootstrap(group: eventLoop, childGroup: eventLoop)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(FakeQMPConnectionHandler(server: core.value))
                }
            }
        let channel: any Channel
        let bound: Endpoint
        do {
            switch address.base {
            case .unixDomainSocket(let path):
                channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
                bound = address
            case .hostname(let host, let port):
                channel = try await bootstrap.bind(host: host, port: port).get()
                bound = .hostname(host, port: channel.localAddress?.port ?? port)
            }
        } catch {
            try? await eventLoop.submit { core.value.stop() }.get()
            throw FakeQMPServerError(address: "\(address)", reason: Self.explain(error))
        }
        let stopped = try await eventLoop.submit {
            core.value.serverChannel = channel
            core.value.socketPath = address.unixPath
            return core.value.stopped.futureResult
        }.get()
        logger.debug("fake QMP server listening", metadata: ["qmp.bound": "\(bound)", "scenario": "\(scenario.name)"])
        return FakeQMPServer(boundAddress: bound, eventLoop: eventLoop, core: core, stopped: stopped)
    }

    /// Stops listening and closes every connection; returns when the socket is closed (and its file removed).
    public func stop() async {
        let core = self.core
        eventLoop.execute { core.value.stop() }
        await waitUntilStopped()
    }

    /// Returns when the server has stopped: by ``stop()``, or a client's `quit`.
    public func waitUntilStopped() async {
        try? await stopped.get()
    }

    /// Serves until stopped (by ``stop()`` or `quit`); cancelling the calling task stops the server.
    public func run() async {
        let core = self.core
        let eventLoop = self.eventLoop
        await withTaskCancellationHandler {
            await waitUntilStopped()
        } onCancel: {
            eventLoop.execute { core.value.stop() }
        }
    }

    /// The simulated guest's memory now.
    public func guestState() async throws -> FakeGuestState {
        let core = self.core
        return try await eventLoop.submit { core.value.guestState() }.get()
    }

    /// The faults now in force.
    public func faults() async throws -> FakeQMPFaults {
        let core = self.core
        return try await eventLoop.submit { core.value.faults }.get()
    }

    /// Changes the faults for what happens next. `noBalloonDevice` and `noGuestStats` are fixed when the
    /// server starts and cannot be changed here.
    public func setFaults(_ faults: FakeQMPFaults) async throws {
        let core = self.core
        try await eventLoop.submit { core.value.faults = faults }.get()
    }

    /// Brings the guest up to the clock's time and sends the events that are due. With ``FakeClock/system``
    /// the server does this itself; with a manual clock, call it after moving the clock.
    public func tick() async throws {
        let core = self.core
        try await eventLoop.submit { core.value.tick() }.get()
    }

    private static func explain(_ error: any Error) -> String {
        if let io = error as? IOError { return io.description }
        if error is UnixDomainSocketPathWrongType { return "the path exists and is not a socket" }
        return "\(error)"
    }
}
