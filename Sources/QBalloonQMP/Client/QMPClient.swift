import Logging
import NIOCore
import NIOPosix
import QBalloonCore
import QBalloonJSON
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An async QMP client: one connection to one QEMU monitor.
///
/// Many tasks may run commands at once; replies are matched to them by id. Events arrive on
/// ``events``, a stream with a bounded buffer (the oldest are dropped when a consumer falls behind).
///
/// ```swift
/// let client = try await QMPClient.connect(to: Endpoint("unix:/run/qemu/db.qmp"))
/// let balloon = try await client.execute("query-balloon")
/// print(balloon["actual"]?.uint64Value ?? 0)
/// await client.close()
/// ```
public final class QMPClient: Sendable {
    /// Connection settings.
    public struct Options: Sendable {
        /// How long a command may wait for its reply.
        public var commandTimeout: Duration
        /// How long to wait for the socket and QEMU's greeting.
        public var connectTimeout: Duration
        /// Events kept for a consumer that has not read them yet.
        public var eventBufferSize: Int
        /// The largest message accepted from QEMU. Real replies to what qballoon sends are a few KiB; the
        /// largest QEMU has, the QMP schema, about 200 KB.
        public var maxMessageBytes: Int
        /// The deepest nesting accepted from QEMU (its replies nest a few levels).
        public var maxDepth: Int
        /// The most commands waiting for a reply at once, counting those that timed out and whose reply is
        /// still owed; more fail with ``QMPError/Code/tooManyPending``.
        public var maxPendingCommands: Int
        /// What the monitor may send: bytes in a burst and per second, sustained. Over it, the connection
        /// closes with a ``QMPError/Code/protocolViolation`` that says so.
        public var readBudget: RateBudget
        /// How many events the monitor may send in a burst and per second, sustained (QEMU throttles its
        /// frequent events to one a second). Over it, the connection closes as for ``readBudget``.
        public var eventBudget: RateBudget
        /// Where events go instead of ``QMPClient/events`` (which then stays empty): called on the connection's
        /// event loop, so it must return quickly. For a program that follows many VMs and wants no task per
        /// connection just to read its events.
        public var eventHandler: (@Sendable (QMPEvent) -> Void)?

        public init(
            commandTimeout: Duration = .seconds(10), connectTimeout: Duration = .seconds(5),
            eventBufferSize: Int = 256, maxMessageBytes: Int = 1 << 20, maxDepth: Int = 64,
            maxPendingCommands: Int = 1024,
            readBudget: RateBudget = RateBudget(burst: Double(4 << 20), perSecond: Double(256 << 10)),
            eventBudget: RateBudget = RateBudget(burst: 200, perSecond: 50),
            eventHandler: (@Sendable (QMPEvent) -> Void)? = nil
        ) {
            self.maxPendingCommands = maxPendingCommands
            self.readBudget = readBudget
            self.eventBudget = eventBudget
            self.commandTimeout = commandTimeout
            self.connectTimeout = connectTimeout
            self.eventBufferSize = eventBufferSize
            self.maxMessageBytes = maxMessageBytes
            self.maxDepth = maxDepth
            self.eventHandler = eventHandler
        }
    }

    /// The monitor this client talks to.
    public let address: Endpoint
    /// What QEMU said when the session opened.
    public let greeting: QMPGreeting
    /// Events from QEMU, in order. One consumer; it ends when the connection closes.
    public let events: AsyncStream<QMPEvent>
    private let options: Options
    private let channel: Channel
    private let handler: NIOLoopBound<QMPChannelHandler>
    private let nextID = Atomic<Int>(1)
    /// The same for every client on the same event loop.
    package let eventLoopID: ObjectIdentifier

    private init(
        address: Endpoint, greeting: QMPGreeting, events: AsyncStream<QMPEvent>, options: Options,
        channel: Channel, handler: NIOLoopBound<QMPChannelHandler>
    ) {
        self.address = address
        self.greeting = greeting
        self.events = events
        self.options = options
        self.channel = channel
        self.handler = handler
        self.eventLoopID = ObjectIdentifier(channel.eventLoop as AnyObject)
    }

