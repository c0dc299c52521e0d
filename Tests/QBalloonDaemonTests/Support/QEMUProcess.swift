import Foundation
import QBalloonQMP
import Testing

/// A real `qemu-system-x86_64` with no guest (`-S`, TCG), started for one test and killed after it, with a
/// balloon device and a unix QMP socket. (A copy of the integration tests' launcher, cut to what the
/// daemon's tests need.)
///
/// Outside CI a missing QEMU skips the tests that need it (with the reason printed); under `CI=true` it is
/// a failure.
final class QEMUProcess: @unchecked Sendable {
    static let binary: String? = {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let candidate = "\(directory)/qemu-system-x86_64"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"

    static let available: Bool = {
        if binary != nil { return true }
        print("note: qemu-system-x86_64 not found: skipping the daemon's real-QEMU tests (install qemu-system-x86; under CI=true this fails)")
        return false
    }()

    let process: Process
    let directory: String
    let socket: String
    let ramBytes: UInt64

    init(ramMiB: Int = 512) throws {
        guard let binary = Self.binary else { throw TestFailure("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)") }
        var template = Array("/tmp/qbqemu.XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        socket = directory + "/qmp.sock"
        ramBytes = UInt64(ramMiB) << 20
        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "-accel", "tcg", "-S", "-nodefaults", "-display", "none", "-m", "\(ramMiB)M",
            "-device", "virtio-balloon-pci,id=balloon0", "-qmp", "unix:\(socket),server=on,wait=off",
        ]
        process.standardOutput = FileHandle.nullDevice
        let log = directory + "/qemu.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try process.run()
        for _ in 0..<200 {
            if !process.isRunning {
                throw TestFailure("QEMU exited with \(process.terminationStatus): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            if FileManager.default.fileExists(atPath: socket) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw TestFailure("QEMU's monitor did not appear within 10s")
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Fails under CI when QEMU is missing: there a skipped real-QEMU test is a failure.
@Test func daemonRealQEMUIsInstalledUnderCI() {
    if QEMUProcess.isCI {
        #expect(QEMUProcess.binary != nil, "CI=true but qemu-system-x86_64 is missing: the daemon's real-QEMU tests cannot run")
    }
}

/// The trait for tests that need a real QEMU: skips them (with a reason) only outside CI.
let needsRealQEMU = ConditionTrait.enabled(
    if: QEMUProcess.available || QEMUProcess.isCI, "qemu-system-x86_64 is not installed")
