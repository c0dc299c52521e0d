import Logging
import NIOCore
import NIOPosix
import QBalloon
import QBalloonQMP
import QBalloonRules
import Synchronization

/// Keeps one VM attached: connects (or reconnects with capped backoff), finds its balloon, keeps guest
/// statistics polling on, reads the balloon and the statistics every interval, and sends targets.
///
/// A failure here never leaves this VM's loop: it is logged, counted, and retried.
public final class VMWorker: Sendable {
    /// What the worker needs to know; two workers with equal settings behave the same, so a reload that
    /// leaves them equal keeps the connection.
    public struct Settings: Sendable, Hashable {
        public var name: String
        public var address: QMPAddress
        public var connect: ConnectMode
        /// How often to read the VM.
        public var interval: Duration
        /// The guest-stats polling period (whole seconds, at least 1).
        public var statsInterval: Duration
        /// Statistics older than this make the VM `noStats`: held, not acted on.
        public var staleAfter: Duration
        public var commandTimeout: Duration
        /// The longest wait between reconnect attempts, in seconds.
        public var backoffCap: Double

        public init(
            name: String, address: QMPAddress, connect: ConnectMode = .persistent, interval: Duration = .seconds(2),
            statsInterval: Duration = .seconds(2), staleAfter: Duration = .seconds(6),
            commandTimeout: Duration = .seconds(5), backoffCap: Double = 30
        ) {
            self.name = name
            self.address = address
            self.connect = connect
            self.interval = interval
            self.statsInterval = statsInterval
            self.staleAfter = staleAfter
            self.commandTimeout = commandTimeout
            self.backoffCap = backoffCap
        }
    }

    public let settings: Settings
    private let logger: Logger
    private let state: Mutex<State>

