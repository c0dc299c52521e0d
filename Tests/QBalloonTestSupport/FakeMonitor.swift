import QBalloonCore
import QBalloonFakeQMP
import QBalloonQMP

/// A fake QEMU monitor on a unix socket in a fresh temporary directory: for testing anything that talks QMP
/// over a real socket (the client, the fake server itself, the daemon's QMP link).
package enum FakeMonitor {
    /// Runs `body` with a started server, then stops it and removes its directory.
    package static func with<T>(
        scenario: FakeGuestScenario = .idle, faults: FakeQMPFaults? = nil, clock: FakeClock = .system,
        _ body: (FakeQMPServer) async throws -> T
    ) async throws -> T {
        let directory = TestEnvironment.makeTemporaryDirectory(prefix: "qbqmp")
        defer { TestEnvironment.removeDirectory(directory) }
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

    /// Client options for fault tests: short waits, but a connection that is meant to succeed gets as long as a
    /// slow machine (a sanitizer build) needs.
    package static let quick = QMPClient.Options(commandTimeout: .seconds(5), connectTimeout: .seconds(5))

    /// Client options for a connection that is meant to fail: a short wait for the greeting and negotiation.
    package static let failingConnect = QMPClient.Options(commandTimeout: .seconds(5), connectTimeout: .milliseconds(300))

    /// The error `body` throws, as a QMPError; `nil` if it throws none or another kind.
    package static func qmpError(_ body: () async throws -> Void) async -> QMPError? {
        do {
            try await body()
            return nil
        } catch let error as QMPError {
            return error
        } catch {
            return nil
        }
    }

    /// The first element of `stream`, or `nil` if none comes within `seconds`.
    package static func first<Element: Sendable>(of stream: AsyncStream<Element>, within seconds: Double) async -> Element? {
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
}
