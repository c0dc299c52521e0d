import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one QEMU the benchmark talks to: no guest (`-S`), TCG, a virtio balloon and two QMP monitors, so the
/// library client and the minimal client can each keep a session open and take turns.
final class QEMUProcess {
    struct LaunchError: Error, CustomStringConvertible {
        let description: String
    }

    let process = Process()
    /// The monitor ``QMPClient`` uses.
    let clientSocket: String
    /// The monitor the minimal blocking client uses.
    let minimalSocket: String
    let pidFile: String
    let arguments: [String]
    private var stopped = false

    init(executable: String, workDirectory: String) throws {
        clientSocket = workDirectory + "/bench.qmp"
        minimalSocket = workDirectory + "/bench-min.qmp"
        pidFile = workDirectory + "/qemu.pid"
        for path in [clientSocket, minimalSocket, pidFile] { unlink(path) }
        arguments = [
            "-accel", "tcg", "-S", "-nodefaults", "-display", "none", "-m", "512M",
            "-qmp", "unix:\(clientSocket),server=on,wait=off",
            "-qmp", "unix:\(minimalSocket),server=on,wait=off",
            "-device", "virtio-balloon-pci,id=balloon0",
            "-pidfile", pidFile,
        ]
        guard let path = Self.resolve(executable) else {
            throw LaunchError(description: "\(executable) not found (apt-get install -y --no-install-recommends qemu-system-x86)")
        }
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: workDirectory + "/qemu.log", contents: nil)
        process.standardError = FileHandle(forWritingAtPath: workDirectory + "/qemu.log") ?? FileHandle.nullDevice
        try process.run()
        try waitForSockets(workDirectory: workDirectory)
    }

    var commandLine: String { ([process.executableURL?.path ?? "qemu"] + arguments).joined(separator: " ") }

    private func waitForSockets(workDirectory: String) throws {
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if !process.isRunning {
                let log = (try? String(contentsOfFile: workDirectory + "/qemu.log", encoding: .utf8)) ?? ""
                throw LaunchError(description: "QEMU exited with status \(process.terminationStatus): \(log)")
            }
            if FileManager.default.fileExists(atPath: clientSocket), FileManager.default.fileExists(atPath: minimalSocket) {
                return
            }
            usleep(20_000)
        }
        stop()
        throw LaunchError(description: "QEMU did not create its monitor sockets within 15 s")
    }

    /// SIGTERM, then SIGKILL if QEMU has not gone within 5 s.
    func stop() {
        guard !stopped else { return }
        stopped = true
        guard process.isRunning else { return }
        let pid = process.processIdentifier
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
        for path in [clientSocket, minimalSocket, pidFile] { unlink(path) }
    }

    private static func resolve(_ executable: String) -> String? {
        if executable.contains("/") { return FileManager.default.isExecutableFile(atPath: executable) ? executable : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(executable)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
