/// Which commands a fault applies to.
public enum FakeQMPCommandSet: Sendable, Hashable {
    /// No command.
    case none
    /// Every command except `qmp_capabilities`, so a client can still open the session; name it with
    /// ``only(_:)`` to include it.
    case all
    /// These commands.
    case only(Set<String>)

    /// Whether the fault applies to the command `name`.
    public func contains(_ name: String) -> Bool {
        switch self {
        case .none: return false
        case .all: return name != "qmp_capabilities"
        case .only(let names): return names.contains(name)
        }
    }
}
