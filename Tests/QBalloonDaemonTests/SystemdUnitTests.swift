import Foundation
import QBalloonTestSupport
import Testing

/// `contrib/systemd/qballoon.service` as systemd reads it: `systemd-analyze verify` passes (with the unit pointed at
/// the built binary), and it asks for what the daemon does (notify, watchdog, reload by SIGHUP, killed last).
@Suite struct SystemdUnitTests {
    static let unit = TestEnvironment.repositoryRoot + "/contrib/systemd/qballoon.service"

    @Test func theUnitAsksForWhatTheDaemonDoes() throws {
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
        let lines = Set(text.split(separator: "\n").map(String.init))
        for line in [
            "Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure", "WatchdogSec=60s",
            "OOMScoreAdjust=-900", "ProtectSystem=strict", "NoNewPrivileges=yes", "SystemCallFilter=@system-service",
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "RuntimeDirectory=qballoon",
        ] {
            #expect(lines.contains(line), "missing \(line)")
        }
    }

    @Test func systemdAnalyzeVerifiesIt() async throws {
        let analyze = "/usr/bin/systemd-analyze"
        guard FileManager.default.isExecutableFile(atPath: analyze) else {
            if TestEnvironment.isCI { Issue.record("CI=true but systemd-analyze is missing (Debian package systemd)") }
            return
        }
        let directory = TestEnvironment.makeTemporaryDirectory(prefix: "qbunit")
        defer { TestEnvironment.removeDirectory(directory) }
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
            .replacingOccurrences(of: "ExecStart=/usr/bin/qballoon ", with: "ExecStart=\(TestEnvironment.qballoon) ")
        try text.write(toFile: directory + "/qballoon.service", atomically: true, encoding: .utf8)
        let result = try await BuiltCLI.run(["verify", directory + "/qballoon.service"], executable: analyze)
        #expect(result.status == 0 && result.stdout.isEmpty && result.stderr.isEmpty, "\(result)")
    }
}
