#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import QBalloonTestSupport

/// Files and directories the fake server's tests use.
enum TestPaths {
    static let repoRoot = TestEnvironment.repositoryRoot

    static let scenarios = repoRoot + "/Fixtures/scenarios"
    static let transcripts = repoRoot + "/Fixtures/transcripts"

    /// The names in `directory` ending in `suffix`, sorted.
    static func files(in directory: String, endingWith suffix: String) -> [String] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name.hasSuffix(suffix) { names.append(name) }
        }
        return names.sorted()
    }

    /// A fresh directory under /tmp, removed by ``removeDirectory(_:)``.
    static func makeTemporaryDirectory() -> String { TestEnvironment.makeTemporaryDirectory(prefix: "qbfake") }

    static func removeDirectory(_ path: String) { TestEnvironment.removeDirectory(path) }

    static func readText(_ path: String) -> String? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            bytes.append(contentsOf: chunk[0..<count])
            if count < chunk.count { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func writeText(_ text: String, to path: String) {
        guard let file = fopen(path, "wb") else { return }
        defer { fclose(file) }
        var text = text
        text.withUTF8 { _ = fwrite($0.baseAddress, 1, $0.count, file) }
    }
}
