#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension HostSample {
    /// Reads the host's memory from `/proc` (or the paths in `[host]`). A missing pressure file (a kernel
    /// without PSI) leaves ``pressure`` nil; a missing meminfo gives a sample with no figures.
    public static func read(
        meminfoPath: String = "/proc/meminfo", pressurePath: String = "/proc/pressure/memory"
    ) -> HostSample {
        HostSample(meminfo: readTextFile(meminfoPath) ?? "", pressure: readTextFile(pressurePath))
    }
}

/// The contents of a small text file, or nil if it cannot be read.
func readTextFile(_ path: String, limit: Int = 16 << 20) -> String? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while bytes.count < limit {
        let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        if count <= 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    if ferror(file) != 0 { return nil }
    return String(decoding: bytes, as: UTF8.self)
}
