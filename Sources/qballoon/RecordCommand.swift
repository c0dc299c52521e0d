import ArgumentParser
import QBalloon
import QBalloonCore
import QBalloonJSON
import QBalloonQMP

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct RecordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Record what one VM's balloon and guest report over time, into a trace file.",
        discussion: """
            Turns the balloon's statistics polling on (at --interval, whole seconds) and writes a trace: a header \
            line (the VM's name, its RAM, the interval, QEMU's version, the start time), then one JSON line per \
            interval with the balloon's actual size and the guest's figures as it reported them (those it did not \
            report are left out). Fixtures/traces/README.md describes the format. Each line is written whole as it \
            is taken: a recording stopped by Ctrl-C or SIGTERM keeps every sample taken so far.

            It changes nothing but the polling period: no balloon command is sent.
            """)

    @OptionGroup var monitor: MonitorOptions

    @Option(help: ArgumentHelp("The trace file to write (it must not exist yet).", valueName: "FILE"))
    var out: String

    @Option(help: ArgumentHelp("Time between samples (whole seconds, at least 1s).", valueName: "DURATION"))
    var interval: String = "1s"

    @Option(help: ArgumentHelp("Stop after this long (default: until interrupted).", valueName: "DURATION"))
    var duration: String?

    @Option(help: ArgumentHelp("The VM's name in the trace (default: the socket's file name without .qmp).", valueName: "NAME"))
    var name: String?

    func validate() throws {
        let every = try parsedDuration(interval, option: "--interval")
        guard every >= .seconds(1), every.seconds == every.seconds.rounded() else {
            throw ValidationError("--interval must be whole seconds, at least 1s (QEMU polls in seconds)")
        }
        if let duration {
            guard try parsedDuration(duration, option: "--duration") > .zero else { throw ValidationError("--duration must be more than 0") }
        }
        if let name, name.isEmpty || name.utf8.count > 255 { throw ValidationError("--name must be 1 to 255 bytes") }
    }

    func run() async throws {
        let every = try DurationText.parse(interval)
        let seconds = Int(every.seconds)
        let stopAfter = try duration.map { try DurationText.parse($0).seconds }
        let address = try monitor.address
        let vm = name ?? Self.name(of: address)
        // O_EXCL: a trace is never written over another.
        let fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let reason = errno == EEXIST ? "it exists already: choose another --out, or remove it" : String(cString: strerror(errno))
            printError("qballoon: cannot write the trace \(out): \(reason)")
            throw ExitCode(1)
        }
        defer { close(fd) }
        var written = 0
        try await withClient(monitor) { client in
            let balloon = try await BalloonDevice.find(on: client)
            if try await balloon.pollingInterval() != seconds { try await balloon.setPollingInterval(seconds: seconds) }
            let ram = try await balloon.maxBytes()
            let start = WallClock.system.now()
            try Self.write(
                TraceHeader(vm: vm, ramBytes: ram, interval: Double(seconds), qemu: "\(client.greeting.version)", start: start).line,
                to: fd, file: out)
            var previous: GuestStats?
            var next = start
            while stopAfter.map({ WallClock.system.now() - start < $0 }) ?? true {
                let stats = try await balloon.stats()
                let actual = try await balloon.actual()
                try balloon.checkPlausible(actual: actual, stats: stats, previous: previous, ramBytes: ram)
                previous = stats
                try Self.write(TraceSample(time: WallClock.system.now(), actual: actual, stats: stats).line, to: fd, file: out)
                written += 1
                next += Double(seconds)
                let wait = next - WallClock.system.now()
                if let stopAfter, next - start >= stopAfter { break }
                if wait > 0 { try await Task.sleep(for: .milliseconds(Int64(wait * 1000))) }
            }
        }
        printError("qballoon: recorded \(written) sample\(written == 1 ? "" : "s") of \(vm) every \(seconds)s into \(out)")
    }

    /// The socket's file name without `.qmp`, or HOST:PORT.
    static func name(of address: Endpoint) -> String {
        guard let path = address.unixPath else { return address.hostPortText ?? "\(address)" }
        let file = path.split(separator: "/").last.map(String.init) ?? path
        return file.hasSuffix(".qmp") ? String(file.dropLast(4)) : file
    }

    /// Writes one line whole (a single write of line + newline).
    static func write(_ line: String, to fd: Int32, file: String) throws {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else {
                printError("qballoon: cannot write the trace \(file): \(String(cString: strerror(errno)))")
                throw ExitCode(1)
            }
            offset += count
        }
    }
}
