import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// Serves `GET /metrics` (Prometheus text format) over HTTP, as a service of the daemon's group.
public struct MetricsServer: Service {
    public let host: String
    public let port: Int
    private let metrics: DaemonMetrics
    private let logger: Logger

    /// Parses `HOST:PORT` (`127.0.0.1:9464`, `[::1]:9464`, `localhost:9464`).
    public init(listen: String, metrics: DaemonMetrics, logger: Logger) throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (0...65535).contains(port)
        else {
            throw MetricsServerError(detail: "bad metrics_listen '\(listen)': expected HOST:PORT, like 127.0.0.1:9464")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw MetricsServerError(detail: "bad metrics_listen '\(listen)': no host") }
        self.host = host
        self.port = port
        self.metrics = metrics
        self.logger = logger
    }

    /// Binds, then serves until graceful shutdown; `bound` gets the port actually bound (for port 0).
    public func run() async throws {
        try await serve(bound: { _ in })
    }

    public func serve(bound: @Sendable (Int) -> Void) async throws {
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
        let port = channel.localAddress?.port ?? self.port
        bound(port)
        logger.info("metrics on http://\(host):\(port)/metrics")
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
