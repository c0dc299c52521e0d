/// The fake server could not start.
public struct FakeQMPServerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The address it was asked to listen on.
    public var address: String
    /// Why, in words (from the socket call, or "the path exists and is not a socket").
    public var reason: String

    public var description: String { "cannot listen on \(address): \(reason)" }
}
