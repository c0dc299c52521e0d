import QBalloonJSON
import QBalloonQMP

@testable import QBalloonFakeQMP

private let MiB: UInt64 = 1 << 20
private let GiB: UInt64 = 1 << 30

/// Starting fake servers on a unix socket in a fresh temporary directory.
enum ServerHarness {
    /// 2 GiB, 300 MiB used, balloon at 256 MiB/s, no boot report.
    static func scenario() -> FakeGuestScenario {
        var scenario = FakeGuestScenario(name: "test", ram: 2 * GiB, workload: .constant(300 * MiB))
        scenario.balloon.speed = 256 * MiB
        scenario.guest.statsAtBoot = false
        return scenario
    }

    /// Runs `body` with a started server, then stops it and removes its directory.
    static func withServer<T>(
        scenario: FakeGuestScenario = scenario(), faults: FakeQMPFaults? = nil, clock: FakeClock = .system,
        _ body: (FakeQMPServer) async throws -> T
    ) async throws -> T {
        let directory = TestPaths.makeTemporaryDirectory()
        defer { TestPaths.removeDirectory(directory) }
        let server = try await FakeQMPServer.start(
            listen: .unixDomainSocket(path: directory + "/qmp.sock"), scenario: scenario, faults: faults, clock: clock)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// Client options for fault tests: short waits.
    static let quick = QMPClient.Options(commandTimeout: .seconds(5), connectTimeout: .milliseconds(300))

    /// The first element of `stream`, or nil if none comes within `seconds`.
    static func first<Element: Sendable>(of stream: AsyncStream<Element>, within seconds: Double) async -> Element? {
        await withTaskGroup(of: Element?.self) { group in
            group.addTask {
                var iterator = stream.makeAsyncIterator()
                return await iterator.next()
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                return nil
            }
            let result = await group.next() ?? nil
            group.cancelAll()
            return result
        }
    }

    /// The error `body` throws, as a QMPError.
    static func qmpError(_ body: () async throws -> Void) async -> QMPError? {
        do {
            try await body()
            return nil
        } catch let error as QMPError {
            return error
        } catch {
            return nil
        }
    }
}
