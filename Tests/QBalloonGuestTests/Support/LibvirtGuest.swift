import Foundation
import QBalloonTestSupport

/// The test guest (scripts/build-guest.sh) as a libvirt domain (`<domain type='qemu'>`, TCG), with its serial
/// console on a unix socket in `directory` for the guest's shell. Each has a unique name; ``destroy()`` removes
/// it whether it runs or is only defined.
final class LibvirtGuest: @unchecked Sendable {
    let name: String
    let ramMiB: Int
    let directory: String
    /// `<memballoon model='...'>`: `virtio`, or `none` for a domain without a balloon.
    let balloonModel: String
    var ramBytes: UInt64 { UInt64(ramMiB) << 20 }
    var consolePath: String { "\(directory)/\(name).console" }
    private(set) var console: GuestConsole?

    init(_ label: String, ramMiB: Int = 512, directory: String, balloonModel: String = "virtio") {
        name = "qb-test-\(label)-\(UInt32.random(in: 0...UInt32.max))"
        self.ramMiB = ramMiB
        self.directory = directory
        self.balloonModel = balloonModel
    }

    var xml: String {
        let balloon = balloonModel == "none" ? "<memballoon model='none'/>" : "<memballoon model='\(balloonModel)'><stats period='1'/></memballoon>"
        return """
            <domain type='qemu'>
              <name>\(name)</name>
              <memory unit='MiB'>\(ramMiB)</memory>
              <currentMemory unit='MiB'>\(ramMiB)</currentMemory>
              <vcpu>1</vcpu>
              <os>
                <type arch='x86_64' machine='pc'>hvm</type>
                <kernel>\(GuestEnvironment.kernel)</kernel>
                <initrd>\(GuestEnvironment.initrd)</initrd>
                <cmdline>console=ttyS0 quiet panic=-1</cmdline>
              </os>
              <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
              <devices>
                <emulator>\(GuestEnvironment.qemu ?? "/usr/bin/qemu-system-x86_64")</emulator>
                <controller type='usb' model='none'/>
                <serial type='unix'><source mode='bind' path='\(consolePath)'/><target port='0'/></serial>
                <console type='unix'><source mode='bind' path='\(consolePath)'/><target type='serial' port='0'/></console>
                \(balloon)
              </devices>
            </domain>
            """
    }

    private func writeXML() throws -> String {
        let path = "\(directory)/\(name).xml"
        try xml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Defines the domain without starting it.
    func define() async throws {
        let result = try await LibvirtDaemon.virsh("define", try writeXML(), in: directory)
        guard result.status == 0 else { throw E2EError("virsh define \(name): \(result)") }
    }

    /// Starts a transient domain without waiting for its guest (a domain without a balloon never says READY).
    func create() async throws {
        let result = try await LibvirtDaemon.virsh("create", try writeXML(), in: directory)
        guard result.status == 0 else { throw E2EError("virsh create \(name): \(result)") }
    }

    /// Starts a transient domain and waits for the guest's READY line (balloon driver bound).
    func boot(timeout: Double = 180) async throws {
        let result = try await LibvirtDaemon.virsh("create", try writeXML(), in: directory)
        guard result.status == 0 else { throw E2EError("virsh create \(name): \(result)") }
        let console = try await GuestConsole(path: consolePath, timeout: 20)
        self.console = console
        let line = try await console.waitForLine(containing: Guest.readyMarker, timeout: timeout)
        guard line.contains("balloon=bound") else { throw E2EError("\(name): the balloon driver did not bind: \(line)") }
    }

    /// The guest's `/proc/meminfo`, in bytes, read over the serial console.
    func meminfo() async throws -> [String: UInt64] {
        guard let console else { throw E2EError("\(name): not booted") }
        let (output, status) = try await console.run("cat /proc/meminfo", timeout: 60)
        guard status == 0 else { throw E2EError("\(name): cat /proc/meminfo exited \(status): \(output)") }
        return Guest.parseMeminfo(output)
    }

    /// Runs a shell command in the guest over its serial console.
    func run(_ command: String, timeout: Double = 60) async throws -> (output: String, status: Int32) {
        guard let console else { throw E2EError("\(name): not booted") }
        return try await console.run(command, timeout: timeout)
    }

    /// Lines of the guest's kernel log about running out of memory (OOM kills, panics); empty when none.
    func oomReports() async throws -> String {
        try await run("dmesg | grep -i -E 'out of memory|oom-kill|oom_reaper|killed process|invoked oom-killer|deadlocked on memory'").output
    }

    /// Destroys the running domain (as `virsh destroy`: its QEMU is killed); a transient domain is gone then.
    func kill() async throws {
        console?.close()
        console = nil
        let result = try await LibvirtDaemon.virsh("destroy", name, in: directory)
        guard result.status == 0 else { throw E2EError("virsh destroy \(name): \(result)") }
    }

    /// The balloon's `actual` as libvirt reports it (`virsh dommemstat`), in bytes.
    func actual() async throws -> UInt64 {
        let result = try await LibvirtDaemon.virsh("dommemstat", name, in: directory)
        guard result.status == 0,
            let line = result.stdout.split(separator: "\n").first(where: { $0.hasPrefix("actual ") }),
            let kib = UInt64(line.dropFirst("actual ".count).trimmingCharacters(in: .whitespaces))
        else { throw E2EError("virsh dommemstat \(name): \(result)") }
        return kib * 1024
    }

    /// Destroys and undefines the domain, whatever state it is in; never throws (for cleanup after a failure).
    func destroy() async {
        console?.close()
        _ = try? await LibvirtDaemon.virsh("destroy", name, in: directory)
        _ = try? await LibvirtDaemon.virsh("undefine", name, in: directory)
    }

    /// The console's last lines, for failure reports.
    func report() -> String {
        "--- \(name) console\n" + (console?.tail(lines: 25) ?? "(not booted)")
    }
}
