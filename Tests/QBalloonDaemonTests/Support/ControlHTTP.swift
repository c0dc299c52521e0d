import Foundation
import QBalloonJSON
import QBalloonTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// HTTP/1.1 over the control socket with a raw unix socket, as `curl --unix-socket` would send it: the server is
/// checked by a client that shares none of its code. Its blocking reads run on threads of their own, never on the
/// Swift concurrency pool the daemon under test needs (two cores: two blocked readers would starve it).
struct ControlHTTP {
    /// Runs blocking socket work off the concurrency pool.
    static func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
        }
    }

    let socket: String

    struct Reply: Sendable {
        var status: Int
        var headers: String
        var json: JSON
        var body: String
    }

    /// Connects, retrying while the daemon starts (at most `tries` times 100 ms apart).
    func connect(tries: Int = 100) async throws -> Int32 {
        for attempt in 0..<tries {
            let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw TestFailure("socket: \(String(cString: strerror(errno)))") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (index, byte) in socket.utf8.enumerated() { raw[index] = byte }
            }
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
            }
            if connected {
                var timeout = timeval(tv_sec: 10, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                return fd
            }
            let reason = String(cString: strerror(errno))
            close(fd)
            if attempt == tries - 1 { throw TestFailure("cannot connect to \(socket): \(reason)") }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("unreachable")
    }

    static func send(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { throw TestFailure("write: \(String(cString: strerror(errno)))") }
            offset += count
        }
    }

    static func request(_ method: String, _ path: String, body: String?) -> [UInt8] {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: qballoon\r\nConnection: close\r\n"
        if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + (body ?? "")
        return Array(text.utf8)
    }

    /// One request on a connection of its own; the reply's body decoded as JSON.
    func call(_ method: String, _ path: String, body: String? = nil) async throws -> Reply {
        let fd = try await connect()
        return try await Self.blocking { try Self.exchange(fd, method, path, body) }
    }

    private static func exchange(_ fd: Int32, _ method: String, _ path: String, _ body: String?) throws -> Reply {
        defer { close(fd) }
        try send(fd, request(method, path, body: body))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count < 0 { throw TestFailure("\(method) \(path): read: \(String(cString: strerror(errno))) after \(received.count) bytes") }
            if count == 0 { break }
            received.append(contentsOf: buffer[0..<count])
        }
        let text = String(decoding: received, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw TestFailure("\(method) \(path): no HTTP header end in: \(text)") }
        let head = String(text[..<split.lowerBound])
        let parts = (head.split(separator: "\r\n").first ?? "").split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw TestFailure("bad status line in: \(head)") }
        let body = String(text[split.upperBound...])
        let json = (try? JSON.decode(body)) ?? .null
        return Reply(status: status, headers: head, json: json, body: body)
    }

    func get(_ path: String) async throws -> JSON {
        let reply = try await call("GET", path)
        guard reply.status == 200 else { throw TestFailure("GET \(path): \(reply.status) \(reply.body)") }
        return reply.json
    }

    /// The first `count` lines of `GET /v1/events` (chunked JSON lines) that satisfy `keep`.
    func events(_ count: Int, where keep: @escaping @Sendable (JSON) -> Bool = { _ in true }) async throws -> (headers: String, lines: [JSON]) {
        let fd = try await connect()
        return try await Self.blocking { try Self.readEvents(fd, count, keep) }
    }

    private static func readEvents(_ fd: Int32, _ count: Int, _ keep: (JSON) -> Bool) throws -> (headers: String, lines: [JSON]) {
        defer { close(fd) }
        try send(fd, request("GET", "/v1/events", body: nil))
        var pending: [UInt8] = []
        var headers: String?
        var lines: [JSON] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = Date().addingTimeInterval(20)
        let headerEnd = Array("\r\n\r\n".utf8)
        while lines.count < count {
            guard Date() < deadline else {
                throw TestFailure("only \(lines.count) of \(count) event lines within 20 s: \(lines.map { $0.encodedString() })")
            }
            let got = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if got < 0, errno == EINTR { continue }
            guard got > 0 else {
                throw TestFailure(
                    "the event stream ended after \(lines.count) lines (\(got < 0 ? String(cString: strerror(errno)) : "closed")): "
                        + "\(headers ?? "no headers") \(String(decoding: pending.prefix(500), as: UTF8.self))")
            }
            pending += buffer[0..<got]
            if headers == nil, let split = pending.indices.first(where: { pending[$0...].starts(with: headerEnd) }) {
                headers = String(decoding: pending[..<split], as: UTF8.self)
                pending.removeFirst(split + headerEnd.count)
            }
            guard headers != nil else { continue }
            // Bytes, not Characters ("\r\n" is one Character): chunk sizes are lines of hex digits, events JSON objects.
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = pending[..<newline].filter { $0 != 0x0D }
                pending.removeFirst(newline + 1)
                guard line.first == UInt8(ascii: "{"), let json = try? JSON.decode(Array(line)) else { continue }
                if keep(json) { lines.append(json) }
            }
        }
        return (headers ?? "", lines)
    }
}

