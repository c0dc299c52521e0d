import NIOCore
import QBalloonJSON

/// One client connection: reads QMP input with QEMU's own stream rules, lets the server's machine answer it,
/// and writes replies in order, applying the faults. The only place that touches the socket; runs on the
/// server's event loop only.
final class FakeQMPConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What this connection still has to write, in order.
    private enum Pending {
        case reply([UInt8], notBefore: NIODeadline)
        /// A reply that never comes (hang fault): everything after it waits forever.
        case never
        /// Close once everything before has been written.
        case close
    }

    /// Bytes sent instead of a reply by the garbage fault: not JSON at all.
    static let garbage: [UInt8] = Array("qemu: \u{1}\u{2} this is not QMP\r\n".utf8)

    private let server: FakeQMPServerCore
    private var context: ChannelHandlerContext?
    private var streamer = QEMUJSONStreamer()
    /// This connection's session (negotiation state).
    private(set) var session = FakeQMPSession()
    /// Whether this connection has the monitor; others wait for it, like QEMU's single-client socket.
    private(set) var holdsMonitor = false
    private var opened = false
    private var heldInput: [UInt8] = []
    private var commandCount = 0
    private var pending = CircularBuffer<Pending>()
    private var replyTimer: Scheduled<Void>?
    private var closing = false

    init(server: FakeQMPServerCore) {
        self.server = server
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { open() }
    }

    func channelActive(context: ChannelHandlerContext) {
        open()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let bytes = Array(buffer.readableBytesView)
        if holdsMonitor {
            process(bytes)
        } else {
            // QEMU does not read from a client that is waiting for the monitor.
            heldInput.append(contentsOf: bytes)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closing = true
        replyTimer?.cancel()
        pending.removeAll()
        server.connectionClosed(self)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        close()
    }

    // MARK: From the server

    /// This connection gets the monitor: greet (unless `greeting` is nil) and read what waited.
    func grantMonitor(greeting: [UInt8]?) {
        holdsMonitor = true
        if let greeting { write(greeting) }
        if !heldInput.isEmpty {
            let input = heldInput
            heldInput = []
            process(input)
        }
    }

    /// Writes an event now, ahead of replies still waiting, as QEMU's main loop does.
    func sendEvent(_ bytes: [UInt8]) {
        guard holdsMonitor, !closing else { return }
        write(bytes)
    }

    /// Closes the connection at once, dropping what was not written.
    func close() {
        guard !closing, let context else { return }
        closing = true
        replyTimer?.cancel()
        pending.removeAll()
        context.close(promise: nil)
    }

    // MARK: Input

    private func open() {
        guard !opened else { return }
        opened = true
        server.connectionOpened(self)
    }

    private func process(_ bytes: [UInt8]) {
        for item in streamer.feed(bytes) {
            guard !closing else { return }
            switch item {
            case .error(let desc):
                enqueue(FakeMachine.errorReply(.generic(desc), id: nil), command: nil)
            case .value(let request):
                handle(request)
            }
        }
        pump()
    }

    private func handle(_ request: JSON) {
        let faults = server.faults
        commandCount += 1
        let name = request["execute"]?.stringValue ?? request["exec-oob"]?.stringValue
        if let limit = faults.closeAfterCommands, commandCount > limit {
            close()
            return
        }
        if let name, faults.closeOn.contains(name) {
            close()
            return
        }
        var session = self.session
        let outcome = server.execute(request, session: &session, from: self)
        self.session = session
        server.commandFinished(events: outcome.events)
        let (reply, flood) = faults.tamper(outcome.reply, command: name, ram: server.machine.guest.scenario.ram, count: commandCount)
        enqueue(reply, command: name, bytes: faults.floodedListing(reply, command: name))
        if flood > 0 {
            var bytes: [UInt8] = []
            let event = QEMUIdentity.event("RTC_CHANGE", data: ["offset": 0, "qom-path": "/machine/unattached/device[4]"], at: server.clock.now())
                .encoded() + [0x0D, 0x0A]
            bytes.reserveCapacity(event.count * flood)
            for _ in 0..<flood { bytes.append(contentsOf: event) }
            pending.append(.reply(bytes, notBefore: .now()))
        }
        if outcome.closesConnection {
            pending.append(.close)
            server.quitRequested()
        }
    }

    // MARK: Output

    private func enqueue(_ reply: JSON, command: String?, bytes encoded: [UInt8]? = nil) {
        let faults = server.faults
        var bytes = encoded ?? reply.encoded()
        bytes.append(contentsOf: [0x0D, 0x0A])
        var delay = 0.0
        if let command {
            if faults.hangOn.contains(command) {
                pending.append(.never)
                return
            }
            if faults.garbageOn.contains(command) { bytes = Self.garbage }
            if faults.delayOn.contains(command) { delay = faults.replyDelay }
        }
        let notBefore = NIODeadline.now() + .nanoseconds(Int64(delay * 1e9))
        pending.append(.reply(bytes, notBefore: notBefore))
    }

    /// Writes the replies that are due, in order, and arms a timer for the next one.
    private func pump() {
        replyTimer?.cancel()
        replyTimer = nil
        while !closing, let first = pending.first {
            switch first {
            case .reply(let bytes, let notBefore):
                if notBefore > .now() {
                    guard let context else { return }
                    replyTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: notBefore) { [self] in
                        self.pump()
                    }
                    return
                }
                pending.removeFirst()
                write(bytes)
            case .never:
                return
            case .close:
                pending.removeAll()
                closing = true
                context?.close(promise: nil)
                return
            }
        }
    }

    private func write(_ bytes: [UInt8]) {
        guard let context, context.channel.isActive else { return }
        let chunkSize = max(1, server.faults.writeChunkSize ?? bytes.count)
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + chunkSize)
            let buffer = context.channel.allocator.buffer(bytes: bytes[start..<end])
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            start = end
        }
    }
}
