/// The first message a QMP server sends: QEMU's version and the capabilities it offers.
///
/// ```swift
/// let client = try await QMPClient.connect(to: Endpoint("unix:/run/qemu/db.qmp"))
/// print(client.greeting.version.major, client.greeting.capabilities)   // 7 ["oob"]
/// ```
public struct QMPGreeting: Sendable, Hashable {
    /// The version of the QEMU behind the monitor.
    public var version: QEMUVersion
    /// Capabilities the server offers, e.g. `["oob"]`.
    public var capabilities: [String]

    public init(version: QEMUVersion, capabilities: [String]) {
        self.version = version
        self.capabilities = capabilities
    }
}
