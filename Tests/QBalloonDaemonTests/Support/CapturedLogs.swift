import Logging
import Synchronization

/// Every log line the daemon writes during a test, kept in memory so tests can look for them.
final class CapturedLogs: Sendable {
    struct Entry: Sendable, CustomStringConvertible {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]

        var vm: String? { metadata["vm.name"] }
        var description: String { "\(level) \(metadata.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }.joined(separator: " ")) \(message)" }
    }

    private let entries = Mutex<[Entry]>([])

    /// A logger that records into this store.
    func logger(level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: "qballoon.test") { _ in Handler(store: self) }
        logger.logLevel = level
        return logger
    }

    var all: [Entry] { entries.withLock { $0 } }

    /// Entries whose message contains `text` (for one VM when `vm` is given).
    func matching(_ text: String, vm: String? = nil, level: Logger.Level? = nil) -> [Entry] {
        all.filter { entry in
            entry.message.contains(text) && (vm == nil || entry.vm == vm) && (level == nil || entry.level == level)
        }
    }

    fileprivate func append(_ entry: Entry) {
        entries.withLock { $0.append(entry) }
    }

    private struct Handler: LogHandler {
        let store: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata
            if let explicit = event.metadata { merged.merge(explicit) { $1 } }
            store.append(Entry(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
        }
    }
}
