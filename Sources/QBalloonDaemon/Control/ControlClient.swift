import NIOCore
import NIOHTTP1
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

/// A client of the daemon's control socket (`[daemon] control_socket`): HTTP/1.1 with JSON bodies over a unix
/// socket, as the control API in the README describes. The CLI's `vms`, `explain`, `pin`, `unpin`, `pause`,
/// `resume`, `reload` and `top` are built on it.
///
/// ```swift
/// let client = ControlClient(socketPath: "/run/qballoon/control.sock")
/// let vms = try await client.request(.GET, "/v1/vms").body["vms"]
/// _ = try await client.request(.POST, "/v1/vms/db/pin", body: ["size": "2GiB", "for": "30m"])
/// for try await event in client.events() where event["type"]?.stringValue == "round" { ... }
/// ```
///
/// Every request is one connection: a CLI verb makes one request, and `top`'s acts are rare. HTTP framing is
/// swift-nio's (`addHTTPClientHandlers`); this type only writes a request and collects what comes back, within
/// bounds (``Options``).
public struct ControlClient: Sendable {
    /// Bounds on what the daemon may send and how long to wait for it.
    public struct Options: Sendable {
        /// The largest reply body taken (a `GET /v1/vms` of a thousand VMs is about 2 MiB).
        public var maxBodyBytes: Int
        /// The longest line of the event stream taken (one round of every VM is one line).
        public var maxLineBytes: Int
        /// How long to wait to connect, and for a whole reply (not for the event stream, which has no end).
        public var timeout: Duration

        public init(maxBodyBytes: Int = 16 << 20, maxLineBytes: Int = 16 << 20, timeout: Duration = .seconds(30)) {
            self.maxBodyBytes = maxBodyBytes
            self.maxLineBytes = maxLineBytes
            self.timeout = timeout
        }
    }

    /// The daemon's control socket.
    public let socketPath: String
    public let options: Options
    private let eventLoopGroup: any EventLoopGroup

