import Foundation
import QBalloon
import QBalloonQMP
import QBalloonCore
import QBalloonTestSupport

/// One real Linux guest (the image from `scripts/build-guest.sh`) under `qemu-system-x86_64 -accel tcg`.
///
/// It has three sockets in the scenario's directory: `NAME.qmp`, the monitor for qballoon (the CLI or the
/// daemon), `NAME.observer.sock`, a second monitor the test reads `actual` from while qballoon holds the first
/// (QEMU takes one client per monitor; events go to all), and `NAME.console`, the serial console with a shell.
/// ``restart()`` starts a new QEMU on the same sockets, as a VM manager would after a crash.
final class Guest: @unchecked Sendable {
    static let page: UInt64 = 4096
    static let readyMarker = "QBALLOON-GUEST-READY"

    let name: String
    let ramMiB: Int
    let directory: String
    var ramBytes: UInt64 { UInt64(ramMiB) << 20 }
    var qmpPath: String { "\(directory)/\(name).qmp" }
    var observerPath: String { "\(directory)/\(name).observer.sock" }
    var consolePath: String { "\(directory)/\(name).console" }
    var qemuLogPath: String { "\(directory)/\(name).qemu.log" }

    private let lock = NSLock()
    private var process: SupervisedProcess?
    private var console: GuestConsole?
    /// The observer monitor's connection, made once and shared (a second client of a QEMU monitor would wait).
    private var observer: Task<BalloonDevice, any Error>?
    /// Console tails of earlier boots (before a restart), for reports.
    private var earlierConsoles: [String] = []
    private(set) var boots = 0
    /// MemTotal (bytes) the guest reported with its whole RAM, from the READY line.
    private(set) var fullMemTotal: UInt64 = 0

    init(name: String, ramMiB: Int, directory: String) {
        self.name = name
        self.ramMiB = ramMiB
        self.directory = directory
    }

    // MARK: Life

