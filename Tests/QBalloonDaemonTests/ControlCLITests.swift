import Foundation
import NIOHTTP1
import QBalloonCore
import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonJSON
import QBalloonTestSupport
import Testing

@testable import qballoon

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

/// `qballoon vms|explain|pin|unpin|pause|resume|reload|top` as a user runs them: each a separate process, against
/// `qballoon run --config` (a separate process too) over fake VMs, through the daemon's control socket.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ControlCLITests {
    static let gib = TestFleet.gib

    /// A daemon whose rules never fire in a test's time: what moves balloons is the operator.
    static func config(_ fleet: TestFleet, vms: [String], broken: Bool = false) -> String {
        TestConfig.daemon(extra: """
            control_socket = "\(fleet.directory)/control.sock"
            state_dir = "\(fleet.directory)/state"
            """) + TestConfig.defaults(broken ? #"shares = "many""# : "")
            + vms.map { TestConfig.vm($0, in: fleet) }.joined() + TestConfig.quietRule
    }

    /// Polls `condition` every 100 ms, at most `tries` times.
    static func eventually(_ what: String, tries: Int = 150, _ condition: () async throws -> Bool) async throws {
        for _ in 0..<tries {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("not after \(tries) tries: \(what)")
    }

    /// Runs the daemon over fake VMs named `vms` (RAM from `ram`, 2 GiB if not named) until `body` returns, then
    /// stops it; `body` gets the fleet, the daemon and the control socket's path, once `vms` answers.
    static func withDaemon(
        vms: [String], ram: [String: UInt64] = [:], _ body: (TestFleet, DaemonProcess, String) async throws -> Void
    ) async throws {
        try await TestFleet.run(.sockets) { fleet in
            for vm in vms { try await fleet.startVM(vm, scenario: TestFleet.scenario(ram: ram[vm] ?? 2 * gib)) }
            let daemon = try DaemonProcess(config: config(fleet, vms: vms), directory: fleet.directory)
            try daemon.start()
            let socket = fleet.directory + "/control.sock"
            do {
                try await eventually("every VM attached and shown") {
                    #expect(daemon.isRunning, "\(daemon.report())")
                    let reply = try? await ControlClient(socketPath: socket).request(.GET, "/v1/vms")
                    return reply?.body["vms"]?.arrayValue?.filter { $0["state"]?.stringValue == "ok" }.count == vms.count
                }
                try await body(fleet, daemon, socket)
            } catch {
                await daemon.stop()
                throw error
            }
            #expect(await daemon.stop() == 0, "\(daemon.report())")
        }
    }

    static func vm(_ name: String, at socket: String) async throws -> JSON {
        try await ControlClient(socketPath: socket).request(.GET, "/v1/vms/\(name)").body
    }

    @Test func theVerbs() async throws {
        try await Self.withDaemon(vms: ["first", "second"]) { fleet, daemon, socket in
            func cli(_ arguments: String...) async throws -> BuiltCLI.Result {
                try await BuiltCLI.run(arguments + ["--control", socket], in: fleet.directory, timeout: 30)
            }

            // vms: the table, and the daemon's JSON.
            let table = try await cli("vms")
            #expect(table.status == 0, "\(table)")
            let lines = table.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first?.hasPrefix("NAME") == true && lines.first?.contains("LAST RULE") == true, "\(table)")
            #expect(lines.count == 3, "\(table)")
            // ok, or on a loaded machine (a sanitizer build) statistics a moment stale: either way not held.
            #expect(
                lines[1].hasPrefix("first ") && (lines[1].contains(" ok ") || lines[1].contains(" stale_stats "))
                    && lines[1].contains("2 GiB / 2 GiB"), "\(table)")
            #expect(lines[2].hasPrefix("second "), "\(table)")
            let json = try await cli("vms", "--json")
            #expect(json.status == 0, "\(json)")
            #expect(try json.json()["vms"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["first", "second"])
            #expect(try json.json()["host"]?["paused"] == false)

            // explain: the state, the figures, the last decision.
            let explained = try await cli("explain", "first")
            #expect(explained.status == 0, "\(explained)\n\(daemon.report())")
            #expect(explained.stdout.hasPrefix("first: "), "\(explained)")
            for part in ["  balloon     actual 2 GiB of 2 GiB RAM", "  guest       available ", "  pinned      no", "  paused      no", "last decision"] {
                #expect(explained.stdout.contains(part), "\(part)\n\(explained)")
            }
            let explainedJSON = try await cli("explain", "first", "--json")
            #expect(try explainedJSON.json()["name"] == "first", "\(explainedJSON)")

            // pin: vms shows it, and the guest's balloon goes there.
            let pinned = try await cli("pin", "first", "1GiB")
            #expect(pinned.status == 0, "\(pinned)")
            #expect(pinned.stdout.hasPrefix("first pinned to 1 GiB"), "\(pinned)")
            // (A slow machine may show first's statistics stale for a moment: a problem is shown before a hold.)
            try await Self.eventually("vms shows first pinned") {
                try await cli("vms").stdout.split(separator: "\n").dropFirst().first?.contains(" pinned ") == true
            }
            try await Self.eventually("first's balloon at its pin") {
                let guest = try await fleet.guest("first")
                return guest.target == Self.gib && guest.actual == Self.gib
            }
            #expect(try await cli("explain", "first").stdout.contains("  pinned to   1GiB, since "))

            // pin --for: it says for how long, and explain says until when.
            let forAWhile = try await cli("pin", "second", "50%", "--for", "30m")
            #expect(forAWhile.status == 0, "\(forAWhile)")
            #expect(forAWhile.stdout.contains("30m"), "\(forAWhile)")
            let until = try await cli("explain", "second").stdout
            #expect(until.contains("  pinned to   50% (1 GiB), since ") && until.contains(", until ") && until.contains("(in "), "\(until)")
            try await Self.eventually("second's balloon at half its RAM") { try await fleet.guest("second").target == Self.gib }

            // Above max: refused by the daemon. A size that is no size: refused before asking (usage, exit 2).
            let above = try await cli("pin", "first", "3GiB")
            #expect(above.status == 1, "\(above)")
            #expect(above.stderr == "qballoon: first: 3 GiB is above its max 2 GiB\n", "\(above)")
            let bad = try await cli("pin", "first", "lots")
            #expect(bad.status == 2 && bad.stderr.contains("bad size 'lots'"), "\(bad)")
            let badFor = try await cli("pin", "first", "1GiB", "--for", "soon")
            #expect(badFor.status == 2 && badFor.stderr.contains("--for: bad duration 'soon'"), "\(badFor)")

            // unpin.
            let unpinned = try await cli("unpin", "first")
            #expect(unpinned.status == 0 && unpinned.stdout.hasPrefix("first unpinned"), "\(unpinned)")
            #expect(try await Self.vm("first", at: socket)["pin"] == .null)
            #expect(try await cli("unpin", "first").stdout.hasPrefix("first was not pinned"))
            #expect(try await cli("unpin", "second").status == 0)

            // pause and resume, of one VM and of the host.
            let paused = try await cli("pause", "first")
            #expect(paused.status == 0 && paused.stdout.hasPrefix("first paused"), "\(paused)")
            #expect(try await Self.vm("first", at: socket)["paused"] == true)
            #expect(try await Self.vm("second", at: socket)["paused"] == false)
            #expect(try await cli("explain", "first").stdout.contains("  paused      yes (`qballoon resume first`)"))
            let resumed = try await cli("resume", "first")
            #expect(resumed.status == 0 && resumed.stdout.hasPrefix("first resumed"), "\(resumed)")
            #expect(try await Self.vm("first", at: socket)["paused"] == false)
            let hostPaused = try await cli("pause")
            #expect(hostPaused.status == 0 && hostPaused.stdout.hasPrefix("the whole host paused"), "\(hostPaused)")
            #expect(try await cli("vms", "--json").json()["host"]?["paused"] == true)
            #expect(try await cli("vms").stdout.contains("the whole host is paused"))
            #expect(try await Self.vm("second", at: socket)["paused"] == true)
            let hostResumed = try await cli("resume")
            #expect(hostResumed.status == 0 && hostResumed.stdout.hasPrefix("resumed"), "\(hostResumed)")
            #expect(try await cli("vms", "--json").json()["host"]?["paused"] == false)

            // reload: taken; and a broken config refused with its error, the daemon going on.
            let reloaded = try await cli("reload")
            #expect(reloaded.status == 0 && reloaded.stdout == "reloaded \(daemon.configPath)\n", "\(reloaded)")
            try Self.config(fleet, vms: ["first", "second"], broken: true).write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
            let refused = try await cli("reload")
            #expect(refused.status == 1, "\(refused)")
            #expect(refused.stderr.hasPrefix("qballoon: reload refused, the running config stays: "), "\(refused)")
            #expect(refused.stderr.contains("shares"), "\(refused)")
            #expect(daemon.isRunning)
            #expect(try await cli("vms").status == 0)

            // An unknown VM: the daemon's words, naming the ones it knows.
            for verb in [["explain", "third"], ["pin", "third", "1GiB"], ["unpin", "third"], ["pause", "third"]] {
                let unknown = try await BuiltCLI.run(verb + ["--control", socket], in: fleet.directory, timeout: 30)
                #expect(unknown.status == 1, "\(unknown)")
                #expect(unknown.stderr == "qballoon: no VM named 'third' (known: first, second)\n", "\(unknown)")
            }

            // QBALLOON_CONTROL, when there is no --control.
            let fromEnvironment = try await BuiltCLI.run(
                ["vms"], in: fleet.directory, timeout: 30, wrapper: ["/usr/bin/env", "QBALLOON_CONTROL=\(socket)"])
            #expect(fromEnvironment.status == 0 && fromEnvironment.stdout.hasPrefix("NAME"), "\(fromEnvironment)")
        }
    }

    @Test func noDaemon() async throws {
        let directory = TestEnvironment.makeTemporaryDirectory(prefix: "qbc")
        defer { TestEnvironment.removeDirectory(directory) }
        let missing = directory + "/control.sock"
        for verb in [["vms"], ["explain", "db"], ["pin", "db", "1GiB"], ["unpin", "db"], ["pause"], ["resume", "db"], ["reload"], ["top"]] {
            let result = try await BuiltCLI.run(verb + ["--control", missing], in: directory, timeout: 30)
            #expect(result.status == 1, "\(result)")
            #expect(result.stderr == "qballoon: no qballoon daemon at \(missing) (is `qballoon run` running?)\n", "\(result)")
            #expect(result.stdout.isEmpty, "\(result)")
        }
        let fromEnvironment = try await BuiltCLI.run(
            ["vms"], in: directory, timeout: 30, wrapper: ["/usr/bin/env", "QBALLOON_CONTROL=\(directory)/other.sock"])
        #expect(fromEnvironment.stderr == "qballoon: no qballoon daemon at \(directory)/other.sock (is `qballoon run` running?)\n", "\(fromEnvironment)")
        let byDefault = try await BuiltCLI.run(["vms"], in: directory, timeout: 30, wrapper: ["/usr/bin/env", "-u", "QBALLOON_CONTROL"])
        #expect(byDefault.stderr.contains(" at /run/qballoon/control.sock ") || byDefault.status == 0, "\(byDefault)")
    }

    /// A user who may not use the socket (mode 0600, root's) is told so, and how to get in.
    @Test func permissionDenied() async throws {
        guard getuid() == 0, let setpriv = TestEnvironment.executable(named: "setpriv") else { return }
        let server = try CannedControlServer(replies: [])
        defer { server.stop() }
        let directory = (server.path as NSString).deletingLastPathComponent
        chmod(directory, 0o755)
        chmod(server.path, 0o600)
        // A copy nobody can run (the build folder may not be open to others).
        let copy = directory + "/qballoon"
        try FileManager.default.copyItem(atPath: TestEnvironment.qballoon, toPath: copy)
        let result = try await BuiltCLI.run(
            ["vms", "--control", server.path], in: directory, timeout: 30,
            wrapper: [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"], executable: copy)
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr == "qballoon: permission denied on \(server.path) (run as root or a member of the control group)\n", "\(result)")
    }

    @Test func topWithoutATerminalPrintsOneScreen() async throws {
        try await Self.withDaemon(vms: ["alpha", "bravo"]) { fleet, _, socket in
            let result = try await BuiltCLI.run(["top", "--control", socket], in: fleet.directory, timeout: 30)
            #expect(result.status == 0, "\(result)")
            let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).dropLast()
            #expect(lines.count == TopScreen.headerLines + 2, "\(result)")
            #expect(!result.stdout.contains("\u{1B}"), "no escapes when it is not a terminal")
            #expect(lines.allSatisfy { $0.count <= 100 }, "\(result)")
            #expect(lines[0].hasPrefix("qballoon top  \(socket)"))
            #expect(lines[1].hasPrefix("host  total "))
            #expect(lines[2].hasPrefix("vms   2: 2 ok"), "\(result)")
            #expect(lines[4].hasPrefix(" alpha ") && lines[4].contains("2G/2G"), "\(result)")
            #expect(lines[5].hasPrefix(" bravo "), "\(result)")
        }
    }

    /// `top` in a real terminal (tmux, 100x30): the header and rows, a sort key, pausing the selected VM, and q
    /// leaving the alternate screen with the terminal's settings restored.
    @Test func topInATerminal() async throws {
        guard let tmux = TerminalSession.tmux else { return }
        // Three VMs whose order by size (largest first) is not their order by name.
        let ram: [String: UInt64] = ["alpha": 1 * Self.gib, "bravo": 3 * Self.gib, "charlie": 2 * Self.gib]
        try await Self.withDaemon(vms: ["alpha", "bravo", "charlie"], ram: ram) { fleet, _, socket in
            let terminal = try await TerminalSession.start(
                tmux, "\(TestEnvironment.qballoon) top --control \(socket)", in: fleet.directory)
            defer { terminal.close() }
            func rows() async throws -> [String] {
                try await terminal.pane().compactMap { line in ["alpha", "bravo", "charlie"].first { line.dropFirst().hasPrefix($0 + " ") } }
            }

            try await Self.eventually("top shows the header and the VMs") {
                let lines = try await terminal.pane()
                let shown = try await rows()
                return lines.first?.hasPrefix("qballoon top  \(socket)") == true && lines.count > 3 && lines[1].hasPrefix("host  total ")
                    && lines[2].hasPrefix("vms   3: 3 ok") && shown == ["alpha", "bravo", "charlie"]
            }
            #expect(try await terminal.show("#{alternate_on}") == "1")
            let lines = try await terminal.pane()
            #expect(lines.count >= 30 && lines.allSatisfy { $0.count <= 100 }, "\(lines.joined(separator: "\n"))")
            #expect(lines[4].hasPrefix(">alpha "), "the first VM is selected: \(lines.joined(separator: "\n"))")
            #expect(lines.contains { $0.hasPrefix("q quit") })

            // 2: by actual, largest first; alpha stays selected, now at the bottom.
            try await terminal.send("2")
            try await Self.eventually("sorted by actual") { try await rows() == ["bravo", "charlie", "alpha"] }
            #expect(try await terminal.pane()[6].hasPrefix(">alpha "))

            // p pauses the selected VM: the daemon says so, and the screen too.
            try await terminal.send("p")
            try await Self.eventually("alpha paused") { try await Self.vm("alpha", at: socket)["paused"] == true }
            #expect(try await Self.vm("bravo", at: socket)["paused"] == false)
            try await Self.eventually("the screen shows alpha paused") {
                try await terminal.pane().contains { $0.hasPrefix(">alpha ") && $0.contains(" paused ") }
            }

            // q: the program ends, the shell's screen and the terminal's settings come back.
            try await terminal.send("q")
            try await Self.eventually("top exited") { try await terminal.ended(with: 0) }
            try await terminal.expectRestored()
        }
    }

    /// The daemon stopping under `top`: the terminal is restored, the reason printed, exit 1.
    @Test func topWhenTheDaemonGoesAway() async throws {
        guard let tmux = TerminalSession.tmux else { return }
        try await Self.withDaemon(vms: ["alpha"]) { fleet, daemon, socket in
            let terminal = try await TerminalSession.start(
                tmux, "\(TestEnvironment.qballoon) top --control \(socket)", in: fleet.directory)
            defer { terminal.close() }
            try await Self.eventually("top shows alpha") { try await terminal.pane().contains { $0.hasPrefix(">alpha ") } }
            await daemon.stop()
            try await Self.eventually("top exited") { try await terminal.ended(with: 1) }
            let text = try await terminal.pane().joined(separator: "\n")
            #expect(text.contains("qballoon: lost the daemon at \(socket): it "), "\(text)")
            try await terminal.expectRestored()
        }
    }
}

