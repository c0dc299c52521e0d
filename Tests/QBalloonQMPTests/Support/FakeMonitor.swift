import QBalloonFakeQMP
import QBalloonQMP

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A fake QEMU monitor on a unix socket in a fresh temporary directory, for testing QMPClient over a real
/// socket.
enum FakeMonitor {
    /// Runs `body` with a started server, then stops it and removes its directory.
    static func with<T>(
        scenario: FakeGuestScenario = .idle, faults: FakeQMPFaults? = nil, clock: FakeClock = .system,
        _ body: (FakeQMPServer) async throws -> T
    ) async throws -> T {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
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

    /// The error `body` throws, as a QMPError; `nil` if it throws none or another kind.
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

    /// The first element of `stream`, or `nil` if none comes within `seconds`.
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

    private static func makeTemporaryDirectory() -> String {
        var template = Array("/tmp/qbqmp.XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress, let path = mkdtemp(base) else { return "/tmp" }
            return String(cString: path)
        }
    }

    /// Removes the directory and the socket, if the server left it.
    private static func removeDirectory(_ path: String) {
        guard path != "/tmp" else { return }
        unlink(path + "/qmp.sock")
        rmdir(path)
    }
}
