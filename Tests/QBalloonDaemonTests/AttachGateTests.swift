@testable import QBalloonDaemon
import Synchronization
import Testing

private final class Order: Sendable {
    let list = Mutex<[Int]>([])
}

/// ``AttachGate``: at most `limit` workers connect at once, the others wait their turn in order; a worker cancelled
/// while it waits takes no turn, and a turn always comes back.
@Suite struct AttachGateTests {
    /// Yields until the gate counts `waiting` workers in its queue.
    private func until(_ gate: AttachGate, waiting: Int) async {
        while gate.counts.waiting != waiting { await Task.yield() }
    }

    @Test func theLimitIsHeldAndTurnsGoInOrder() async {
        let gate = AttachGate(limit: 2)
        #expect(await gate.enter())
        #expect(await gate.enter())
        #expect(gate.counts.free == 0)
        let order = Order()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<3 {
                group.addTask {
                    _ = await gate.enter()
                    order.list.withLock { $0.append(index) }
                }
                await until(gate, waiting: index + 1)
            }
            #expect(order.list.withLock { $0 }.isEmpty, "nobody passes while both turns are held")
            gate.leave()
            while order.list.withLock({ $0.count }) < 1 { await Task.yield() }
            #expect(order.list.withLock { $0 } == [0])
            gate.leave()
            gate.leave()
            await group.waitForAll()
        }
        #expect(order.list.withLock { $0 } == [0, 1, 2], "first come, first served")
        #expect(gate.counts.free == 0, "the three who came in still hold theirs")
        for _ in 0..<3 { gate.leave() }
        #expect(gate.counts.free == 2, "never more turns than the limit")
    }

    @Test func aWorkerCancelledWhileWaitingTakesNoTurn() async {
        let gate = AttachGate(limit: 1)
        #expect(await gate.enter())
        let waiting = Task { await gate.enter() }
        await until(gate, waiting: 1)
        waiting.cancel()
        #expect(await waiting.value == false)
        #expect(gate.counts.waiting == 0)
        gate.leave()
        #expect(gate.counts.free == 1, "the turn came back, not to the worker that left")
    }

    @Test func aCancelledTaskDoesNotQueue() async {
        let gate = AttachGate(limit: 1)
        #expect(await gate.enter())
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await gate.enter()
        }
        #expect(await cancelled.value == false)
        #expect(gate.counts.waiting == 0)
    }

    @Test func aTurnComesBackWhenTheBodyThrows() async {
        struct Refused: Error {}
        let gate = AttachGate(limit: 1)
        await #expect(throws: Refused.self) {
            try await gate.withTurn { throw Refused() }
        }
        #expect(gate.counts.free == 1)
        let value = try? await gate.withTurn { 7 }
        #expect(value == 7)
        #expect(gate.counts.free == 1)
    }
}

/// A turn held past the gate's hold limit goes to the next worker while its body still runs: hung monitors delay
/// the others' attaching, never stop it.
@Suite struct AttachGateHoldTests {
    @Test func aTurnHeldTooLongGoesToTheNext() async throws {
        let gate = AttachGate(limit: 1, holdLimit: .milliseconds(20))
        let hung = Task {
            try await gate.withTurn {
                // A monitor that never greets: runs until cancelled.
                while !Task.isCancelled { try await Task.sleep(for: .milliseconds(5)) }
                throw CancellationError()
            }
        }
        while gate.counts.free != 0 { await Task.yield() }
        #expect(try await gate.withTurn { 1 } == 1, "the next worker got the turn while the first still holds its body")
        hung.cancel()
        _ = try? await hung.value
        #expect(gate.counts.free == 1, "given back once, not twice")
    }
}
