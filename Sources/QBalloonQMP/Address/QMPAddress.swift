/// Where a QEMU monitor listens: a unix socket (`unix:/run/qemu/vm.qmp` or a bare path) or a TCP port
/// (`tcp:127.0.0.1:4444`, `tcp:[::1]:4444`).
///
/// ```swift
/// let address = try QMPAddress("unix:/run/qemu/db.qmp")
/// ```
public struct QMPAddress: Sendable, Hashable, CustomStringConvertible {
    enum Base: Sendable, Hashable {
        case unixDomainSocket(path: String)
        case hostname(String, port: Int)
    }

    let base: Base

    /// A unix domain socket at `path`.
    public static func unixDomainSocket(path: String) -> QMPAddress { QMPAddress(base: .unixDomainSocket(path: path)) }

    /// A TCP socket.
    public static func hostname(_ host: String, port: Int) -> QMPAddress { QMPAddress(base: .hostname(host, port: port)) }

    private init(base: Base) { self.base = base }

    /// Parses `unix:PATH`, `tcp:HOST:PORT` or a bare path.
    /// - Throws: ``QMPAddressError`` saying what is wrong with the text.
    public init(_ text: String) throws {
        if text.isEmpty { throw QMPAddressError(text: text, reason: "the address is empty") }
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw QMPAddressError(text: text, reason: "no path after 'unix:'") }
            self.base = .unixDomainSocket(path: path)
        } else if text.hasPrefix("tcp:") {
            let rest = text.dropFirst(4)
            let host: Substring
            let portText: Substring
            if rest.hasPrefix("[") {
                guard let close = rest.firstIndex(of: "]"), rest[rest.index(after: close)...].hasPrefix(":") else {
                    throw QMPAddressError(text: text, reason: "expected tcp:[IPV6]:PORT")
                }
                host = rest[rest.index(after: rest.startIndex)..<close]
                portText = rest[rest.index(close, offsetBy: 2)...]
            } else {
                guard let colon = rest.lastIndex(of: ":") else {
                    throw QMPAddressError(text: text, reason: "expected tcp:HOST:PORT")
                }
                host = rest[..<colon]
                portText = rest[rest.index(after: colon)...]
            }
            guard !host.isEmpty else { throw QMPAddressError(text: text, reason: "no host in tcp:HOST:PORT") }
            // Port 0 is for listening ("any free port"); connecting to it fails with a clear error.
            guard let port = Int(portText), (0...65535).contains(port) else {
                throw QMPAddressError(text: text, reason: "port '\(portText)' is not a number from 0 to 65535")
            }
            self.base = .hostname(String(host), port: port)
        } else if let colon = text.firstIndex(of: ":"), !text[..<colon].contains("/") {
            throw QMPAddressError(
                text: text, reason: "unknown scheme '\(text[..<colon])': use unix:PATH, tcp:HOST:PORT or a path")
        } else {
            self.base = .unixDomainSocket(path: text)
        }
    }

    /// The address as a user writes it: `unix:/path` or `tcp:host:port`.
    public var description: String {
        switch base {
        case .unixDomainSocket(let path): return "unix:\(path)"
        case .hostname(let host, let port):
            return host.contains(":") ? "tcp:[\(host)]:\(port)" : "tcp:\(host):\(port)"
        }
    }

    /// The host and port, for a TCP address.
    public var hostAndPort: (host: String, port: Int)? {
        if case .hostname(let host, let port) = base { return (host, port) }
        return nil
    }

    /// The socket path, for a unix address.
    public var unixPath: String? {
        if case .unixDomainSocket(let path) = base { return path }
        return nil
    }
}

/// A monitor address that cannot be parsed.
public struct QMPAddressError: Error, Sendable, Hashable, CustomStringConvertible {
    public let text: String
    public let reason: String
    public var description: String { "bad QMP address '\(text)': \(reason)" }
}
