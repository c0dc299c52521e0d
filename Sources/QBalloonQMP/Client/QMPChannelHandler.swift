import Logging
import NIOCore
import QBalloonJSON

/// The only part of the client that does I/O: it feeds what arrives to ``QMPSessionStateMachine`` and
/// carries out the actions it returns. Runs on its channel's event loop only.
final class QMPChannelHandler: ChannelInboundHandler {
    typealias InboundIn = QMPFrame
    typealias OutboundOut = ByteBuffer

    private var machine: QMPSessionStateMachine
    private var replies: [Int: EventLoopPromise<JSON>] = [:]
    /// When each request in flight times out. One timer serves them all, armed for the earliest: a timer
    /// per command would be scheduled and cancelled on every round trip.
    private var deadlines: [Int: (deadline: NIODeadline, seconds: Double)] = [:]
    private var timer: (deadline: NIODeadline, task: Scheduled<Void>)?
    private let ready: EventLoopPromise<QMPGreeting>
    private let events: AsyncStream<QMPEvent>.Continuation
    private let greetingTimeout: TimeAmount
    private var greetingTimer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    private var readyDone = false
    private let logger: Logger

    init(
        address: String, ready: EventLoopPromise<QMPGreeting>, events: AsyncStream<QMPEvent>.Continuation,
        greetingTimeout: TimeAmount, logger: Logger
    ) {
        self.machine = QMPSessionStateMachine(address: address)
        self.ready = ready
        self.events = events
        self.greetingTimeout = greetingTimeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { startGreetingTimer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startGreetingTimer(context: context)
        context.fireChannelActive()
    }

    private func startGreetingTimer(context: ChannelHandlerContext) {
        guard greetingTimer == nil else { return }
        let seconds = Double(greetingTimeout.nanoseconds) / 1e9
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        greetingTimer = context.eventLoop.scheduleTask(in: greetingTimeout) {
            loopBound.value.run(loopBound.value.machine.greetingTimedOut(after: seconds))
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .json(let json):
            do {
                run(machine.received(try QMPMessage(json)))
            } catch {
                run(machine.receivedGarbage(error.description))
            }
        case .invalid(let error):
            run(machine.receivedGarbage("QEMU sent invalid JSON: \(error.message)"))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let frameError = error as? QMPFrameSplitter.FrameError {
            run(machine.receivedGarbage(frameError.description))
        } else {
            run(machine.connectionClosed(reason: "connection failed: \(error)"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        run(machine.connectionClosed())
        events.finish()
        context.fireChannelInactive()
    }

    /// Sends `command` as request `id`, completing `promise` with its reply.
    func send(_ command: QMPCommand, id: Int, timeout: TimeAmount, promise: EventLoopPromise<JSON>) {
        replies[id] = promise
        switch machine.send(command, id: id) {
        case .write(let bytes):
            write(bytes, flush: true)
        case .wait:
            break
        case .fail(let error):
            replies.removeValue(forKey: id)
            promise.fail(error)
            return
        }
        let deadline = NIODeadline.now() + timeout
        deadlines[id] = (deadline, Double(timeout.nanoseconds) / 1e9)
        if timer.map({ deadline < $0.deadline }) ?? true { armTimer(for: deadline) }
    }

    private func armTimer(for deadline: NIODeadline) {
        guard let context else { return }
        timer?.task.cancel()
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = (deadline, context.eventLoop.scheduleTask(deadline: deadline) { loopBound.value.timerFired() })
    }

    private func timerFired() {
        timer = nil
        let now = NIODeadline.now()
        for (id, entry) in deadlines where entry.deadline <= now {
            run(machine.timedOut(id: id, after: entry.seconds))
        }
        if let next = deadlines.values.map(\.deadline).min() { armTimer(for: next) }
    }

    func cancel(id: Int) {
        run(machine.cancelled(id: id))
    }

    func close() {
        guard let context else { return }
        run(machine.connectionClosed(reason: "the client closed the connection"))
        context.close(promise: nil)
    }

    private func run(_ action: QMPSessionStateMachine.ReceiveAction) {
        switch action {
        case .none:
            break
        case .write(let bytes):
            write(bytes, flush: true)
        case .ready(let greeting, let writes):
            greetingTimer?.cancel()
            for bytes in writes { write(bytes, flush: false) }
            context?.flush()
            readyDone = true
            ready.succeed(greeting)
        case .succeed(let id, let value):
            deadlines.removeValue(forKey: id)
            replies.removeValue(forKey: id)?.succeed(value)
        case .fail(let id, let error):
            deadlines.removeValue(forKey: id)
            replies.removeValue(forKey: id)?.fail(error)
        case .deliver(let event):
            events.yield(event)
        case .close(let error, let failing):
            logger.debug("QMP session closed", metadata: ["qmp.error": "\(error)"])
            greetingTimer?.cancel()
            if !readyDone {
                readyDone = true
                ready.fail(error)
            }
            for id in failing {
                deadlines.removeValue(forKey: id)
                replies.removeValue(forKey: id)?.fail(error)
            }
            timer?.task.cancel()
            timer = nil
            events.finish()
            context?.close(promise: nil)
        }
    }

    private func write(_ bytes: [UInt8], flush: Bool) {
        guard let context else { return }
        let buffer = context.channel.allocator.buffer(bytes: bytes)
        if flush {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        } else {
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
    }
}
