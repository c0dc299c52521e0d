/// Every daemon a test starts gets its own control socket and state folder in the test's folder, so tests running at
/// once never meet at /run/qballoon/control.sock or share /var/lib/qballoon.
package enum TestDaemonFiles {
    /// `config` with `control_socket` and `state_dir` in `directory` added to its `[daemon]` table (made if missing),
    /// unless it names a control socket already.
    package static func withOwnControlSocket(_ config: String, directory: String, name: String = "control") -> String {
        guard !config.contains("control_socket") else { return config }
        let lines = "control_socket = \"\(directory)/\(name).sock\"\nstate_dir = \"\(directory)/\(name).state\"\n"
        var out: [Substring] = []
        var added = false
        for line in config.split(separator: "\n", omittingEmptySubsequences: false) {
            out.append(line)
            if !added, line.trimmingPrefix(while: \.isWhitespace).hasPrefix("[daemon]") {
                out.append(Substring(lines.dropLast()))
                added = true
            }
        }
        return added ? out.joined(separator: "\n") : "[daemon]\n" + lines + config
    }
}

extension Substring {
    fileprivate func trimmingPrefix(while predicate: (Character) -> Bool) -> Substring {
        self.drop(while: predicate)
    }
}
