import CLibvirt
import NIOPosix
import QBalloonCore
import Synchronization

/// A connection to libvirt (`qemu:///system`), whose blocking calls run on a thread of its own: never on an
/// event loop, never on Swift's cooperative pool.
///
/// ```swift
/// let connection = try await LibvirtConnection.open("qemu:///system")
/// let domain = try await connection.domain(named: "web")
/// let stats = try await domain.memoryStats().stats
/// await connection.close()
/// ```
public final class LibvirtConnection: Sendable {
    public let uri: String
    /// How long one call may take; nil: as long as libvirt takes.
    public let callTimeout: Duration?
    let handle: Handle
    private let thread: NIOThreadPool
    /// Set when a call timed out: its thread may be stuck in libvirt for good, so ``close()`` does not wait for it.
    private let abandoned = Mutex(false)

    /// The C pointers, touched only on the connection's thread.
    final class Handle: @unchecked Sendable {
        var connection: OpaquePointer?
        /// The event callbacks, when the connection was opened with events.
        var events: UnsafeMutablePointer<qb_virt_events>?
        init(_ connection: OpaquePointer) { self.connection = connection }
    }

    private init(uri: String, callTimeout: Duration?, handle: Handle, thread: NIOThreadPool) {
        self.uri = uri
        self.callTimeout = callTimeout
        self.handle = handle
        self.thread = thread
    }

    /// Once per process, before any other call: libvirt's client library loaded, its own setup, and its errors
    /// kept off stderr; nil when all went well, else why not.
    private static let initialized: String? = {
        if let missing = qb_virt_load() {
            return "libvirt's client library is not there (\(String(cString: missing))); install it (Debian: libvirt0)"
        }
        qb_virt_silence_errors()
        return virInitialize() == 0 ? nil : "libvirt failed to initialize: \(lastError())"
    }()

    /// Opens a connection.
    /// - Parameters:
    ///   - callTimeout: how long any one call (this one too) may take before it fails with `timeout`; a
    ///     libvirtd that hangs then fails the caller instead of holding it forever.
    ///   - events: called with the domains' lifecycle and balloon events and with the connection's loss, on
    ///     libvirt's event thread (it must return quickly); the connection then also sends keepalives, so a
    ///     libvirtd that stops answering is noticed within ~20 s.
    /// - Throws: ``LibvirtError`` `connect`, with libvirt's reason, when the URI is bad or the daemon unreachable.
    public static func open(
        _ uri: String, callTimeout: Duration? = nil, events: (@Sendable (LibvirtEvent) -> Void)? = nil
    ) async throws -> LibvirtConnection {
        guard !uri.isEmpty, uri.utf8.count <= 4096, !uri.utf8.contains(0) else {
            throw LibvirtError(code: .connect, uri: PeerText.excerpt(uri, limit: 100), detail: "not a libvirt URI")
        }
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        do {
            // A connection libvirt opens after the timeout gave up on it is closed on the spot.
            let handle = try await Self.run(on: thread, timeout: callTimeout, uri: uri, domain: nil, discard: Self.closeLate) { () throws -> Handle in
                if let problem = initialized {
                    throw LibvirtError(code: .connect, uri: uri, detail: problem)
                }
                // The event loop must be registered before the connection opens for its events to arrive.
                if events != nil, !LibvirtEventLoop.running {
                    throw LibvirtError(code: .connect, uri: uri, detail: "libvirt's event loop could not be registered")
                }
                qb_virt_silence_errors()  // the handler is per thread too
                guard let connection = virConnectOpen(uri) else {
                    throw LibvirtError(code: .connect, uri: uri, detail: "cannot connect: \(lastError())")
                }
                let handle = Handle(connection)
                if let events {
                    // Keepalives every 5 s, 3 unanswered: the connection is declared lost (a local one may refuse: fine).
                    _ = virConnectSetKeepAlive(connection, 5, 3)
                    guard let registered = LibvirtEventSink.register(on: connection, events) else {
                        let reason = lastError()
                        virConnectClose(connection)
                        throw LibvirtError(code: .connect, uri: uri, detail: "cannot follow the domains' events: \(reason)")
                    }
                    handle.events = registered
                }
                return handle
            }
            return LibvirtConnection(uri: uri, callTimeout: callTimeout, handle: handle, thread: thread)
        } catch let error as LibvirtError where error.code == .timeout {
            thread.shutdownGracefully { _ in }  // not waited for: its thread is stuck in libvirt
            throw error
        } catch {
            try? await thread.shutdownGracefully()
            throw error
        }
    }

    /// Closes the connection and stops its thread; calls after this fail with `closed`.
    public func close() async {
        let handle = handle
        guard !abandoned.withLock({ $0 }) else {
            // A call is stuck in libvirt on the thread: the close waits behind it there, and nobody waits for it;
            // the thread stops after it. (Stopping the pool now would run the close at once on another thread,
            // beside the stuck call.)
            let thread = thread
            thread.submit { _ in
                Self.closeLate(handle)
                thread.shutdownGracefully { _ in }
            }
            return
        }
        _ = try? await thread.runIfActive {
            if let connection = handle.connection {
                if let events = handle.events { qb_virt_deregister_events(connection, events) }
                virConnectClose(connection)
            }
            handle.connection = nil
            handle.events = nil
        }
        try? await thread.shutdownGracefully()
    }