    /// - Parameters:
    ///   - socketPath: the daemon's `control_socket` (`/run/qballoon/control.sock` as installed).
    ///   - options: bounds and the timeout.
    ///   - eventLoopGroup: where the connections run.
    public init(
        socketPath: String, options: Options = Options(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.socketPath = socketPath
        self.options = options
        self.eventLoopGroup = eventLoopGroup
    }

    /// Sends one request and returns the daemon's reply.
    ///
    /// ```swift
    /// let reply = try await client.request(.DELETE, "/v1/vms/db/pin")
    /// print(reply.body["message"]?.stringValue ?? "")      // "db unpinned"
    /// ```
    /// - Parameters:
    ///   - method: `.GET`, `.POST` or `.DELETE`.
    ///   - path: the endpoint, `/v1/...`; a VM's name in it is percent-encoded by ``path(_:)``.
    ///   - body: the JSON body, if any.
    /// - Returns: the status and the decoded body, for a 2xx reply.
    /// - Throws: ``ControlClientError``: `noDaemon`, `permissionDenied`, `connectFailed`, `rejected` (a non-2xx
    ///   reply; its description is the daemon's `error` text), `connectionClosed`, `badReply`, `tooLarge`,
    ///   `timeout`.
    public func request(_ method: HTTPMethod, _ path: String, body: JSON? = nil) async throws -> ControlReply {
        // A daemon that has just started answers 503 until its first round (a second at most): wait for it. A GET
        // whose connection closed without a whole reply is asked once more (it changes nothing); others are not.
        var retriedClose = false
        for _ in 0..<25 {
            do {
                return try await requestOnce(method, path, body: body)
            } catch let error as ControlClientError where error.status == 503 {
                try await Task.sleep(for: .milliseconds(200))
            } catch let error as ControlClientError where error.code == .connectionClosed && method == .GET && !retriedClose {
                retriedClose = true
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        return try await requestOnce(method, path, body: body)
    }

    private func requestOnce(_ method: HTTPMethod, _ path: String, body: JSON?) async throws -> ControlReply {
        let channel = try await connect()
        let timedOut = Atomic<Bool>(false)
        let timeout = channel.channel.eventLoop.scheduleTask(in: TimeAmount(options.timeout)) {
            [channel = channel.channel] in
            timedOut.store(true, ordering: .relaxed)
            channel.close(promise: nil)
        }
        defer { timeout.cancel() }
        let maxBodyBytes = options.maxBodyBytes
        let socketPath = socketPath
        let request = Self.head(method, path, hasBody: body != nil)
        do {
            return try await channel.executeThenClose { inbound, outbound in
                try await Self.send(request, body: body, to: outbound)
                var head: HTTPResponseHead?
                var collected = ByteBuffer()
                for try await part in inbound {
                    switch part {
                    case .head(let responseHead):
                        head = responseHead
                    case .body(var bytes):
                        guard collected.readableBytes + bytes.readableBytes <= maxBodyBytes else {
                            throw ControlClientError(.tooLarge, socketPath, "\(method) \(path): the reply is larger than \(MemorySize.format(UInt64(maxBodyBytes)))")
                        }
                        collected.writeBuffer(&bytes)
                    case .end:
                        guard let head else { throw ControlClientError(.badReply, socketPath, "\(method) \(path): a reply with no head") }
                        return try Self.reply(head, collected, method: method, path: path, socketPath: socketPath)
                    }
                }
                throw ControlClientError(.connectionClosed, socketPath, "\(method) \(path): the daemon closed the connection before its reply")
            }
        } catch let error as ControlClientError where error.code == .connectionClosed && timedOut.load(ordering: .relaxed) {
            throw ControlClientError(.timeout, socketPath, "\(method) \(path): no reply within \(DurationText.format(options.timeout))")
        } catch {
            if timedOut.load(ordering: .relaxed) {
                throw ControlClientError(.timeout, socketPath, "\(method) \(path): no reply within \(DurationText.format(options.timeout))")
            }
            throw Self.failure(error, "\(method) \(path)", socketPath: socketPath)
        }
    }

    /// The daemon's event stream (`GET /v1/events`): one JSON object per line, as each arrives. The first is
    /// the latest `round`; then every round, every balloon change (`decision`) and every operator act
    /// (`operator`). It ends when the daemon closes the stream (it stops) and throws when the connection breaks;
    /// ending the iteration closes the connection.
    ///
    /// ```swift
    /// for try await event in client.events() {
    ///     if event["type"]?.stringValue == "round" { show(event["vms"]) }
    /// }
    /// ```
    public func events() -> AsyncThrowingStream<JSON, Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: JSON.self, bufferingPolicy: .bufferingNewest(1024))
        let task = Task {
            do {
                try await self.events { continuation.yield($0) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Reads the event stream, calling `onEvent` with each line as it arrives, until the daemon ends it (returns),
    /// the connection breaks (throws) or the task is cancelled (returns). The daemon drops the oldest lines
    /// for a consumer that does not keep up, so `onEvent` should not wait long.
    /// - Throws: ``ControlClientError``, or what `onEvent` throws.
    public func events(_ onEvent: (JSON) async throws -> Void) async throws {
        let channel = try await connect()
        let socketPath = socketPath
        var lines = ControlLineSplitter(maxLineBytes: options.maxLineBytes)
        let maxBodyBytes = options.maxBodyBytes
        let request = Self.head(.GET, "/v1/events", hasBody: false)
        try await channel.executeThenClose { inbound, outbound in
            try await Self.send(request, body: nil, to: outbound)
            var head: HTTPResponseHead?
            var refused = ByteBuffer()
            do {
                for try await part in inbound {
                    switch part {
                    case .head(let responseHead):
                        head = responseHead
                    case .body(let bytes) where head.map({ (200..<300).contains($0.status.code) }) == true:
                        let complete: [[UInt8]]
                        do {
                            complete = try lines.append(bytes.readableBytesView)
                        } catch {
                            throw ControlClientError(
                                .tooLarge, socketPath,
                                "GET /v1/events: a line longer than \(MemorySize.format(UInt64(lines.maxLineBytes)))")
                        }
                        for line in complete {
                            guard !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) else { continue }
                            let event: JSON
                            do {
                                event = try JSON.decode(line)
                            } catch {
                                throw ControlClientError(.badReply, socketPath, "GET /v1/events: a line that is not JSON: \(error)")
                            }
                            do {
                                try await onEvent(event)
                            } catch {
                                throw CallerError(error: error)
                            }
                        }
                    case .body(var bytes):
                        if refused.readableBytes + bytes.readableBytes <= maxBodyBytes { refused.writeBuffer(&bytes) }
                    case .end:
                        guard let head else { throw ControlClientError(.badReply, socketPath, "GET /v1/events: a reply with no head") }
                        _ = try Self.reply(head, refused, method: .GET, path: "/v1/events", socketPath: socketPath)
                        return
                    }
                }
            } catch let error as CallerError {
                throw error.error
            } catch where Task.isCancelled {
                return
            } catch {
                let failure = Self.failure(error, "GET /v1/events", socketPath: socketPath)
                guard failure.code == .connectionClosed else { throw failure }
                throw ControlClientError(.connectionClosed, socketPath, "the daemon closed the event stream")
            }
            if Task.isCancelled { return }
            throw ControlClientError(.connectionClosed, socketPath, "the daemon closed the event stream")
        }
    }

    /// A path segment with what is not safe in a URL path percent-encoded: `path("db 1")` is `db%201`.
    public static func path(_ segment: String) -> String {
        var text = ""
        for byte in segment.utf8 {
            let scalar = Unicode.Scalar(byte)
            if byte < 0x80, scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "-._~".unicodeScalars.contains(scalar) {
                text.unicodeScalars.append(scalar)
            } else {
                text += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return text
    }

    // MARK: The connection

    private typealias HTTPChannel = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

    private func connect() async throws -> HTTPChannel {
        let socketPath = socketPath
        do {
            return try await ClientBootstrap(group: eventLoopGroup)
                .connectTimeout(TimeAmount(options.timeout))
                .connect(unixDomainSocketPath: socketPath) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try HTTPChannel(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw ControlClientError.connecting(socketPath, error)
        }
    }

    private static func head(_ method: HTTPMethod, _ path: String, hasBody: Bool) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "localhost")
        headers.add(name: "Accept", value: path == "/v1/events" ? "application/x-ndjson" : "application/json")
        headers.add(name: "Connection", value: "close")
        if hasBody { headers.add(name: "Content-Type", value: "application/json") }
        return HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)
    }

    private static func send(
        _ head: HTTPRequestHead, body: JSON?, to outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
    ) async throws {
        var head = head
        if let body {
            let bytes = body.encoded()
            head.headers.add(name: "Content-Length", value: "\(bytes.count)")
            try await outbound.write(.head(head))
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bytes))))
        } else {
            try await outbound.write(.head(head))
        }
        try await outbound.write(.end(nil))
    }

