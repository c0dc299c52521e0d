#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import QBalloonCore
import Synchronization

/// Lists the unix sockets that match shell globs, such as `/run/qemu/*.qmp`.
///
/// The daemon scans every round. An instance remembers what each pattern found and reads the folder again only when
/// it changed (``SocketScanMemory``): on a host of 1000 VMs that is one `stat` a round instead of reading 1000 names
/// and `stat`ing each.
package final class SocketScanner: Sendable {
    private let memory = Mutex(SocketScanMemory())
    private let clock: WallClock

    /// - Parameter clock: the real time of day: a folder's modification time is on it.
    package init(clock: WallClock = .system) {
        self.clock = clock
    }

    /// The sockets, sorted. With one pattern whose folder did not change, the very array the last scan returned
    /// (comparing it with that one costs nothing).
    package func sockets(matching patterns: [String]) -> [String] {
        var found: [[String]] = []
        for pattern in patterns {
            let folder = SocketScanMemory.folder(of: pattern).flatMap(Self.stamp(of:))
            let scannedAt = clock.now()
            if let known = memory.withLock({ $0.sockets(for: pattern, folder: folder) }) {
                found.append(known)
                continue
            }
            let sockets = Set(Self.scan(pattern)).sorted()
            memory.withLock { $0.remember(sockets, for: pattern, folder: folder, scannedAt: scannedAt) }
            found.append(sockets)
        }
        if found.count == 1 { return found[0] }
        return Set(found.joined()).sorted()
    }

    /// Scans without remembering anything.
    package static func sockets(matching patterns: [String]) -> [String] {
        Set(patterns.flatMap(scan)).sorted()
    }

    private static func scan(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard glob(pattern, 0, nil, &result) == 0 else { return [] }
        var sockets: [String] = []
        for index in 0..<Int(result.gl_pathc) {
            guard let cPath = result.gl_pathv[index] else { continue }
            var info = stat()
            if stat(cPath, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK { sockets.append(String(cString: cPath)) }
        }
        return sockets
    }

    private static func stamp(of folder: String) -> SocketScanMemory.FolderStamp? {
        var info = stat()
        guard stat(folder, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return nil }
        return SocketScanMemory.FolderStamp(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino),
            modifiedNanoseconds: Int64(info.st_mtim.tv_sec) &* 1_000_000_000 &+ Int64(info.st_mtim.tv_nsec))
    }
}

/// What each socket pattern found, and when a scan can be skipped: the pattern's folder (its path up to the last `/`,
/// with no wildcard in it) is the same folder, not modified since, and was last modified at least
/// ``settle`` seconds before that scan. A socket made or removed changes its folder's modification time; the
/// kernel keeps that time in ticks of a few milliseconds, so a socket made in the same tick just after a scan would
/// leave it unchanged: a folder modified that recently is scanned again the next time.
/// A pattern with a wildcard before its last `/` (`/run/*/qmp.sock`) is scanned every time.
package struct SocketScanMemory: Sendable {
    /// A folder as `stat` shows it.
    package struct FolderStamp: Sendable, Hashable {
        package var device: UInt64
        package var inode: UInt64
        /// When it was last modified, in nanoseconds since the Unix epoch.
        package var modifiedNanoseconds: Int64
        /// The same in Unix seconds.
        package var modified: Double { Double(modifiedNanoseconds) / 1e9 }

        package init(device: UInt64, inode: UInt64, modifiedNanoseconds: Int64) {
            self.device = device
            self.inode = inode
            self.modifiedNanoseconds = modifiedNanoseconds
        }
    }

    /// How long before a scan its folder must have last changed for the scan to be reused.
    package static let settle = 2.0

    private struct Scan {
        var folder: FolderStamp
        var sockets: [String]
    }

    private var scans: [String: Scan] = [:]

    package init() {}

    /// The folder a pattern lists, when only its last part has wildcards (`/run/qemu/*.qmp` → `/run/qemu`); nil when
    /// a wildcard or escape comes earlier.
    package static func folder(of pattern: String) -> String? {
        guard let slash = pattern.lastIndex(of: "/") else { return pattern.isEmpty ? nil : "." }
        let folder = String(pattern[..<slash])
        guard !folder.contains(where: { "*?[\\".contains($0) }) else { return nil }
        return folder.isEmpty ? "/" : folder
    }

    /// What the last scan of `pattern` found, if its folder is as it was then; nil: scan it.
    package func sockets(for pattern: String, folder: FolderStamp?) -> [String]? {
        guard let folder, let scan = scans[pattern], scan.folder == folder else { return nil }
        return scan.sockets
    }

    /// Keeps what a scan at `scannedAt` (Unix seconds) found, unless its folder had changed too recently to trust
    /// that nothing changes without the folder's time moving.
    package mutating func remember(_ sockets: [String], for pattern: String, folder: FolderStamp?, scannedAt: Double) {
        guard let folder, scannedAt - folder.modified >= Self.settle else {
            scans[pattern] = nil
            return
        }
        scans[pattern] = Scan(folder: folder, sockets: sockets)
    }
}
