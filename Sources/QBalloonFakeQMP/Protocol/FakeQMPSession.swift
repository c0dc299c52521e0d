/// One client's monitor session: QEMU keeps these per connection.
struct FakeQMPSession: Sendable, Hashable {
    /// `qmp_capabilities` succeeded: every command is available and events are sent.
    var negotiated = false
    /// The client enabled out-of-band execution (`"enable": ["oob"]`).
    var outOfBand = false
}