    /// The decoded reply, or the daemon's refusal as an error.
    private static func reply(
        _ head: HTTPResponseHead, _ body: ByteBuffer, method: HTTPMethod, path: String, socketPath: String
    ) throws -> ControlReply {
        let status = Int(head.status.code)
        let bytes = Array(body.readableBytesView)
        let json: JSON
        do {
            json = bytes.isEmpty ? .null : try JSON.decode(bytes)
        } catch {
            let text = String(decoding: bytes.prefix(200), as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            throw ControlClientError(
                .badReply, socketPath,
                "\(method) \(path): HTTP \(status), not JSON (is this a qballoon control socket?)\(text.isEmpty ? "" : ": \(text)")")
        }
        guard (200..<300).contains(status) else {
            let message = json["error"]?.stringValue ?? "\(method) \(path): HTTP \(status) \(head.status.reasonPhrase)"
            throw ControlClientError(rejected: status, message: message, body: json, socketPath: socketPath)
        }
        return ControlReply(status: status, body: json)
    }

    /// What `onEvent` threw, carried out of the stream's reading untouched.
    private struct CallerError: Error {
        let error: Error
    }

    /// An error met while a request was under way, in the client's terms.
    private static func failure(_ error: Error, _ what: String, socketPath: String) -> ControlClientError {
        switch error {
        case let error as ControlClientError:
            return error
        case let error as HTTPParserError where error == .invalidEOFState:
            return ControlClientError(.connectionClosed, socketPath, "\(what): the daemon closed the connection before its reply ended")
        case let error as HTTPParserError:
            return ControlClientError(.badReply, socketPath, "\(what): not HTTP (is this a qballoon control socket?): \(error)")
        case let error as IOError:
            return ControlClientError(.connectionClosed, socketPath, "\(what): \(String(cString: strerror(error.errnoCode)))")
        case let error as ChannelError:
            return ControlClientError(.connectionClosed, socketPath, "\(what): the daemon closed the connection (\(error))")
        default:
            return ControlClientError(.connectionClosed, socketPath, "\(what): \(error)")
        }
    }
}

/// A reply of the daemon's: its HTTP status and its JSON body (`null` when it had none).
public struct ControlReply: Sendable, Hashable {
    public var status: Int
    public var body: JSON

    public init(status: Int, body: JSON) {
        self.status = status
        self.body = body
    }

