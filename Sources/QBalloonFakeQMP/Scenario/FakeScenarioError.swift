/// A scenario file that cannot be used: which file, which field, and what is wrong with it.
public struct FakeScenarioError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file, as given to ``FakeGuestScenario/load(path:)`` (or the source name given to the decoder).
    public var file: String
    /// The field, as a path: `workload.points[2].used`; empty for the file as a whole.
    public var field: String
    public var reason: String

    public init(file: String, field: String, reason: String) {
        self.file = file
        self.field = field
        self.reason = reason
    }

    public var description: String {
        field.isEmpty ? "\(file): \(reason)" : "\(file): field '\(field)': \(reason)"
    }
}