    /// Connects, reads the greeting and negotiates capabilities.
    ///
    /// ```swift
    /// let client = try await QMPClient.connect(
    ///     to: Endpoint("unix:/run/qemu/db.qmp"), options: .init(commandTimeout: .seconds(2)))
    /// ```
    /// - Parameters:
    ///   - address: the monitor: `unix:PATH` or `tcp:HOST:PORT`.
    ///   - options: timeouts and limits.
    ///   - logger: debug messages on the session, with `qmp.socket` in their metadata.
    ///   - eventLoopGroup: where the connection runs; it uses one loop of it.
    /// - Throws: ``QMPError`` (`connectFailed`, `noGreeting`, `negotiationFailed`, `connectionClosed`).
    public static func connect(
        to address: Endpoint, options: Options = Options(),
        logger: Logger = Logger(label: "qballoon.qmp", factory: { _ in SwiftLogNoOpLogHandler() }),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> QMPClient {
        var socketLogger = logger
        // Kept when the caller's logger names the socket already: no copy of its metadata per connection.
        if socketLogger[metadataKey: "qmp.socket"] == nil { socketLogger[metadataKey: "qmp.socket"] = "\(address)" }
        let logger = socketLogger
        try Self.checkSocketPath(address)
        let (events, continuation) = AsyncStream.makeStream(
            of: QMPEvent.self, bufferingPolicy: .bufferingNewest(max(1, options.eventBufferSize)))
        let eventLoop = eventLoopGroup.next()
        let ready = eventLoop.makePromise(of: QMPGreeting.self)
        let connectTimeout = TimeAmount(options.connectTimeout)
        let maxBytes = options.maxMessageBytes
        let maxDepth = options.maxDepth
        let eventHandler = options.eventHandler
        let limits = options
        // The handler as made for this channel: a monitor may close the connection the moment the session opens
        // (an event flood right after negotiation), and then it is no longer in the pipeline to be looked up.
        let made = Mutex<NIOLoopBound<QMPChannelHandler>?>(nil)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            // Each connection keeps its receive buffer between reads. A poll's reply is ~0.5 KB, so the first
            // read's 1 KB (NIO's default is 2 KB) holds it; a larger message grows the next reads, up to 64 KB.
            .channelOption(
                ChannelOptions.recvAllocator,
                value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 1024, maximum: 65536))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = QMPChannelHandler(
                        address: "\(address)", ready: ready, events: continuation, eventHandler: eventHandler,
                        greetingTimeout: connectTimeout, maxPendingCommands: limits.maxPendingCommands,
                        eventBudget: limits.eventBudget, readBudget: limits.readBudget, maxMessageBytes: maxBytes,
                        maxDepth: maxDepth, logger: logger)
                    made.withLock { $0 = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        let channel: Channel
        do {
            switch address.base {
            case .unixDomainSocket(let path):
                channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
            case .hostname(let host, let port):
                channel = try await bootstrap.connect(host: host, port: port).get()
            }
        } catch {
            ready.fail(error)
            continuation.finish()
            throw QMPError(code: .connectFailed, address: "\(address)", detail: "cannot connect: \(Self.explain(error))")
        }
        let greeting: QMPGreeting
        do {
            greeting = try await ready.futureResult.get()
        } catch {
            channel.close(promise: nil)
            throw error
        }
        guard let handler = made.withLock({ $0 }) else {
            channel.close(promise: nil)
            throw QMPError(code: .connectionClosed, address: "\(address)", detail: "the connection closed as it opened")
        }
        logger.debug("QMP session open", metadata: ["qemu.version": "\(greeting.version)"])
        return QMPClient(
            address: address, greeting: greeting, events: events, options: options, channel: channel, handler: handler)
    }

    /// Runs a command and returns its `return` value.
    ///
    /// ```swift
    /// _ = try await client.execute("balloon", arguments: ["value": .int(1 << 30)])
    /// let actual = try await client.execute("query-balloon")["actual"]?.uint64Value
    /// ```
    /// - Parameters:
    ///   - name: the command, e.g. `query-balloon`.
    ///   - arguments: its arguments, if any.
    ///   - timeout: how long to wait for the reply; the client's ``Options/commandTimeout`` if `nil`.
    /// - Throws: ``QMPError``: `commandFailed` with QEMU's class and description, `timeout`,
    ///   `connectionClosed` or `protocolViolation`.
    nonisolated(nonsending)
    public func execute(_ name: String, arguments: [String: JSON]? = nil, timeout: Duration? = nil) async throws -> JSON {
        try await execute(QMPCommand(name, arguments: arguments), timeout: timeout)
    }

    /// Runs a command made beforehand (one sent again and again is encoded once) and returns its `return` value;
    /// as ``execute(_:arguments:timeout:)``.
    nonisolated(nonsending)
    package func execute(_ command: QMPCommand, timeout: Duration? = nil) async throws -> JSON {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        let timeAmount = TimeAmount(timeout ?? options.commandTimeout)
        let handler = self.handler
        let loop = channel.eventLoop
        // The handler resumes this task itself when the reply is read (or the command times out, is cancelled or
        // the session ends): exactly once, because the session state machine gives each caller back once.
        return try await withTaskCancellationHandler {
            try await Self.suspend { continuation in
                Self.submit(command, id: id, timeout: timeAmount, caller: .task(continuation), handler: handler, loop: loop)
                // A task cancelled before this call ran its cancellation handler at once, and that cancel reached
                // the loop ahead of the send above, where it found nothing to cancel: cancel again, after the send.
                // (The handler ignores a second cancel of the same id.)
                if Task.isCancelled {
                    loop.execute { handler.value.cancel(id: id) }
                }
            }
        } onCancel: {
            loop.execute { handler.value.cancel(id: id) }
        }
    }

    /// Suspends the calling task until the handler answers it (a checked continuation: see ``QMPCaller``).
    nonisolated(nonsending)
    private static func suspend(_ body: (QMPCaller.Continuation) -> Void) async throws -> JSON {
        try await withCheckedThrowingContinuation(body)
    }

    /// Sends a command made beforehand and calls `onReply` with its `return` value or its error, once, on the
    /// connection's event loop (it must return quickly): a command without a task, for a program that polls many
    /// VMs from their event loops (``onEventLoop(_:)``). Errors as ``execute(_:arguments:timeout:)``'s; nothing
    /// cancels it but its timeout and the connection's end.
    package func send(
        _ command: QMPCommand, timeout: Duration? = nil, onReply: @escaping @Sendable (Result<JSON, QMPError>) -> Void
    ) {
        Self.submit(
            command, id: nextID.add(1, ordering: .relaxed).oldValue, timeout: TimeAmount(timeout ?? options.commandTimeout),
            caller: .callback(onReply), handler: handler, loop: channel.eventLoop)
    }

    /// Sends a command made beforehand as ``send(_:timeout:onReply:)`` does, and lets `onRead` read its `return`
    /// value where jansson decoded it (``JSONNode``, valid during the call only): a reply read every poll costs no
    /// ``JSON`` tree (issue 14).
    package func send(
        _ command: QMPCommand, timeout: Duration? = nil, onRead: @escaping @Sendable (Result<JSONNode, QMPError>) -> Void
    ) {
        Self.submit(
            command, id: nextID.add(1, ordering: .relaxed).oldValue, timeout: TimeAmount(timeout ?? options.commandTimeout),
            caller: .reader(onRead), handler: handler, loop: channel.eventLoop)
    }

    /// Hands a command to the handler on its event loop: at once when already there, else as a job on it.
    private static func submit(
        _ command: QMPCommand, id: Int, timeout: TimeAmount, caller: QMPCaller,
        handler: NIOLoopBound<QMPChannelHandler>, loop: any EventLoop
    ) {
        if loop.inEventLoop {
            handler.value.send(command, id: id, timeout: timeout, waiter: caller)
        } else {
            loop.execute { handler.value.send(command, id: id, timeout: timeout, waiter: caller) }
        }
    }

    /// Runs `work` on the connection's event loop (one job for many connections that share the loop: see
    /// ``eventLoopID``).
    package func onEventLoop(_ work: @escaping @Sendable () -> Void) {
        channel.eventLoop.execute(work)
    }


    /// Closes the connection; commands still waiting fail with `connectionClosed`.
    public func close() async {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.close() }
        try? await channel.closeFuture.get()
    }

