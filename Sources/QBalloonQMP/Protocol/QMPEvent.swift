import QBalloonJSON

/// An asynchronous event, such as `BALLOON_CHANGE` or `SHUTDOWN`.
///
/// ```swift
/// for await event in client.events where event.name == "BALLOON_CHANGE" {
///     print("balloon at", event.data["actual"]?.uint64Value ?? 0, "bytes")
/// }
/// ```
public struct QMPEvent: Sendable, Hashable {
    /// The event's name, such as `BALLOON_CHANGE`.
    public var name: String
    /// The event's `data` member, `.null` when it has none.
    public var data: JSON
    /// QEMU's timestamp, in seconds since the Unix epoch.
    public var timestamp: Double

    public init(name: String, data: JSON, timestamp: Double) {
        self.name = name
        self.data = data
        self.timestamp = timestamp
    }
}
