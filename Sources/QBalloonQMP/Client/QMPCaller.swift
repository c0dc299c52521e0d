import QBalloonJSON

/// Who waits for a ``QMPClient`` command's reply: the suspended task of ``QMPClient/execute(_:arguments:timeout:)``,
/// resumed straight from the event loop when the reply is read, or the callback of
/// ``QMPClient/send(_:timeout:onReply:)`` or ``QMPClient/send(_:timeout:onRead:)``, called there (no task at all: how
/// the daemon polls a thousand VMs; the second reads the reply in jansson's tree, without a ``JSON`` value).
/// What ``QMPChannelHandler`` hands to ``QMPSessionStateMachine`` as the pending command's context; the machine gives
/// each one back exactly once (with the reply, a timeout, a cancellation or the session's end), and the handler
/// answers it then, on the event loop.
///
/// One concrete type, not a protocol the handler is generic over: NIO calls a handler through its protocol, and a
/// generic handler's read path then ran unspecialized (generic metadata lookups and three heap boxes per reply in
/// the state machine; issue 14).
///
/// Until issue 14 the caller waited on an `EventLoopPromise` whose future it awaited through a continuation of its
/// own: a promise, a future and a callback more per command. The continuation is a checked one in every build: it
/// traps on a second resume and reports one never resumed, rather than leave a daemon running as root with
/// undefined behaviour; the unchecked one measured no faster (BENCHMARKS.md, issue 14).
package enum QMPCaller: Sendable {
    package typealias Continuation = CheckedContinuation<JSON, any Error>

    case task(Continuation)
    case callback(@Sendable (Result<JSON, QMPError>) -> Void)
    /// A callback that reads the reply's value where jansson decoded it (the node is valid during the call only):
    /// ``QMPClient/send(_:timeout:onRead:)``, for a reply read every poll (issue 14).
    case reader(@Sendable (Result<JSONNode, QMPError>) -> Void)

    /// The command succeeded with `value`, as jansson decoded it: what the handler answers with.
    package func succeed(_ value: JSONNode) {
        switch self {
        case .task(let continuation): continuation.resume(returning: value.json)
        case .callback(let onReply): onReply(.success(value.json))
        case .reader(let onRead): onRead(.success(value))
        }
    }

    /// The command succeeded with `value`, given as a tree.
    package func succeed(_ value: JSON) {
        switch self {
        case .task(let continuation): continuation.resume(returning: value)
        case .callback(let onReply): onReply(.success(value))
        case .reader(let onRead):
            // Not the handler's way (it gives a reader jansson's node of the reply): the tree is read back into one.
            value.withNode { onRead(.success($0)) }
        }
    }

    /// The command failed (QEMU refused it, it timed out, it was cancelled, the session ended).
    package func fail(_ error: QMPError) {
        switch self {
        case .task(let continuation): continuation.resume(throwing: error)
        case .callback(let onReply): onReply(.failure(error))
        case .reader(let onRead): onRead(.failure(error))
        }
    }
}
