import QBalloonCore
import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonTestSupport
import Synchronization

/// A VM in memory, for the daemon's tests in virtual time: the fake QEMU's simulated guest (`FakeGuest`, the
/// same model the fake QMP server runs) behind the daemon's VM seam, with no socket and no QMP. Its time is
/// the test's ``VirtualClock``.
///
/// It can crash (``stop()``) and come back (``restart(scenario:)``), hang (every call waits for the command
/// timeout on the virtual clock, then fails as a QMP timeout does), have no balloon, or a guest that never
/// reports statistics.
final class SimulatedVM: Sendable {
    let name: String
    let clock: VirtualClock
    let noBalloon: Bool

    fileprivate struct State {
        var guest: FakeGuest
        var running = true
        var hung = false
        /// Bumped by a crash: connections made before it fail.
        var generation = 0
        /// The event callbacks of open connections.
        var events: [Int: @Sendable (VMEvent) -> Void] = [:]
        var nextConnection = 0
        /// Calls waiting out a hang or a slow command now.
        var parked = 0
        /// How long the next `balloon` command takes to be answered.
        var nextCommandDelay: Duration?
        /// Every target the VM accepted, in order.
        var commands: [UInt64] = []
        /// Reads say `actual` is twice the RAM: figures that cannot be true.
        var lying = false
        /// What the guest claims of its memory, whatever it uses.
        var claim: Claim?
    }

    /// A guest's lie that arithmetic cannot catch.
    enum Claim: Sendable {
        /// Nothing available: always under pressure.
        case pressure
        /// Everything free.
        case allFree
    }

    private let state: Mutex<State>

    init(name: String, scenario: FakeGuestScenario, clock: VirtualClock, noBalloon: Bool = false, noStats: Bool = false) {
        self.name = name
        self.clock = clock
        self.noBalloon = noBalloon
        self.state = Mutex(
            State(guest: FakeGuest(scenario: scenario, startTime: clock.wallClock.now(), reportsStats: !noStats)))
    }

    /// The daemon's way into this VM, with the config's command timeout.
    func link(commandTimeout: Duration) -> any VMLink {
        SimulatedLink(vm: self, commandTimeout: commandTimeout)
    }

    // MARK: The test's controls

    /// The guest now.
    var guest: FakeGuestState {
        let now = clock.wallClock.now()
        return state.withLock { state in
            state.guest.advance(to: now)
            return state.guest.state
        }
    }

    /// The VM's memory now (for the host model).
    var actual: UInt64 { state.withLock { $0.running } ? guest.actual : 0 }

    var isRunning: Bool { state.withLock { $0.running } }

    /// Whether a call is waiting out a hang now.
    var isParked: Bool { state.withLock { $0.parked > 0 } }

    /// The VM dies: its connections fail.
    func stop() {
        state.withLock { state in
            state.running = false
            state.generation += 1
            state.events.removeAll()
        }
    }

    /// QEMU says it is shutting down (a `SHUTDOWN` event to every open connection).
    func announceShutdown() {
        let callbacks = state.withLock { Array($0.events.values) }
        for callback in callbacks { callback(.shutdown) }
    }

    /// A new QEMU with a fresh guest, as a VM manager starts one after a crash.
    func restart(scenario: FakeGuestScenario) {
        let now = clock.wallClock.now()
        state.withLock { state in
            state.guest = FakeGuest(scenario: scenario, startTime: now, reportsStats: state.guest.reportsStats)
            state.running = true
            state.hung = false
        }
    }

    /// The guest stops sending statistics (polling off, as when its driver goes away): its last report ages.
    func stopReporting() {
        let now = clock.wallClock.now()
        state.withLock { $0.guest.setPollingInterval(0, at: now) }
    }

    /// From now on every call waits for the command timeout and fails (or answers again).
    /// Makes the guest's statistics claim `claim` (nil: the truth).
    func setClaim(_ claim: Claim?) {
        state.withLock { $0.claim = claim }
    }

    /// Makes reads report an `actual` of twice the RAM (or the truth again).
    func setLying(_ lying: Bool) {
        state.withLock { $0.lying = lying }
    }

    func setHung(_ hung: Bool) {
        state.withLock { $0.hung = hung }
    }

    /// The next `balloon` command is answered only after `delay` (virtual), as a busy monitor would.
    func setCommandDelay(_ delay: Duration) {
        state.withLock { $0.nextCommandDelay = delay }
    }

