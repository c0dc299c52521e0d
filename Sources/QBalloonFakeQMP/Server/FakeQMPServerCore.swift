import Logging
import NIOCore
import QBalloonJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The server's state, on its one event loop: the VM, who holds the monitor, the wake-up timer for
/// balloon events, and the listening socket's lifecycle.
final class FakeQMPServerCore {
    let eventLoop: any EventLoop
    let clock: FakeClock
    let logger: Logger
    var faults: FakeQMPFaults
    private(set) var machine: FakeMachine
    /// The connection that has the monitor.
    private var holder: FakeQMPConnectionHandler?
    /// Connections waiting for it, oldest first.
    private var waiting: [FakeQMPConnectionHandler] = []
    private var wakeTask: Scheduled<Void>?
    var serverChannel: (any Channel)?
    var socketPath: String?
    let stopped: EventLoopPromise<Void>
    private var isStopping = false

    init(scenario: FakeGuestScenario, faults: FakeQMPFaults, clock: FakeClock, eventLoop: any EventLoop, logger: Logger)
    {
        self.eventLoop = eventLoop
        self.clock = clock
        self.logger = logger
        self.faults = faults
        self.machine = FakeMachine(scenario: scenario, faults: faults, startTime: clock.now())
        self.stopped = eventLoop.makePromise(of: Void.self)
    }

    /// The guest now.
    func guestState() -> FakeGuestState {
        machine.advance(to: clock.now())
        return machine.guest.state
    }

    // MARK: Connections

    func connectionOpened(_ connection: FakeQMPConnectionHandler) {
        guard !isStopping else {
            connection.close()
            return
        }
        logger.debug("client connected")
        if holder == nil {
            grant(connection)
        } else {
            waiting.append(connection)
        }
    }

    func connectionClosed(_ connection: FakeQMPConnectionHandler) {
        if holder === connection {
            logger.debug("client disconnected")
            holder = nil
            updateListening()
            scheduleWake()
            if !waiting.isEmpty, !isStopping { grant(waiting.removeFirst()) }
        } else {
            waiting.removeAll { $0 === connection }
        }
    }

    private func grant(_ connection: FakeQMPConnectionHandler) {
        holder = connection
        var greeting = QEMUIdentity.greeting.encoded()
        greeting.append(contentsOf: [0x0D, 0x0A])
        connection.grantMonitor(greeting: faults.noGreeting ? nil : greeting)
    }

    // MARK: Commands and events

    func execute(_ request: JSON, session: inout FakeQMPSession, from connection: FakeQMPConnectionHandler)
        -> FakeQMPOutcome
    {
        machine.handle(request, session: &session, now: clock.now())
    }

    /// After a command: the events it raised go out (before its reply), then any that fell due.
    func commandFinished(events: [JSON]) {
        updateListening()
        broadcast(events)
        tick()
    }

    /// `quit`: the VM goes away once the reply is out.
    func quitRequested() {
        eventLoop.assumeIsolated().execute { [self] in stop() }
    }

    /// Sends the events that are due by now and arms the timer for the next ones.
    func tick() {
        broadcast(machine.dueEvents(now: clock.now()))
        scheduleWake()
    }

    private func updateListening() {
        machine.setListening(holder?.session.negotiated ?? false, now: clock.now())
    }

    private func broadcast(_ events: [JSON]) {
        guard !events.isEmpty, let holder, holder.session.negotiated else { return }
        for event in events {
            var bytes = event.encoded()
            bytes.append(contentsOf: [0x0D, 0x0A])
            holder.sendEvent(bytes)
        }
    }

    private func scheduleWake() {
        wakeTask?.cancel()
        wakeTask = nil
        guard !clock.isManual, !isStopping, let wake = machine.nextWakeup() else { return }
        let delay = max(0, wake - clock.now())
        // A millisecond late rather than early, so the event is due when the timer runs.
        let nanoseconds = Int64(min(delay, 86_400) * 1e9) + 1_000_000
        wakeTask = eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(nanoseconds)) { [self] in
            self.wakeTask = nil
            self.tick()
        }
    }

    // MARK: Lifecycle

    /// Stops listening, closes every connection, removes the socket file.
    func stop() {
        guard !isStopping else { return }
        isStopping = true
        wakeTask?.cancel()
        wakeTask = nil
        let connections = (holder.map { [$0] } ?? []) + waiting
        waiting.removeAll()
        for connection in connections { connection.close() }
        let path = socketPath
        let stopped = self.stopped
        let logger = self.logger
        guard let serverChannel else {
            stopped.succeed(())
            return
        }
        serverChannel.close().whenComplete { _ in
            if let path { unlink(path) }
            logger.debug("fake QMP server stopped")
            stopped.succeed(())
        }
    }
}
