import CJansson
import Foundation
import NIOCore
import NIOPosix
import QBalloonDaemon
import QBalloonJSON
import Synchronization

/// The floor of `scripts/bench-daemon.sh` with swift-nio in the way (issue 14): what `scripts/bench_daemon_floor.c`
/// does (per VM and poll one write of a prepared `qom-get guest-stats`, one read, one jansson decode, the figures
/// copied out), but through NIO's channels on the daemon's event loops (the singleton group): the least a client
/// built on NIO and jansson, as qballoon must be, can cost. No decisions, no timeouts, no limits on what a monitor
/// sends: a measuring stick, not a client. Output as the C floor's:
///   attached N SECONDS          once every VM is connected and its balloon found
///   round START DURATION ERRORS for each round: its Unix start time, how long it took, replies missing or bad
enum NIOFloor {
    static func run(interval: Double, pattern: String) async throws {
        // The sockets the daemon would find for the same pattern.
        let paths = SocketScanner.sockets(matching: [pattern])
        guard !paths.isEmpty else { throw FloorError(description: "no socket matches \(pattern)") }
        let group = MultiThreadedEventLoopGroup.singleton
        let started = monotonicNanoseconds()
        var vms: [(channel: Channel, command: ByteBuffer)] = []
        vms.reserveCapacity(paths.count)
        let round = Round(count: paths.count)
        for path in paths {
            let handler = FloorHandler(round: round)
            // The receive buffers as QMPClient sets them.
            let channel = try await ClientBootstrap(group: group)
                .channelOption(
                    ChannelOptions.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 1024, maximum: 65536))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
                }
                .connect(unixDomainSocketPath: path).get()
            let balloon = try await attach(channel, handler: handler, path: path, statsInterval: max(1, Int(interval.rounded())))
            let text = #"{"execute":"qom-get","arguments":{"path":"\#(balloon)","property":"guest-stats"}}"# + "\n"
            vms.append((channel, channel.allocator.buffer(string: text)))
        }
        Round.emit(String(format: "attached %d %.3f", vms.count, seconds(since: started)))
        // The VMs of each loop, written to by one task on that loop per round.
        var byLoop: [ObjectIdentifier: (loop: EventLoop, vms: [(Channel, ByteBuffer)])] = [:]
        for vm in vms { byLoop[ObjectIdentifier(vm.channel.eventLoop), default: (vm.channel.eventLoop, [])].vms.append(vm) }
        var next = monotonicNanoseconds()
        let step = UInt64(interval * 1e9)
        while true {
            round.start(wall: Date().timeIntervalSince1970)
            for (loop, members) in byLoop.values {
                loop.execute {
                    for (channel, command) in members { channel.writeAndFlush(command, promise: nil) }
                }
            }
            next += step
            let now = monotonicNanoseconds()
            if next > now { try await Task.sleep(nanoseconds: next - now) } else { next = now }
            round.finishIfOpen()
        }
    }

    /// One blocking exchange per step while attaching: the greeting, `qmp_capabilities`, the balloon's path, its
    /// polling interval.
    private static func attach(_ channel: Channel, handler: FloorHandler, path: String, statsInterval: Int) async throws -> String {
        _ = try await handler.next(on: channel, sending: nil)
        _ = try await handler.next(on: channel, sending: #"{"execute":"qmp_capabilities"}"#)
        for container in ["/machine/peripheral", "/machine/peripheral-anon"] {
            let reply = try await handler.next(
                on: channel, sending: #"{"execute":"qom-list","arguments":{"path":"\#(container)"}}"#)
            for entry in reply["return"]?.arrayValue ?? [] {
                guard entry["type"]?.stringValue?.hasPrefix("child<virtio-balloon") == true,
                    let name = entry["name"]?.stringValue
                else { continue }
                let balloon = "\(container)/\(name)"
                _ = try await handler.next(
                    on: channel,
                    sending: #"{"execute":"qom-set","arguments":{"path":"\#(balloon)","property":"guest-stats-polling-interval","value":\#(statsInterval)}}"#)
                // Read on the loop, so set there.
                try await channel.eventLoop.submit { handler.polling = true }.get()
                return balloon
            }
        }
        throw FloorError(description: "\(path): no balloon device")
    }

    private static func seconds(since start: UInt64) -> Double {
        Double(monotonicNanoseconds() - start) / 1e9
    }

    struct FloorError: Error, CustomStringConvertible {
        let description: String
    }

    /// The replies of the round under way, counted from every loop; the round's line is printed by whoever
    /// completes it (or by the next round's start, with the missing ones as errors).
    final class Round: Sendable {
        private struct State {
            var start = 0.0
            var startedAt: UInt64 = 0
            var open = false
        }
        private let count: Int
        private let state = Mutex(State())
        private let replies = Atomic<Int>(0)

        init(count: Int) { self.count = count }

        func start(wall: Double) {
            state.withLock { $0 = State(start: wall, startedAt: monotonicNanoseconds(), open: true) }
            replies.store(0, ordering: .relaxed)
        }

        func answered() {
            guard replies.add(1, ordering: .relaxed).newValue == count else { return }
            let line: String? = state.withLock { state in
                guard state.open else { return nil }
                state.open = false
                return Self.line(state, errors: 0)
            }
            if let line { Self.emit(line) }
        }

        func finishIfOpen() {
            let line: String? = state.withLock { state in
                guard state.open else { return nil }
                state.open = false
                return Self.line(state, errors: max(0, count - replies.load(ordering: .relaxed)))
            }
            if let line { Self.emit(line) }
        }

        private static func line(_ state: State, errors: Int) -> String {
            String(format: "round %.3f %.4f %d", state.start, seconds(since: state.startedAt), errors)
        }

        static func emit(_ line: String) {
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }
    }

    /// Splits what a monitor sends into lines; while attaching hands each reply to the waiting step, once polling
    /// decodes each with `json_loadb` and copies the statistics out, as the C floor does.
    final class FloorHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer

        private let round: Round
        private var buffer: ByteBuffer?
        private var waiting: EventLoopPromise<JSON>?
        private var inbox: [JSON] = []
        var polling = false
        private var stats = [Int64](repeating: 0, count: 16)
        private var lastUpdate: Int64 = 0

        init(round: Round) { self.round = round }

        func next(on channel: Channel, sending text: String?) async throws -> JSON {
            try await channel.eventLoop.flatSubmit { [self] in
                if let text { channel.writeAndFlush(channel.allocator.buffer(string: text + "\n"), promise: nil) }
                // The greeting comes before anyone waits for it.
                if !inbox.isEmpty { return channel.eventLoop.makeSucceededFuture(inbox.removeFirst()) }
                let promise = channel.eventLoop.makePromise(of: JSON.self)
                waiting = promise
                return promise.futureResult
            }.get()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            if var held = buffer {
                buffer = nil
                held.writeBuffer(&bytes)
                bytes = held
            }
            while let newline = bytes.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                let length = newline - bytes.readerIndex + 1
                if polling {
                    bytes.withUnsafeReadableBytes { raw in take(UnsafeRawBufferPointer(rebasing: raw[..<length])) }
                } else if let message = try? JSON.decode(Array(bytes.readableBytesView.prefix(length))), message["event"] == nil {
                    if let waiting {
                        waiting.succeed(message)
                        self.waiting = nil
                    } else {
                        inbox.append(message)
                    }
                }
                bytes.moveReaderIndex(forwardBy: length)
            }
            if bytes.readableBytes > 0 { buffer = bytes }
        }

        private func take(_ line: UnsafeRawBufferPointer) {
            guard let base = line.baseAddress?.assumingMemoryBound(to: CChar.self),
                let message = json_loadb(base, line.count, 0x2 /* JSON_DISABLE_EOF_CHECK */, nil)
            else { return }
            defer { qb_json_decref(message) }
            guard let value = json_object_get(message, "return"), let figures = json_object_get(value, "stats") else { return }
            var index = 0
            var iterator = json_object_iter(figures)
            while let entry = iterator, index < stats.count {
                stats[index] = json_integer_value(json_object_iter_value(entry))
                index += 1
                iterator = json_object_iter_next(figures, entry)
            }
            lastUpdate = json_integer_value(json_object_get(value, "last-update"))
            round.answered()
        }
    }
}
