import Foundation
import QBalloonDaemon
import QBalloonTestSupport
import Synchronization
import Testing

/// The daemon and systemd (`Type=notify`): READY once every VM has been tried, RELOADING and READY around a
/// reload, STATUS when it changes, WATCHDOG only while the decision loop makes rounds, STOPPING on shutdown.
@Suite(.timeLimit(.minutes(1)))
struct SystemdNotifyTests {
    final class Messages: Sendable {
        let all = Mutex<[String]>([])
        var list: [String] { all.withLock { $0 } }
        var pings: Int { list.filter { $0.split(separator: "\n").contains("WATCHDOG=1") }.count }
    }

    @Test func readyReloadWatchdogAndStopping() async throws {
        try await TestFleet.run { fleet in
            try await fleet.startVM("a")
            try await fleet.startVM("b")
            let messages = Messages()
            // A 2 s watchdog: a ping at least every second of the loop's time.
            let notifier = SystemdNotifier(socket: "@test", watchdogInterval: 2) { message in
                messages.all.withLock { $0.append(message) }
            }
            try await fleet.startDaemon(
                config: TestConfig.daemon() + TestConfig.defaults() + TestConfig.vm("a", in: fleet)
                    + TestConfig.vm("b", in: fleet) + TestConfig.quietRule,
                notifier: notifier)
            try await fleet.waitFor("both attached") { $0.rows.allSatisfy { $0.status == .ok } }
            let ready = try #require(messages.list.first { $0.contains("READY=1") })
            #expect(ready.contains("STATUS=2 VMs: 2 ok; 0 B returned to the host"), "\(ready)")
            #expect(messages.list.filter { $0.contains("READY=1") }.count == 1)

            // 10 rounds of 300 ms: three seconds of the loop, a ping a second.
            let before = messages.pings
            try await fleet.rounds(10)
            #expect((2...4).contains(messages.pings - before), "\(messages.list)")

            // A reload: RELOADING with the monotonic time, then READY again.
            try await fleet.reload()
            try await fleet.rounds(2)
            let reloading = try #require(messages.list.firstIndex { $0.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") })
            #expect(messages.list[(reloading + 1)...].contains { $0.contains("READY=1") }, "\(messages.list)")

            // A stuck loop: time goes on, no rounds, no pings; systemd would restart the daemon.
            fleet.host.hold(true)
            let stuckAt = messages.pings
            fleet.clock.advance(by: .seconds(1))
            try await Task.sleep(for: .milliseconds(300))
            fleet.clock.advance(by: .seconds(10))
            try await Task.sleep(for: .milliseconds(300))
            #expect(messages.pings == stuckAt, "pings while the loop was stuck: \(messages.list.suffix(3))")
            fleet.host.hold(false)
            try await fleet.rounds(5)
            #expect(messages.pings > stuckAt, "the pings come back with the rounds")

            try await fleet.stopDaemon()
            #expect(messages.list.last == "STOPPING=1", "\(messages.list.suffix(3))")
        }
    }

    @Test func theEnvironmentSaysWhereAndHowOften() {
        let notifier = SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": "@/org/freedesktop/systemd1/notify", "WATCHDOG_USEC": "30000000"])
        #expect(notifier?.socket == "@/org/freedesktop/systemd1/notify")
        #expect(notifier?.watchdogInterval == 30)
        #expect(SystemdNotifier.fromEnvironment([:]) == nil)
        // A watchdog meant for another process is not ours.
        #expect(SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "5", "WATCHDOG_PID": "1"])?.watchdogInterval == nil)
    }

    /// `qballoon run` as systemd starts it: the datagrams arrive on a real socket.
    @Test func datagramsReachARealSocket() async throws {
        try await TestFleet.run(.sockets) { fleet in
            try await fleet.startVM("a")
            let path = fleet.directory + "/notify.sock"
            let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            #expect(fd >= 0)
            defer { close(fd) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            #expect(bound == 0)
            var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            try fleet.writeConfig(TestConfig.daemon() + TestConfig.defaults() + TestConfig.vm("a", in: fleet) + TestConfig.quietRule)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: TestEnvironment.qballoon)
            process.arguments = ["run", "--config", fleet.configPath]
            process.environment = ProcessInfo.processInfo.environment.merging(
                ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"], uniquingKeysWith: { $1 })
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
            func receive(until condition: ([String]) -> Bool) -> [String] {
                var got: [String] = []
                var buffer = [UInt8](repeating: 0, count: 4096)
                for _ in 0..<100 where !condition(got) {
                    let count = recv(fd, &buffer, buffer.count, 0)
                    if count > 0 { got.append(String(decoding: buffer[0..<count], as: UTF8.self)) }
                }
                return got
            }
            let first = receive { $0.contains { $0.contains("READY=1") } }
            #expect(first.contains { $0.contains("READY=1") && $0.contains("STATUS=1 VM: 1 ok") }, "\(first)")
            let pings = receive { $0.filter { $0.contains("WATCHDOG=1") }.count >= 2 }
            #expect(pings.filter { $0.contains("WATCHDOG=1") }.count >= 2, "\(pings)")
            kill(process.processIdentifier, SIGHUP)
            let reload = receive { $0.contains { $0.contains("READY=1") } }
            #expect(reload.first { $0.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") } != nil, "\(reload)")
            kill(process.processIdentifier, SIGTERM)
            let stop = receive { $0.contains("STOPPING=1") }
            #expect(stop.contains("STOPPING=1"), "\(stop)")
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
        }
    }
}
