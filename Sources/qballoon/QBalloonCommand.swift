import ArgumentParser
import CBuildInfo
import QBalloon
import QBalloonQMP

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@main
struct QBalloonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qballoon",
        abstract: "Memory-balloon orchestrator for QEMU: read and set the balloons of running VMs over QMP.",
        discussion: """
            qballoon attaches to running QEMU VMs through their QMP monitor sockets, reads each guest's memory \
            statistics from its virtio balloon, and moves memory from guests that hold it idle to guests that \
            need it, by the rules of a config file: never below a guest's floor, never away from a guest that is \
            short of memory. 'run' is the daemon; 'vms', 'explain', 'top', 'pin', 'unpin', 'pause', 'resume' and \
            'reload' ask a running daemon over its control socket; 'status', 'stats' and 'set' act on one VM \
            directly over QMP; 'check' validates a config; 'demo' shows it at work on simulated VMs, no QEMU needed.

            Files: /etc/qballoon/qballoon.toml is the config 'run' reads (as installed, it watches and changes \
            nothing until a rule says so); share/qballoon/configs/ beside the binary's prefix holds example \
            policies, every setting explained in example.toml; qballoon.service is the systemd unit \
            ('systemctl enable --now qballoon'); share/doc/qballoon/README.md is the full manual.

            Exit codes: 0 done, 1 runtime failure, 2 usage error, 3 the guest stopped short of the target.
            """,
        version: QBalloonCommand.version,
        subcommands: [
            StatusCommand.self, StatsCommand.self, SetCommand.self, RecordCommand.self, SimulateCommand.self, CheckCommand.self,
            RunCommand.self,
            DemoCommand.self, FakeQMPCommand.self,
            VMsCommand.self, ExplainCommand.self, TopCommand.self, PinCommand.self, UnpinCommand.self, PauseCommand.self,
            ResumeCommand.self, ReloadCommand.self, FleetCommand.self,
        ]
    )

    /// The version and the QEMU versions this build was tested against (the recorded transcripts' and CI's).
    static let version = """
        qballoon \(String(cString: qballoon_version()))
        tested against QEMU 7.2 (Debian 12's qemu-system-x86), QMP over unix and TCP sockets
        """

    /// Runs the command line with the exit codes the README promises: usage errors exit 2 (not 64),
    /// runtime failures print one line naming the thing at fault and exit 1.
    static func main() async {
        let command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                terminate(0)
            }
            printError(fullMessage(for: error))
            terminate(code == .validationFailure ? ExitStatus.usage : code.rawValue)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var syncCommand = command
                try syncCommand.run()
            }
            terminate(0)
        } catch let exitCode as ExitCode {
            terminate(exitCode.rawValue)
        } catch let error as ValidationError {
            printError("qballoon: \(error.message)")
            terminate(ExitStatus.usage)
        } catch {
            // `--help` and `help SUBCOMMAND` arrive here as errors whose exit code is success.
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                terminate(0)
            }
            if code == .validationFailure {
                printError(fullMessage(for: error))
                terminate(ExitStatus.usage)
            }
            printError("qballoon: \(error)")
            terminate(ExitStatus.failure)
        }
    }
}

/// The process exit codes.
enum ExitStatus {
    static let failure: Int32 = 1
    static let usage: Int32 = 2
    static let stoppedShort: Int32 = 3
}

/// Writes a line to standard error.
func printError(_ text: String) {
    var line = text
    if !line.hasSuffix("\n") { line += "\n" }
    line.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

/// Ends the process with `code`, flushing standard output first.
func terminate(_ code: Int32) -> Never {
    fflush(nil)
    exit(code)
}
