import QBalloonJSON
import Synchronization

/// The live feed of `GET /v1/events`: each subscriber gets every line published after it joined, one JSON object per
/// line. A subscriber that cannot keep up loses its oldest lines (at most ``bufferedLines`` wait for it): a slow
/// reader never holds the daemon back or grows its memory.
package final class ControlEvents: Sendable {
    package static let maxSubscribers = 32
    package static let bufferedLines = 64

    private struct Subscribers {
        var next = 0
        var all: [Int: AsyncStream<[UInt8]>.Continuation] = [:]
        var finished = false
    }

    private let subscribers = Mutex(Subscribers())

    package init() {}

    /// A new subscriber's stream, or nil when ``maxSubscribers`` are reading already (or the daemon is stopping).
    package func subscribe() -> AsyncStream<[UInt8]>? {
        let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .bufferingNewest(Self.bufferedLines))
        let id: Int? = subscribers.withLock { state in
            guard !state.finished, state.all.count < Self.maxSubscribers else { return nil }
            state.next += 1
            state.all[state.next] = continuation
            return state.next
        }
        guard let id else { return nil }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.all.removeValue(forKey: id) }
        }
        return stream
    }

    package var hasSubscribers: Bool { subscribers.withLock { !$0.all.isEmpty } }

    /// Sends one line to every subscriber (encoded once).
    package func publish(_ event: JSON) {
        let receivers = subscribers.withLock { Array($0.all.values) }
        guard !receivers.isEmpty else { return }
        var line = event.encoded(sortedKeys: true)
        line.append(UInt8(ascii: "\n"))
        for receiver in receivers { receiver.yield(line) }
    }

    /// Ends every stream (the daemon is stopping); later subscribers are refused.
    package func finish() {
        let receivers = subscribers.withLock { state in
            state.finished = true
            return Array(state.all.values)
        }
        for receiver in receivers { receiver.finish() }
    }
}
