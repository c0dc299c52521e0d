import Foundation
import QBalloonTestSupport
import Testing

/// Installed outside the repository (PREFIX/bin/qballoon, PREFIX/share/qballoon/), the demo finds its config
/// and scenarios beside the binary, from any directory; with neither an installed tree nor a checkout it says
/// where it looked. (The whole .deb on a fresh Debian 12 root: scripts/package-test.sh, run by CI.)
@Suite(.serialized, .timeLimit(.minutes(1)))
struct InstalledTreeTests {
    /// A prefix holding a copy of the built binary in bin/ and, with `share`, the demo's files in share/qballoon/.
    static func prefix(share: Bool) throws -> String {
        let files = FileManager.default
        let prefix = NSTemporaryDirectory() + "qballoon-prefix-\(UInt32.random(in: 0...UInt32.max))"
        try files.createDirectory(atPath: prefix + "/bin", withIntermediateDirectories: true)
        try files.copyItem(atPath: TestEnvironment.qballoon, toPath: prefix + "/bin/qballoon")
        if share {
            let root = TestEnvironment.repositoryRoot
            try files.createDirectory(atPath: prefix + "/share/qballoon/scenarios", withIntermediateDirectories: true)
            try files.createDirectory(atPath: prefix + "/share/qballoon/configs", withIntermediateDirectories: true)
            try files.copyItem(atPath: root + "/Configs/demo.toml", toPath: prefix + "/share/qballoon/configs/demo.toml")
            for name in ["idle", "growing", "bursty"] {
                try files.copyItem(
                    atPath: root + "/Fixtures/scenarios/\(name).json", toPath: prefix + "/share/qballoon/scenarios/\(name).json")
            }
        }
        return prefix
    }

    @Test func theDemoFindsItsInstalledFilesFromAnyDirectory() async throws {
        let prefix = try Self.prefix(share: true)
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        let result = try await BuiltCLI.run(
            ["demo", "--duration", "2s"], executable: prefix + "/bin/qballoon", workingDirectory: "/")
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("config \(prefix)/share/qballoon/configs/demo.toml"), "\(result)")
        #expect(result.stdout.contains("idle") && result.stdout.contains("bursty"), "\(result)")
    }

    @Test func withoutThemItSaysWhereItLooked() async throws {
        let prefix = try Self.prefix(share: false)
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        let result = try await BuiltCLI.run(
            ["demo", "--duration", "2s"], executable: prefix + "/bin/qballoon", workingDirectory: "/")
        #expect(result.status != 0, "\(result)")
        #expect(result.stderr.contains("\(prefix)/share/qballoon/configs/demo.toml"), "\(result)")
        #expect(result.stderr.contains("Configs/demo.toml with Fixtures/scenarios/"), "\(result)")
        #expect(result.stderr.contains("--scenarios"), "\(result)")
    }

    /// `qballoon fleet` draws from the shape traces installed in share/qballoon/traces, from any directory.
    @Test func theFleetDrawsFromTheInstalledShapes() async throws {
        let prefix = try Self.prefix(share: true)
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        try FileManager.default.createDirectory(atPath: prefix + "/share/qballoon/traces", withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: TestEnvironment.repositoryRoot + "/Fixtures/traces/slow-leak.trace",
            toPath: prefix + "/share/qballoon/traces/slow-leak.trace")
        let result = try await BuiltCLI.run(
            ["fleet", "--vms", "3", "--duration", "10m", "--out", prefix + "/fleet"], executable: prefix + "/bin/qballoon",
            workingDirectory: "/")
        #expect(result.status == 0 && result.stdout.contains("3 slow-leak"), "\(result)")
    }

    @Test func inACheckoutItUsesTheRepositorysFiles() async throws {
        let result = try await BuiltCLI.run(
            ["demo", "--duration", "1s"], workingDirectory: TestEnvironment.repositoryRoot)
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("config Configs/demo.toml"), "\(result)")
    }
}
