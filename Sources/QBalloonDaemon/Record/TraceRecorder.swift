import Logging
import QBalloon
import QBalloonCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The daemon's recording of every VM (`[daemon] record_dir`): one trace per VM per day (UTC), `VM.YYYY-MM-DD.trace`,
/// in the format `qballoon record` writes (Fixtures/traces/README.md), a sample per round. The folder never holds more
/// than `record_max_bytes` of traces: past it, the oldest days' files go first.
package final class TraceRecorder: Sendable {
    package let directory: String
    package let maxBytes: UInt64
    let interval: Double
    private let logger: Logger
    private let files: Mutex<Files>

    private struct Files {
        /// The size of every trace file in the folder, by file name.
        var sizes: [String: UInt64] = [:]
        var total: UInt64 = 0
        /// Whether the last write failed (logged once until one succeeds again).
        var failing = false
    }

    /// Makes the folder if needed and takes stock of the traces already in it.
    /// - Throws: ``TraceRecorderError`` naming the folder when it cannot be made or read.
    package init(directory: String, maxBytes: UInt64, interval: Double, logger: Logger) throws(TraceRecorderError) {
        self.directory = directory
        self.maxBytes = maxBytes
        self.interval = interval
        self.logger = logger
        var made = ""
        for part in directory.split(separator: "/") {
            made += "/" + part
            if mkdir(made, 0o755) != 0, errno != EEXIST {
                throw TraceRecorderError(directory: directory, reason: "cannot make \(made): \(String(cString: strerror(errno)))")
            }
        }
        guard let folder = opendir(directory) else {
            throw TraceRecorderError(directory: directory, reason: String(cString: strerror(errno)))
        }
        defer { closedir(folder) }
        var found = Files()
        while let entry = readdir(folder) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasSuffix(".trace") else { continue }
            var info = stat()
            guard stat(directory + "/" + name, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            found.sizes[name] = UInt64(info.st_size)
            found.total += UInt64(info.st_size)
        }
        files = Mutex(found)
    }

    /// `db.2026-12-02.trace`: the VM's name (a `/` or a leading `.` made `_`) and the UTC day of `time`.
    package static func fileName(vm: String, time: Double) -> String {
        var safe = vm.map { $0 == "/" ? "_" : $0 }
        if safe.first == "." { safe[0] = "_" }
        return "\(String(safe)).\(ClockText.utcDay(time)).trace"
    }

    /// Appends one sample of `vm` (a new day's file starts with its header), then keeps the folder within its budget.
    package func record(vm: String, ramBytes: UInt64, actual: UInt64, stats: GuestStats?, qemu: String = "", at time: Double) {
        let name = Self.fileName(vm: vm, time: time)
        let path = directory + "/" + name
        files.withLock { files in
            var text = ""
            if (files.sizes[name] ?? 0) == 0 {
                text = TraceHeader(vm: vm, ramBytes: ramBytes, interval: interval, qemu: qemu, start: time).line + "\n"
            }
            text += TraceSample(time: time, actual: actual, stats: stats ?? GuestStats()).line + "\n"
            let bytes = Array(text.utf8)
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            var written = -1
            if fd >= 0 {
                written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                close(fd)
            }
            guard written == bytes.count else {
                if !files.failing {
                    logger.error("cannot record \(vm) into \(path): \(String(cString: strerror(errno))); recording goes on trying")
                    files.failing = true
                }
                return
            }
            files.failing = false
            files.sizes[name, default: 0] += UInt64(bytes.count)
            files.total += UInt64(bytes.count)
            guard files.total > maxBytes else { return }
            // The oldest days first (the day is in the name), and the largest file of a day before a smaller.
            let oldest = files.sizes.sorted { a, b in
                let dayA = a.key.split(separator: ".").dropLast().last ?? ""
                let dayB = b.key.split(separator: ".").dropLast().last ?? ""
                return dayA != dayB ? dayA < dayB : a.value > b.value
            }
            for (file, size) in oldest where files.total > maxBytes {
                unlink(directory + "/" + file)
                files.sizes[file] = nil
                files.total -= size
                logger.info("dropped the trace \(file) (\(MemorySize.format(size))): record_dir holds at most \(MemorySize.format(maxBytes))")
            }
        }
    }

    /// The bytes of traces in the folder, as the recorder counts them.
    package var totalBytes: UInt64 { files.withLock { $0.total } }
}

public struct TraceRecorderError: Error, Sendable, CustomStringConvertible {
    public let directory: String
    public let reason: String
    public var description: String { "cannot record traces in \(directory): \(reason)" }
}
