/// Where a socket is: a unix domain socket path, or a host and a TCP port. One type for every socket qballoon
/// names: a VM's QMP monitor (`unix:/run/qemu/vm.qmp`, a bare path, `tcp:127.0.0.1:4444`), the fake server's
/// listening address, and the metrics listener (`127.0.0.1:9464`).
///
/// ```swift
/// let monitor = try Endpoint("unix:/run/qemu/db.qmp")
/// let metrics = try Endpoint(listening: "[::1]:9464")
/// ```
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    package enum Base: Sendable, Hashable {
        case unixDomainSocket(path: String)
        case hostname(String, port: Int)
    }

    package let base: Base

    /// A unix domain socket at `path`.
    public static func unixDomainSocket(path: String) -> Endpoint { Endpoint(base: .unixDomainSocket(path: path)) }

    /// A TCP socket.
    public static func hostname(_ host: String, port: Int) -> Endpoint { Endpoint(base: .hostname(host, port: port)) }

    private init(base: Base) { self.base = base }

    /// Parses a monitor address as users write it: `unix:PATH`, `tcp:HOST:PORT`, `tcp:[IPV6]:PORT`, or a bare
    /// path. Port 0 is allowed (a listener picks a free port; connecting to it fails with a clear error).
    /// - Throws: ``EndpointError`` saying what is wrong with the text.
    public init(_ text: String) throws(EndpointError) {
        func fail(_ reason: String) -> EndpointError { EndpointError(text: text, kind: .monitor, reason: reason) }
        if text.isEmpty { throw fail("the address is empty") }
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw fail("no path after 'unix:'") }
            self.base = .unixDomainSocket(path: path)
        } else if text.hasPrefix("tcp:") {
            switch Self.hostAndPort(text.dropFirst(4)) {
            case .success(let (host, port)) where port <= 65535:
                self.base = .hostname(host, port: port)
            case .success:
                throw fail("port '\(Self.portText(text.dropFirst(4)))' is not a number from 0 to 65535")
            case .failure(.noPort): throw fail("expected tcp:HOST:PORT")
            case .failure(.unclosedBracket): throw fail("expected tcp:[IPV6]:PORT")
            case .failure(.noHost): throw fail("no host in tcp:HOST:PORT")
            case .failure(.badPort(let port)): throw fail("port '\(port)' is not a number from 0 to 65535")
            }
        } else if let colon = text.firstIndex(of: ":"), !text[..<colon].contains("/") {
            throw fail("unknown scheme '\(text[..<colon])': use unix:PATH, tcp:HOST:PORT or a path")
        } else {
            self.base = .unixDomainSocket(path: text)
        }
    }

    /// Parses an address to listen on: `HOST:PORT` or `[IPV6]:PORT` (`127.0.0.1:9464`, `[::1]:9464`,
    /// `localhost:9464`). Port 0 picks a free port.
    /// - Throws: ``EndpointError`` saying what is wrong with the text.
    public init(listening text: String) throws(EndpointError) {
        func fail(_ reason: String) -> EndpointError { EndpointError(text: text, kind: .listener, reason: reason) }
        switch Self.hostAndPort(text[...]) {
        case .success(let (host, port)) where port <= 65535:
            self.base = .hostname(host, port: port)
        case .success:
            throw fail("port '\(Self.portText(text[...]))' is not a number from 0 to 65535")
        case .failure(.noPort): throw fail("expected HOST:PORT, like \"127.0.0.1:9464\"")
        case .failure(.unclosedBracket): throw fail("expected [IPV6]:PORT, like \"[::1]:9464\"")
        case .failure(.noHost): throw fail("no host in '\(text)': expected HOST:PORT, like \"127.0.0.1:9464\"")
        case .failure(.badPort(let port)): throw fail("port '\(port)' is not a number from 0 to 65535")
        }
    }

    /// The address as a user writes it: `unix:/path` or `tcp:host:port` (`tcp:[::1]:port`).
    public var description: String {
        switch base {
        case .unixDomainSocket(let path): return "unix:\(path)"
        case .hostname(let host, let port): return "tcp:\(hostPort(host, port))"
        }
    }

    /// `host:port` (`[::1]:port` for IPv6) for a TCP address; nil for a unix socket.
    public var hostPortText: String? {
        guard case .hostname(let host, let port) = base else { return nil }
        return hostPort(host, port)
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

    private func hostPort(_ host: String, _ port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    // MARK: The one host:port parser

    private enum HostPortProblem: Error {
        case noPort, unclosedBracket, noHost
        case badPort(Substring)
    }

    /// Splits `HOST:PORT` or `[IPV6]:PORT`; the port is any whole number (callers check its range).
    private static func hostAndPort(_ text: Substring) -> Result<(String, Int), HostPortProblem> {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                return .failure(.unclosedBracket)
            }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return .failure(.noPort) }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard !host.isEmpty else { return .failure(.noHost) }
        guard let number = Int(port), number >= 0 else { return .failure(.badPort(port)) }
        return .success((String(host), number))
    }

    private static func portText(_ text: Substring) -> Substring {
        guard let colon = text.lastIndex(of: ":") else { return "" }
        return text[text.index(after: colon)...]
    }
}

/// An address that cannot be parsed.
public struct EndpointError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What the address was for.
    public enum Kind: Sendable, Hashable {
        /// A VM's monitor (`--qmp`, `qmp = ...`).
        case monitor
        /// An address to listen on (`metrics_listen`).
        case listener
    }

    public let text: String
    public let kind: Kind
    /// What is wrong with it.
    public let reason: String

    public var description: String {
        switch kind {
        case .monitor: return "bad QMP address '\(text)': \(reason)"
        case .listener: return "bad listen address '\(text)': \(reason)"
        }
    }
}
