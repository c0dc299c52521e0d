import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real libvirtd for the tests, started by hand as ../shared/LIBVIRT.md does it on machines without systemd:
/// qemu.conf gets the lines it needs once, then `virtlogd` and `libvirtd` start with pid files and logs in a temp
/// directory, and the tests wait for `virsh version`. Shared by the tests that run at once: the first user starts
/// it, the last one stops what was started, by pid. A libvirtd that was already running is used and left alone.
///
/// ```swift
/// try await LibvirtDaemon.using { uri in ... }
/// ```
package actor LibvirtDaemon {
    package static let uri = "qemu:///system"
    package static let shared = LibvirtDaemon()

    /// What libvirtd needs in /etc/libvirt/qemu.conf here: no security driver, cgroups or namespaces (no systemd).
    package static let qemuConfLines = """
        # qballoon tests: a libvirtd without systemd, cgroups or a security driver
        security_driver = "none"
        cgroup_controllers = [ ]
        user = "root"
        group = "root"
        namespaces = [ ]
        remember_owner = 0
        """
    package static let qemuConf = "/etc/libvirt/qemu.conf"

    private var users = 0
    private var starting: Task<Void, any Error>?
    private var directory: String?
    /// The daemons this started, with their pid files: stopped when the last user is done.
    private var started: [(pidFile: String, process: SupervisedProcess)] = []

    /// The trait for tests that need libvirtd: skipped with the reason only outside CI.
    package static let required = ConditionTrait.enabled(
        if: TestEnvironment.isCI
            || (TestEnvironment.executable(named: "libvirtd") != nil && TestEnvironment.executable(named: "virsh") != nil
                && getuid() == 0),
        "needs libvirtd and virsh (Debian libvirt-daemon-system, libvirt-clients; scripts/install-deps.sh) and root")

    /// Runs `body` with libvirtd up, then stops it if this started it and nobody else uses it.
    package static func using<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        try await shared.acquire()
        do {
            let result = try await body(uri)
            await shared.release()
            return result
        } catch {
            await shared.release()
            throw error
        }
    }

    /// The logs of the daemons this started, for failure reports.
    package func logs() -> String {
        guard let directory else { return "(libvirtd was already running; its logs are its own)" }
        return ["virtlogd.out", "virtlogd.log", "libvirtd.out", "libvirtd.log"].map { name in
            let text = (try? String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8)) ?? ""
            return "--- \(name) (last lines)\n" + text.split(separator: "\n").suffix(20).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    private func acquire() async throws {
        users += 1
        // One start for everyone who asks meanwhile (the actor is reentrant across the awaits of start()).
        let starting = self.starting ?? Task { try await self.start() }
        self.starting = starting
        do {
            try await starting.value
        } catch {
            await release()
            throw error
        }
    }

    private func release() async {
        users -= 1
        guard users == 0 else { return }
        starting = nil
        let started = self.started
        self.started = []
        for (pidFile, process) in started.reversed() {
            await Self.stop(pidFile: pidFile)
            // Its wrapper ends with it; signalling a wrapper that has ended would write to a closed pipe.
            for _ in 0..<100 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
            if process.isRunning { await process.stop(timeout: 10) }
        }
    }

    private func start() async throws {
        if try await Self.answers() { return }
        try Self.configureQEMU()
        var template = Array("/tmp/qblibvirt.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, let result = mkdtemp(base) else { return nil }
            return String(cString: result)
        }
        guard let made else { throw TestFailure("cannot make a temporary directory for libvirtd") }
        directory = made
        for daemon in ["virtlogd", "libvirtd"] {
            guard let program = TestEnvironment.executable(named: daemon) else {
                throw TestFailure("\(daemon) is not installed (scripts/install-deps.sh installs libvirt-daemon-system)")
            }
            let pidFile = "\(made)/\(daemon).pid"
            let output = "\(made)/\(daemon).out"
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            // In the foreground under SupervisedProcess (not `-d`): the test process's blocked signals are not
            // inherited (else SIGTERM would not stop it), and it goes away with the test process.
            let process = try SupervisedProcess(
                "/usr/bin/env", ["LIBVIRT_LOG_OUTPUTS=3:file:\(made)/\(daemon).log", program, "-p", pidFile],
                signal: "TERM", output: try FileHandle(forWritingTo: URL(fileURLWithPath: output)))
            started.append((pidFile, process))
            if daemon == "virtlogd" {
                // libvirtd connects to virtlogd when it starts a domain: wait for its pid file.
                let deadline = Date().addingTimeInterval(20)
                while Self.pid(in: pidFile) == nil, process.isRunning, Date() < deadline {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
        }
        // The first start probes QEMU's capabilities (seconds); later ones read them from the cache.
        let deadline = Date().addingTimeInterval(120)
        while !(try await Self.answers()) {
            if Date() > deadline || started.contains(where: { !$0.process.isRunning }) {
                throw TestFailure("libvirtd did not answer `virsh version` (or a daemon ended)\n\(logs())")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Runs `body` with libvirtd stopped (SIGSTOP) and continues it afterwards, whatever happens: a hung daemon.
    /// Only a libvirtd this started; returns nil without running `body` for one that was running already.
    package func whilePaused<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T? {
        guard let pidFile = started.first(where: { $0.pidFile.hasSuffix("/libvirtd.pid") })?.pidFile,
            let pid = Self.pid(in: pidFile)
        else { return nil }
        kill(pid, SIGSTOP)
        do {
            let result = try await body()
            kill(pid, SIGCONT)
            return result
        } catch {
            kill(pid, SIGCONT)
            throw error
        }
    }

    /// Stops libvirtd (SIGTERM) and starts it again, as a package upgrade or an operator does; its running domains
    /// go on and it finds them again. Only a libvirtd this started; returns false without doing anything for one
    /// that was running already.
    package func restart() async throws -> Bool {
        guard let index = started.firstIndex(where: { $0.pidFile.hasSuffix("/libvirtd.pid") }), let directory else { return false }
        let (pidFile, process) = started[index]
        await Self.stop(pidFile: pidFile)
        for _ in 0..<100 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { await process.stop(timeout: 10) }
        guard let program = TestEnvironment.executable(named: "libvirtd") else { throw TestFailure("libvirtd is not installed") }
        let output = "\(directory)/libvirtd.out"
        let restarted = try SupervisedProcess(
            "/usr/bin/env", ["LIBVIRT_LOG_OUTPUTS=3:file:\(directory)/libvirtd.log", program, "-p", pidFile],
            signal: "TERM", output: try FileHandle(forWritingTo: URL(fileURLWithPath: output)))
        started[index] = (pidFile, restarted)
        let deadline = Date().addingTimeInterval(60)
        while !(try await Self.answers()) {
            if Date() > deadline || !restarted.isRunning {
                throw TestFailure("libvirtd did not answer `virsh version` after a restart\n\(logs())")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return true
    }

    /// Appends ``qemuConfLines`` to qemu.conf unless they are there already.
    package static func configureQEMU() throws {
        let current = (try? String(contentsOfFile: qemuConf, encoding: .utf8)) ?? ""
        let missing = qemuConfLines.split(separator: "\n").filter { line in
            !line.hasPrefix("#") && !current.split(separator: "\n").contains(line)
        }
        guard !missing.isEmpty else { return }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: qemuConf))
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        handle.write(Data(("\n" + qemuConfLines + "\n").utf8))
    }

    /// Whether libvirtd answers on ``uri``.
    package static func answers() async throws -> Bool {
        guard let virsh = TestEnvironment.executable(named: "virsh") else {
            throw TestFailure("virsh is not installed (scripts/install-deps.sh installs libvirt-clients)")
        }
        return try await BuiltCLI.run(["-c", uri, "version"], timeout: 30, executable: virsh).status == 0
    }

    /// Runs `virsh -c URI ARGUMENTS`.
    package static func virsh(_ arguments: String..., in directory: String = "/tmp") async throws -> BuiltCLI.Result {
        guard let virsh = TestEnvironment.executable(named: "virsh") else {
            throw TestFailure("virsh is not installed (scripts/install-deps.sh installs libvirt-clients)")
        }
        return try await BuiltCLI.run(["-c", uri] + arguments, in: directory, timeout: 60, executable: virsh)
    }

    private static func pid(in file: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8),
            let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1, kill(pid, 0) == 0
        else { return nil }
        return pid
    }

    /// SIGTERM to the pid in `pidFile`, then waits (up to 15s) for it to go.
    private static func stop(pidFile: String) async {
        guard let pid = pid(in: pidFile) else { return }
        kill(pid, SIGTERM)
        for _ in 0..<150 where kill(pid, 0) == 0 {
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
}
