#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The practical floor for a QMP round trip: one blocking unix socket, `write` the command, `read` until the
/// reply's `\r\n`. No JSON parsing beyond skipping event lines; no threads, no allocation per command.
final class MinimalQMPClient {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private let fd: Int32
    private var buffer: [UInt8]
    /// Bytes of `buffer` in use, and where the unread part starts.
    private var filled = 0
    private var start = 0
    private var nextID = 1
    /// The greeting line, as QEMU sent it.
    private(set) var greeting: [UInt8] = []

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        buffer = [UInt8](repeating: 0, count: 1 << 20)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw Failure(description: "socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "connect \(path): \(reason)")
        }
        greeting = try readLine()
        _ = try roundTrip(#"{"execute": "qmp_capabilities"}"#)
    }

    deinit { close(fd) }

    /// Sends `{"execute": NAME, "id": N}` and returns the reply line (without `\r\n`).
    @discardableResult
    func execute(_ name: String) throws -> [UInt8] {
        let id = nextID
        nextID += 1
        return try roundTrip(#"{"execute":"\#(name)","id":\#(id)}"#)
    }

    private static let eventPrefix = Array(#"{"event""#.utf8)
    private static let returnPrefix = Array(#"{"return""#.utf8)

    /// Sends a prepared command and returns the reply line (without `\r\n`), skipping event lines.
    @discardableResult
    func roundTrip(_ command: String) throws -> [UInt8] {
        try roundTrip(bytes: Array((command + "\n").utf8))
    }

    /// Sends `bytes` (one command ending in a newline) as they are.
    @discardableResult
    func roundTrip(bytes: [UInt8]) throws -> [UInt8] {
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw Failure(description: "write: \(String(cString: strerror(errno)))")
                }
                offset += written
            }
        }
        while true {
            let reply = try readLine()
            // A paused VM with no guest sends no events, but a line that is one is not the reply.
            if reply.starts(with: Self.eventPrefix) { continue }
            return reply
        }
    }

    /// Measures `count` sequential round trips of `name`, appending nanoseconds per round trip.
    func measure(_ name: String, count: Int, into samples: inout Samples) throws {
        let command = Array(#"{"execute":"\#(name)","id":1}\#n"#.utf8)
        for _ in 0..<count {
            let begin = monotonicNanoseconds()
            let reply = try roundTrip(bytes: command)
            let end = monotonicNanoseconds()
            guard reply.starts(with: Self.returnPrefix) else {
                throw Failure(description: "unexpected reply: \(String(decoding: reply, as: UTF8.self))")
            }
            samples.append(end - begin)
        }
    }

    private func readLine() throws -> [UInt8] {
        var scanFrom = start
        while true {
            if filled - start >= 2 {
                var index = max(scanFrom, start + 1)
                while index < filled {
                    if buffer[index] == 0x0A && buffer[index - 1] == 0x0D {
                        let line = Array(buffer[start..<(index - 1)])
                        start = index + 1
                        if start == filled { start = 0; filled = 0 }
                        return line
                    }
                    index += 1
                }
                scanFrom = filled
            }
            if filled == buffer.count {
                if start > 0 {
                    buffer.withUnsafeMutableBufferPointer { all in
                        let base = all.baseAddress!
                        memmove(base, base + start, filled - start)
                    }
                    scanFrom -= start
                    filled -= start
                    start = 0
                } else {
                    buffer.append(contentsOf: [UInt8](repeating: 0, count: buffer.count))
                }
            }
            let count = buffer.withUnsafeMutableBufferPointer { all in
                read(fd, all.baseAddress! + filled, all.count - filled)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "read: \(String(cString: strerror(errno)))")
            }
            if count == 0 { throw Failure(description: "QEMU closed the monitor") }
            filled += count
        }
    }
}
