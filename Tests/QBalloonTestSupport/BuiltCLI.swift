import Foundation
import QBalloonJSON

/// The built `qballoon`, run as a user runs it. Output goes to files, so nothing blocks on a full pipe, and
/// waiting never blocks a thread of the (two-thread, on this machine) cooperative pool.
package enum BuiltCLI {
    package struct Result: CustomStringConvertible, Sendable {
        /// The program run (the built qballoon unless another was named).
        package var executable: String
        package var arguments: [String]
        package var status: Int32
        package var stdout: String
        package var stderr: String
        package var seconds: Double

        package func json() throws -> JSON { try JSON.decode(stdout) }
        package func jsonLines() throws -> [JSON] { try stdout.split(separator: "\n").map { try JSON.decode(String($0)) } }

        package var description: String {
            "\(executable.split(separator: "/").last.map(String.init) ?? executable) \(arguments.joined(separator: " ")) -> exit \(status) in \(String(format: "%.1f", seconds))s\n"
                + "stdout: \(stdout)\nstderr: \(stderr)"
        }
    }

    /// Runs `qballoon ARGUMENTS` to its end (killed after `timeout` seconds); output goes through files in
    /// `directory`, so nothing blocks on a full pipe.
    /// - Parameter wrapper: a command to run it under (`["/usr/bin/time", "-f", "%M"]`), its output in `stderr`.
    /// - Parameter executable: another copy of the binary (an installed tree's), or another tool the tests run the
    ///   same way (promtool, systemd-analyze).
    /// - Parameter workingDirectory: where it runs (default: this process's current directory).
    package static func run(
        _ arguments: [String], in directory: String = "/tmp", timeout: Double = 120, wrapper: [String] = [],
        executable: String = TestEnvironment.qballoon, workingDirectory: String? = nil
    ) async throws -> Result {
        let id = UInt32.random(in: 0...UInt32.max)
        let outPath = "\(directory)/cli-\(id).out"
        let errPath = "\(directory)/cli-\(id).err"
        for path in [outPath, errPath] { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        defer { for path in [outPath, errPath] { try? FileManager.default.removeItem(atPath: path) } }
        let process = Process()
        if let first = wrapper.first {
            process.executableURL = URL(fileURLWithPath: first)
            process.arguments = Array(wrapper.dropFirst()) + [executable] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        }
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        let start = Date()
        try process.run()
        try await waitForExit(process, timeout: timeout)
        return Result(
            executable: executable, arguments: arguments, status: process.terminationStatus,
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "",
            seconds: Date().timeIntervalSince(start))
    }

    /// Waits for a process to end; after `timeout` it is killed and this throws.
    package static func waitForExit(_ process: Process, timeout: Double) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                kill(process.processIdentifier, SIGKILL)
                while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
                throw TestFailure("\(process.executableURL?.lastPathComponent ?? "process") did not finish within \(Int(timeout))s: killed")
            }
            try? await Task.sleep(for: .milliseconds(40))
        }
        // isRunning turns false before Foundation reaps the child; terminationStatus needs the reap.
        process.waitUntilExit()
    }
}

