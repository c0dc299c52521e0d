import InMemoryLogging
import Logging

/// Every log line a test's code writes, kept in memory (swift-log's `InMemoryLogHandler`) so tests can look
/// for them.
package struct CapturedLogs: Sendable {
    private let handler: InMemoryLogHandler

    package init() {
        handler = InMemoryLogHandler()
    }

    /// A logger that records into this store.
    package func logger(level: Logger.Level = .info) -> Logger {
        var handler = self.handler
        handler.logLevel = level
        return Logger(label: "qballoon.test") { _ in handler }
    }

    package var all: [InMemoryLogHandler.Entry] { handler.entries }

    /// Entries whose message contains `text` (for one VM when `vm` is given: metadata `vm.name`).
    package func matching(_ text: String, vm: String? = nil, level: Logger.Level? = nil) -> [InMemoryLogHandler.Entry] {
        all.filter { entry in
            "\(entry.message)".contains(text) && (vm == nil || entry.metadata["vm.name"].map { "\($0)" } == vm)
                && (level == nil || entry.level == level)
        }
    }

    /// The last `count` lines, for failure reports.
    package func tail(_ count: Int) -> String {
        all.suffix(count).map { entry in
            let metadata = entry.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            return "  \(entry.level) \(metadata) \(entry.message)"
        }.joined(separator: "\n")
    }
}