    /// An executor that runs tasks on this connection's event loop. A task that prefers it
    /// (`withTaskExecutorPreference(client.taskExecutor) { ... }`) talks to QEMU with no thread hand-offs:
    /// the command is written and the reply resumes the task on the same thread.
    public var taskExecutor: any TaskExecutor { EventLoopTaskExecutor(loop: channel.eventLoop) }

    /// True while the connection is open.
    public var isActive: Bool { channel.isActive }

    /// Completes when the connection closes, for whatever reason.
    public func waitUntilClosed() async {
        try? await channel.closeFuture.get()
    }

    // MARK: Connection errors in words

    private static func checkSocketPath(_ address: Endpoint) throws {
        guard let path = address.unixPath else { return }
        var info = stat()
        guard stat(path, &info) == 0 else {
            let reason = errno == ENOENT
                ? "no such socket (start QEMU with -qmp unix:\(path),server=on,wait=off)"
                : String(cString: strerror(errno))
            throw QMPError(code: .connectFailed, address: "\(address)", detail: "cannot connect: \(reason)")
        }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw QMPError(code: .connectFailed, address: "\(address)", detail: "cannot connect: not a socket")
        }
    }

    private static func explain(_ error: Error) -> String {
        if let io = error as? IOError { return describe(errno: io.errnoCode) }
        if let connection = error as? NIOConnectionError {
            if let io = connection.connectionErrors.first?.error as? IOError { return describe(errno: io.errnoCode) }
            if let dns = connection.dnsAError ?? connection.dnsAAAAError { return "cannot resolve host: \(dns)" }
        }
        if error is ChannelError, case .connectTimeout = error as! ChannelError { return "timed out" }
        return "\(error)"
    }

    private static func describe(errno code: CInt) -> String {
        switch code {
        case ECONNREFUSED: return "connection refused (is QEMU running with this monitor?)"
        case EACCES, EPERM: return "permission denied"
        case ENOENT: return "no such socket"
        default: return String(cString: strerror(code))
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// Runs jobs on a NIO event loop, so tasks can run where their connection's I/O happens. (NIO 2.101 makes an
/// event loop a `SerialExecutor`, not a `TaskExecutor`.)
final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    let loop: any EventLoop

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
