import QBalloonCore
import QBalloonJSON
import QBalloonQMP

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A bare socket to a monitor, for sending exact bytes (garbage included) and reading each message QEMU-style
/// (one JSON object per line). Non-blocking: waiting sleeps the task instead of blocking a thread.
final class RawQMPConnection {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private var descriptor: Int32
    private var buffer: [UInt8] = []
    /// The server closed the connection.
    private(set) var isClosed = false

    init(to address: Endpoint) throws {
        if let path = address.unixPath {
            descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var socketAddress = sockaddr_un()
            socketAddress.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &socketAddress.sun_path) { raw in
                let bytes = Array(path.utf8.prefix(raw.count - 1))
                raw.copyBytes(from: bytes)
            }
            let result = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard result == 0 else {
                throw Failure(description: "connect \(path): \(String(cString: strerror(errno)))")
            }
        } else {
            let text = address.description
            guard let (_, number) = address.hostAndPort, let port = UInt16(exactly: number) else {
                throw Failure(description: "bad address \(text)")
            }
            descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var socketAddress = sockaddr_in()
            socketAddress.sin_family = sa_family_t(AF_INET)
            socketAddress.sin_port = port.bigEndian
            socketAddress.sin_addr.s_addr = inet_addr("127.0.0.1")
            let result = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard result == 0 else {
                throw Failure(description: "connect \(text): \(String(cString: strerror(errno)))")
            }
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
    }

    deinit { close() }

    func close() {
        if descriptor >= 0 {
            _ = Glibc.close(descriptor)
            descriptor = -1
        }
    }

    /// Sends `bytes` whole.
    func send(_ bytes: [UInt8]) async throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if written > 0 {
                offset += written
            } else if written < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                try await Task.sleep(for: .milliseconds(2))
            } else {
                throw Failure(description: "send: \(String(cString: strerror(errno)))")
            }
        }
    }

    func send(_ text: String) async throws { try await send(Array(text.utf8)) }

    /// Sends `json` as one line.
    func send(json: JSON) async throws {
        var bytes = json.encoded()
        bytes.append(0x0A)
        try await send(bytes)
    }

    /// The next message, or `nil` if none comes within `timeout` seconds or the connection closed.
    func receive(timeout: Double = 5) async throws -> JSON? {
        let deadline = Self.monotonic() + timeout
        while true {
            if let line = takeLine() {
                return try JSON.decode(line)
            }
            if isClosed { return nil }
            readAvailable()
            if takeLineAvailable { continue }
            if isClosed { return nil }
            if Self.monotonic() >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Every message already readable now (after a short grace period for bytes in flight).
    func drain(grace: Double = 0.02) async throws -> [JSON] {
        var messages: [JSON] = []
        while let message = try await receive(timeout: grace) { messages.append(message) }
        return messages
    }

    /// Waits up to `timeout` seconds for the server to close the connection; false if it stays open or
    /// sends something.
    func waitForClose(timeout: Double = 5) async throws -> Bool {
        let message = try await receive(timeout: timeout)
        return message == nil && isClosed
    }

    /// The raw bytes received so far and not yet returned as messages.
    var unparsed: [UInt8] { buffer }

    private var takeLineAvailable: Bool { buffer.contains(0x0A) }

    private func takeLine() -> [UInt8]? {
        guard let newline = buffer.firstIndex(of: 0x0A) else { return nil }
        var line = Array(buffer[..<newline])
        buffer.removeSubrange(...newline)
        if line.last == 0x0D { line.removeLast() }
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return takeLine() }
        return line
    }

    private func readAvailable() {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while descriptor >= 0 {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                buffer.append(contentsOf: chunk[0..<count])
            } else if count == 0 {
                isClosed = true
                return
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                return
            } else {
                isClosed = true
                return
            }
        }
    }

    static func monotonic() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
