import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The guest's serial console (QEMU `-serial unix:PATH,server=on,wait=off`), where the test guest runs a shell.
///
/// The same protocol as `scripts/guest-console.py`: ``run(_:timeout:)`` sends ONE line,
/// `printf 'QBCBEG-%s\n' TOKEN; eval 'COMMAND'; printf '\nQBCEND-%s-%s\n' TOKEN $?`, and returns what lies
/// between the printed markers. The echoed input holds `QBCBEG-%s`, never `QBCBEG-TOKEN`, so echo and prompts
/// are never mistaken for output. A reader thread keeps everything the guest printed, for ``tail(lines:)``.
final class GuestConsole: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let lock = NSLock()
    /// Everything received (the last 256 KiB), for failure reports.
    private var transcript: [UInt8] = []
    /// Received since the current command was sent.
    private var pending: [UInt8] = []
    private var closed = false

    /// Connects, retrying while QEMU creates the socket (up to `timeout` seconds).
    init(path: String, timeout: Double = 15) async throws {
        self.path = path
        let deadline = Date().addingTimeInterval(timeout)
        var descriptor: Int32 = -1
        while true {
            descriptor = Self.connect(path)
            if descriptor >= 0 { break }
            let reason = String(cString: strerror(errno))
            if Date() > deadline { throw E2EError("cannot connect to the guest console \(path): \(reason)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        fd = descriptor
        let thread = Thread { [self] in readLoop() }
        thread.name = "console \(path)"
        thread.start()
    }

    private static func connect(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if result != 0 {
            let saved = errno
            Glibc.close(fd)
            errno = saved
            return -1
        }
        return fd
    }

    private func readLoop() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            lock.withLock {
                transcript.append(contentsOf: buffer[0..<count])
                if transcript.count > 512 << 10 { transcript.removeFirst(transcript.count - (256 << 10)) }
                pending.append(contentsOf: buffer[0..<count])
                if pending.count > 8 << 20 { pending.removeFirst(pending.count - (4 << 20)) }
            }
        }
        lock.withLock { closed = true }
    }

    /// Disconnects: the reader thread sees the end and stops.
    ///
    /// The descriptor itself is closed only in `deinit`, never while anything here can still use its number: closed
    /// by the reader at EOF, a later `close()` (or `send`) would hit whatever socket the process opened next under
    /// that number — a test's fake monitor beside, whose listening socket then woke NIO with nothing to accept.
    func close() {
        Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    deinit {
        Glibc.close(fd)
    }

    var isClosed: Bool { lock.withLock { closed } }

    /// The last `lines` lines the guest printed (escape sequences and carriage returns removed).
    func tail(lines: Int = 40) -> String {
        let text = Self.clean(lock.withLock { transcript })
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    private static func clean(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes.filter { $0 != 13 }, as: UTF8.self)
        // ANSI escape sequences from busybox's line editing.
        return text.replacingOccurrences(of: "\u{1B}(\\[[0-9;?]*[A-Za-z]|.)", with: "", options: .regularExpression)
    }

    /// What arrived since the last command, without carriage returns (Swift counts "\r\n" as one Character,
    /// which no search for "\n" would find).
    private func pendingText() -> (String, Bool) {
        let (bytes, isClosed) = lock.withLock { (pending, closed) }
        return (String(decoding: bytes.filter { $0 != 13 }, as: UTF8.self), isClosed)
    }

    private func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            // MSG_NOSIGNAL: after `close()` (a shutdown) a write is EPIPE, never a SIGPIPE for the whole test process.
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw E2EError("cannot write to the guest console \(path): \(String(cString: strerror(errno)))") }
            offset += written
        }
    }

    /// Waits for a line containing `marker` (the guest's READY line); returns that line. While nothing comes
    /// for `probeAfter` seconds it asks the shell to print `/run/qballoon-ready` again (in case the line was
    /// printed before we connected).
    func waitForLine(containing marker: String, timeout: Double, probeAfter: Double = 45) async throws -> String {
        let start = Date()
        var nextProbe = start.addingTimeInterval(probeAfter)
        while true {
            let (text, isClosed) = pendingText()
            if let range = text.range(of: marker), let end = text[range.upperBound...].firstIndex(of: "\n") {
                let line = String(text[range.lowerBound..<end])
                lock.withLock { pending.removeAll() }
                return line
            }
            if isClosed { throw E2EError("the guest console closed before \(marker) (QEMU exited?)") }
            if Date().timeIntervalSince(start) > timeout {
                throw E2EError("no \(marker) on the guest console within \(Int(timeout))s")
            }
            if Date() > nextProbe {
                try send("cat /run/qballoon-ready\n")
                nextProbe = Date().addingTimeInterval(15)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Runs one shell command in the guest; returns its output (stdout and stderr, `\n` line ends) and status.
    func run(_ command: String, timeout: Double = 60) async throws -> (output: String, status: Int32) {
        let token = String(UInt64.random(in: 1...UInt64.max), radix: 16)
        let quoted = "'" + command.replacingOccurrences(of: "'", with: "'\\''") + "'"
        let line = "printf 'QBCBEG-%s\\n' \(token); eval \(quoted); printf '\\nQBCEND-%s-%s\\n' \(token) $?\n"
        guard line.utf8.count < 1000 else { throw E2EError("command too long for the guest's line editor: \(command)") }
        lock.withLock { pending.removeAll() }
        try send(line)
        let begin = "QBCBEG-\(token)"
        let end = "QBCEND-\(token)-"
        let start = Date()
        while true {
            let (text, isClosed) = pendingText()
            if let b = text.range(of: begin), let e = text.range(of: end, range: b.upperBound..<text.endIndex),
                let stop = text[e.upperBound...].firstIndex(of: "\n")
            {
                let status = Int32(text[e.upperBound..<stop]) ?? -1
                var output = String(text[b.upperBound..<e.lowerBound])
                if output.hasPrefix("\n") { output.removeFirst() }
                if output.hasSuffix("\n") { output.removeLast() }  // the newline printed before the end marker
                lock.withLock { pending.removeAll() }
                return (output, status)
            }
            if isClosed { throw E2EError("the guest console closed while running `\(command)` (QEMU exited?)") }
            if Date().timeIntervalSince(start) > timeout {
                throw E2EError("`\(command)` did not finish in the guest within \(Int(timeout))s")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