    /// The daemon's `message` (the one line it says about an act), if any.
    public var message: String? { body["message"]?.stringValue }
}

/// Why a request to the control socket failed. The description is one line a user can act on:
/// `no qballoon daemon at /run/qballoon/control.sock (is `qballoon run` running?)`, or the daemon's own words
/// for a refused request (`no VM named 'x' (known: a, b)`).
public struct ControlClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure: compare with the static members. New codes may be added.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: Sendable, Hashable {
            case noDaemon, permissionDenied, connectFailed, rejected, connectionClosed, badReply, tooLarge, timeout
        }
        let base: Base
        /// No socket at the path, or nothing listening on it.
        public static let noDaemon = Code(base: .noDaemon)
        /// The socket is there but this user may not use it.
        public static let permissionDenied = Code(base: .permissionDenied)
        /// Any other reason the socket could not be reached.
        public static let connectFailed = Code(base: .connectFailed)
        /// The daemon answered with a non-2xx status; see ``ControlClientError/status`` and ``ControlClientError/body``.
        public static let rejected = Code(base: .rejected)
        /// The connection closed before the reply was whole.
        public static let connectionClosed = Code(base: .connectionClosed)
        /// Something answered that is not the control API (not HTTP, not JSON).
        public static let badReply = Code(base: .badReply)
        /// A reply body or an event line beyond ``ControlClient/Options``' bounds.
        public static let tooLarge = Code(base: .tooLarge)
        /// No reply within ``ControlClient/Options/timeout``.
        public static let timeout = Code(base: .timeout)

        public var description: String { "\(base)" }
    }

    public let code: Code
    /// The control socket.
    public let socketPath: String
    /// The HTTP status of a ``Code/rejected`` request.
    public let status: Int?
    /// The daemon's JSON body for a ``Code/rejected`` request (`{"error": ..., "known": [...]}`).
    public let body: JSON?
    private let message: String

    init(_ code: Code, _ socketPath: String, _ message: String) {
        self.code = code
        self.socketPath = socketPath
        self.message = message
        status = nil
        body = nil
    }

    init(rejected status: Int, message: String, body: JSON, socketPath: String) {
        code = .rejected
        self.socketPath = socketPath
        self.message = message
        self.status = status
        self.body = body
    }

    public var description: String {
        switch code.base {
        case .noDaemon: return "no qballoon daemon at \(socketPath) (is `qballoon run` running?)"
        case .permissionDenied: return "permission denied on \(socketPath) (run as root or a member of the control group)"
        case .connectFailed: return "cannot connect to \(socketPath): \(message)"
        case .rejected: return message
        default: return "\(socketPath): \(message)"
        }
    }

    /// The error for a connection that could not be made, by its errno.
    static func connecting(_ socketPath: String, _ error: Error) -> ControlClientError {
        var code: CInt?
        if let io = error as? IOError { code = io.errnoCode }
        if let connection = error as? NIOConnectionError, let io = connection.connectionErrors.first?.error as? IOError {
            code = io.errnoCode
        }
        switch code {
        case ENOENT, ECONNREFUSED, ENOTDIR: return ControlClientError(.noDaemon, socketPath, "")
        case EACCES, EPERM: return ControlClientError(.permissionDenied, socketPath, "")
        case ENOTSOCK: return ControlClientError(.connectFailed, socketPath, "not a socket")
        case let code?: return ControlClientError(.connectFailed, socketPath, String(cString: strerror(code)))
        case nil:
            if let channel = error as? ChannelError, case .connectTimeout = channel {
                return ControlClientError(.timeout, socketPath, "no connection within the timeout (is the daemon stuck?)")
            }
            if error is SocketAddressError { return ControlClientError(.connectFailed, socketPath, "the path is too long for a unix socket") }
            return ControlClientError(.connectFailed, socketPath, "\(error)")
        }
    }
}

/// Splits the event stream's bytes into lines, however they are cut into chunks, and refuses a line longer than
/// `maxLineBytes` (a daemon gone wrong must not make the client buffer without end).
package struct ControlLineSplitter: Sendable {
    /// A line longer than the bound.
    package struct LineTooLong: Error, Sendable, Hashable {
        package let maxLineBytes: Int
    }

    package let maxLineBytes: Int
    private var partial: [UInt8] = []

    package init(maxLineBytes: Int) {
        self.maxLineBytes = maxLineBytes
    }

    /// Takes the next bytes; returns the lines they complete, without their `\n`.
    package mutating func append<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws(LineTooLong) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var rest = bytes[...]
        while let newline = rest.firstIndex(of: UInt8(ascii: "\n")) {
            let piece = rest[..<newline]
            guard partial.count + piece.count <= maxLineBytes else { throw LineTooLong(maxLineBytes: maxLineBytes) }
            partial.append(contentsOf: piece)
            lines.append(partial)
            partial.removeAll(keepingCapacity: true)
            rest = rest[rest.index(after: newline)...]
        }
        guard partial.count + rest.count <= maxLineBytes else { throw LineTooLong(maxLineBytes: maxLineBytes) }
        partial.append(contentsOf: rest)
        return lines
    }

    /// Bytes of a line not yet ended.
    package var pendingBytes: Int { partial.count }
}
