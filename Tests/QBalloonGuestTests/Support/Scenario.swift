import Foundation
import QBalloonTestSupport
import Testing

/// One end-to-end test's world: its guests, its daemons, a timeline of what happened, and a failure report
/// (every guest's console tail, QEMU's messages, every daemon's log and decision log) for expectations'
/// messages, so a failure in CI can be understood from the test log alone.
final class Scenario: @unchecked Sendable {
    let name: String
    let directory: String
    let started = Date()
    private let lock = NSLock()
    private var guests: [Guest] = []
    private var daemons: [DaemonProcess] = []
    private var timeline: [String] = []
    private var tasks: [Task<Void, Never>] = []

    init(_ name: String) throws {
        self.name = name
        var template = Array("/tmp/qbg.XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, let result = mkdtemp(base) else { return nil }
            return String(cString: result)
        }
        guard let path else { throw E2EError("cannot make a temporary directory") }
        directory = path
    }

    var elapsed: Double { Date().timeIntervalSince(started) }

    /// Records (and prints) a step or a figure: `[e2e set] +12.3s inflated 512 MiB -> 256 MiB in 0.9s`.
    func note(_ text: String) {
        let line = "[e2e \(name)] +\(String(format: "%.1f", elapsed))s \(text)"
        print(line)
        lock.withLock { timeline.append(line) }
    }

    func guest(_ name: String, ramMiB: Int) -> Guest {
        let guest = Guest(name: name, ramMiB: ramMiB, directory: directory)
        lock.withLock { guests.append(guest) }
        return guest
    }

    /// Boots guests in parallel (all QEMUs start, then all wait for READY).
    func boot(_ guests: [Guest]) async throws {
        let start = Date()
        note("starting QEMU for \(guests.map(\.name).joined(separator: ", "))")
        for guest in guests { try await guest.start() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for guest in guests { group.addTask { try await guest.waitReady() } }
            try await group.waitForAll()
        }
        note("booted \(guests.map { "\($0.name) (\($0.ramMiB) MiB)" }.joined(separator: ", ")) in \(seconds(Date().timeIntervalSince(start)))")
    }

    func daemon(_ name: String = "daemon", config: String) throws -> DaemonProcess {
        let daemon = try DaemonProcess(name: name, config: config, directory: directory)
        lock.withLock { daemons.append(daemon) }
        return daemon
    }

    /// Runs `body` in the background until the scenario ends.
    func background(_ body: @escaping @Sendable () async -> Void) {
        let task = Task { await body() }
        lock.withLock { tasks.append(task) }
    }

    /// Runs qballoon's command line.
    func qballoon(_ arguments: String..., timeout: Double = 120) async throws -> BuiltCLI.Result {
        let result = try await BuiltCLI.run(arguments, in: directory, timeout: timeout)
        note("qballoon \(arguments.joined(separator: " ")) -> exit \(result.status) in \(seconds(result.seconds))")
        return result
    }

    /// Polls `condition` until it holds; returns the seconds it took. Throws after `timeout`.
    @discardableResult
    func waitUntil(
        _ what: String, timeout: Double, every: Double = 0.25, _ condition: () async throws -> Bool
    ) async throws -> Double {
        let start = Date()
        while true {
            if try await condition() { return Date().timeIntervalSince(start) }
            if Date().timeIntervalSince(start) > timeout { throw E2EError("timed out after \(Int(timeout))s waiting until \(what)") }
            try await Task.sleep(for: .milliseconds(Int(every * 1000)))
        }
    }

    /// Everything needed to understand a failure: the timeline, every guest's console and every daemon's logs.
    func report(_ message: String = "") -> Comment {
        let (guests, daemons, timeline) = lock.withLock { (self.guests, self.daemons, self.timeline) }
        var text = message.isEmpty ? "" : message + "\n"
        text += "=== end-to-end report for \(name) (files in \(directory))\n"
        text += "timeline:\n" + timeline.suffix(40).joined(separator: "\n") + "\n"
        for guest in guests { text += guest.report() }
        for daemon in daemons { text += daemon.report() }
        return Comment(rawValue: text)
    }

    /// Stops the background tasks, the daemons and the guests; removes the files unless the test failed.
    func cleanup(keepFiles: Bool) async {
        let (guests, daemons, tasks) = lock.withLock { (self.guests, self.daemons, self.tasks) }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        for daemon in daemons { await daemon.stop() }
        for guest in guests { await guest.stop() }
        if !keepFiles { try? FileManager.default.removeItem(atPath: directory) }
    }
}

/// Runs one end-to-end test: a thrown error is recorded with the scenario's full report, and everything is
/// cleaned up afterwards, failed or not.
func endToEnd(_ name: String, _ body: (Scenario) async throws -> Void) async throws {
    let scenario = try Scenario(name)
    var failed = false
    do {
        try GuestEnvironment.check()
        try await body(scenario)
    } catch {
        failed = true
        Issue.record(error, scenario.report("\(error)"))
    }
    // A failed test keeps its files outside CI; QBALLOON_KEEP_FILES=1 keeps every test's (decision logs, QEMU logs).
    let keep = GuestEnvironment.environment["QBALLOON_KEEP_FILES"] == "1"
    await scenario.cleanup(keepFiles: keep || (failed && !GuestEnvironment.isCI))
    scenario.note("done\(failed ? " (failed)" : "")")
}

func seconds(_ value: Double) -> String { String(format: "%.1fs", value) }
func mib(_ bytes: UInt64) -> String { String(format: "%.1f MiB", Double(bytes) / 1048576) }
func mib(_ bytes: Double) -> String { String(format: "%.1f MiB", bytes / 1048576) }
