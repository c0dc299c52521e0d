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
package final class DecisionLog: Sendable {
    package let path: String
    private let descriptor: Mutex<Int32>

    /// Opens (creating if needed) the log for appending.
    /// - Throws: ``DecisionLogError`` naming the path when it cannot be opened.
    package init(path: String) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw DecisionLogError(path: path, reason: String(cString: strerror(errno)))
        }
        self.path = path
        self.descriptor = Mutex(fd)
    }

    deinit {
        descriptor.withLock { _ = close($0) }
    }

    /// The JSON line for one decision.
    package static func line(for decision: Decision, at time: Double, dryRun: Bool) -> JSON {
        var figures: [String: JSON] = [:]
        for figure in decision.figures {
            figures[figure.variable.name] = figure.value.map { value in
                value == value.rounded() && abs(value) < 9e15 ? JSON.int(Int64(value)) : JSON.double(value)
            } ?? .null
        }
        let rule: JSON
        if case .rule(let name) = decision.reason { rule = .string(name) } else { rule = .null }
        return [
            "time": .double((time * 1000).rounded() / 1000),
            "vm": .string(decision.vm),
            "from": .unsigned(decision.from),
            "to": decision.to.map(JSON.unsigned) ?? .null,
            "wanted": decision.wanted.map(JSON.unsigned) ?? .null,
            "reason": .string("\(decision.reason)"),
            "rule": rule,
            "figures": .object(figures),
            "adjustments": .array(decision.adjustments.map { .string($0.description) }),
            "pressured": .bool(decision.pressured),
            "dry_run": .bool(dryRun),
        ]
    }

    /// Appends one line.
    package func append(_ decision: Decision, at time: Double, dryRun: Bool) {
        var bytes = Self.line(for: decision, at: time, dryRun: dryRun).encoded(sortedKeys: true)
        bytes.append(UInt8(ascii: "\n"))
        descriptor.withLock { fd in
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
        }
    }
}

public struct DecisionLogError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "cannot open decision log \(path): \(reason)" }
}
