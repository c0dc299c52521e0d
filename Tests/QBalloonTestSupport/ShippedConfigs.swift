import Foundation

/// The configs the repository ships (`Configs/*.toml`), made to run in a test's world: the policy stays the
/// config's, only where it looks changes.
package enum ShippedConfigs {
    /// The shipped configs' file names, sorted.
    package static let names: [String] = {
        let directory = TestEnvironment.repositoryRoot + "/Configs"
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".toml") }.sorted()
    }()

    /// Where an adapted config looks.
    package struct World: Sendable {
        /// The folder that stands for `/run/qemu/` (and the demo's `/tmp/qballoon-demo/`).
        package var sockets: String
        /// `[host] meminfo` and `pressure`, when the test writes the host's figures (nil: the real host's).
        package var hostMeminfo: String?
        /// `[daemon] decision_log` (nil: none).
        package var decisionLog: String?

        package init(sockets: String, hostMeminfo: String? = nil, decisionLog: String? = nil) {
            self.sockets = sockets
            self.hostMeminfo = hostMeminfo
            self.decisionLog = decisionLog
        }
    }

    /// The config `name` with its sockets in `world.sockets`, no metrics listener or control socket of the host's, the world's decision log and
    /// host figures, and a `[host]` reserve given in bytes (sized for a real host) turned into 10% of the test's
    /// host (a percentage stays the config's; `hard_reserve` in bytes goes with it).
    package static func adapted(_ name: String, in world: World) throws -> String {
        try adapted(file: "Configs/" + name, in: world)
    }

    /// The config the package installs as /etc/qballoon/qballoon.toml (not in Configs/: it shrinks nothing).
    package static let installedDefault = "contrib/qballoon.toml"

    /// The config at `file` (relative to the repository) made to run in `world`, as ``adapted(_:in:)``; a reserve
    /// of "0" stays 0.
    package static func adapted(file: String, in world: World) throws -> String {
        let text = try String(contentsOfFile: TestEnvironment.repositoryRoot + "/" + file, encoding: .utf8)
        var lines: [String] = []
        var section = ""
        var sawDaemon = false
        var sawHost = false
        func enterSection(_ header: String) {
            section = header
            lines.append(header)
            if header == "[daemon]" {
                sawDaemon = true
                if let log = world.decisionLog { lines.append("decision_log = \"\(log)\"") }
            }
            if header == "[host]" {
                sawHost = true
                if let meminfo = world.hostMeminfo {
                    lines.append("meminfo = \"\(meminfo)\"")
                    lines.append("pressure = \"\(meminfo).pressure\"")
                }
            }
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            let value = trimmed.split(separator: "#", maxSplits: 1).first.map(String.init) ?? trimmed
            let header = value.trimmingCharacters(in: .whitespaces)
            if header.hasPrefix("[") {
                // The sections this adds go before the first table of VMs or rules.
                if header.hasPrefix("[[") {
                    if !sawDaemon, world.decisionLog != nil { enterSection("[daemon]") }
                    if !sawHost, world.hostMeminfo != nil { enterSection("[host]") }
                    section = header
                    lines.append(line)
                } else {
                    enterSection(header)
                }
                continue
            }
            // The host's own endpoints and files are never a test's: each test daemon gets its own (TestDaemonFiles).
            if ["metrics_listen", "decision_log", "control_socket", "control_group", "state_dir"].contains(where: { trimmed.hasPrefix($0) }) {
                continue
            }
            if section == "[host]", ["meminfo", "pressure"].contains(where: { trimmed.hasPrefix($0) }) { continue }
            if section == "[host]", trimmed.hasPrefix("reserve"), !value.contains("%"), !value.contains("\"0\"") {
                lines.append(#"reserve = "10%""#)
                continue
            }
            if section == "[host]", trimmed.hasPrefix("hard_reserve"), !value.contains("%") { continue }
            lines.append(
                line.replacingOccurrences(of: "/run/qemu/", with: world.sockets + "/")
                    .replacingOccurrences(of: "/tmp/qballoon-demo/", with: world.sockets + "/"))
        }
        return lines.joined(separator: "\n")
    }
}
