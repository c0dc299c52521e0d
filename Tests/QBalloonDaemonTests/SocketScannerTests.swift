#if canImport(Glibc)
import Glibc
#endif
import QBalloonCore
import QBalloonDaemon
import QBalloonTestSupport
import Testing

/// The socket scan the daemon runs every round: it reads a folder again only when the folder changed.
@Suite struct SocketScannerTests {
    static let old = SocketScanMemory.FolderStamp(device: 1, inode: 2, modifiedNanoseconds: 1_000_000_000_000)

    @Test(arguments: [
        ("/run/qemu/*.qmp", "/run/qemu"),
        ("/run/qemu/vm1.qmp", "/run/qemu"),
        ("/*.qmp", "/"),
        ("*.qmp", "."),
        ("vms/*.qmp", "vms"),
    ])
    func aPatternWithWildcardsInItsLastPartListsOneFolder(pattern: String, folder: String) {
        #expect(SocketScanMemory.folder(of: pattern) == folder)
    }

    @Test(arguments: ["/run/*/qmp.sock", "/run/vm?/qmp.sock", "/run/[ab]/x.qmp", "/run/a\\*b/x.qmp", ""])
    func aWildcardBeforeTheLastSlashIsScannedEveryTime(pattern: String) {
        #expect(SocketScanMemory.folder(of: pattern) == nil)
    }

    @Test func aScanIsReusedWhileItsFolderStaysAsItWas() {
        var memory = SocketScanMemory()
        #expect(memory.sockets(for: "/run/*.qmp", folder: Self.old) == nil, "nothing scanned yet")
        memory.remember(["/run/a.qmp"], for: "/run/*.qmp", folder: Self.old, scannedAt: 1002)
        #expect(memory.sockets(for: "/run/*.qmp", folder: Self.old) == ["/run/a.qmp"])
        #expect(memory.sockets(for: "/run/*.sock", folder: Self.old) == nil, "another pattern")
        var touched = Self.old
        touched.modifiedNanoseconds += 5_000_000_000
        #expect(memory.sockets(for: "/run/*.qmp", folder: touched) == nil, "the folder changed")
        var replaced = Self.old
        replaced.inode = 9
        #expect(memory.sockets(for: "/run/*.qmp", folder: replaced) == nil, "another folder at the same path")
        #expect(memory.sockets(for: "/run/*.qmp", folder: nil) == nil, "the folder is gone")
    }

    @Test func aFolderChangedJustBeforeTheScanIsScannedAgain() {
        var memory = SocketScanMemory()
        // Modified 1.5 s before the scan: a socket made in the same clock tick after the scan would not move the
        // folder's time, so the scan is not trusted.
        memory.remember(["/run/a.qmp"], for: "/run/*.qmp", folder: Self.old, scannedAt: 1001.5)
        #expect(memory.sockets(for: "/run/*.qmp", folder: Self.old) == nil)
        memory.remember(["/run/a.qmp"], for: "/run/*.qmp", folder: Self.old, scannedAt: 1002)
        #expect(memory.sockets(for: "/run/*.qmp", folder: Self.old) == ["/run/a.qmp"])
        memory.remember(["/run/a.qmp"], for: "/run/*.qmp", folder: nil, scannedAt: 5000)
        #expect(memory.sockets(for: "/run/*.qmp", folder: Self.old) == nil, "a scan without its folder forgets")
    }

    /// On real files: a socket made or removed is seen at the next scan; a folder whose time is put back (which
    /// nothing but this test does) shows the scan is reused.
    @Test func onRealFoldersNewAndRemovedSocketsAreSeenAtOnce() throws {
        let directory = TestEnvironment.makeTemporaryDirectory(prefix: "qbscan")
        defer { TestEnvironment.removeDirectory(directory) }
        let scanner = SocketScanner()
        let pattern = directory + "/*.qmp"
        #expect(scanner.sockets(matching: [pattern]) == [])
        try Self.makeSocket(directory + "/a.qmp")
        Self.age(directory)
        #expect(scanner.sockets(matching: [pattern]) == [directory + "/a.qmp"], "an aged folder is scanned once...")
        try Self.makeSocket(directory + "/b.qmp")
        #expect(scanner.sockets(matching: [pattern]) == [directory + "/a.qmp", directory + "/b.qmp"], "a new socket")
        Self.age(directory)
        #expect(scanner.sockets(matching: [pattern]).count == 2)
        try Self.makeSocket(directory + "/c.qmp")
        Self.age(directory)
        #expect(scanner.sockets(matching: [pattern]).count == 2, "...and remembered while its time says unchanged")
        #expect(SocketScanner.sockets(matching: [pattern]).count == 3, "the plain scan reads the folder")
        unlink(directory + "/a.qmp")
        #expect(scanner.sockets(matching: [pattern]) == [directory + "/b.qmp", directory + "/c.qmp"], "a removed one")
        #expect(scanner.sockets(matching: [directory + "/*/x.qmp"]) == [], "a wildcard folder: scanned every time")
    }

    /// Puts a folder's modification time back to the same moment of 2023, whatever changed in it.
    static func age(_ path: String) {
        var times = [timespec(tv_sec: 1_700_000_000, tv_nsec: 0), timespec(tv_sec: 1_700_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
    }

    static func makeSocket(_ path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8.prefix(raw.count - 1)))
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0, "bind \(path)")
    }
}
