import QBalloonJSON

/// Who waits for a command's reply: what ``QMPChannelHandler`` hands to ``QMPSessionStateMachine`` as the
/// pending command's context and answers when the machine gives it back.
///
/// The machine gives each one back exactly once (with the reply, a timeout, a cancellation or the session's end),
/// and the handler answers it then, on the event loop, exactly once.
package protocol QMPReplyWaiter {
    /// The command succeeded with `value`.
    func succeed(_ value: JSON)
    /// The command failed (QEMU refused it, it timed out, it was cancelled, the session ended).
    func fail(_ error: QMPError)
}

/// The suspended ``QMPClient/execute(_:arguments:timeout:)``: the handler resumes the calling task straight from
/// the event loop when the reply is read.
///
/// Until issue 14 the caller waited on an `EventLoopPromise` whose future it awaited through a continuation of its
/// own: a promise, a future and a callback more per command. The continuation is a checked one in every build: it
/// traps on a second resume and reports one never resumed, rather than leave a daemon running as root with
/// undefined behaviour; the unchecked one measured no faster (BENCHMARKS.md, issue 14).
struct SuspendedCaller: QMPReplyWaiter, Sendable {
    typealias Continuation = CheckedContinuation<JSON, any Error>

    let continuation: Continuation

    func succeed(_ value: JSON) {
        continuation.resume(returning: value)
    }

    func fail(_ error: QMPError) {
        continuation.resume(throwing: error)
    }
}
