import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import QBalloonCore
import QBalloonJSON
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Serves the control API (``ControlRouter``) over HTTP/1.1 on a unix socket, as a service of the daemon's group
/// (``Daemon`` adds it for `control_socket`). The socket is mode 0600, or 0660 for `control_group`; its directory is
/// made if missing. A socket left by a daemon that died is replaced; one another daemon still answers on is not.
package struct ControlServer: Service {
    package let path: String
    let group: String?
    let router: ControlRouter
    let controls: OperatorControls
    let logger: Logger
    let bound: @Sendable (String) -> Void

    /// Request bodies larger than this are refused (413).
    static let maxBody = 64 << 10

    package init(
        path: String, group: String?, controls: OperatorControls, logger: Logger, bound: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.path = path
        self.group = group
        self.controls = controls
        self.router = ControlRouter(controls: controls)
        self.logger = logger
        self.bound = bound
    }

    package func run() async throws {
        let groupID = try group.map { try Self.groupID($0) }
        try Self.prepare(path)
        let router = self.router
        let controls = self.controls
        let channel: Channel
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(ControlHTTPHandler(router: router, events: controls.events))
                    }
                }
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false).get()
        } catch {
            throw ControlServerError("cannot listen on the control socket \(path): \(error)")
        }
        do {
            if let groupID {
                guard chown(path, uid_t.max, groupID) == 0 else { throw ControlServerError.errno("cannot give the control socket \(path) to group \(group ?? "")") }
            }
            guard chmod(path, groupID == nil ? 0o600 : 0o660) == 0 else { throw ControlServerError.errno("cannot set the mode of the control socket \(path)") }
        } catch {
            try? await channel.close()
            unlink(path)
            throw error
        }
        bound(path)
        logger.info("control socket at \(path) (\(group.map { "group \($0), mode 0660" } ?? "mode 0600"))")
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
        controls.events.finish()
        unlink(path)
    }

    /// Makes the socket's directory (0755) if missing, and clears a socket no daemon answers on.
    static func prepare(_ path: String) throws {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        if !directory.isEmpty { try makeDirectories(directory) }
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw ControlServerError("cannot listen on the control socket \(path): something that is not a socket is there")
        }
        if answers(path) {
            throw ControlServerError(
                "another qballoon daemon is listening on the control socket \(path): stop it first (two daemons would fight over the same VMs), or give this one its own control_socket")
        }
        unlink(path)
    }

    static func makeDirectories(_ directory: String) throws {
        var current = ""
        for part in directory.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0, errno != EEXIST {
                throw ControlServerError.errno("cannot make the control socket's directory \(current)")
            }
        }
    }

    /// Whether something accepts connections on the unix socket at `path`.
    static func answers(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }

    static func groupID(_ name: String) throws -> gid_t {
        var entry = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 16 << 10)
        let status = getgrnam_r(name, &entry, &buffer, buffer.count, &result)
        guard status == 0, result != nil else {
            throw ControlServerError("control_group: no group named '\(name)' on this host")
        }
        return entry.gr_gid
    }
}

package struct ControlServerError: Error, Sendable, CustomStringConvertible {
    package let description: String
    init(_ description: String) { self.description = description }
    static func errno(_ what: String) -> ControlServerError { ControlServerError("\(what): \(String(cString: strerror(Glibc.errno)))") }
}

/// One connection: collects each request (a body of at most 64 KiB), routes it, writes the reply; `GET /v1/events`
/// turns the connection into the live feed until either side closes it.
private final class ControlHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let router: ControlRouter
    let events: ControlEvents
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    init(router: ControlRouter, events: ControlEvents) {
        self.router = router
        self.events = events
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
            tooLarge = false
        case .body(var buffer):
            if body.count + buffer.readableBytes > ControlServer.maxBody {
                tooLarge = true
            } else if let bytes = buffer.readBytes(length: buffer.readableBytes) {
                body += bytes
            }
        case .end:
            finishRequest(channel: context.channel)
        }
    }

    private func finishRequest(channel: Channel) {
        guard let head else { return }
        self.head = nil
        if tooLarge {
            ControlResponder.reply(
                channel, ControlRouter.Reply(status: 413, body: ["error": .string("the request body is larger than 64 KiB")]),
                keepAlive: false)
            return
        }
        let request = ControlRouter.Request(method: head.method.rawValue, uri: head.uri, body: body)
        body = []
        let keepAlive = head.isKeepAlive
        let router = self.router
        let events = self.events
        Task { await ControlResponder.answer(request, on: channel, keepAlive: keepAlive, router: router, events: events) }
    }

}

/// Writes replies and the live feed on a connection, from any task.
private enum ControlResponder {
    static func answer(
        _ request: ControlRouter.Request, on channel: Channel, keepAlive: Bool, router: ControlRouter, events: ControlEvents
    ) async {
        let route = await router.route(request)
        if case .reply(let reply) = route {
            Self.reply(channel, reply, keepAlive: keepAlive)
        } else {
            Self.stream(channel, events: events, router: router)
        }
    }

    static func reply(_ channel: Channel, _ reply: ControlRouter.Reply, keepAlive: Bool) {
        var bytes = reply.body.encoded(sortedKeys: true)
        bytes.append(UInt8(ascii: "\n"))
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: "\(bytes.count)")
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: reply.status), headers: headers)
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(channel.allocator.buffer(bytes: bytes))), promise: nil)
        channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }

    /// The live feed: the latest round at once, then every line published, until the client or the daemon ends it.
    static func stream(_ channel: Channel, events: ControlEvents, router: ControlRouter) {
        guard let lines = events.subscribe() else {
            reply(
                channel,
                ControlRouter.Reply(status: 503, body: ["error": .string("too many readers of /v1/events (\(ControlEvents.maxSubscribers))")]),
                keepAlive: false)
            return
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-ndjson")
        headers.add(name: "Cache-Control", value: "no-cache")
        channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)), promise: nil)
        if let snapshot = router.controls.snapshot {
            var first = snapshot.roundEvent.encoded(sortedKeys: true)
            first.append(UInt8(ascii: "\n"))
            channel.write(HTTPServerResponsePart.body(.byteBuffer(channel.allocator.buffer(bytes: first))), promise: nil)
        }
        channel.flush()
        let feed = Task {
            for await line in lines {
                do {
                    try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(channel.allocator.buffer(bytes: line)))).get()
                } catch {
                    return
                }
            }
            // The daemon is stopping: end the stream properly.
            try? await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
            try? await channel.close()
        }
        channel.closeFuture.whenComplete { _ in feed.cancel() }
    }
}
