import Foundation

/// `actual` of one guest sampled every `every` seconds on its observer monitor, in the background, so a test
/// can check what the balloon did between its steps (never below min, when it started to move).
final class BalloonTrace: @unchecked Sendable {
    struct Sample {
        var time: Date
        var actual: UInt64
    }

    let guest: Guest
    private let lock = NSLock()
    private var samples: [Sample] = []
    private var errors = 0

    init(_ guest: Guest, in scenario: Scenario, every: Double = 0.2) {
        self.guest = guest
        scenario.background { [self] in
            while !Task.isCancelled {
                do {
                    let actual = try await guest.actual()
                    lock.withLock { samples.append(Sample(time: Date(), actual: actual)) }
                } catch {
                    lock.withLock { errors += 1 }
                }
                try? await Task.sleep(for: .milliseconds(Int(every * 1000)))
            }
        }
    }

    var all: [Sample] { lock.withLock { samples } }
    var latest: UInt64? { all.last?.actual }

    func since(_ time: Date) -> [Sample] { all.filter { $0.time >= time } }

    /// The lowest `actual` seen since `time`.
    func lowest(since time: Date = .distantPast) -> UInt64? { since(time).map(\.actual).min() }
    func highest(since time: Date = .distantPast) -> UInt64? { since(time).map(\.actual).max() }

    /// The first sample since `time` where `actual` is above `level`.
    func firstAbove(_ level: UInt64, since time: Date) -> Sample? { since(time).first { $0.actual > level } }
    /// The first sample since `time` where `actual` is at or above `level`.
    func firstReaching(_ level: UInt64, since time: Date) -> Sample? { since(time).first { $0.actual >= level } }
}
