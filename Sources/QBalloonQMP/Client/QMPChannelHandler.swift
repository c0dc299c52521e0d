import Logging
import NIOCore
import QBalloonCore
import QBalloonJSON

/// The only part of the client that does I/O: it feeds what arrives to ``QMPSessionStateMachine`` and
/// carries out the actions it returns. The machine owns every pending command (its caller and deadline);
/// the handler keeps only the one timer the machine asks for. Runs on its channel's event loop only.
///
/// It reads the socket's bytes itself: counts them against the read budget, splits and decodes them with
/// ``QMPFrameDecoder``, all in one step of the pipeline (issue 14: a budget handler and NIO's
/// `ByteToMessageHandler` in front of it cost ~6 % of a daemon polling 1000 VMs).
///
/// Who waits for a reply is a ``QMPCaller``: ``QMPClient``'s suspended task or a callback, answered straight from
/// here when the reply is read.
package final class QMPChannelHandler: ChannelInboundHandler {
    package typealias InboundIn = ByteBuffer
    package typealias OutboundOut = ByteBuffer

    private var machine: QMPSessionStateMachine<QMPCaller>
    /// One timer serves every command, armed for the earliest deadline: a timer per command would be
    /// scheduled and cancelled on every round trip.
    private var timer: Scheduled<Void>?
    private let ready: EventLoopPromise<QMPGreeting>
    private let events: AsyncStream<QMPEvent>.Continuation
    private let eventHandler: (@Sendable (QMPEvent) -> Void)?
    private let greetingTimeout: TimeAmount
    private var greetingTimer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    private var readyDone = false
    private var eventBudget: RateBudget
    private let logger: Logger
    private var decoder: QMPFrameDecoder
    private var readBudget: RateBudget
    /// The start of a message that has not all arrived yet (rare: a reply split over reads).
    private var partial: ByteBuffer?
    /// The monitor broke the protocol or the session ended: nothing more it sends is read.
    private var stopped = false

    /// - Parameters:
    ///   - address: the monitor, as errors name it.
    ///   - ready: succeeded with the greeting once negotiated, failed if the session ends before.
    ///   - events: where QEMU's events go; finished when the session ends.
    ///   - eventHandler: if set, events go to it (on the event loop) instead of `events`.
    ///   - greetingTimeout: how long the greeting and negotiation may take from the moment the channel is active.
    ///   - maxPendingCommands: the most commands waiting for a reply at once.
    ///   - eventBudget: how many events the monitor may send; over it, the session closes.
    ///   - readBudget: how many bytes the monitor may send (whitespace included, which no message limit sees);
    ///     over it, the session closes as a protocol violation.
    ///   - maxMessageBytes, maxDepth: the largest message and the deepest nesting accepted.
    package init(
        address: String, ready: EventLoopPromise<QMPGreeting>, events: AsyncStream<QMPEvent>.Continuation,
        eventHandler: (@Sendable (QMPEvent) -> Void)? = nil,
        greetingTimeout: TimeAmount, maxPendingCommands: Int = 1024,
        eventBudget: RateBudget = RateBudget(burst: 200, perSecond: 50),
        readBudget: RateBudget = RateBudget(burst: Double(4 << 20), perSecond: Double(256 << 10)),
        maxMessageBytes: Int = 16 << 20, maxDepth: Int = 1024, logger: Logger
    ) {
        self.machine = QMPSessionStateMachine(address: address, maxPending: maxPendingCommands)
        self.eventBudget = eventBudget
        self.readBudget = readBudget
        self.decoder = QMPFrameDecoder(maxMessageBytes: maxMessageBytes, maxDepth: maxDepth)
        self.ready = ready
        self.events = events
        self.eventHandler = eventHandler
        self.greetingTimeout = greetingTimeout
        self.logger = logger
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { startGreetingTimer(context: context) }
    }

    package func channelActive(context: ChannelHandlerContext) {
        startGreetingTimer(context: context)
        context.fireChannelActive()
    }

    private func startGreetingTimer(context: ChannelHandlerContext) {
        guard greetingTimer == nil else { return }
        let timeout = greetingTimeout
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        greetingTimer = context.eventLoop.scheduleTask(in: timeout) {
            loopBound.value.run(loopBound.value.machine.greetingTimedOut(after: timeout))
        }
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !stopped else { return }
        var bytes = unwrapInboundIn(data)
        let now = Double(NIODeadline.now().uptimeNanoseconds) / 1e9
        guard readBudget.spend(Double(bytes.readableBytes), at: now) else {
            stopped = true
            run(machine.receivedGarbage(Self.overBudget(readBudget)))
            return
        }
        guard var pending = partial.take() else {
            // The usual case: whole messages in one read, decoded where they arrived.
            decodeAll(&bytes)
            if bytes.readableBytes > 0, !stopped { partial = bytes }
            return
        }
        pending.writeBuffer(&bytes)
        decodeAll(&pending)
        guard pending.readableBytes > 0, !stopped else { return }
        // A monitor that always leaves a message unfinished does not make the buffer keep what was read before it.
        if pending.readerIndex >= 1 << 16 { pending.discardReadBytes() }
        partial = pending
    }

    static func overBudget(_ budget: RateBudget) -> String {
        "read budget exceeded: more than \(MemorySize.format(UInt64(budget.burst))) at once or "
            + "\(MemorySize.format(UInt64(budget.perSecond)))/s sustained"
    }

    /// Handles every whole message in `bytes`, leaving the start of an incomplete one.
    private func decodeAll(_ bytes: inout ByteBuffer) {
        while !stopped {
            do {
                guard try decoder.next(in: &bytes, received) else { return }
            } catch {
                // A `QMPFrameSplitter.FrameError` (over a limit, not an object) says what is wrong in its text.
                stopped = true
                run(machine.receivedGarbage("\(error)"))
                return
            }
        }
    }

    private func received(_ message: Result<JSONNode, JSONError>) {
        switch message {
        case .success(let node):
            // A successful reply, the message of every poll, goes to its caller as jansson decoded it: the caller
            // builds what it reads (a JSON tree, or only a VM's statistics).
            if let value = node["return"] {
                switch machine.receivedReturn(id: node["id"]?.json) {
                case .answer(let waiter): waiter.succeed(value)
                case .other(let action): run(action)
                }
                return
            }
            do {
                run(machine.received(try QMPMessage(node.json)))
            } catch {
                run(machine.receivedGarbage(error.description))
            }
        case .failure(let error):
            run(machine.receivedGarbage("QEMU sent invalid JSON: \(error.message)"))
        }
    }

    package func errorCaught(context: ChannelHandlerContext, error: Error) {
        run(machine.connectionClosed(reason: "connection failed: \(error)"))
    }

    package func channelInactive(context: ChannelHandlerContext) {
        run(machine.connectionClosed())
        events.finish()
        context.fireChannelInactive()
    }

    /// Sends `command` as request `id`, answering `waiter` with its reply or failing it after `timeout`.
    package func send(_ command: QMPCommand, id: Int, timeout: TimeAmount, waiter: QMPCaller) {
        // The loop's clock, on which the timer runs (an embedded loop's in tests); the handler is in a pipeline
        // by the time anyone can send.
        let now = context?.eventLoop.now ?? .now()
        switch machine.send(command, id: id, context: waiter, now: now, timeout: timeout) {
        case .write(let bytes, let armTimer):
            write(bytes, flush: true)
            if let armTimer { self.armTimer(for: armTimer) }
        case .wait(let armTimer):
            if let armTimer { self.armTimer(for: armTimer) }
        case .fail(let waiter, let error):
            waiter.fail(error)
        }
    }

    /// The caller of request `id` stopped waiting (its task was cancelled).
    package func cancel(id: Int) {
        run(machine.cancelled(id: id))
    }

    /// Closes the connection; pending commands fail with `connectionClosed`.
    package func close() {
        guard let context else { return }
        run(machine.connectionClosed(reason: "the client closed the connection"))
        context.close(promise: nil)
    }

    private func armTimer(for deadline: NIODeadline) {
        guard let context else { return }
        timer?.cancel()
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) { loopBound.value.timerFired() }
    }

    private func timerFired() {
        timer = nil
        guard let context else { return }
        let action = machine.timerFired(now: context.eventLoop.now)
        for (waiter, error) in action.expired { waiter.fail(error) }
        if let deadline = action.armTimer { armTimer(for: deadline) }
    }

    private func run(_ action: QMPSessionStateMachine<QMPCaller>.Action) {
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
        case .succeed(let waiter, let value):
            waiter.succeed(value)
        case .fail(let waiter, let error):
            waiter.fail(error)
        case .deliver(let event):
            let now = Double(NIODeadline.now().uptimeNanoseconds) / 1e9
            guard eventBudget.spend(1, at: now) else {
                run(
                    machine.receivedGarbage(
                        "event flood: more than \(Int(eventBudget.burst)) events at once or \(Int(eventBudget.perSecond)) a second sustained (the last: \(event.name))"))
                return
            }
            if let eventHandler {
                eventHandler(event)
            } else {
                events.yield(event)
            }
        case .close(let error, let failing):
            logger.debug("QMP session closed", metadata: ["qmp.error": "\(error)"])
            stopped = true
            greetingTimer?.cancel()
            timer?.cancel()
            timer = nil
            if !readyDone {
                readyDone = true
                ready.fail(error)
            }
            for waiter in failing { waiter.fail(error) }
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
