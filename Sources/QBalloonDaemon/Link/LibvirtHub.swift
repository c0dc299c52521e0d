import Logging
import QBalloonCore
import QBalloonLibvirt
import Synchronization

/// One libvirt connection as the daemon follows it, shared by every VM of its URI: opened when first needed and
/// again with backoff after libvirtd goes away; the running domains and their balloon figures read in one call
/// (`virConnectGetAllDomainStats`) per round, whoever asks; the domains' events handed to the VMs that follow them.
///
/// A round calls ``refresh()`` (the call starts, nothing waits); the VMs' reads that follow wait for that call and
/// take their own domain's figures from it.
package final class LibvirtHub: Sendable {
    package let uri: String
    /// How long each libvirt call may take (`command_timeout`).
    package let callTimeout: Duration
    private let logger: Logger
    /// Called when the running domains changed, or the connection was lost: a round then attaches and detaches.
    private let changed: @Sendable () -> Void
    private let state = Mutex(State())

    /// A read of all domains younger than this is used again instead of a new call.
    static let reuse: Duration = .milliseconds(500)
    /// The most calls that timed out and are still stuck in libvirt before no new connection is tried.
    static let maxStuckCalls = 3

    private struct Fetched {
        var at: ContinuousClock.Instant
        var generation: Int
        var figures: [String: DomainMemoryStats]
    }

    private struct State {
        var connection: LibvirtConnection?
        /// Changes with every connection opened: what a VM attached through an older one is stale.
        var generation = 0
        var opening: Task<(LibvirtConnection, Int), any Error>?
        var backoff = Backoff(initial: 0.5, cap: 10)
        var retryAt: ContinuousClock.Instant?
        var lastFailure: (any Error)?
        /// Whether the daemon was told libvirt is unreachable (once per outage).
        var down = false
        var fetch: Task<[String: DomainMemoryStats], any Error>?
        var fetched: Fetched?
        /// The running domains' names, sorted, as last read; kept while libvirt cannot be reached.
        var running: [String]?
        var followers: [String: [Int: @Sendable (VMEvent) -> Void]] = [:]
        var nextFollower = 0
        var hypervisor = ""
        var closed = false
    }

    package init(uri: String, callTimeout: Duration, logger: Logger, changed: @escaping @Sendable () -> Void) {
        self.uri = uri
        self.callTimeout = callTimeout
        var logger = logger
        logger[metadataKey: "libvirt.uri"] = "\(uri)"
        self.logger = logger
        self.changed = changed
    }

    /// The running domains as last read (nil before the first read).
    package var runningDomains: [String]? { state.withLock { $0.running } }

    /// What runs the domains, as libvirt says: `7.2.22 (libvirt)`; empty before the first connection.
    package var hypervisor: String { state.withLock { $0.hypervisor } }

    // MARK: The connection

    /// The open connection and its generation, opening one when there is none (unless the last attempt failed
    /// less than its backoff ago: its error is thrown again).
    package func connection() async throws -> (connection: LibvirtConnection, generation: Int) {
        enum Step {
            case ready(LibvirtConnection, Int)
            case wait(Task<(LibvirtConnection, Int), any Error>)
        }
        let uri = uri
        let step = try state.withLock { state throws -> Step in
            if state.closed { throw LibvirtError(code: .closed, uri: uri, detail: "the daemon stopped following this connection") }
            if let connection = state.connection { return .ready(connection, state.generation) }
            if let opening = state.opening { return .wait(opening) }
            if let retryAt = state.retryAt, ContinuousClock.now < retryAt, let failure = state.lastFailure { throw failure }
            // A libvirtd that hangs holds a thread for every call that timed out: no more of them until it answers.
            let stuck = LibvirtConnection.stuckCalls(to: uri)
            if stuck >= Self.maxStuckCalls {
                throw LibvirtError(
                    code: .timeout, uri: uri,
                    detail: "libvirt has not answered \(stuck) calls that timed out; no new connection until it does")
            }
            let generation = state.generation + 1
            let opening = Task { try await self.open(generation: generation) }
            state.opening = opening
            return .wait(opening)
        }
        switch step {
        case .ready(let connection, let generation): return (connection, generation)
        case .wait(let opening):
            let (connection, generation) = try await opening.value
            return (connection, generation)
        }
    }

    private func open(generation: Int) async throws -> (LibvirtConnection, Int) {
        do {
            let connection = try await LibvirtConnection.open(uri, callTimeout: callTimeout) { [weak self] event in
                self?.handle(event, generation: generation)
            }
            let version = try? await connection.hypervisorVersion()
            let (stale, wasDown) = state.withLock { state -> (Bool, Bool) in
                state.opening = nil
                guard !state.closed else { return (true, false) }
                state.connection = connection
                state.generation = generation
                state.backoff.reset()
                state.retryAt = nil
                state.lastFailure = nil
                if let version { state.hypervisor = "\(version.major).\(version.minor).\(version.micro) (libvirt)" }
                defer { state.down = false }
                return (false, state.down)
            }
            if stale {
                await connection.close()
                throw LibvirtError(code: .closed, uri: uri, detail: "the daemon stopped following this connection")
            }
            logger.info(wasDown ? "libvirt is reachable again" : "connected to libvirt")
            changed()
            return (connection, generation)
        } catch {
            let (delay, first) = state.withLock { state -> (Double, Bool) in
                state.opening = nil
                let delay = state.backoff.nextDelay()
                state.retryAt = .now + .milliseconds(Int64(delay * 1000))
                state.lastFailure = error
                defer { state.down = true }
                return (delay, !state.down)
            }
            if first {
                logger.warning("libvirt cannot be reached: \(PeerText.excerpt("\(error)", limit: 300)); retrying with backoff")
            } else {
                logger.debug("libvirt still cannot be reached; next attempt in \(DurationText.format(seconds: delay))")
            }
            throw error
        }
    }

    /// After a failed call: a connection that timed out or no longer reaches libvirtd is dropped, to be opened
    /// again (with backoff) by the next caller.
    package func failed(_ error: any Error, generation: Int) async {
        guard let connection = state.withLock({ $0.generation == generation ? $0.connection : nil }) else { return }
        if (error as? LibvirtError)?.code == .timeout {
            lost(generation: generation, reason: "\(error)")
        } else if !(await connection.isAlive()) {
            lost(generation: generation, reason: "the connection to libvirtd is closed")
        }
    }

    private func lost(generation: Int, reason: String) {
        let connection = state.withLock { state -> LibvirtConnection? in
            guard state.generation == generation, let connection = state.connection else { return nil }
            state.connection = nil
            state.fetched = nil
            state.down = true
            return connection
        }
        guard let connection else { return }
        logger.warning("lost the connection to libvirt: \(PeerText.excerpt(reason, limit: 300)); reconnecting with backoff")
        Task { await connection.close() }
        changed()
    }

    // MARK: Events

    private func handle(_ event: LibvirtEvent, generation: Int) {
        switch event {
        case .balloonChanged(let domain, let bytes):
            deliver(.actualChanged(bytes), to: domain, generation: generation)
        case .started:
            refresh()
        case .stopped(let domain):
            deliver(.shutdown, to: domain, generation: generation)
            refresh()
        case .closed(let reason):
            lost(generation: generation, reason: reason)
        }
    }

    private func deliver(_ event: VMEvent, to domain: String, generation: Int) {
        let handlers = state.withLock { state -> [@Sendable (VMEvent) -> Void] in
            guard state.generation == generation, let followers = state.followers[domain] else { return [] }
            return Array(followers.values)
        }
        for handler in handlers { handler(event) }
    }

    /// Hands the domain's events to `handler` until ``unfollow(_:id:)``; returns the id to stop with.
    package func follow(_ domain: String, _ handler: @escaping @Sendable (VMEvent) -> Void) -> Int {
        state.withLock { state in
            state.nextFollower += 1
            state.followers[domain, default: [:]][state.nextFollower] = handler
            return state.nextFollower
        }
    }

    package func unfollow(_ domain: String, id: Int) {
        state.withLock { state in
            state.followers[domain]?[id] = nil
            if state.followers[domain]?.isEmpty == true { state.followers[domain] = nil }
        }
    }

    // MARK: Reading

    /// Starts reading every running domain's figures, unless a read is under way: for this round's polls, and to
    /// see domains that started or stopped. Returns at once.
    package func refresh() {
        _ = startFetch()
    }

    private func startFetch() -> Task<[String: DomainMemoryStats], any Error>? {
        state.withLock { state in
            guard !state.closed else { return nil }
            if let fetch = state.fetch { return fetch }
            let fetch = Task { try await self.fetchAll() }
            state.fetch = fetch
            return fetch
        }
    }

    private func fetchAll() async throws -> [String: DomainMemoryStats] {
        var generation: Int?
        do {
            let (connection, current) = try await connection()
            generation = current
            let figures = try await connection.allBalloonStats()
            let names = figures.keys.sorted()
            let listChanged = state.withLock { state -> Bool in
                state.fetch = nil
                guard state.generation == current, !state.closed else { return false }
                state.fetched = Fetched(at: .now, generation: current, figures: figures)
                defer { state.running = names }
                return state.running != names
            }
            if listChanged { changed() }
            return figures
        } catch {
            state.withLock { $0.fetch = nil }
            if let generation { await failed(error, generation: generation) }
            throw error
        }
    }

    /// One domain's figures from this round's read of all domains (waiting for it, or starting it).
    /// - Throws: the read's error; ``LibvirtError`` `closed` when the connection `generation` is gone, `call` when
    ///   the domain does not run.
    package func figures(of domain: String, generation: Int) async throws -> DomainMemoryStats {
        let uri = uri
        let lostError = LibvirtError(code: .closed, uri: uri, domain: domain, detail: "the connection to libvirt was lost")
        let recent = try state.withLock { state throws -> [String: DomainMemoryStats]? in
            guard state.generation == generation, state.connection != nil else { throw lostError }
            if state.fetch == nil, let fetched = state.fetched, fetched.generation == generation, .now - fetched.at < Self.reuse {
                return fetched.figures
            }
            return nil
        }
        let figures: [String: DomainMemoryStats]
        if let recent {
            figures = recent
        } else {
            guard let fetch = startFetch() else { throw lostError }
            figures = try await fetch.value
            guard state.withLock({ $0.generation == generation && $0.connection != nil }) else { throw lostError }
        }
        guard let mine = figures[domain] else {
            throw LibvirtError(code: .call, uri: uri, domain: domain, detail: "the domain is not running")
        }
        return mine
    }

    /// Stops following libvirt: closes the connection; later calls fail with `closed`.
    package func close() async {
        let connection = state.withLock { state -> LibvirtConnection? in
            state.closed = true
            state.followers = [:]
            defer { state.connection = nil }
            return state.connection
        }
        await connection?.close()
    }
}

