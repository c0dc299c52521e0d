import Foundation
import QBalloonJSON
import QBalloonTestSupport
import Testing

/// The `qballoon` command line against a real QEMU with no guest, run as a user would run it.
@Suite(requiresQEMU, .serialized)
struct RealQEMUCLITests {
    @Test func statusJSONHasEveryDocumentedField() async throws {
        let qemu = try RealQEMU()
        let result = try await BuiltCLI.run(["status", "--qmp", "\(qemu.address)", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let status = try result.json()
        #expect(status["actual_bytes"]?.uint64Value == qemu.ramBytes)
        #expect(status["max_bytes"]?.uint64Value == qemu.ramBytes)
        #expect(status["balloon_path"]?.stringValue == "/machine/peripheral/balloon0")
        #expect(status["qemu_version"]?.stringValue?.hasPrefix("7.") == true)
        #expect(status["stats_updated"] == .null)
        let stats = try #require(status["stats"]?.objectValue)
        let keys = [
            "available_bytes", "free_bytes", "total_bytes", "disk_caches_bytes", "swap_in_bytes", "swap_out_bytes",
            "major_faults", "minor_faults",
        ]
        for key in keys { #expect(stats[key] == .null, "\(key) is unreported without a guest") }
    }

    @Test func statusTextOverTCP() async throws {
        let qemu = try RealQEMU(balloon: .anonymous, monitor: .tcp)
        let result = try await BuiltCLI.run(["status", "--qmp", "\(qemu.address)"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("/machine/peripheral-anon/"))
        #expect(result.stdout.contains("512 MiB"))
    }

    @Test func setWithoutWaitingSendsThePercentTarget() async throws {
        let qemu = try RealQEMU()
        let result = try await BuiltCLI.run(["set", "--qmp", "\(qemu.address)", "50%", "--no-wait", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let outcome = try result.json()
        #expect(outcome["result"] == "sent")
        #expect(outcome["target_bytes"]?.uint64Value == qemu.ramBytes / 2)
        #expect(outcome["actual_bytes"]?.uint64Value == qemu.ramBytes)
    }

    @Test func setReportsAStallWithExitCode3() async throws {
        let qemu = try RealQEMU()
        let result = try await BuiltCLI.run(["set", "--qmp", "\(qemu.address)", "256MiB", "--stall-after", "500ms", "--json"])
        #expect(result.status == 3)
        #expect(try result.json()["result"] == "stalled")
    }

    @Test func setAboveRAMIsClampedAndReached() async throws {
        let qemu = try RealQEMU()
        let result = try await BuiltCLI.run(["set", "--qmp", "\(qemu.address)", "8G", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let outcome = try result.json()
        #expect(outcome["result"] == "reached")
        #expect(outcome["target_bytes"]?.uint64Value == qemu.ramBytes)
    }

    @Test func noBalloonDeviceExits1NamingTheSocket() async throws {
        let qemu = try RealQEMU(balloon: .none)
        let result = try await BuiltCLI.run(["status", "--qmp", "\(qemu.address)"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(qemu.address)"))
        #expect(result.stderr.contains("no balloon device"))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test func statsWithoutAGuestFailsAfterItsPatience() async throws {
        let qemu = try RealQEMU()
        let result = try await BuiltCLI.run(["stats", "--qmp", "\(qemu.address)", "--interval", "1", "--count", "1"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("no statistics"))
        #expect(result.stderr.contains("\(qemu.address)"))
    }
}

/// Bad input ends in one clear line and exit 1 or 2, without a QEMU.
@Suite struct CLIBadInputTests {
    @Test(arguments: [
        (["set", "--qmp", "/tmp/x.qmp", "12XB"], "unknown unit 'XB'"),
        (["set", "--qmp", "/tmp/x.qmp", "--", "-1G"], "cannot be negative"),
        (["set", "--qmp", "/tmp/x.qmp", "0"], "more than 0"),
        (["set", "--qmp", "/tmp/x.qmp", "150%"], "cannot exceed 100"),
        (["set", "--qmp", "/tmp/x.qmp", "1G", "--timeout", "soon"], "bad duration 'soon'"),
        (["status", "--qmp", "tcp:localhost"], "expected tcp:HOST:PORT"),
        (["status", "--qmp", "tcp:localhost:99999"], "port '99999'"),
        (["status", "--qmp", "ftp:x"], "unknown scheme 'ftp'"),
        (["status"], "--qmp"),
        (["stats", "--qmp", "/tmp/x.qmp", "--interval", "0"], "--interval"),
    ])
    func usageErrorsExit2(arguments: [String], message: String) async throws {
        let result = try await BuiltCLI.run(arguments)
        #expect(result.status == 2)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    @Test(arguments: [["--help"], ["set", "--help"], ["help", "run"]])
    func helpExits0OnStandardOutput(arguments: [String]) async throws {
        let result = try await BuiltCLI.run(arguments)
        #expect(result.status == 0)
        #expect(result.stdout.contains("USAGE: qballoon"), "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.isEmpty)
    }

    @Test func aMissingSocketExits1NamingIt() async throws {
        let result = try await BuiltCLI.run(["status", "--qmp", "unix:/tmp/qballoon-none.qmp"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("/tmp/qballoon-none.qmp"))
        #expect(result.stderr.contains("no such socket"))
    }

    @Test func aRefusedSocketExits1() async throws {
        // A unix socket file with nobody listening: connect is refused.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("qballoon-refused-\(getpid()).sock").path
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            _ = path.utf8CString.withUnsafeBytes { raw.copyMemory(from: $0) }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        close(fd)
        defer { unlink(path) }
        let result = try await BuiltCLI.run(["status", "--qmp", path])
        #expect(result.status == 1)
        #expect(result.stderr.contains(path))
        #expect(result.stderr.contains("refused"))
    }
}
