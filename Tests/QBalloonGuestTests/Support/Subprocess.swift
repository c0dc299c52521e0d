import Foundation
import QBalloonJSON

/// The built `qballoon`, run as a user runs it. Output goes to files, so nothing blocks on a full pipe, and
/// waiting never blocks a thread of the (two-thread, on this machine) cooperative pool.
enum QBalloonCLI {
    struct Result: CustomStringConvertible {
        var arguments: [String]
        var status: Int32
        var stdout: String
        var stderr: String
        var seconds: Double

        func json() throws -> JSON { try JSON.decode(stdout) }
        func jsonLines() throws -> [JSON] { try stdout.split(separator: "\n").map { try JSON.decode(String($0)) } }

        var description: String {
            "qballoon \(arguments.joined(separator: " ")) -> exit \(status) in \(String(format: "%.1f", seconds))s\n"
                + "stdout: \(stdout)\nstderr: \(stderr)"
        }
    }

    static func run(_ arguments: [String], in directory: String, timeout: Double = 120) async throws -> Result {
        let id = UInt32.random(in: 0...UInt32.max)
        let outPath = "\(directory)/cli-\(id).out"
        let errPath = "\(directory)/cli-\(id).err"
        for path in [outPath, errPath] { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        defer { for path in [outPath, errPath] { try? FileManager.default.removeItem(atPath: path) } }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: GuestEnvironment.qballoon)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        let start = Date()
        try process.run()
        try await waitForExit(process, timeout: timeout)
        return Result(
            arguments: arguments, status: process.terminationStatus,
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "",
            seconds: Date().timeIntervalSince(start))
    }

    /// Waits for a process to end; after `timeout` it is killed and this throws.
    static func waitForExit(_ process: Process, timeout: Double) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                kill(process.processIdentifier, SIGKILL)
                while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
                throw E2EError("\(process.executableURL?.lastPathComponent ?? "process") did not finish within \(Int(timeout))s: killed")
            }
            try? await Task.sleep(for: .milliseconds(40))
        }
        // isRunning turns false before Foundation reaps the child; terminationStatus needs the reap.
        process.waitUntilExit()
    }
}

/// `qballoon run --config FILE` as a background process, with its log (standard error) and decision log in files.
final class Daemon: @unchecked Sendable {
    let name: String
    let configPath: String
    let logPath: String
    let decisionLogPath: String
    private let lock = NSLock()
    private var process: Process?

    /// Writes the config; `config` may use `{decision_log}` for the decision log's path.
    init(name: String = "daemon", config: String, directory: String) throws {
        self.name = name
        configPath = "\(directory)/\(name).toml"
        logPath = "\(directory)/\(name).log"
        decisionLogPath = "\(directory)/\(name).decisions.jsonl"
        let text = config.replacingOccurrences(of: "{decision_log}", with: decisionLogPath)
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    func start() throws {
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: GuestEnvironment.qballoon)
        process.arguments = ["run", "--config", configPath]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
        lock.withLock { self.process = process }
    }

    var isRunning: Bool { lock.withLock { process?.isRunning ?? false } }

    /// SIGTERM (graceful), then SIGKILL after 15 s; returns the exit status.
    @discardableResult
    func stop() async -> Int32? {
        guard let process = lock.withLock({ process }) else { return nil }
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            try? await QBalloonCLI.waitForExit(process, timeout: 15)
        } else {
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Lines of the daemon's log containing `text`.
    func logLines(containing text: String) -> [Substring] {
        log.split(separator: "\n").filter { $0.contains(text) }
    }

    /// Every decision the daemon logged (one JSON object per balloon change sent).
    func decisions() -> [JSON] {
        let text = (try? String(contentsOfFile: decisionLogPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSON.decode(String($0)) }
    }

    func report(lines: Int = 40) -> String {
        var text = "--- daemon \(name) (\(configPath))"
        if let process = lock.withLock({ process }) {
            text += process.isRunning ? ", running" : ", exited with \(process.terminationStatus)"
        }
        text += "\nlog (last \(lines) lines):\n"
        text += log.split(separator: "\n").suffix(lines).joined(separator: "\n")
        let decisions = ((try? String(contentsOfFile: decisionLogPath, encoding: .utf8)) ?? "").split(separator: "\n")
        text += "\ndecision log (\(decisions.count) lines, last 12):\n" + decisions.suffix(12).joined(separator: "\n") + "\n"
        return text
    }
}
