import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import QBalloonCore
import ServiceLifecycle

/// Serves `GET /metrics` (Prometheus text format) over HTTP, as a service of the daemon's group (``Daemon`` adds
/// it for `metrics_listen`).
///
/// ```swift
/// let server = MetricsServer(listen: try Endpoint(listening: "127.0.0.1:9464"), metrics: metrics, logger: logger)
/// try await server.run()      // until graceful shutdown or cancellation
/// ```
public struct MetricsServer: Service {
    /// Where it listens (`metrics_listen`); port 0 picks a free port.
    public let listen: Endpoint
    private let metrics: DaemonMetrics
    private let logger: Logger
    private let bound: @Sendable (Endpoint) -> Void

    /// - Parameter bound: called with the address actually bound, once listening (the port, for port 0).
    public init(
        listen: Endpoint, metrics: DaemonMetrics, logger: Logger, bound: @escaping @Sendable (Endpoint) -> Void = { _ in }
    ) {
        self.listen = listen
        self.metrics = metrics
        self.logger = logger
        self.bound = bound
    }

    /// Binds, then serves until graceful shutdown (or cancellation).
    public func run() async throws {
        guard let (host, port) = listen.hostAndPort else {
            throw MetricsServerError(detail: "cannot listen for metrics on \(listen): not a HOST:PORT address")
        }
        let metrics = self.metrics
        let channel: Channel
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(metrics: metrics))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            throw MetricsServerError(detail: "cannot listen for metrics on \(host):\(port): \(error)")
        }
        let boundAddress = Endpoint.hostname(host, port: channel.localAddress?.port ?? port)
        bound(boundAddress)
        logger.info("metrics on http://\(boundAddress.hostPortText ?? "")/metrics")
        // Cancellation too: a group cancelled (another service failed) must not wait on this forever.
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

public struct MetricsServerError: Error, Sendable, CustomStringConvertible {
    public let detail: String
    public var description: String { detail }
}

private final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let metrics: DaemonMetrics
    private var path = "/"
    private var keepAlive = false

    init(metrics: DaemonMetrics) {
        self.metrics = metrics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            path = head.uri
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            let found = path == "/metrics" || path.hasPrefix("/metrics?")
            let body = found ? metrics.exposition() : Array("not found: try /metrics\n".utf8)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4" : "text/plain")
            headers.add(name: "Content-Length", value: "\(body.count)")
            headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
            let head = HTTPResponseHead(version: .http1_1, status: found ? .ok : .notFound, headers: headers)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            let keepAlive = self.keepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [channel = context.channel] _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }
}