    private struct State {
        var observation: VMObservation
        var device: BalloonDevice?
    }

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        var logger = logger
        logger[metadataKey: "vm.name"] = "\(settings.name)"
        logger[metadataKey: "qmp.socket"] = "\(settings.address)"
        self.logger = logger
        self.state = Mutex(State(observation: VMObservation(name: settings.name, address: settings.address)))
    }

    /// The latest observation.
    public var observation: VMObservation {
        state.withLock { $0.observation }
    }

    private var pollingSeconds: Int { max(1, Int(settings.statsInterval.seconds.rounded())) }

    /// Runs until the task is cancelled.
    public func run() async {
        var backoff = Backoff(initial: 0.5, cap: settings.backoffCap)
        while !Task.isCancelled {
            do {
                switch settings.connect {
                case .persistent:
                    try await runAttached(resetting: &backoff)
                case .perPoll:
                    try await withDevice { device in try await self.read(device) }
                    backoff.reset()
                    try await Task.sleep(for: settings.interval)
                    continue
                }
            } catch is CancellationError {
                break
            } catch {
                if Task.isCancelled { break }
                record(error)
            }
            let delay = backoff.nextDelay()
            state.withLock { $0.observation.reconnects += 1 }
            logger.debug("retrying in \(delay)s")
            try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
        }
        let device = state.withLock { state in
            let device = state.device
            state.device = nil
            return device
        }
        await device?.client.close()
    }

    /// Sends a new target now. Throws when the VM is not reachable.
    public func apply(target: UInt64) async throws {
        switch settings.connect {
        case .persistent:
            guard let device = state.withLock({ $0.device }) else {
                throw QMPError(code: .connectionClosed, address: "\(settings.address)", detail: "not attached")
            }
            try await device.setTarget(target)
        case .perPoll:
            try await withDevice { device in try await device.setTarget(target) }
        }
        state.withLock { $0.observation.lastTarget = target }
    }

    // MARK: Persistent connection

    private func runAttached(resetting backoff: inout Backoff) async throws {
        let device = try await attach()
        state.withLock { $0.device = device }
        defer { state.withLock { $0.device = nil } }
        backoff.reset()
        logger.info("attached", metadata: ["balloon.path": "\(device.path)"])
        // Events end when the connection does; SHUTDOWN means QEMU is going away.
        let events = Task {
            for await event in device.client.events {
                switch event.name {
                case "BALLOON_CHANGE":
                    if let actual = event.data["actual"]?.uint64Value {
                        self.state.withLock { $0.observation.actual = actual }
                    }
                case "SHUTDOWN":
                    await device.client.close()
                default:
                    break
                }
            }
        }
        defer { events.cancel() }
        do {
            // Poll from the connection's event loop: the commands, their replies and the wake-ups then all
            // happen on that one thread, with no hand-off to the global executor (most of the CPU at scale).
            try await withTaskExecutorPreference(device.client.taskExecutor) {
                var polls = 0
                while !Task.isCancelled {
                    // BALLOON_CHANGE events keep `actual` current; query-balloon only checks it now and then.
                    try await read(device, queryingActual: polls % Self.actualCheckEvery == 0)
                    polls += 1
                    try await Self.sleepOnEventLoop(for: settings.interval)
                }
            }
        } catch {
            await device.client.close()
            throw error
        }
        await device.client.close()
    }

    /// Sleeps until the next multiple of `interval` (on the monotonic clock), timed by the NIO event loop the
    /// task runs on (its connection's, see above), so the wake-up does not go through Dispatch's timer thread
    /// and a global-executor thread first. Every VM with the same interval wakes at the same instant: the loop
    /// wakes once for all of them, and their replies come back in batches.
    private static func sleepOnEventLoop(for interval: Duration) async throws {
        let step = max(1, TimeAmount(interval).nanoseconds)
        let now = Int64(clamping: NIODeadline.now().uptimeNanoseconds)
        let deadline = NIODeadline.uptimeNanoseconds(UInt64((now / step + 1) * step))
        let scheduled = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(deadline: deadline) {}
        try await withTaskCancellationHandler {
            do {
                try await scheduled.futureResult.get()
            } catch {
                throw CancellationError()
            }
        } onCancel: {
            scheduled.cancel()
        }
    }

    // MARK: Per-poll connection

    private func withDevice<T: Sendable>(_ body: (BalloonDevice) async throws -> T) async throws -> T {
        let device = try await attach()
        do {
            let result = try await body(device)
            await device.client.close()
            return result
        } catch {
            await device.client.close()
            throw error
        }
    }

    // MARK: Work

    private func attach() async throws -> BalloonDevice {
        let client = try await QMPClient.connect(
            to: settings.address,
            options: .init(commandTimeout: settings.commandTimeout, connectTimeout: settings.commandTimeout),
            logger: logger)
        do {
            let device = try await BalloonDevice.find(on: client)
            if try await device.pollingInterval() != pollingSeconds {
                try await device.setPollingInterval(seconds: pollingSeconds)
            }
            let max = try await device.maxBytes()
            state.withLock { $0.observation.maxBytes = max }
            return device
        } catch {
            await client.close()
            throw error
        }
    }

    /// With a persistent connection, every this many polls also runs `query-balloon`; in between, `actual`
    /// comes from QEMU's BALLOON_CHANGE events (one command per poll instead of two).
    static let actualCheckEvery = 10

    private func read(_ device: BalloonDevice, queryingActual: Bool = true) async throws {
        let actual = queryingActual ? try await device.actual() : nil
        let stats = try await device.stats()
        let now = unixNow()
        let stale = (stats.age(now: now) ?? .infinity) > settings.staleAfter.seconds
        state.withLock { state in
            if let actual { state.observation.actual = actual }
            state.observation.stats = stats
            state.observation.observedAt = now
            state.observation.health = stale ? .noStats : .healthy
        }
    }

    private func record(_ error: Error) {
        let health: VMHealth
        if let balloon = error as? BalloonError, balloon.code == .noDevice {
            health = .noBalloon
        } else {
            health = .unreachable("\(error)")
        }
        let changed = state.withLock { state -> Bool in
            state.observation.errors += 1
            let changed = state.observation.health != health
            state.observation.health = health
            return changed
        }
        if changed {
            logger.warning("\(health)")
        } else {
            logger.debug("\(health)")
        }
    }
}