/// `qballoon run --config FILE` as a background process, with its log (standard error) and decision log in files.
package final class DaemonProcess: @unchecked Sendable {
    package let name: String
    package let configPath: String
    package let logPath: String
    package let decisionLogPath: String
    private let lock = NSLock()
    private var process: SupervisedProcess?

    /// Writes the config; `config` may use `{decision_log}` for the decision log's path.
    package init(name: String = "daemon", config: String, directory: String) throws {
        self.name = name
        configPath = "\(directory)/\(name).toml"
        logPath = "\(directory)/\(name).log"
        decisionLogPath = "\(directory)/\(name).decisions.jsonl"
        let text = TestDaemonFiles.withOwnControlSocket(
            config.replacingOccurrences(of: "{decision_log}", with: decisionLogPath), directory: directory, name: name + ".control")
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    package func start() throws {
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = try SupervisedProcess(
            TestEnvironment.qballoon, ["run", "--config", configPath], signal: "TERM", output: log)
        lock.withLock { self.process = process }
    }

    package var isRunning: Bool { lock.withLock { process?.isRunning ?? false } }

    /// The daemon's own process id (not its supervisor's), once it runs.
    package var pid: Int32? {
        guard let supervisor = lock.withLock({ process?.process.processIdentifier }) else { return nil }
        let children = (try? String(contentsOfFile: "/proc/\(supervisor)/task/\(supervisor)/children", encoding: .utf8)) ?? ""
        return children.split(separator: " ").first.flatMap { Int32($0) }
    }

    /// SIGTERM (graceful), then SIGKILL after 15 s; returns the exit status.
    @discardableResult
    package func stop() async -> Int32? {
        guard let process = lock.withLock({ process }) else { return nil }
        return await process.stop(timeout: 15)
    }

    package var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Lines of the daemon's log containing `text`.
    package func logLines(containing text: String) -> [Substring] {
        log.split(separator: "\n").filter { $0.contains(text) }
    }

    /// Every decision the daemon logged (one JSON object per balloon change sent).
    package func decisions() -> [JSON] {
        let text = (try? String(contentsOfFile: decisionLogPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSON.decode(String($0)) }
    }

    package func report(lines: Int = 40) -> String {
        var text = "--- daemon \(name) (\(configPath))"
        if let process = lock.withLock({ process }) {
            text += process.isRunning ? ", running" : ", exited with \(process.process.terminationStatus)"
        }
        text += "\nlog (last \(lines) lines):\n"
        text += log.split(separator: "\n").suffix(lines).joined(separator: "\n")
        let decisions = ((try? String(contentsOfFile: decisionLogPath, encoding: .utf8)) ?? "").split(separator: "\n")
        text += "\ndecision log (\(decisions.count) lines, last 12):\n" + decisions.suffix(12).joined(separator: "\n") + "\n"
        return text
    }
}

/// A child that cannot outlive the test process: it runs under a small Perl supervisor (perl-base is
/// essential in Debian) that holds a pipe from us and signals the child when a line arrives or the pipe
/// closes (we exited, or were killed: `swift test` under a timeout, Ctrl-C). The first line, or EOF, sends
/// `signal`; a second line, or 5 s after EOF, sends SIGKILL. The supervisor exits with the child's status
/// (128 + N for signal N) and gives the child an empty signal mask: children of the test process inherit
/// blocked signals (SIGCHLD, SIGTERM...), which makes `sh`'s `wait` hang forever.
package final class SupervisedProcess: @unchecked Sendable {
    private static let script = #"""
        use strict; use POSIX qw(:sys_wait_h :signal_h);
        sigprocmask(SIG_SETMASK, POSIX::SigSet->new) or die "sigprocmask: $!";
        $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP PIPE CHLD);
        my $signal = shift @ARGV;
        my $pid = fork(); die "fork: $!" unless defined $pid;
        if ($pid == 0) { open(STDIN, '<', '/dev/null'); exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!"; }
        my ($lines, $eof) = (0, undef);
        while (1) {
            if (waitpid($pid, WNOHANG) == $pid) { exit(WIFEXITED($?) ? WEXITSTATUS($?) : 128 + WTERMSIG($?)); }
            if (defined $eof) {
                select(undef, undef, undef, 0.1);
                kill('KILL', $pid) if time - $eof >= 5;
                next;
            }
            my $in = ''; vec($in, fileno(STDIN), 1) = 1;
            next unless select($in, undef, undef, 0.1) > 0;
            my $got = sysread(STDIN, my $buffer, 64);
            if (!$got) { $eof = time; kill($signal, $pid) unless $lines; next; }
            for (1 .. ($buffer =~ tr/\n//)) { $lines++; kill($lines == 1 ? $signal : 'KILL', $pid); }
        }
        """#

    package let process = Process()
    private let control = Pipe()
    private let lock = NSLock()

    /// Starts `executable` with `arguments`; its standard output and error go to `output`.
    package init(_ executable: String, _ arguments: [String], signal: String, output: FileHandle) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/perl")
        process.arguments = ["-e", Self.script, signal, executable] + arguments
        process.standardInput = control
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    package var isRunning: Bool { process.isRunning }

    /// Sends the child its signal (the first time) or SIGKILL (after that).
    package func signal() {
        lock.withLock { try? control.fileHandleForWriting.write(contentsOf: Data("\n".utf8)) }
    }

    /// Signals the child and waits for it (SIGKILL after `timeout`); returns its exit status (128 + signal if
    /// a signal ended it).
    @discardableResult
    package func stop(timeout: Double) async -> Int32 {
        if process.isRunning {
            signal()
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning, Date() < deadline { try? await Task.sleep(for: .milliseconds(25)) }
            if process.isRunning { signal() }
            while process.isRunning { try? await Task.sleep(for: .milliseconds(25)) }
        }
        process.waitUntilExit()
        lock.withLock { try? control.fileHandleForWriting.close() }
        return process.terminationStatus
    }
}
