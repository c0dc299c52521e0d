import Foundation
import QBalloonCore
import QBalloonFakeQMP
import QBalloonJSON
import QBalloonLibvirt
import QBalloonTestSupport
import Testing

/// `qballoon run` with `[[vm]] libvirt = URI`: the test guest as domains of a real libvirtd (started by the tests),
/// followed through libvirt's API. In ``LibvirtTests``'s suite, so that no other libvirt test runs while libvirtd is
/// restarted or paused. Never skipped under CI=true.
extension LibvirtTests {
    static let page: UInt64 = 4096

    /// The daemon's config for the domains whose names match `glob`: 500 ms rounds, the guests' statistics every
    /// second, a min of 256 MiB, the reclaim and give-back rules of the QMP end-to-end tests.
    static func config(uri: String, glob: String, directory: String) -> String {
        """
        [daemon]
        interval = "500ms"
        stats_interval = "1s"
        stale_after = "5s"
        decision_log = "{decision_log}"

        [host]
        reserve = "1GiB"
        meminfo = "\(directory)/host.meminfo"
        pressure = "\(directory)/host.pressure"

        [defaults]
        min = "256MiB"
        step = "256MiB"
        grow_step = "512MiB"
        cooldown = "2s"

        [[vm]]
        libvirt = "\(uri)"
        domain = "\(glob)"

        [[rule]]
        name = "guest is short: give memory back"
        when = "available < 60% of actual"
        set = "max"

        [[rule]]
        name = "reclaim idle memory"
        when = "available > 70% of actual for 2s"
        set = "used + 64MiB"
        """
    }

    /// The daemon's view of its VMs (`qballoon vms --json`), by name.
    static func vms(_ daemon: DaemonProcess, in s: Scenario) async throws -> [String: JSON] {
        let result = try await BuiltCLI.run(["vms", "--control", daemon.controlSocket, "--json"], in: s.directory, timeout: 30)
        guard result.status == 0, let vms = try result.json()["vms"]?.arrayValue else {
            throw E2EError("qballoon vms: \(result)")
        }
        var byName: [String: JSON] = [:]
        for vm in vms { if let name = vm["name"]?.stringValue { byName[name] = vm } }
        return byName
    }

