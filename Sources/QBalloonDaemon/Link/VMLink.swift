import QBalloonCore

/// The seam between the daemon and one VM: how the daemon reaches a VM's balloon. QMP over the VM's monitor
/// socket is one way in (``QMPLink``); another (libvirt's API, a simulated VM in tests) slots in beside it
/// without touching the engine or the orchestrator.
///
/// A link only reports facts: what it read, what it was told, what failed. Whether statistics are stale, a
/// guest is under pressure or an inflation has stalled is for the engine to judge.
///
/// ```swift
/// let connection = try await link.connect(statsInterval: 2) { event in print(event) }
/// let reading = try await connection.read(includingActual: true)
/// try await connection.setTarget(2 << 30)
/// await connection.close()
/// ```
public protocol VMLink: Sendable, CustomStringConvertible {
    /// Reaches the VM, finds its balloon and asks the guest for statistics every `statsInterval` seconds.
    /// - Parameter events: called with what the VM says without being asked (balloon moves, shutdown) while the
    ///   connection is open, on whatever thread the link reads it; it must return quickly. A callback rather
    ///   than a stream, so that following a VM takes no task of its own.
    /// - Throws: ``VMLinkError`` with ``VMLinkError/Kind/noBalloon`` for a VM without a balloon,
    ///   ``VMLinkError/Kind/misconduct`` for a peer that broke the protocol (``VMConnection``'s calls too); any
    ///   other error means the VM cannot be reached now.
    func connect(statsInterval: Int, events: @escaping @Sendable (VMEvent) -> Void) async throws -> any VMConnection
}

/// One open way into a VM's balloon. Closing it stops its events.
public protocol VMConnection: Sendable {
    /// The VM's RAM: the most its balloon can give the guest.
    var ramBytes: UInt64 { get }
    /// Whether the guest may take memory back from the balloon before its OOM killer acts (`deflate-on-oom`);
    /// nil when not known.
    var deflateOnOOM: Bool? { get }
    /// Where a task talking to this VM best runs (the connection's event loop), or nil for anywhere.
    var preferredExecutor: (any TaskExecutor)? { get }
    /// What runs the VM, as it says (QEMU's version from its monitor's greeting: `7.2.22 (Debian ...)`); empty when
    /// it does not say. The daemon's traces (`record_dir`) write it in their header.
    var qemu: String { get }
    /// The least the VM's owner wants it ballooned down to, as the VM itself says (a libvirt domain's `<metadata>`),
    /// in bytes; nil when it says nothing. The config's `min` and `max` still bound it.
    var floorBytes: UInt64? { get }
    /// Reads the guest's last statistics and, when asked, the balloon's `actual`. Runs where its caller runs (a
    /// worker polls from its connection's event loop): no executor switch per poll.
    nonisolated(nonsending) func read(includingActual: Bool) async throws -> VMReading
    /// Asks the guest to give back or take memory until it has `bytes`; returns once the VM accepted it.
    func setTarget(_ bytes: UInt64) async throws
    /// Closes the connection; calls still waiting fail.
    func close() async
}

extension VMConnection {
    public var qemu: String { "" }
    public var floorBytes: UInt64? { nil }
}

/// A connection the daemon can read without a task (QMP's): from the thread its I/O runs on, with a callback. A
/// poll then wakes no task: the orchestrator starts the reads of every connection that shares a thread in one job
/// there (``PollBatch``), and each reply is recorded where it is read.
package protocol TasklessReading: VMConnection {
    /// The thread the connection's reads run on (its event loop): the same for connections that share it.
    var readThread: ObjectIdentifier { get }
    /// Runs `work` on that thread.
    func onReadThread(_ work: @escaping @Sendable () -> Void)
    /// Reads as ``VMConnection/read(includingActual:)`` does, with the same values and errors; called on the read
    /// thread, `done` is called once, on it, and must return quickly.
    func read(includingActual: Bool, done: @escaping @Sendable (Result<VMReading, any Error>) -> Void)
}

/// One read of a VM.
public struct VMReading: Sendable, Hashable {
    /// The balloon's `actual`, when it was read.
    public var actual: UInt64?
    /// The guest's last statistics, as the VM holds them.
    public var stats: GuestStats

    public init(actual: UInt64?, stats: GuestStats) {
        self.actual = actual
        self.stats = stats
    }
}

/// Something a VM says without being asked.
public enum VMEvent: Sendable, Hashable {
    /// The balloon moved: the guest has this much memory now.
    case actualChanged(UInt64)
    /// The VM is going away.
    case shutdown
}

/// A failure the daemon treats apart from "cannot reach the VM now".
public struct VMLinkError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The VM has no balloon device: it is held and reported, never acted on.
        case noBalloon
        /// The VM's side broke the protocol or sent what cannot be QEMU's (garbage, oversized or endless
        /// replies, an event flood): the VM is quarantined.
        case misconduct
    }

    public var kind: Kind
    public var description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}