/// A program run in a real terminal: a tmux session of its own (its own server, 100x30), the program followed by
/// `echo exited with $?` and `stty -a`, so a test sees how it ended and what it left the terminal like.
struct TerminalSession {
    let tmux: String
    let directory: String
    /// The tmux server's socket, in the test's folder (removed with it).
    var server: String { directory + "/tmux.sock" }

    /// tmux, or nil when it is missing (a failure under CI=true: scripts/install-deps.sh installs it).
    static var tmux: String? {
        let found = TestEnvironment.executable(named: "tmux")
        #expect(found != nil || !TestEnvironment.isCI, "tmux is missing: scripts/install-deps.sh installs it")
        return found
    }

    static func start(_ tmux: String, _ command: String, in directory: String) async throws -> TerminalSession {
        let session = TerminalSession(tmux: tmux, directory: directory)
        let shell = "\(command); echo \"exited with $?\"; stty -a; sleep 600"
        let started = try await session.run("new-session", "-d", "-s", "top", "-x", "100", "-y", "30", shell)
        #expect(started.status == 0, "\(started)")
        return session
    }

    /// Runs tmux as a shell would. The tmux server outlives the `tmux` that starts it and inherits what this
    /// process gives its children: its descriptors, Foundation's watch on that process among them (the process
    /// would seem to run as long as the server), and its blocked signals (with SIGCHLD blocked the server never
    /// sees its panes end, and kill-server does not end it). So tmux starts with only 0-2 open and no signal blocked.
    static let asFromAShell = [
        "/usr/bin/perl", "-e",
        #"use POSIX; sigprocmask(SIG_SETMASK, POSIX::SigSet->new); POSIX::close($_) for 3..1023; exec { $ARGV[0] } @ARGV or die "exec: $!""#,
    ]

