import QBalloonQMP

/// Many tasks sharing one client, each running `query-balloon` in a loop: the client pipelines their
/// commands on the one connection; QEMU still runs them one at a time.
struct ThroughputBenchmark {
    struct Result {
        var tasks: Int
        var commands: Int
        var seconds: Double
        var perSecond: Double { Double(commands) / seconds }
    }

    let client: QMPClient

    @concurrent
    func run(tasks: Int, seconds: Double) async throws -> Result {
        let start = monotonicNanoseconds()
        let deadline = start + UInt64(seconds * 1e9)
        let client = self.client
        let commands = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    var count = 0
                    while monotonicNanoseconds() < deadline {
                        blackHole(try await client.execute("query-balloon"))
                        count += 1
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        return Result(tasks: tasks, commands: commands, seconds: elapsed)
    }
}
