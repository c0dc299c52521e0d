import Foundation
import QBalloonFakeQMP
import QBalloonJSON
import QBalloonTestSupport
import Testing

/// `qballoon run --config FILE` as a user runs it: a separate process, against fake VMs in this one;
/// SIGHUP reloads (a broken config is refused, the daemon goes on), SIGTERM stops it with exit 0 after
/// `restore_on_exit` gave every guest its max back.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct CLIRunTests {
    static let gib = TestFleet.gib

    static let executable = TestEnvironment.qballoon

    /// Commands may take 5 s: nothing here waits for a timeout, and with the whole suite starting at once a fake
    /// monitor of this process once took over 1 s to answer, so the restore at exit gave up on a guest.
    static func config(_ fleet: TestFleet, secondMin: String, broken: Bool = false) -> String {
        TestConfig.daemon(commandTimeout: "5s", extra: """
            restore_on_exit = true
            decision_log = "\(fleet.directory)/decisions.jsonl"
            """) + TestConfig.defaults(broken ? #"shares = "many""# : "") + TestConfig.vm("first", in: fleet)
            + TestConfig.vm("second", in: fleet, "min = \"\(secondMin)\"") + TestConfig.reclaimRule
    }

    /// Polls `condition` every 100 ms, at most `tries` times.
    func eventually(_ what: String, tries: Int = 150, _ condition: () async throws -> Bool) async throws {
        for _ in 0..<tries {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("not after \(tries) tries: \(what)")
    }

    @Test func runReloadsOnHangupAndRestoresGuestsOnTerm() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.executable), "build with swift build --build-tests")
        try await TestFleet.run(.sockets) { fleet in
            try await fleet.startVM("first")
            try await fleet.startVM("second")
            try fleet.writeConfig(Self.config(fleet, secondMin: "768MiB"))
            let errorLog = fleet.directory + "/stderr.log"
            _ = FileManager.default.createFile(atPath: errorLog, contents: nil)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.executable)
            process.arguments = ["run", "--config", fleet.configPath]
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorLog))
            try process.run()
            defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
            func stderr() -> String { (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? "" }
            func decisionLog() -> String { (try? String(contentsOfFile: fleet.directory + "/decisions.jsonl", encoding: .utf8)) ?? "" }

            func settled(_ vm: String, below limit: UInt64) async throws -> Bool {
                let guest = try await fleet.guest(vm)
                return guest.target < limit && guest.actual == guest.target
            }
            // The second may stop on the way (its report made while its balloon moved shows less available), so
            // wait for it at its min, not only below 1 GiB.
            try await eventually("both guests reclaimed, the second to its min") {
                #expect(process.isRunning, "qballoon run exited: \(stderr())")
                let first = try await settled("first", below: Self.gib)
                let second = try await fleet.guest("second")
                return first && second.target == 768 << 20 && second.actual == second.target
            }
            #expect(try await fleet.guest("second").target == 768 << 20, "\(decisionLog())")

            // A broken config: refused, logged, and the daemon goes on with the old one.
            try fleet.writeConfig(Self.config(fleet, secondMin: "1.5GiB", broken: true))
            kill(process.processIdentifier, SIGHUP)
            try await eventually("the reload refused") { stderr().contains("reload refused") }
            #expect(stderr().contains("shares"))
            try await Task.sleep(for: .milliseconds(600))
            #expect(process.isRunning)
            #expect(try await fleet.guest("second").target == 768 << 20, "\(stderr())\n\(decisionLog())")

            // A good one: taken.
            try fleet.writeConfig(Self.config(fleet, secondMin: "1.5GiB"))
            kill(process.processIdentifier, SIGHUP)
            try await eventually("the new min in force") {
                let second = try await fleet.guest("second")
                return second.target == 1536 << 20 && second.actual == second.target
            }
            #expect(stderr().contains("reloaded"))

            // SIGTERM: every guest gets its max back, then exit 0.
            kill(process.processIdentifier, SIGTERM)
            try await eventually("qballoon run exited") { !process.isRunning }
            #expect(process.terminationReason == .exit)
            #expect(process.terminationStatus == 0, "\(stderr())")
            for vm in ["first", "second"] {
                #expect(try await fleet.guest(vm).target == 2 * Self.gib, "\(vm) did not get its max back; the daemon said:\n\(stderr())")
            }
            let decisions = try String(contentsOfFile: fleet.directory + "/decisions.jsonl", encoding: .utf8)
                .split(separator: "\n").map { try JSON.decode(String($0)) }
            #expect(!decisions.isEmpty)
            #expect(decisions.allSatisfy { $0["dry_run"]?.boolValue == false })
            #expect(Set(decisions.compactMap { $0["vm"]?.stringValue }) == ["first", "second"])
        }
    }

    /// As OpenSSH's StrictModes: a config someone else could write is refused, naming the file and its mode, and
    /// a reload from one is refused with the running config kept.
    @Test func aConfigOthersCanWriteIsRefused() async throws {
        try await TestFleet.run(.sockets) { fleet in
            try await fleet.startVM("first")
            try await fleet.startVM("second")
            try fleet.writeConfig(Self.config(fleet, secondMin: "768MiB"))
            chmod(fleet.configPath, 0o666)
            let refused = try await BuiltCLI.run(["run", "--config", fleet.configPath], timeout: 30)
            #expect(refused.status == 2, "\(refused)")
            #expect(
                refused.stderr.contains("refusing the config: \(fleet.configPath) is writable by group and others (mode 0666): chmod go-w \(fleet.configPath)"),
                "\(refused)")
            #expect(try await fleet.guest("second").target == 2 * Self.gib, "nothing was done")

            chmod(fleet.configPath, 0o644)
            let daemon = try DaemonProcess(config: Self.config(fleet, secondMin: "768MiB"), directory: fleet.directory)
            try daemon.start()
            try await eventually("attached") { daemon.logLines(containing: "] attached").count == 2 }
            chmod(daemon.configPath, 0o664)
            kill(try #require(daemon.pid), SIGHUP)
            try await eventually("the reload refused") { !daemon.logLines(containing: "reload refused").isEmpty }
            #expect(daemon.logLines(containing: "reload refused").first?.contains("writable by group (mode 0664)") == true, "\(daemon.report())")
            #expect(daemon.isRunning)
            await daemon.stop()
        }
    }
}
