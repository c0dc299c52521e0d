import ArgumentParser
import QBalloon
import QBalloonCore
import QBalloonSimulator

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct FleetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "Draw a synthetic fleet from recorded shape traces: one trace per VM, into a folder.",
        discussion: """
            Each VM picks one of the shapes (by default the recorded traces qballoon ships: idle, nightly-batch, \
            slow-leak, bursty-cache), a RAM size of 1, 2, 4 or 8 GiB with its use scaled in proportion, and its own \
            timing: a nightly batch once or twice a day at its own hour, a leak that starts over when it nears the \
            RAM (a reboot), an idle guest's small noise, page cache filled and dropped at random times. The same \
            --seed gives the same fleet. The traces are in qballoon record's format (QEMU "synthetic", the balloon \
            never moved), one sample per --interval: a day at 1s is about 20 MB a VM.
            """)

    @Option(help: ArgumentHelp("How many VMs (1 to \(FleetGenerator.maxVMs)).", valueName: "N"))
    var vms: Int = 100

    @Option(help: ArgumentHelp("How long each trace lasts (at most 168h, a week).", valueName: "DURATION"))
    var duration: String = "24h"

    @Option(help: ArgumentHelp("The seed: the same seed draws the same fleet.", valueName: "N"))
    var seed: UInt64 = 1

    @Option(help: ArgumentHelp("Time between samples.", valueName: "DURATION"))
    var interval: String = "1s"

    @Option(help: ArgumentHelp("The folder to write the traces into (made if missing; it must be empty).", valueName: "DIR"))
    var out: String

    @Argument(help: ArgumentHelp(
        "The shape traces to draw from (default: the shipped ones, in PREFIX/share/qballoon/traces or Fixtures/traces/).",
        valueName: "SHAPE_TRACE"))
    var shapes: [String] = []

    func validate() throws {
        guard (1...FleetGenerator.maxVMs).contains(vms) else {
            throw ValidationError("--vms must be from 1 to \(FleetGenerator.maxVMs)")
        }
        let length = try parsedDuration(duration, option: "--duration").seconds
        guard length > 0, length <= FleetGenerator.maxDuration else { throw ValidationError("--duration must be more than 0 and at most 168h (a week)") }
        let every = try parsedDuration(interval, option: "--interval").seconds
        guard every > 0, every <= 3600 else { throw ValidationError("--interval must be more than 0 and at most 1h") }
        guard length / every <= Double(Trace.maxSamples) else {
            throw ValidationError("--duration / --interval is more than \(Trace.maxSamples) samples a trace: make --interval longer")
        }
    }

    func run() throws {
        let length = try DurationText.parse(duration).seconds
        let every = try DurationText.parse(interval).seconds
        let paths = shapes.isEmpty ? ShippedFiles().shapeTraces() : shapes
        guard !paths.isEmpty else {
            let searched = ShippedFiles().places.map(\.traces).filter { !$0.isEmpty }
            throw ValidationError(
                "no shape traces in \(searched.joined(separator: " or ")): name them (e.g. Fixtures/traces/*.trace)")
        }
        var traces: [Trace] = []
        for path in paths {
            guard let text = TextFile.read(path, limit: 512 << 20) else {
                printError("qballoon: cannot read the shape trace \(path): \(String(cString: strerror(errno)))")
                throw ExitCode(1)
            }
            do {
                traces.append(try Trace(parsing: text, file: path))
            } catch {
                printError("qballoon: \(error)")
                throw ExitCode(1)
            }
        }
        try Self.prepare(folder: out)
        let fleet = FleetGenerator.workloads(shapes: traces, vms: vms, duration: length, seed: seed)
        guard !fleet.isEmpty else {
            printError("qballoon: none of the shape traces has the guest's memory figures (total and available) to draw from")
            throw ExitCode(1)
        }
        var counts: [String: Int] = [:]
        var bytes = 0
        for vm in fleet {
            let path = "\(out)/\(vm.name).trace"
            let text = FleetGenerator.trace(of: vm, duration: length, interval: every).text
            try Self.write(text, to: path)
            bytes += text.utf8.count
            counts[vm.shape, default: 0] += 1
        }
        let mix = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        print("qballoon: wrote \(fleet.count) trace\(fleet.count == 1 ? "" : "s") of \(DurationText.format(seconds: length)) into \(out) "
            + "(\(MemorySize.format(UInt64(bytes)))), seed \(seed): \(mix)")
    }

    /// Makes `folder` if it is missing; refuses one that holds anything.
    static func prepare(folder: String) throws {
        if mkdir(folder, 0o755) == 0 { return }
        guard errno == EEXIST, let entries = opendir(folder) else {
            printError("qballoon: cannot make the folder \(folder): \(String(cString: strerror(errno)))")
            throw ExitCode(1)
        }
        defer { closedir(entries) }
        while let entry = readdir(entries) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." {
                printError("qballoon: \(folder) is not empty: choose another --out, or empty it")
                throw ExitCode(1)
            }
        }
    }

    static func write(_ text: String, to path: String) throws {
        guard let file = fopen(path, "wx") else {
            printError("qballoon: cannot write \(path): \(String(cString: strerror(errno)))")
            throw ExitCode(1)
        }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        guard fclose(file) == 0, written == bytes.count else {
            printError("qballoon: cannot write \(path): \(String(cString: strerror(errno)))")
            throw ExitCode(1)
        }
    }
}