    /// Starts QEMU and connects to the console at once (console output is lost while nobody is connected).
    func start() async throws {
        try GuestEnvironment.check()
        let arguments = [
            "-accel", "tcg", "-m", "\(ramMiB)M", "-nodefaults", "-nographic", "-no-reboot",
            "-kernel", GuestEnvironment.kernel, "-initrd", GuestEnvironment.initrd,
            "-append", "console=ttyS0 panic=-1 quiet",
            "-serial", "unix:\(consolePath),server=on,wait=off",
            "-qmp", "unix:\(qmpPath),server=on,wait=off",
            "-qmp", "unix:\(observerPath),server=on,wait=off",
            "-device", "virtio-balloon-pci,id=balloon0",
        ]
        if !FileManager.default.fileExists(atPath: qemuLogPath) {
            _ = FileManager.default.createFile(atPath: qemuLogPath, contents: nil)
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: qemuLogPath))
        log.seekToEndOfFile()
        // Supervised: SIGKILL when asked (a crash, for the restart test) or when the test process goes away.
        let process = try SupervisedProcess(GuestEnvironment.qemu!, arguments, signal: "KILL", output: log)
        lock.withLock {
            self.process = process
            boots += 1
        }
        do {
            let console = try await GuestConsole(path: consolePath, timeout: 20)
            lock.withLock { self.console = console }
        } catch {
            throw E2EError("\(name): \(error); QEMU: \(qemuLog())")
        }
    }

    /// Waits for the guest's READY line (balloon driver bound) and returns it.
    @discardableResult
    func waitReady(timeout: Double = 180) async throws -> String {
        guard let console = lock.withLock({ console }) else { throw E2EError("\(name): not started") }
        let line = try await console.waitForLine(containing: Self.readyMarker, timeout: timeout)
        guard line.contains("balloon=bound") else { throw E2EError("\(name): the balloon driver did not bind: \(line)") }
        if let kb = line.split(separator: " ").first(where: { $0.hasPrefix("mem_kb=") }).flatMap({ UInt64($0.dropFirst(7)) }) {
            fullMemTotal = kb * 1024
        }
        return line
    }

    func boot() async throws {
        try await start()
        try await waitReady()
    }

    /// Kills QEMU at once, as a crash would (the socket files stay).
    func kill() async {
        let (process, console, observer) = lock.withLock {
            () -> (SupervisedProcess?, GuestConsole?, Task<BalloonDevice, any Error>?) in
            defer {
                self.observer = nil
                self.console = nil
            }
            return (self.process, self.console, self.observer)
        }
        await process?.stop(timeout: 10)
        if let console {
            try? await Task.sleep(for: .milliseconds(100))
            lock.withLock { earlierConsoles.append(console.tail(lines: 25)) }
            console.close()
        }
        await (try? observer?.value)?.client.close()
    }

    /// A new QEMU on the same sockets (after ``kill()``); waits for the guest to be ready.
    func restart() async throws {
        await kill()
        try await boot()
    }

    var isRunning: Bool { lock.withLock { process?.isRunning ?? false } }

    // MARK: The guest's shell

    /// Runs a command in the guest; returns its output and exit status.
    func run(_ command: String, timeout: Double = 60) async throws -> (output: String, status: Int32) {
        guard let console = lock.withLock({ console }) else { throw E2EError("\(name): no console") }
        return try await console.run(command, timeout: timeout)
    }

    /// Runs a command that must succeed; returns its output.
    @discardableResult
    func sh(_ command: String, timeout: Double = 60) async throws -> String {
        let (output, status) = try await run(command, timeout: timeout)
        guard status == 0 else { throw E2EError("\(name): `\(command)` exited \(status): \(output)") }
        return output
    }

    /// The guest's `/proc/meminfo`, in bytes.
    func meminfo() async throws -> [String: UInt64] {
        Self.parseMeminfo(try await sh("cat /proc/meminfo"))
    }

    static func parseMeminfo(_ text: String) -> [String: UInt64] {
        var fields: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count >= 2, parts[0].hasSuffix(":"), let value = UInt64(parts[1]) else { continue }
            fields[String(parts[0].dropLast())] = parts.count > 2 && parts[2] == "kB" ? value * 1024 : value
        }
        return fields
    }

    /// The `Mem:` row of the guest's `free -k`, in bytes: total, used, free, shared, buff/cache, available.
    func free() async throws -> [String: UInt64] {
        let output = try await sh("free -k")
        guard let row = output.split(separator: "\n").first(where: { $0.hasPrefix("Mem:") }) else {
            throw E2EError("\(name): no Mem: row in `free -k`: \(output)")
        }
        let values = row.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        let names = ["total", "used", "free", "shared", "buff/cache", "available"]
        return Dictionary(uniqueKeysWithValues: zip(names, values.map { $0 * 1024 }))
    }

    /// Lines of the guest's kernel log about running out of memory (OOM kills, panics); empty when none.
    func oomReports() async throws -> String {
        let (output, _) = try await run(
            "dmesg | grep -i -E 'out of memory|oom-kill|oom_reaper|killed process|invoked oom-killer|deadlocked on memory'")
        return output
    }

    // MARK: The observer's monitor

    private func device() async throws -> BalloonDevice {
        let path = observerPath
        let task = lock.withLock { () -> Task<BalloonDevice, any Error> in
            if let observer { return observer }
            let task = Task {
                let client = try await QMPClient.connect(
                    to: .unixDomainSocket(path: path),
                    options: .init(commandTimeout: .seconds(20), connectTimeout: .seconds(10)))
                do {
                    return try await BalloonDevice.find(on: client)
                } catch {
                    await client.close()
                    throw error
                }
            }
            observer = task
            return task
        }
        do {
            return try await task.value
        } catch {
            forget(task)
            throw error
        }
    }

    private func forget(_ task: Task<BalloonDevice, any Error>) {
        lock.withLock {
            if observer == task { observer = nil }
        }
    }

    /// Runs `body` on the observer's device, reconnecting once if the connection was lost (a restart).
    private func observe<T: Sendable>(_ body: (BalloonDevice) async throws -> T) async throws -> T {
        let device = try await device()
        do {
            return try await body(device)
        } catch {
            if let task = lock.withLock({ observer }) { forget(task) }
            await device.client.close()
            return try await body(try await self.device())
        }
    }

    /// The balloon's `actual` (bytes), read on the observer monitor.
    func actual() async throws -> UInt64 {
        try await observe { try await $0.actual() }
    }

    /// The guest's statistics as QEMU holds them, read on the observer monitor.
    func stats() async throws -> GuestStats {
        try await observe { try await $0.stats() }
    }

    // MARK: Reports

    func qemuLog() -> String {
        ((try? String(contentsOfFile: qemuLogPath, encoding: .utf8)) ?? "")
            .split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    /// The console's tail (and earlier boots' tails) and QEMU's own messages, for a failure report.
    func report(lines: Int = 30) -> String {
        let (console, earlier, process) = lock.withLock { (self.console, self.earlierConsoles, self.process) }
        var text = "--- guest \(name) (\(ramMiB) MiB, boot \(boots), QEMU "
        if let process {
            text += process.isRunning ? "running" : "exited with \(process.process.terminationStatus)"
        } else {
            text += "not started"
        }
        text += ")\n"
        for (index, tail) in earlier.enumerated() { text += "console of boot \(index + 1) (last lines):\n\(tail)\n" }
        text += "console (last \(lines) lines):\n" + (console?.tail(lines: lines) ?? "(none)") + "\n"
        let qemu = qemuLog()
        if !qemu.isEmpty { text += "QEMU said:\n\(qemu)\n" }
        return text
    }

    /// Closes the observer's connection and kills QEMU.
    func stop() async {
        await kill()
    }
}
