#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// What the daemon tells its service manager (systemd's `sd_notify` protocol, without libsystemd): a datagram of
/// `KEY=VALUE` lines to the socket in `$NOTIFY_SOCKET` (an abstract socket when it starts with `@`).
///
/// ```swift
/// let notifier = SystemdNotifier.fromEnvironment()     // nil when not started by systemd with Type=notify
/// notifier?.send("READY=1\nSTATUS=3 VMs: 3 ok")
/// ```
public final class SystemdNotifier: Sendable {
    /// Where the datagrams go: a socket path, or an abstract name with a leading `@`.
    public let socket: String
    /// How often systemd expects `WATCHDOG=1` at the latest (`$WATCHDOG_USEC`), in seconds; nil without a watchdog.
    public let watchdogInterval: Double?
    private let sink: (@Sendable (String) -> Void)?
    private let descriptor = Mutex<Int32>(-1)

    /// A notifier for `socket`; with `sink`, messages go there instead (tests).
    public init(socket: String, watchdogInterval: Double? = nil, sink: (@Sendable (String) -> Void)? = nil) {
        self.socket = socket
        self.watchdogInterval = watchdogInterval
        self.sink = sink
    }

    deinit {
        descriptor.withLock { if $0 >= 0 { close($0) } }
    }

    /// The notifier systemd asked for through the environment: `$NOTIFY_SOCKET`, and `$WATCHDOG_USEC` when
    /// `$WATCHDOG_PID` is unset or this process. Nil when there is no socket.
    public static func fromEnvironment(_ environment: [String: String] = SystemdNotifier.environment()) -> SystemdNotifier? {
        guard let socket = environment["NOTIFY_SOCKET"], !socket.isEmpty else { return nil }
        var watchdog: Double?
        if let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0,
            environment["WATCHDOG_PID"].map({ Int32($0) == getpid() }) ?? true
        {
            watchdog = Double(usec) / 1e6
        }
        return SystemdNotifier(socket: socket, watchdogInterval: watchdog)
    }

    public static func environment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }

    /// Sends one message (lines of `KEY=VALUE`). Failures are ignored: the service manager may be gone.
    public func send(_ message: String) {
        if let sink {
            sink(message)
            return
        }
        descriptor.withLock { fd in
            if fd < 0 { fd = openDatagramSocket() }
            guard fd >= 0 else { return }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            var path = Array(socket.utf8)
            if path.first == UInt8(ascii: "@") { path[0] = 0 }
            let capacity = MemoryLayout.size(ofValue: address.sun_path)
            guard path.count < capacity else { return }
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (index, byte) in path.enumerated() { raw[index] = byte }
            }
            // An abstract name's length is exact; a path's includes its terminating zero.
            let length = MemoryLayout<sa_family_t>.size + path.count + (path.first == 0 ? 0 : 1)
            let bytes = Array(message.utf8)
            _ = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    bytes.withUnsafeBytes { buffer in
                        sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), socketAddress, socklen_t(length))
                    }
                }
            }
        }
    }
}

/// A unix datagram socket for ``SystemdNotifier``.
private func openDatagramSocket() -> Int32 {
    socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
}
