import QBalloon
import QBalloonJSON
import QBalloonRules
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The decision log: JSON lines, one per balloon change sent (or, in a dry run, that would be sent).
///
/// Each line: `time` (Unix seconds), `vm`, `from`, `to`, `wanted` (bytes), `reason`, `rule` (or null),
/// `figures` (what the rule saw, by variable name), `adjustments` (what the envelope and arbiter changed),
/// `pressured`, `dry_run`.
///
/// A file never grows past `maxBytes`: the line that would take it there first moves it to `PATH.1` (replacing
/// the one before) and starts a new one. Standard output and other files that are not regular files are
/// never rotated.
package final class DecisionLog: Sendable {
    package let path: String
    package let maxBytes: UInt64
    private let file: Mutex<File>

    private struct File {
        var descriptor: Int32
        var size: UInt64
        var rotates: Bool
    }

    /// Opens (creating if needed) the log for appending.
    /// - Throws: ``DecisionLogError`` naming the path when it cannot be opened.
    package init(path: String, maxBytes: UInt64 = 64 << 20) throws {
        self.path = path
        self.maxBytes = maxBytes
        self.file = Mutex(try Self.openFile(path))
    }

    deinit {
        file.withLock { _ = close($0.descriptor) }
    }

    private static func openFile(_ path: String) throws -> File {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw DecisionLogError(path: path, reason: String(cString: strerror(errno)))
        }
        var info = stat()
        let regular = fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
        return File(descriptor: fd, size: regular ? UInt64(info.st_size) : 0, rotates: regular)
    }

    /// The JSON line for one decision.
    package static func line(for decision: Decision, at time: Double, dryRun: Bool) -> JSON {
        let rule = decision.reason.ruleName.map(JSON.string) ?? .null
        return [
            "time": .double((time * 1000).rounded() / 1000),
            "vm": .string(decision.vm),
            "from": .unsigned(decision.from),
            "to": decision.to.map(JSON.unsigned) ?? .null,
            "wanted": decision.wanted.map(JSON.unsigned) ?? .null,
            "reason": .string("\(decision.reason)"),
            "rule": rule,
            "figures": figures(of: decision),
            "adjustments": .array(decision.adjustments.map { .string($0.description) }),
            "pressured": .bool(decision.pressured),
            "dry_run": .bool(dryRun),
        ]
    }

    /// The figures a decision saw, by variable name: whole numbers as integers, unknown ones null (the decision log's
    /// and the control API's `figures`).
    package static func figures(of decision: Decision) -> JSON {
        var figures: [String: JSON] = [:]
        for figure in decision.figures {
            figures[figure.variable.name] = figure.value.map { value in
                value == value.rounded() && abs(value) < 9e15 ? JSON.int(Int64(value)) : JSON.double(value)
            } ?? .null
        }
        return .object(figures)
    }

    /// The JSON line for an operator's act (pin, unpin, pause, resume, reload, a pin that ran out): the fields of a
    /// decision where they apply, `"rule": "operator"`, `act`, and `to` the pinned size for a pin.
    package static func line(forAct act: String, vm: String?, message: String, size: UInt64?, at time: Double) -> JSON {
        [
            "time": .double((time * 1000).rounded() / 1000),
            "vm": vm.map(JSON.string) ?? .null,
            "from": .null,
            "to": size.map(JSON.unsigned) ?? .null,
            "wanted": .null,
            "reason": .string(message),
            "rule": "operator",
            "act": .string(act),
            "figures": .object([:]),
            "adjustments": .array([]),
            "pressured": false,
            "dry_run": false,
        ]
    }

    /// Appends one decision.
    package func append(_ decision: Decision, at time: Double, dryRun: Bool) {
        appendLine(Self.line(for: decision, at: time, dryRun: dryRun))
    }

    /// Appends one operator act.
    package func appendOperatorAct(_ act: String, vm: String?, message: String, size: UInt64?, at time: Double) {
        appendLine(Self.line(forAct: act, vm: vm, message: message, size: size, at: time))
    }

    private func appendLine(_ line: JSON) {
        var bytes = line.encoded(sortedKeys: true)
        bytes.append(UInt8(ascii: "\n"))
        file.withLock { file in
            if file.rotates, file.size > 0, file.size + UInt64(bytes.count) > maxBytes {
                // Rotate; if that fails the log goes on in the same file rather than stop.
                if rename(path, path + ".1") == 0, let fresh = try? Self.openFile(path) {
                    close(file.descriptor)
                    file = fresh
                }
            }
            let fd = file.descriptor
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
            file.size += UInt64(bytes.count)
        }
    }
}

public struct DecisionLogError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "cannot open decision log \(path): \(reason)" }
}