    /// Closes a connection nobody holds any more (opened after its caller gave up, or closed after a stuck call).
    private static func closeLate(_ handle: Handle) {
        if let connection = handle.connection {
            if let events = handle.events { qb_virt_deregister_events(connection, events) }
            virConnectClose(connection)
        }
        handle.connection = nil
        handle.events = nil
    }

    /// Calls to `uri` that timed out and are still stuck in libvirt (each holds a thread until libvirt answers).
    public static func stuckCalls(to uri: String) -> Int {
        stuck.withLock { $0[uri] ?? 0 }
    }

    private static let stuck = Mutex<[String: Int]>([:])

    private static func countStuck(_ uri: String, _ change: Int) {
        stuck.withLock { counts in
            let count = (counts[uri] ?? 0) + change
            counts[uri] = count == 0 ? nil : count
        }
    }

    /// The hypervisor's version (QEMU's, for the QEMU driver) as major, minor, micro.
    public func hypervisorVersion() async throws -> (major: Int, minor: Int, micro: Int) {
        try await call(domain: nil) { connection, fail in
            var version: UInt = 0
            guard virConnectGetVersion(connection, &version) == 0 else { throw fail("cannot read the hypervisor version") }
            return (Int(version / 1_000_000), Int(version / 1000 % 1000), Int(version % 1000))
        }
    }

    /// Whether the connection still reaches libvirtd (false once it was lost: every call then fails).
    public func isAlive() async -> Bool {
        (try? await call(domain: nil) { connection, _ in virConnectIsAlive(connection) == 1 }) ?? false
    }

    /// The names of the running domains.
    public func runningDomains() async throws -> [String] {
        try await call(domain: nil) { connection, fail in
            var list: UnsafeMutablePointer<OpaquePointer?>?
            let count = virConnectListAllDomains(connection, &list, UInt32(VIR_CONNECT_LIST_DOMAINS_ACTIVE.rawValue))
            guard count >= 0, let list else { throw fail("cannot list the domains") }
            defer { free(list) }
            var names: [String] = []
            for index in 0..<Int(count) {
                guard let domain = list[index] else { continue }
                if index < Self.maxDomains, let name = virDomainGetName(domain) { names.append(Self.domainName(name)) }
                virDomainFree(domain)
            }
            return names
        }
    }

    /// The most domains read from one call; more cannot be a real host's.
    public static let maxDomains = 100_000

    /// Every running domain's balloon figures in one call (`virConnectGetAllDomainStats` with the balloon group),
    /// by domain name: the guest's statistics, `actual` and `<memory>`.
    /// - Throws: ``LibvirtError`` `call` when libvirt fails, `badReply` for more domains or figures than a host has.
    public func allBalloonStats() async throws -> [String: DomainMemoryStats] {
        let uri = uri
        return try await call(domain: nil) { connection, fail in
            var records: UnsafeMutablePointer<virDomainStatsRecordPtr?>?
            let count = virConnectGetAllDomainStats(
                connection, UInt32(VIR_DOMAIN_STATS_BALLOON.rawValue), &records,
                UInt32(VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE.rawValue))
            guard count >= 0 else { throw fail("cannot read the domains' balloon statistics") }
            guard let records else { return [:] }
            defer { virDomainStatsRecordListFree(records) }
            guard count <= Self.maxDomains else {
                throw LibvirtError(code: .badReply, uri: uri, detail: "libvirt listed \(count) domains (limit \(Self.maxDomains))")
            }
            var figures: [String: DomainMemoryStats] = [:]
            figures.reserveCapacity(Int(count))
            for index in 0..<Int(count) {
                guard let record = records[index]?.pointee, let domain = record.dom, let name = virDomainGetName(domain) else {
                    continue
                }
                let domainName = Self.domainName(name)
                guard record.nparams >= 0, record.nparams <= DomainMemoryStats.maxFields else {
                    throw LibvirtError(
                        code: .badReply, uri: uri, domain: domainName,
                        detail: "libvirt sent \(record.nparams) balloon figures (limit \(DomainMemoryStats.maxFields))")
                }
                var fields: [(name: String, value: UInt64)] = []
                if let params = record.params {
                    for field in 0..<Int(record.nparams) {
                        var value: UInt64 = 0
                        guard qb_virt_param_ullong(params, Int32(field), &value) == 1, let label = qb_virt_param_field(params, Int32(field)) else {
                            continue
                        }
                        fields.append((String(cString: label), value))
                    }
                }
                figures[domainName] = DomainMemoryStats(balloonFields: fields)
            }
            return figures
        }
    }

    /// A domain's name from libvirt, bounded.
    static func domainName(_ name: UnsafePointer<CChar>) -> String {
        let length = strnlen(name, 1025)
        return String(decoding: UnsafeRawBufferPointer(start: name, count: min(length, 1024)), as: UTF8.self)
    }

