#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Small text files (a config, `/proc/meminfo`), read whole.
package enum TextFile {
    /// The contents of the file at `path`, at most `limit` bytes; nil if it cannot be read (`errno` says why).
    package static func read(_ path: String, limit: Int = 16 << 20) -> String? {
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
        return String(decoding: bytes.prefix(limit), as: UTF8.self)
    }
}