    @discardableResult
    func run(_ arguments: String...) async throws -> BuiltCLI.Result {
        try await BuiltCLI.run(["-S", server] + arguments, in: directory, timeout: 20, wrapper: Self.asFromAShell, executable: tmux)
    }

    /// What the terminal shows, line by line.
    func pane() async throws -> [String] {
        try await run("capture-pane", "-p", "-t", "top").stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// A tmux format of the pane: `#{alternate_on}`, `#{cursor_flag}`.
    func show(_ format: String) async throws -> String {
        try await run("display", "-p", "-t", "top", format).stdout.trimmingCharacters(in: .newlines)
    }

    /// Types a key (tmux's key names: `q`, `Up`, `Enter`).
    func send(_ key: String) async throws {
        let sent = try await run("send-keys", "-t", "top", key)
        #expect(sent.status == 0, "\(sent)")
    }

    /// Out of the alternate screen, the cursor shown, the line discipline back (canonical, echo).
    /// The command ended with `status` and `stty -a` has printed all of its settings (its last one is `extproc`:
    /// a pane read between its lines saw only some of them).
    func ended(with status: Int32) async throws -> Bool {
        let lines = try await pane()
        return lines.contains("exited with \(status)") && lines.contains { $0.contains("extproc") }
    }

    func expectRestored(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let text = try await pane().joined(separator: "\n")
        #expect(try await show("#{alternate_on}") == "0", sourceLocation: sourceLocation)
        #expect(try await show("#{cursor_flag}") == "1", sourceLocation: sourceLocation)
        #expect(text.contains(" icanon ") && text.contains(" echo ") && !text.contains("-icanon"), "\(text)", sourceLocation: sourceLocation)
        #expect(!text.contains("qballoon top  "), "the alternate screen is gone: \(text)", sourceLocation: sourceLocation)
    }

    /// Ends the tmux server and whatever still runs in it.
    func close() {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.asFromAShell[0])
        process.arguments = Array(Self.asFromAShell.dropFirst()) + [tmux, "-S", server, "kill-server"]
        try? process.run()
        process.waitUntilExit()
    }
}