/// The daemon's libvirt connections, one per URI, made when a VM of the URI first needs one.
package final class LibvirtHubs: Sendable {
    private let hubs = Mutex<[String: LibvirtHub]>([:])
    private let logger: Logger
    private let changed: @Sendable () -> Void

    package init(logger: Logger, changed: @escaping @Sendable () -> Void) {
        self.logger = logger
        self.changed = changed
    }

    /// The hub of `uri`; one made with another call timeout (a reload changed `command_timeout`) is replaced.
    package func hub(_ uri: String, callTimeout: Duration) -> LibvirtHub {
        let (hub, replaced) = hubs.withLock { hubs -> (LibvirtHub, LibvirtHub?) in
            if let hub = hubs[uri], hub.callTimeout == callTimeout { return (hub, nil) }
            let hub = LibvirtHub(uri: uri, callTimeout: callTimeout, logger: logger, changed: changed)
            defer { hubs[uri] = hub }
            return (hub, hubs[uri])
        }
        if let replaced { Task { await replaced.close() } }
        return hub
    }

    /// For a round: starts each URI's read of all its domains and returns the domains known to run, by URI.
    /// Hubs of URIs no longer asked for are closed.
    package func roundStarts(uris: [String], callTimeout: Duration) -> [String: [String]] {
        let wanted = Set(uris)
        let gone = hubs.withLock { hubs -> [LibvirtHub] in
            let gone = hubs.filter { !wanted.contains($0.key) }.map(\.value)
            for hub in gone { hubs[hub.uri] = nil }
            return gone
        }
        for hub in gone { Task { await hub.close() } }
        var running: [String: [String]] = [:]
        for uri in uris {
            let hub = hub(uri, callTimeout: callTimeout)
            hub.refresh()
            running[uri] = hub.runningDomains ?? []
        }
        return running
    }

    /// Closes every connection.
    package func closeAll() async {
        let all = hubs.withLock { hubs in
            defer { hubs = [:] }
            return Array(hubs.values)
        }
        for hub in all { await hub.close() }
    }
}
