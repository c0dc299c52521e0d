import NIOCore
import QBalloonCore

/// The first handler on a QMP connection: counts every byte the monitor sends against a ``RateBudget`` and
/// closes the connection when it goes over, with ``QMPReadBudgetHandler/Exceeded`` (which
/// ``QMPChannelHandler`` reports as a protocol violation). Real monitors send a few KiB a poll; whatever a
/// peer sends (whitespace included, which no message limit sees) costs it the same.
package final class QMPReadBudgetHandler: ChannelInboundHandler {
    package typealias InboundIn = ByteBuffer
    package typealias InboundOut = ByteBuffer

    /// The monitor sent more than its budget.
    package struct Exceeded: Error, CustomStringConvertible {
        package let budget: RateBudget
        package var description: String {
            "read budget exceeded: more than \(MemorySize.format(UInt64(budget.burst))) at once or "
                + "\(MemorySize.format(UInt64(budget.perSecond)))/s sustained"
        }
    }

    private var budget: RateBudget
    private var exceeded = false

    package init(budget: RateBudget) {
        self.budget = budget
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !exceeded else { return }
        let bytes = unwrapInboundIn(data).readableBytes
        let now = Double(NIODeadline.now().uptimeNanoseconds) / 1e9
        guard budget.spend(Double(bytes), at: now) else {
            exceeded = true
            context.fireErrorCaught(Exceeded(budget: budget))
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
    }
}
