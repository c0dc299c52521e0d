import Foundation
import QBalloonCore
import QBalloonDaemon
import QBalloonJSON
import QBalloonTestSupport
import Testing

/// The client side of the control socket: ``ControlClient`` against a stand-in server that answers with scripted
/// bytes (how HTTP is cut into pieces, what goes wrong), and the text `vms` and `explain` make of the API's JSON.
@Suite struct ControlClientTests {
    static func reply(_ status: Int, _ body: String, reason: String = "OK") -> [UInt8] {
        Array("HTTP/1.1 \(status) \(reason)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8)
    }

    static func chunk(_ text: String) -> [UInt8] {
        Array((String(text.utf8.count, radix: 16) + "\r\n" + text + "\r\n").utf8)
    }

    static let streamHead = Array("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)

    @Test func aRequestAndItsReply() async throws {
        let server = try CannedControlServer(replies: [[Self.reply(200, #"{"message": "db pinned to 2 GiB for 30m", "vm": {"name": "db"}}"#)]])
        defer { server.stop() }
        let client = ControlClient(socketPath: server.path)
        let reply = try await client.request(.POST, "/v1/vms/\(ControlClient.path("db"))/pin", body: ["size": "2GiB", "for": "30m"])
        #expect(reply.status == 200)
        #expect(reply.message == "db pinned to 2 GiB for 30m")
        #expect(reply.body["vm"]?["name"]?.stringValue == "db")
        let request = try #require(server.requests.first)
        #expect(request.head.hasPrefix("POST /v1/vms/db/pin HTTP/1.1\r\n"))
        #expect(request.head.lowercased().contains("content-type: application/json"))
        #expect(try JSON.decode(request.body) == ["size": "2GiB", "for": "30m"])
    }

    @Test func aReplyCutIntoPiecesIsReadWhole() async throws {
        let whole = Self.reply(200, #"{"vms": [], "time": 1.5}"#)
        let pieces = stride(from: 0, to: whole.count, by: 7).map { Array(whole[$0..<min(whole.count, $0 + 7)]) }
        let server = try CannedControlServer(replies: [pieces])
        defer { server.stop() }
        let reply = try await ControlClient(socketPath: server.path).request(.GET, "/v1/vms")
        #expect(reply.body == ["vms": [], "time": 1.5])
    }

    @Test func aRefusalCarriesTheDaemonsWords() async throws {
        let body = #"{"error": "no VM named 'x' (known: a, b)", "known": ["a", "b"]}"#
        let server = try CannedControlServer(replies: [[Self.reply(404, body, reason: "Not Found")]])
        defer { server.stop() }
        do {
            _ = try await ControlClient(socketPath: server.path).request(.GET, "/v1/vms/x")
            Issue.record("a 404 is an error")
        } catch let error as ControlClientError {
            #expect(error.code == .rejected)
            #expect(error.status == 404)
            #expect("\(error)" == "no VM named 'x' (known: a, b)")
            #expect(error.body?["known"] == ["a", "b"])
        }
    }

    @Test func noDaemon() async throws {
        let directory = TestEnvironment.makeTemporaryDirectory(prefix: "qbc")
        defer { TestEnvironment.removeDirectory(directory) }
        let missing = directory + "/control.sock"
        await #expect(throws: ControlClientError.self) { try await ControlClient(socketPath: missing).request(.GET, "/v1/vms") }
        do {
            _ = try await ControlClient(socketPath: missing).request(.GET, "/v1/vms")
        } catch let error as ControlClientError {
            #expect(error.code == .noDaemon)
            #expect("\(error)" == "no qballoon daemon at \(missing) (is `qballoon run` running?)")
        }
        // A socket left behind by a daemon that died: refused, and the same words.
        let stale = try CannedControlServer(replies: [], path: directory + "/stale.sock")
        stale.stop(keepingFile: true)
        do {
            _ = try await ControlClient(socketPath: stale.path).request(.GET, "/v1/vms")
            Issue.record("nothing listens there")
        } catch let error as ControlClientError {
            #expect("\(error)" == "no qballoon daemon at \(stale.path) (is `qballoon run` running?)")
        }
    }

    @Test func whatIsNotTheControlAPIIsSaidSo() async throws {
        let server = try CannedControlServer(replies: [
            [Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".utf8)],
            [Self.reply(200, "{" + String(repeating: " ", count: 4096) + "}")],
        ])
        defer { server.stop() }
        let client = ControlClient(socketPath: server.path, options: .init(maxBodyBytes: 1024))
        await #expect { try await client.request(.GET, "/v1/vms") } throws: { error in
            (error as? ControlClientError)?.code == .badReply && "\(error)".contains("not JSON")
        }
        await #expect { try await client.request(.GET, "/v1/vms") } throws: { error in
            (error as? ControlClientError)?.code == .tooLarge
        }
    }

    @Test func eventsArriveLineByLineHoweverTheyAreCut() async throws {
        let first = #"{"type": "round", "time": 1, "vms": []}"#
        let second = #"{"type": "operator", "act": "pause", "vm": null, "message": "the host paused"}"#
        let third = #"{"type": "round", "time": 2, "vms": []}"#
        let server = try CannedControlServer(replies: [[
            Self.streamHead, Self.chunk(String(first.prefix(10))), Self.chunk(String(first.dropFirst(10)) + "\n" + second),
            Self.chunk("\n" + third + "\n"),
            // The daemon goes away without ending the stream.
        ]])
        defer { server.stop() }
        var events: [JSON] = []
        do {
            for try await event in ControlClient(socketPath: server.path).events() { events.append(event) }
            Issue.record("a stream cut short is an error")
        } catch let error as ControlClientError {
            #expect(error.code == .connectionClosed, "\(error)")
        }
        #expect(events.map { $0["type"]?.stringValue } == ["round", "operator", "round"])
        #expect(events[1]["message"] == "the host paused")
        #expect(server.requests.first?.head.hasPrefix("GET /v1/events HTTP/1.1\r\n") == true)
    }

    @Test func anEventLineBeyondTheBoundIsRefused() async throws {
        let server = try CannedControlServer(replies: [[Self.streamHead, Self.chunk(String(repeating: "x", count: 3000))]])
        defer { server.stop() }
        let client = ControlClient(socketPath: server.path, options: .init(maxLineBytes: 1024))
        await #expect { try await client.events { _ in } } throws: { error in
            (error as? ControlClientError)?.code == .tooLarge
        }
    }

    @Test func theLineSplitterTakesAnyCut() throws {
        let text = Array("{\"a\":1}\n{\"b\":2}\n\n{\"c\":".utf8)
        var whole = ControlLineSplitter(maxLineBytes: 100)
        let lines = try whole.append(text)
        var byteByByte = ControlLineSplitter(maxLineBytes: 100)
        var one: [[UInt8]] = []
        for byte in text { one += try byteByByte.append([byte]) }
        #expect(lines == one)
        #expect(lines.map { String(decoding: $0, as: UTF8.self) } == ["{\"a\":1}", "{\"b\":2}", ""])
        #expect(whole.pendingBytes == 5)
        var small = ControlLineSplitter(maxLineBytes: 4)
        #expect(throws: ControlLineSplitter.LineTooLong.self) { try small.append(Array("12345".utf8)) }
    }

    @Test func vmsTable() throws {
        let round = RoundView(SampleRounds.round())
        let lines = VMTable.render(round).split(separator: "\n").map(String.init)
        #expect(lines[0].split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") == "NAME STATE ACTUAL/MAX TARGET AVAILABLE STATS-AGE LAST RULE")
        #expect(lines.count == 5)
        let alpha = lines[1].split(separator: "  ", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(alpha == ["alpha", "ok", "3 GiB / 4 GiB", "3 GiB", "2 GiB", "2s", "reclaim idle memory"])
        #expect(lines[4].hasPrefix("delta"))
        #expect(lines[4].contains("paused"))
        // Columns line up: every row's STATE starts where the header's does.
        let column = try #require(lines[0].range(of: "STATE")).lowerBound.utf16Offset(in: lines[0])
        for line in lines.dropFirst() { #expect(line.utf16.dropFirst(column).first != 0x20, "\(line)") }
        let paused = VMTable.render(RoundView(SampleRounds.round(hostPaused: true)))
        #expect(paused.hasSuffix("the whole host is paused: nothing moves until `qballoon resume`"))
    }

    @Test func explanation() throws {
        let pin: JSON = ["size": "2GiB", "bytes": .unsigned(2 << 30), "since": 1_699_999_000.0, "until": 1_700_001_800.0]
        let vm = VMView(SampleRounds.vm("db", state: "pinned", actual: 3 << 30, available: 1 << 30, pin: pin))
        let text = VMExplanation.render(vm, hostPaused: false, now: 1_700_000_000)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines[0] == "db: pinned")
        #expect(lines.contains("  monitor     /run/qemu/db.qmp"))
        #expect(lines.contains("  balloon     actual 3 GiB of 4 GiB RAM (limits 1 GiB to 4 GiB), target 3 GiB"))
        #expect(lines.contains("  guest       available 1 GiB, used 2 GiB, stats 2s old"))
        #expect(lines.contains { $0.hasPrefix("  pinned to   2GiB, since ") && $0.contains("(17m ago)") && $0.contains("(in 30m)") })
        #expect(lines.contains("  paused      no"))
        #expect(lines.contains { $0.hasPrefix("last decision ") && $0.hasSuffix(": 3.25 GiB -> 3 GiB") })
        #expect(lines.contains("  reason      rule \"reclaim idle memory\""))
        #expect(lines.contains("  wanted      2.5 GiB"))
        #expect(lines.contains("  saw         available=1.2 GiB, used=1.5 GiB"))
        // Each adjustment on its own line.
        #expect(lines.contains("  adjusted    step: at most 256 MiB"))
        #expect(lines.contains("              min: not below 1 GiB"))
        #expect(lines.contains { $0.hasPrefix("last change ") && $0.hasSuffix(": 3.25 GiB -> 3 GiB, rule \"reclaim idle memory\"") })

        let fresh = VMView(["name": "new", "state": "no_stats", "status": "no_stats: the guest reports no statistics"])
        let freshText = VMExplanation.render(fresh, hostPaused: true, now: 1_700_000_000)
        #expect(freshText.hasPrefix("new: no_stats: the guest reports no statistics\n"))
        #expect(freshText.contains("last decision: none yet"))
        #expect(freshText.contains("last change: none since the daemon started"))
    }
}

/// A stand-in for the daemon's control socket: each connection, in turn, gets the next scripted reply, written
/// in the pieces given (a short pause between them, so the client reads them apart), then the connection closes.
/// It records each request's head and body.
final class CannedControlServer: @unchecked Sendable {
    struct Request {
        var head: String
        var body: [UInt8]
    }

    let path: String
    private let directory: String?
    private let listener: Int32
    private let lock = NSLock()
    private var received: [Request] = []

    var requests: [Request] { lock.withLock { received } }

    init(replies: [[[UInt8]]], path: String? = nil) throws {
        if let path {
            self.path = path
            directory = nil
        } else {
            let made = TestEnvironment.makeTemporaryDirectory(prefix: "qbc")
            self.path = made + "/control.sock"
            directory = made
        }
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        guard listener >= 0 else { throw TestFailure("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in self.path.utf8.prefix(buffer.count - 1).enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 8) == 0 else { throw TestFailure("bind \(self.path): \(String(cString: strerror(errno)))") }
        Thread.detachNewThread { [self] in
            for reply in replies {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { return }
                if let request = Self.readRequest(connection) { lock.withLock { received.append(request) } }
                for (index, piece) in reply.enumerated() {
                    if index > 0 { usleep(20_000) }
                    _ = piece.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
                }
                usleep(20_000)
                close(connection)
            }
        }
    }

    private static func readRequest(_ connection: Int32) -> Request? {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let end = Array("\r\n\r\n".utf8)
        while true {
            if let split = bytes.firstRange(of: end) {
                let head = String(decoding: bytes[..<split.upperBound], as: UTF8.self)
                let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                if bytes.count - split.upperBound >= length {
                    return Request(head: head, body: Array(bytes[split.upperBound..<(split.upperBound + length)]))
                }
            }
            let count = buffer.withUnsafeMutableBytes { read(connection, $0.baseAddress, $0.count) }
            if count <= 0 { return nil }
            bytes += buffer[..<count]
        }
    }

    /// Stops listening; the socket file goes too, unless `keepingFile` (as a daemon killed with SIGKILL leaves it).
    func stop(keepingFile: Bool = false) {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        if !keepingFile {
            unlink(path)
            if let directory { TestEnvironment.removeDirectory(directory) }
        }
    }
}