    /// Finds a domain by name.
    /// - Throws: ``LibvirtError`` `noDomain` when there is none of that name.
    public func domain(named name: String) async throws -> LibvirtDomain {
        guard !name.isEmpty, name.utf8.count <= 1024, !name.utf8.contains(0) else {
            throw LibvirtError(code: .noDomain, uri: uri, domain: PeerText.excerpt(name, limit: 100), detail: "not a domain name")
        }
        _ = try await call(domain: name) { connection, fail in
            virDomainFree(try Self.lookUp(name, on: connection, fail))
        }
        return LibvirtDomain(name: name, connection: self)
    }

    /// The domain called `name` (to be freed by the caller, on this thread).
    /// - Throws: ``LibvirtError`` `noDomain` when there is none of that name.
    static func lookUp(_ name: String, on connection: OpaquePointer, _ fail: (String) -> LibvirtError) throws -> OpaquePointer {
        guard let domain = virDomainLookupByName(connection, name) else {
            let code = virGetLastErrorCode()
            let error = fail("no such domain")
            throw code == Int32(VIR_ERR_NO_DOMAIN.rawValue)
                ? LibvirtError(code: .noDomain, uri: error.uri, domain: name, detail: error.detail) : error
        }
        return domain
    }

    /// Runs `body` on the connection's thread with the connection pointer; `fail(what)` makes the error for a
    /// failed call, with libvirt's last error of this thread.
    func call<T: Sendable>(
        domain: String?,
        _ body: @escaping @Sendable (OpaquePointer, _ fail: (String) -> LibvirtError) throws -> T
    ) async throws -> T {
        let handle = handle
        let uri = uri
        do {
            return try await Self.run(on: thread, timeout: callTimeout, uri: uri, domain: domain) {
                guard let connection = handle.connection else {
                    throw LibvirtError(code: .closed, uri: uri, domain: domain, detail: "the connection is closed")
                }
                virResetLastError()
                return try body(connection) { what in
                    LibvirtError(code: .call, uri: uri, domain: domain, detail: "\(what): \(LibvirtConnection.lastError())")
                }
            }
        } catch let error as LibvirtError {
            if error.code == .timeout { abandoned.withLock { $0 = true } }
            throw error
        } catch {
            throw LibvirtError(code: .closed, uri: uri, domain: domain, detail: "the connection is closed (\(error))")
        }
    }

    /// Runs `body` on `thread`; with a timeout, fails with `timeout` when it takes longer (the thread stays
    /// where libvirt holds it: a blocked C call cannot be cancelled).
    /// - Parameter discard: called on the thread with a result that came after the timeout (nobody takes it).
    private static func run<T: Sendable>(
        on thread: NIOThreadPool, timeout: Duration?, uri: String, domain: String?,
        discard: @escaping @Sendable (T) -> Void = { _ in },
        _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        guard let timeout else { return try await thread.runIfActive(body) }
        let pending = PendingCall<T>()
        return try await withCheckedThrowingContinuation { continuation in
            pending.start(continuation)
            thread.submit { state in
                guard state == .active else {
                    if !pending.finish(.failure(LibvirtError(code: .closed, uri: uri, domain: domain, detail: "the connection is closed"))) {
                        countStuck(uri, -1)
                    }
                    return
                }
                let result = Result { try body() }
                if !pending.finish(result) {
                    // The caller had given up: this call is no longer stuck; what it made goes.
                    countStuck(uri, -1)
                    if case .success(let value) = result { discard(value) }
                }
            }
            pending.timer = Task {
                try? await Task.sleep(for: timeout)
                guard !Task.isCancelled else { return }
                let error = LibvirtError(
                    code: .timeout, uri: uri, domain: domain,
                    detail: "libvirt did not answer within \(DurationText.format(seconds: timeout.seconds, style: .approximate))")
                // Counted before the caller hears of it, so the count never misses a call still on its thread.
                countStuck(uri, 1)
                if !pending.finish(.failure(error)) { countStuck(uri, -1) }
            }
        }
    }

    /// libvirt's last error on this thread, bounded.
    static func lastError() -> String {
        guard let error = virGetLastError(), let message = error.pointee.message else { return "no reason given" }
        return PeerText.excerpt(String(cString: message), limit: 500)
    }
}

/// A call that ends once: with libvirt's answer or with the timeout, whichever comes first.
private final class PendingCall<T: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, timer: Task<Void, Never>?)>((nil, nil))

    var timer: Task<Void, Never>? {
        get { state.withLock { $0.timer } }
        set {
            // Set after start: if the call already ended, the timer is not needed.
            let ended = state.withLock { state -> Bool in
                state.timer = newValue
                return state.continuation == nil
            }
            if ended { newValue?.cancel() }
        }
    }

    func start(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    /// Ends the call with `result`; false when it had ended already.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (continuation, timer) = state.withLock { state in
            defer { state.continuation = nil }
            return (state.continuation, state.timer)
        }
        guard let continuation else { return false }
        timer?.cancel()
        continuation.resume(with: result)
        return true
    }
}
