import NIOCore
import QBalloonJSON
import QBalloonQMP

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Sequential `query-balloon` round trips: the library client against the minimal blocking client, on two
/// monitors of the same QEMU, alternating in short rounds so drift (other load on this shared machine) hits
/// every variant alike. The minimal client blocks the main actor's thread while it runs.
@MainActor
struct LatencyBenchmark {
    enum Variant: Int, CaseIterable {
        /// How an application calls the client: a task on Swift's global executor.
        case client
        /// The floor: blocking `write`/`read` on a unix socket.
        case minimal
        /// A task whose executor preference is the client's event loop: no thread hand-offs at all.
        case clientTaskExecutor
        /// A caller isolated to an actor that runs on the client's event loop. `execute` is a plain
        /// `nonisolated async` function, so it still runs on the global executor: two extra hand-offs.
        case clientFromActor

        var key: String {
            switch self {
            case .client: return "qmpclient"
            case .minimal: return "minimal"
            case .clientTaskExecutor: return "qmpclient_task_executor"
            case .clientFromActor: return "qmpclient_from_loop_actor"
            }
        }

        var label: String {
            switch self {
            case .client: return "QMPClient (task on global executor)"
            case .minimal: return "minimal blocking socket client"
            case .clientTaskExecutor: return "QMPClient, task executor = its loop"
            case .clientFromActor: return "QMPClient, caller is an actor on its loop"
            }
        }
    }

    struct Result {
        var samples: [Variant: Samples] = [:]
        var roundMedians: [Variant: [Double]] = [:]
        /// Process CPU time (all threads, user + system) spent per round trip, in nanoseconds.
        var cpuPerRoundTrip: [Variant: Double] = [:]
        var rounds = 0
        var perRound = 0

        func median(_ variant: Variant) -> Double { samples[variant]?.median ?? .nan }
    }

    let client: QMPClient
    let minimal: MinimalQMPClient
    let loopExecutor: any TaskExecutor
    let loopActor: EventLoopActor
    let rounds: Int
    let perRound: Int
    let warmUp: Int

    func run() async throws -> Result {
        var result = Result(rounds: rounds, perRound: perRound)
        for variant in Variant.allCases { _ = try await measure(variant, count: warmUp) }
        let variants = Variant.allCases
        var cpu: [Variant: UInt64] = [:]
        for round in 0..<rounds {
            // Rotate who goes first so no variant always runs just after the same other one.
            for turn in 0..<variants.count {
                let variant = variants[(round + turn) % variants.count]
                let cpuBefore = processCPUNanoseconds()
                let samples = try await measure(variant, count: perRound)
                cpu[variant, default: 0] += processCPUNanoseconds() - cpuBefore
                result.roundMedians[variant, default: []].append(samples.median)
                result.samples[variant, default: Samples()].append(contentsOf: samples)
            }
        }
        for (variant, nanoseconds) in cpu {
            result.cpuPerRoundTrip[variant] = Double(nanoseconds) / Double(rounds * perRound)
        }
        return result
    }

    func measure(_ variant: Variant, count: Int) async throws -> Samples {
        switch variant {
        case .client:
            return try await Self.measureClient(client, count: count)
        case .minimal:
            var samples = Samples(reservingCapacity: count)
            try minimal.measure("query-balloon", count: count, into: &samples)
            return samples
        case .clientTaskExecutor:
            let client = self.client
            return try await withTaskExecutorPreference(loopExecutor) {
                try await Self.measureClient(client, count: count)
            }
        case .clientFromActor:
            return try await loopActor.measure(client, count: count)
        }
    }

    /// Sequential round trips from a nonisolated task (the global executor, or a preferred task executor).
    @concurrent
    static func measureClient(_ client: QMPClient, count: Int) async throws -> Samples {
        try await roundTrips(client, count: count)
    }

    /// Sequential `query-balloon` round trips, timed one by one, on whatever executor the caller runs on.
    nonisolated(nonsending)
    static func roundTrips(_ client: QMPClient, count: Int) async throws -> Samples {
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

    /// The client's concurrency path with no I/O: hop to the loop, complete a promise there, resume the
    /// awaiting task on the global executor. `idleMicroseconds` of sleep before each hop lets both threads go
    /// idle first, as they do while QEMU works on a command.
    @concurrent
    static func measureHops(loop: any EventLoop, count: Int, idleMicroseconds: UInt32 = 0) async throws -> Samples {
        var samples = Samples(reservingCapacity: count)
        for _ in 0..<count {
            if idleMicroseconds > 0 { usleep(idleMicroseconds) }
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

/// An actor whose executor is the client's event loop, like a caller that keeps its state on the loop.
actor EventLoopActor {
    let loop: any EventLoop
    /// Kept here because `unownedExecutor` does not retain it.
    private let executor: any SerialExecutor

    init(loop: any EventLoop) {
        self.loop = loop
        self.executor = loop.executor
    }

    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// The round trips run isolated to this actor: `roundTrips` inherits the caller's executor.
    func measure(_ client: QMPClient, count: Int) async throws -> Samples {
        try await LatencyBenchmark.roundTrips(client, count: count)
    }
}
