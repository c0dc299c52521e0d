import NIOCore
import QBalloonJSON
import QBalloonQMP

/// Sequential `query-balloon` round trips: the library client against the minimal blocking client, on two
/// monitors of the same QEMU, alternating in rounds so drift (other load, CPU frequency) hits both alike.
/// The minimal client blocks the main actor's thread while it runs; the library client's tasks run elsewhere.
@MainActor
struct LatencyBenchmark {
    struct Result {
        var client = Samples()
        var minimal = Samples()
        /// The library client called from a task that runs on the client's own event loop (no thread hops).
        var clientOnLoop = Samples()
        var clientRoundMedians: [Double] = []
        var minimalRoundMedians: [Double] = []
        var onLoopRoundMedians: [Double] = []
        var rounds = 0
        var perRound = 0
    }

    let client: QMPClient
    let minimal: MinimalQMPClient
    let loopRunner: EventLoopRunner
    let rounds: Int
    let perRound: Int
    let warmUp: Int

    func run() async throws -> Result {
        var result = Result(rounds: rounds, perRound: perRound)
        var scratch = Samples()
        try minimal.measure("query-balloon", count: warmUp, into: &scratch)
        _ = try await Self.measureClient(client, count: warmUp)
        _ = try await loopRunner.measure(client, count: warmUp)
        for round in 0..<rounds {
            // Rotate who goes first so neither always runs just after the other.
            for turn in 0..<3 {
                switch (round + turn) % 3 {
                case 0:
                    let samples = try await Self.measureClient(client, count: perRound)
                    result.clientRoundMedians.append(samples.median)
                    result.client.append(contentsOf: samples)
                case 1:
                    var samples = Samples(reservingCapacity: perRound)
                    try minimal.measure("query-balloon", count: perRound, into: &samples)
                    result.minimalRoundMedians.append(samples.median)
                    result.minimal.append(contentsOf: samples)
                default:
                    let samples = try await loopRunner.measure(client, count: perRound)
                    result.onLoopRoundMedians.append(samples.median)
                    result.clientOnLoop.append(contentsOf: samples)
                }
            }
        }
        return result
    }

    /// The way an application calls the client: from a task on Swift's global executor.
    @concurrent
    static func measureClient(_ client: QMPClient, count: Int) async throws -> Samples {
        var samples = Samples(reservingCapacity: count)
        for _ in 0..<count {
            let begin = monotonicNanoseconds()
            let reply = try await client.execute("query-balloon")
            let end = monotonicNanoseconds()
            blackHole(reply)
            samples.append(end - begin)
        }
        return samples
    }
}

/// An actor whose executor is the client's event loop: awaiting a reply resumes on the loop thread itself,
/// so a round trip has no cross-thread wake-ups. Shows what the two hops of the normal path cost.
actor EventLoopRunner {
    let loop: any EventLoop
    /// Kept here because `unownedExecutor` does not retain it.
    private let executor: any SerialExecutor

    init(loop: any EventLoop) {
        self.loop = loop
        self.executor = loop.executor
    }

    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    func measure(_ client: QMPClient, count: Int) async throws -> Samples {
        var samples = Samples(reservingCapacity: count)
        for _ in 0..<count {
            let begin = monotonicNanoseconds()
            let reply = try await client.execute("query-balloon")
            let end = monotonicNanoseconds()
            blackHole(reply)
            samples.append(end - begin)
        }
        return samples
    }

    /// The client's concurrency overhead with no I/O: hop to the loop, complete a promise there, resume the
    /// awaiting task. This is the path `execute` takes around the socket.
    @concurrent
    static func measureHops(loop: any EventLoop, count: Int) async throws -> Samples {
        var samples = Samples(reservingCapacity: count)
        for _ in 0..<count {
            let begin = monotonicNanoseconds()
            let promise = loop.makePromise(of: Int.self)
            loop.execute { promise.succeed(1) }
            let value = try await promise.futureResult.get()
            let end = monotonicNanoseconds()
            blackHole(value)
            samples.append(end - begin)
        }
        return samples
    }
}
