/// QEMU's version, from the greeting or `query-version`.
///
/// ```swift
/// let client = try await QMPClient.connect(to: Endpoint("unix:/run/qemu/db.qmp"))
/// print("QEMU \(client.greeting.version)")   // "QEMU 7.2.22 (Debian 1:7.2+dfsg-7+deb12u7)"
/// ```
public struct QEMUVersion: Sendable, Hashable, CustomStringConvertible {
    /// The major version: 7 in 7.2.22.
    public var major: Int
    /// The minor version: 2 in 7.2.22.
    public var minor: Int
    /// The micro version: 22 in 7.2.22.
    public var micro: Int
    /// The distribution's package string, e.g. `Debian 1:7.2+dfsg-7+deb12u7`.
    public var package: String

    public init(major: Int, minor: Int, micro: Int, package: String = "") {
        self.major = major
        self.minor = minor
        self.micro = micro
        self.package = package
    }

    /// `7.2.22`, followed by the package string in parentheses when there is one.
    public var description: String {
        let package = self.package.trimmingSpaces
        return package.isEmpty ? "\(major).\(minor).\(micro)" : "\(major).\(minor).\(micro) (\(package))"
    }
}

extension String {
    fileprivate var trimmingSpaces: Substring {
        var text = self[...]
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return text
    }
}