    /// Every target the daemon sent and the VM accepted, in order.
    var commands: [UInt64] { state.withLock { $0.commands } }

    /// Sets the balloon target by hand (as another tool would).
    func setTarget(_ bytes: UInt64) {
        let now = clock.wallClock.now()
        state.withLock { $0.guest.setTarget(Int64(bytes), at: now) }
    }

    // MARK: What the link does

    fileprivate func call<T>(_ command: String, timeout: Duration, generation: Int?, _ body: (inout State, Double) throws -> T)
        async throws -> T
    {
        let (hung, delay) = state.withLock { state -> (Bool, Duration?) in
            var delay: Duration?
            if command == "balloon" {
                delay = state.nextCommandDelay
                state.nextCommandDelay = nil
            }
            if state.hung || delay != nil { state.parked += 1 }
            return (state.hung, delay)
        }
        if let delay, !hung {
            defer { state.withLock { $0.parked -= 1 } }
            try await clock.sleep(until: clock.now.advanced(by: delay), tolerance: nil)
        } else if hung {
            defer { state.withLock { $0.parked -= 1 } }
            try await clock.sleep(until: clock.now.advanced(by: timeout), tolerance: nil)
            throw SimulatedVMError(
                "sim:\(name): \(command): no reply within \(DurationText.format(timeout))")
        }
        let now = clock.wallClock.now()
        return try state.withLock { state in
            guard state.running, generation.map({ $0 == state.generation }) ?? true else {
                throw SimulatedVMError(
                    generation == nil
                        ? "sim:\(name): cannot connect: no such socket" : "sim:\(name): \(command): QEMU closed the connection")
            }
            state.guest.advance(to: now)
            return try body(&state, now)
        }
    }

    fileprivate func open(statsInterval: Int, timeout: Duration, events: @escaping @Sendable (VMEvent) -> Void)
        async throws -> SimulatedConnection
    {
        let noBalloon = self.noBalloon
        let name = self.name
        let opened = try await call("connect", timeout: timeout, generation: nil) { state, now -> (Int, Int, UInt64) in
            guard !noBalloon else {
                throw VMLinkError(.noBalloon, "sim:\(name): this VM has no balloon device")
            }
            if state.guest.pollingInterval != Int64(statsInterval) {
                state.guest.setPollingInterval(Int64(statsInterval), at: now)
            }
            state.nextConnection += 1
            state.events[state.nextConnection] = events
            return (state.generation, state.nextConnection, state.guest.scenario.ram)
        }
        return SimulatedConnection(vm: self, generation: opened.0, id: opened.1, ramBytes: opened.2, timeout: timeout)
    }

    fileprivate func close(connection id: Int) {
        _ = state.withLock { $0.events.removeValue(forKey: id) }
    }
}

struct SimulatedVMError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

private struct SimulatedLink: VMLink {
    let vm: SimulatedVM
    let commandTimeout: Duration

    var description: String { "sim:\(vm.name)" }

    func connect(statsInterval: Int, events: @escaping @Sendable (VMEvent) -> Void) async throws -> any VMConnection {
        try await vm.open(statsInterval: statsInterval, timeout: commandTimeout, events: events)
    }
}

private struct SimulatedConnection: VMConnection {
    let vm: SimulatedVM
    let generation: Int
    let id: Int
    let ramBytes: UInt64
    let timeout: Duration
    var deflateOnOOM: Bool? { false }
    var qemu: String { "simulated" }

    var preferredExecutor: (any TaskExecutor)? { nil }

    /// `actual` comes with every read: a simulated VM sends no `BALLOON_CHANGE` events, and answers at once.
    func read(includingActual: Bool) async throws -> VMReading {
        try await vm.call("guest-stats", timeout: timeout, generation: generation) { state, _ in
            let report = state.guest.stats
            var stats = GuestStats(qemuNames: report.values, lastUpdate: report.lastUpdate)
            switch state.claim {
            case .pressure?:
                stats.available = 0
                stats.free = 0
            case .allFree?:
                stats.available = stats.total
                stats.free = stats.total
            case nil:
                break
            }
            return VMReading(actual: state.lying ? state.guest.scenario.ram * 2 : state.guest.actual, stats: stats)
        }
    }

    func setTarget(_ bytes: UInt64) async throws {
        try await vm.call("balloon", timeout: timeout, generation: generation) { state, now in
            state.guest.setTarget(Int64(clamping: bytes), at: now)
            state.commands.append(bytes)
        }
    }

    func close() async {
        vm.close(connection: id)
    }
}
