import Foundation
import QBalloonCore

/// A real `qemu-system-x86_64` with no guest, started for one test under `-accel tcg` and killed after it:
/// a balloon device (with an id, anonymous, or none) and a monitor on a unix socket, TCP, or `pretty=on`.
/// Tests that use it carry ``requiresQEMU``.
package final class RealQEMU: @unchecked Sendable {
    package enum Balloon: Sendable {
        case withID(String)
        case anonymous
        case none
    }

    package enum Monitor: Sendable, CaseIterable {
        case unix
        case tcp
        /// `-chardev socket ... -mon chardev=...,mode=control,pretty=on`: replies span lines.
        case unixPretty
    }

    package let process: Process
    package let directory: URL
    package let address: Endpoint
    package let ramBytes: UInt64

    /// Starts QEMU with no guest (`-S`) under TCG and waits for its monitor.
    package init(balloon: Balloon = .withID("balloon0"), monitor: Monitor = .unix, ramMiB: Int = 512, extra: [String] = []) throws {
        guard let binary = TestEnvironment.qemu else { throw QEMUMissing() }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("qballoon-qemu-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        ramBytes = UInt64(ramMiB) << 20
        var arguments = ["-accel", "tcg", "-S", "-nodefaults", "-display", "none", "-m", "\(ramMiB)M"]
        switch balloon {
        case .withID(let id): arguments += ["-device", "virtio-balloon-pci,id=\(id)"]
        case .anonymous: arguments += ["-device", "virtio-balloon-pci"]
        case .none: break
        }
        let socket = directory.appendingPathComponent("qmp.sock").path
        switch monitor {
        case .unix:
            arguments += ["-qmp", "unix:\(socket),server=on,wait=off"]
            address = .unixDomainSocket(path: socket)
        case .unixPretty:
            arguments += ["-chardev", "socket,id=mon0,path=\(socket),server=on,wait=off", "-mon", "chardev=mon0,mode=control,pretty=on"]
            address = .unixDomainSocket(path: socket)
        case .tcp:
            let port = try Self.freePort()
            arguments += ["-qmp", "tcp:127.0.0.1:\(port),server=on,wait=off"]
            address = .hostname("127.0.0.1", port: port)
        }
        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments + extra
        process.standardOutput = FileHandle.nullDevice
        let log = directory.appendingPathComponent("qemu.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        try waitForMonitor(socket: socket, log: log)
    }

    private func waitForMonitor(socket: String, log: URL) throws {
        for _ in 0..<200 {
            if !process.isRunning {
                let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                throw QEMUFailed(message: "QEMU exited with \(process.terminationStatus): \(output)")
            }
            switch address.unixPath {
            // The socket file appears at bind(), before QEMU listens: wait until a connection is accepted (on a
            // busy machine the gap is long enough to meet "connection refused").
            case .some(let path): if FileManager.default.fileExists(atPath: path), Self.canConnect(unixPath: path) { return }
            case .none: if Self.canConnect(address) { return }
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw QEMUFailed(message: "QEMU's monitor did not appear within 10s")
    }

    /// Kills QEMU at once, as a crash would.
    package func kill() {
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(at: directory)
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw QEMUFailed(message: "cannot find a free TCP port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func canConnect(unixPath path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var target = sockaddr_un()
        target.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &target.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        return withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }

    private static func canConnect(_ address: Endpoint) -> Bool {
        guard let (host, port) = address.hostAndPort else { return false }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var target = sockaddr_in()
        target.sin_family = sa_family_t(AF_INET)
        target.sin_addr.s_addr = inet_addr(host)
        target.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

package struct QEMUMissing: Error, CustomStringConvertible {
    package var description: String { "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)" }
}

package struct QEMUFailed: Error, CustomStringConvertible {
    package let message: String
    package var description: String { message }
}