    /// Two idle domains and one without a balloon, matched by a glob: the first is shrunk to the config's min
    /// (256 MiB), the second to the floor in its own metadata (`<balloon min="320MiB"/>`, above the config's), the
    /// third is reported as having no balloon and never touched. Then a memory hog of 256 MiB in the first, at up
    /// to 40 MiB/s, gets its memory back in time: it finishes with no OOM line in the guest's kernel log.
    @Test func runShrinksIdleDomainsToTheirFloorsAndGivesMemoryBack() async throws {
        try await withLibvirt("run") { s, uri, domains in
            let label = "run\(UInt16.random(in: 0...UInt16.max))"
            let plain = domains.add(LibvirtGuest(label, ramMiB: 512, directory: s.directory))
            let floored = domains.add(LibvirtGuest(label, ramMiB: 512, directory: s.directory))
            let bare = domains.add(LibvirtGuest(label, ramMiB: 256, directory: s.directory, balloonModel: "none"))
            try await bare.create()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for guest in [plain, floored] { group.addTask { try await guest.boot() } }
                try await group.waitForAll()
            }
            s.note("booted \(plain.name), \(floored.name); started \(bare.name) (no balloon)")
            let metadata = try await LibvirtDaemon.virsh(
                "metadata", floored.name, BalloonMetadata.namespace, "--key", BalloonMetadata.key,
                "--set", #"<balloon min="320MiB"/>"#, "--live", in: s.directory)
            #expect(metadata.status == 0, s.report("\(metadata)"))
            try GuestEndToEndTests.writeHostMeminfo("\(s.directory)/host.meminfo", availableBytes: 6 << 30)
            let daemon = try s.daemon(config: Self.config(uri: uri, glob: "qb-test-\(label)-*", directory: s.directory))
            try daemon.start()

            let min = 256 * Self.MiB
            let floor = 320 * Self.MiB
            let shrink = try await s.waitUntil("both idle domains are shrunk to their floors", timeout: 120, every: 1) {
                let plainActual = try await plain.actual()
                let flooredActual = try await floored.actual()
                return plainActual <= min + Self.page && flooredActual <= floor + Self.page
            }
            s.note("shrunk \(plain.name) and \(floored.name) to their floors \(seconds(shrink)) after the daemon started")
            try await Task.sleep(for: .seconds(3))
            let plainActual = try await plain.actual()
            let flooredActual = try await floored.actual()
            #expect(plainActual + Self.page >= min, s.report("\(plain.name) went below the config's min: \(mib(plainActual))"))
            #expect(flooredActual + Self.page >= floor, s.report("\(floored.name) went below its metadata floor: \(mib(flooredActual))"))

            let vms = try await Self.vms(daemon, in: s)
            #expect(vms[plain.name]?["min"]?.uint64Value == min, s.report("\(vms[plain.name].map { "\($0)" } ?? "missing")"))
            #expect(vms[floored.name]?["min"]?.uint64Value == floor, s.report("\(vms[floored.name].map { "\($0)" } ?? "missing")"))
            #expect(vms[plain.name]?["socket"]?.stringValue == "\(uri) domain \(plain.name)", s.report("\(vms)"))
            #expect(vms[bare.name]?["state"]?.stringValue == "no_balloon", s.report("\(vms[bare.name].map { "\($0)" } ?? "missing")"))
            // Without a balloon libvirt has no `actual` to show; its used memory stays the domain's whole RAM.
            let info = try await LibvirtDaemon.virsh("dominfo", bare.name, in: s.directory)
            let used = info.stdout.split(separator: "\n").first { $0.hasPrefix("Used memory:") }
            #expect(used?.hasSuffix(" \(bare.ramMiB * 1024) KiB") == true, s.report("the domain without a balloon: \(info)"))
            #expect(!daemon.decisions().contains { $0["vm"]?.stringValue == bare.name }, s.report("a decision about \(bare.name)"))
            #expect(
                !daemon.logLines(containing: "\(bare.name): this domain has no balloon").isEmpty,
                s.report("the domain without a balloon was not reported"))
            s.note("vms: \(plain.name) min \(mib(min)), \(floored.name) min \(mib(floor)) (metadata), \(bare.name) no_balloon")

            let workloadStart = Date()
            let (output, status) = try await plain.run(GuestEndToEndTests.hog(mib: 256, pace: true), timeout: 150)
            let workloadSeconds = Date().timeIntervalSince(workloadStart)
            #expect(status == 0 && output.contains("hog done 256"), s.report("the hog did not finish: [\(status)] \(output)"))
            let oom = try await plain.oomReports()
            #expect(oom.isEmpty, s.report("the guest's kernel log reports running out of memory:\n\(oom)"))
            let grown = try await plain.actual()
            #expect(grown > min + 64 * Self.MiB, s.report("the daemon did not give memory back: actual \(mib(grown))"))
            let giveBacks = daemon.decisions().filter {
                $0["vm"]?.stringValue == plain.name && ($0["to"]?.uint64Value ?? 0) > ($0["from"]?.uint64Value ?? .max)
            }
            #expect(!giveBacks.isEmpty, s.report("no decision gave \(plain.name) memory"))
            s.note(
                "hog of 256 MiB finished in \(seconds(workloadSeconds)); \(giveBacks.count) decisions gave memory back, actual now \(mib(grown)); OOM lines: \(oom.isEmpty ? "none" : oom)")
            let stopped = await daemon.stop()
            #expect(stopped == 0, s.report("qballoon run exited with \(stopped.map(String.init) ?? "nil") on SIGTERM"))
        }
    }

    /// A domain destroyed is detached; started again, it is attached and shrunk again. libvirtd restarted under the
    /// running daemon: the daemon reconnects, the domain keeps its size, and the daemon acts on it again (a pin).
    @Test func domainsComeAndGoAndLibvirtdRestarts() async throws {
        try await withLibvirt("restart") { s, uri, domains in
            let label = "again\(UInt16.random(in: 0...UInt16.max))"
            let guest = domains.add(LibvirtGuest(label, ramMiB: 512, directory: s.directory))
            try await guest.boot()
            try GuestEndToEndTests.writeHostMeminfo("\(s.directory)/host.meminfo", availableBytes: 6 << 30)
            let daemon = try s.daemon(config: Self.config(uri: uri, glob: "qb-test-\(label)-*", directory: s.directory))
            try daemon.start()
            let min = 256 * Self.MiB
            let first = try await s.waitUntil("the idle domain is shrunk to its min", timeout: 120, every: 1) {
                try await guest.actual() <= min + Self.page
            }
            s.note("shrunk to min \(seconds(first)) after the daemon started")

            try await guest.kill()
            let detached = try await s.waitUntil("the daemon detaches the destroyed domain", timeout: 30) {
                !daemon.logLines(containing: "detached: no longer in the config or its domain no longer runs").isEmpty
            }
            s.note("destroyed; detached \(seconds(detached)) later")
            try await guest.boot()
            let reattached = try await s.waitUntil("the daemon attaches the domain started again", timeout: 60) {
                daemon.logLines(containing: "] attached").count >= 2
            }
            let again = try await s.waitUntil("the new guest is shrunk to its min again", timeout: 90, every: 1) {
                try await guest.actual() <= min + Self.page
            }
            s.note("started again: attached \(seconds(reattached)) after boot, shrunk to min \(seconds(again)) later")

            guard try await LibvirtDaemon.shared.restart() else {
                #expect(!GuestEnvironment.isCI, "under CI the tests start libvirtd themselves, so they can restart it")
                s.note("libvirtd was running before the tests: not restarting it")
                return
            }
            s.note("libvirtd restarted")
            let back = try await s.waitUntil("the daemon reconnects to libvirt", timeout: 60) {
                !daemon.logLines(containing: "libvirt is reachable again").isEmpty
            }
            #expect(
                !daemon.logLines(containing: "lost the connection to libvirt").isEmpty,
                s.report("the daemon did not notice libvirtd going away"))
            try await s.waitUntil("the domain is followed again", timeout: 30) {
                (try? await Self.vms(daemon, in: s))?[guest.name]?["state"]?.stringValue == "ok"
            }
            let kept = try await guest.actual()
            #expect(kept + Self.page >= min && kept <= min + Self.page, s.report("the domain's size changed over the restart: \(mib(kept))"))
            s.note("reconnected \(seconds(back)) after the restart; the domain kept \(mib(kept))")

            let pin = try await s.qballoon("pin", guest.name, "384MiB", "--control", daemon.controlSocket)
            #expect(pin.status == 0, s.report("\(pin)"))
            let pinned = try await s.waitUntil("the daemon sets the pinned size after the restart", timeout: 60, every: 1) {
                let actual = try await guest.actual()
                return actual + Self.page >= 384 * Self.MiB && actual <= 384 * Self.MiB + Self.page
            }
            s.note("pinned to 384 MiB after the restart: reached in \(seconds(pinned))")
            #expect(daemon.isRunning, s.report("the daemon exited"))
        }
    }
}

extension LibvirtTests {
    /// libvirtd hangs (SIGSTOP) under the running daemon: the domain is shown unreachable after `command_timeout`,
    /// while a QMP VM of the same daemon (the fake monitor) is polled on, fresh; libvirtd continues and the domain is
    /// followed again. The daemon stays up, and holds no more threads for the hung calls than its bound.
    @Test func aHungLibvirtdHoldsNoOtherVMBack() async throws {
        try await withLibvirt("hung") { s, uri, domains in
            try await FakeMonitor.with(scenario: .idle) { fake in
                let label = "hung\(UInt16.random(in: 0...UInt16.max))"
                let guest = domains.add(LibvirtGuest(label, ramMiB: 512, directory: s.directory))
                try await guest.boot()
                try GuestEndToEndTests.writeHostMeminfo("\(s.directory)/host.meminfo", availableBytes: 6 << 30)
                let config = Self.config(uri: uri, glob: "qb-test-\(label)-*", directory: s.directory)
                    .replacingOccurrences(of: "stale_after = \"5s\"", with: "stale_after = \"5s\"\ncommand_timeout = \"2s\"")
                    + "\n\n[[vm]]\nname = \"qmp-vm\"\nqmp = \"unix:\(fake.boundAddress.unixPath ?? "")\"\n"
                let daemon = try s.daemon(config: config)
                try daemon.start()
                try await s.waitUntil("both VMs are followed", timeout: 60) {
                    // The control socket comes up with the daemon's first round.
                    guard let vms = try? await Self.vms(daemon, in: s) else { return false }
                    return vms[guest.name]?["state"]?.stringValue == "ok" && vms["qmp-vm"]?["state"]?.stringValue == "ok"
                }
                s.note("both VMs followed; pausing libvirtd")
                let during = try await LibvirtDaemon.shared.whilePaused { () async throws -> [String: JSON] in
                    try await s.waitUntil("the domain is shown unreachable", timeout: 30) {
                        try await Self.vms(daemon, in: s)[guest.name]?["state"]?.stringValue == "unreachable"
                    }
                    try await Task.sleep(for: .seconds(6))
                    return try await Self.vms(daemon, in: s)
                }
                guard let during else {
                    #expect(!GuestEnvironment.isCI, "under CI the tests start libvirtd themselves, so they can pause it")
                    s.note("libvirtd was running before the tests: not pausing it")
                    return
                }
                let qmp = during["qmp-vm"]
                #expect(qmp?["state"]?.stringValue == "ok", s.report("the QMP VM while libvirtd hung: \(qmp.map { "\($0)" } ?? "missing")"))
                let age = qmp?["stats_age"]?.doubleValue ?? .infinity
                #expect(age < 5, s.report("the QMP VM's statistics went stale while libvirtd hung: \(age)s"))
                #expect(during[guest.name]?["state"]?.stringValue == "unreachable", s.report("\(during)"))
                s.note("while libvirtd hung: \(guest.name) unreachable, qmp-vm ok (statistics \(age)s old)")
                let back = try await s.waitUntil("the domain is followed again", timeout: 60) {
                    try await Self.vms(daemon, in: s)[guest.name]?["state"]?.stringValue == "ok"
                }
                s.note("libvirtd continued: the domain was followed again \(seconds(back)) later")
                #expect(daemon.isRunning, s.report("the daemon exited"))
                #expect(!daemon.logLines(containing: "did not answer within 2s").isEmpty, s.report("no timeout was logged"))
                if let pid = daemon.pid, let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") {
                    s.note("the daemon runs \(tasks.count) threads after the hang")
                    #expect(tasks.count < 40, s.report("the daemon holds \(tasks.count) threads after libvirtd hung"))
                }
            }
        }
    }
}
