import Foundation
import QBalloon
import QBalloonCore
import QBalloonJSON
import QBalloonTestSupport
import Testing

/// End to end with real guests: Linux (Debian's kernel, busybox, the virtio_balloon driver; built by
/// `scripts/build-guest.sh`) under `qemu-system-x86_64 -accel tcg`, driven with the built `qballoon` exactly as
/// a user would (`set`, `stats`, `run` as subprocesses), and checked from inside the guest through its serial
/// console (`free`, `/proc/meminfo`, `dmesg`, a memory hog).
///
/// Serialized: TCG guests are CPU-bound and this machine has two cores; a test that needs two guests boots
/// them in parallel. Every step is bounded; a failure carries the guests' console tails and the daemon's logs.
@Suite("End to end with real guests", .serialized, needsGuest)
struct GuestEndToEndTests {
    static let MiB: UInt64 = 1 << 20
    static let page: UInt64 = 4096

    /// The host's figures for the daemon (`[host] meminfo`), written by the test: the real host is shared
    /// and its free memory is not the test's to decide.
    static func writeHostMeminfo(_ path: String, totalMiB: UInt64 = 8192, availableBytes: UInt64) throws {
        let availableKB = availableBytes / 1024
        let text = """
            MemTotal:       \(totalMiB * 1024) kB
            MemFree:        \(availableKB) kB
            MemAvailable:   \(availableKB) kB
            SwapTotal:             0 kB
            SwapFree:              0 kB

            """
        let temporary = path + ".new"
        try text.write(toFile: temporary, atomically: false, encoding: .utf8)
        guard rename(temporary, path) == 0 else { throw E2EError("cannot rename \(temporary) to \(path)") }
    }

    // MARK: 1. set

    /// `qballoon set` inflates a real guest to 256 MiB and deflates it back; `actual` follows, and the guest's
    /// own `free` sees its memory go and come back (Linux takes ballooned pages out of MemTotal).
    @Test func setInflatesAndDeflatesARealGuest() async throws {
        try await endToEnd("set") { s in
            let guest = s.guest("vm", ramMiB: 512)
            try await s.boot([guest])
            let fullTotal = try #require(try await guest.meminfo()["MemTotal"])

            let down = try await s.qballoon("set", "--qmp", guest.qmpPath, "256MiB", "--json")
            #expect(down.status == 0, s.report("\(down)"))
            let downJSON = try down.json()
            #expect(downJSON["result"] == "reached", s.report("\(down)"))
            #expect(downJSON["actual_bytes"]?.uint64Value == 256 * Self.MiB, s.report("\(down)"))
            let actualDown = try await guest.actual()
            #expect(actualDown == 256 * Self.MiB, s.report("actual after inflating: \(actualDown)"))
            let freeDown = try await guest.free()
            let expectedDown = fullTotal - 256 * Self.MiB
            #expect(
                Self.near(freeDown["total"], expectedDown, within: Self.MiB),
                s.report("guest's free total \(freeDown) after giving 256 MiB, expected \(expectedDown)"))
            s.note("inflated 512 -> 256 MiB in \(seconds(down.seconds)) (\(Self.rate(256, down.seconds))); guest's free total \(mib(fullTotal)) -> \(mib(freeDown["total"] ?? 0))")

            let up = try await s.qballoon("set", "--qmp", guest.qmpPath, "512MiB", "--json")
            #expect(up.status == 0, s.report("\(up)"))
            let upJSON = try up.json()
            #expect(upJSON["result"] == "reached", s.report("\(up)"))
            #expect(upJSON["actual_bytes"]?.uint64Value == 512 * Self.MiB, s.report("\(up)"))
            let actualUp = try await guest.actual()
            #expect(actualUp == 512 * Self.MiB, s.report("actual after deflating: \(actualUp)"))
            let freeUp = try await guest.free()
            #expect(
                Self.near(freeUp["total"], fullTotal, within: Self.MiB),
                s.report("guest's free total \(freeUp) after taking the memory back, expected \(fullTotal)"))
            // The guest can use what it got back: 300 MiB did not fit at 256 MiB.
            let (hog, status) = try await guest.run(Self.hog(mib: 300), timeout: 120)
            #expect(status == 0 && hog.contains("hog done 300"), s.report("300 MiB hog after deflating: [\(status)] \(hog)"))
            s.note("deflated 256 -> 512 MiB in \(seconds(up.seconds)) (\(Self.rate(256, up.seconds))); free total back to \(mib(freeUp["total"] ?? 0))")
        }
    }

    // MARK: 2. stats

    /// `qballoon stats` from a real guest matches the guest's `/proc/meminfo` (MemTotal exactly, MemFree and
    /// MemAvailable within 4 MiB), idle and again after 64 MiB went into a tmpfs.
    @Test func statsMatchTheGuestsMeminfo() async throws {
        try await endToEnd("stats") { s in
            let guest = s.guest("vm", ramMiB: 256)
            try await s.boot([guest])

            var idleAvailable: UInt64 = 0
            for phase in ["idle", "after writing 64 MiB to a tmpfs"] {
                if phase != "idle" {
                    try await guest.sh("mount -t tmpfs -o size=128m tmpfs /mnt && dd if=/dev/zero of=/mnt/fill bs=1M count=64 2>/dev/null")
                }
                let before = try await guest.meminfo()
                let result = try await s.qballoon("stats", "--qmp", guest.qmpPath, "--interval", "1", "--count", "2", "--json", timeout: 60)
                let after = try await guest.meminfo()
                #expect(result.status == 0, s.report("\(result)"))
                let sample = try #require(try result.jsonLines().last, s.report("no sample: \(result)"))
                let stats = try #require(sample["stats"], s.report("no stats: \(result)"))
                #expect(sample["actual_bytes"]?.uint64Value == guest.ramBytes, s.report("\(result)"))
                var line: [String] = []
                for (key, field, tolerance) in [
                    ("total_bytes", "MemTotal", UInt64(0)), ("free_bytes", "MemFree", 4 * Self.MiB),
                    ("available_bytes", "MemAvailable", 4 * Self.MiB),
                ] {
                    let reported = stats[key]?.uint64Value
                    let low = min(before[field] ?? 0, after[field] ?? 0)
                    let high = max(before[field] ?? 0, after[field] ?? 0)
                    let inRange = reported.map { $0 + tolerance >= low && $0 <= high + tolerance } ?? false
                    #expect(
                        inRange,
                        s.report("\(phase): stats \(key) = \(reported.map(mib) ?? "nil"), guest's \(field) \(mib(low))...\(mib(high)) (±\(mib(tolerance)))\n\(result)"))
                    line.append("\(field) \(mib(reported ?? 0)) vs \(mib(low))")
                }
                let available = stats["available_bytes"]?.uint64Value ?? 0
                if phase == "idle" {
                    idleAvailable = available
                } else {
                    #expect(
                        available + 56 * Self.MiB <= idleAvailable,
                        s.report("64 MiB in a tmpfs should take ~64 MiB off available: \(mib(idleAvailable)) -> \(mib(available))"))
                }
                s.note("stats \(phase): " + line.joined(separator: ", "))
            }
        }
    }

    /// `qballoon record` from a real guest: a trace that reads back, whose figures are the guest's own (MemTotal
    /// exactly, as `stats` reports it), one sample per second; then `qballoon simulate` on what it recorded: the guest
    /// as the trace shows it (its RAM, what its kernel keeps outside MemTotal), shrunk by the config, never short.
    @Test func recordWritesARealGuestsTrace() async throws {
        try await endToEnd("record") { s in
            let guest = s.guest("vm", ramMiB: 256)
            try await s.boot([guest])
            let out = s.directory + "/vm.trace"
            let result = try await s.qballoon("record", "--qmp", guest.qmpPath, "--out", out, "--duration", "10s", timeout: 60)
            #expect(result.status == 0, s.report("\(result)"))
            let meminfo = try await guest.meminfo()
            let trace = try Trace(parsing: try String(contentsOfFile: out, encoding: .utf8), file: out)
            #expect(trace.header.vm == "vm" && trace.header.ramBytes == guest.ramBytes, s.report(trace.header.line))
            #expect(trace.samples.count == 10, s.report(trace.text))
            let reported = trace.samples.filter { $0.stats.total != nil }
            #expect(reported.count >= 2, s.report("the guest reported in at most one sample:\n\(trace.text)"))
            #expect(reported.allSatisfy { $0.stats.total == meminfo["MemTotal"] && $0.actual == guest.ramBytes }, s.report(trace.text))
            s.note("recorded \(trace.samples.count) samples from QEMU \(trace.header.qemu); MemTotal \(mib(meminfo["MemTotal"] ?? 0)) in \(reported.count) of them")

            let config = TestEnvironment.repositoryRoot + "/Configs/aggressive-reclaim.toml"
            let simulated = try await s.qballoon("simulate", "--config", config, out, "--json", timeout: 60)
            #expect(simulated.status == 0, s.report("\(simulated)"))
            let run = try JSON.decode(simulated.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            let vm = try #require(run["vms"]?.arrayValue?.first, s.report(simulated.stdout))
            #expect(vm["name"]?.stringValue == "vm" && vm["ram"]?.uint64Value == guest.ramBytes, s.report(simulated.stdout))
            #expect(vm["out_of_memory_events"]?.int64Value == 0 && vm["short_seconds"]?.doubleValue == 0, s.report(simulated.stdout))
            #expect((vm["changes"]?.int64Value ?? 0) >= 1, s.report("the config did not shrink the idle guest: \(simulated.stdout)"))
            s.note("simulated what it recorded: \(vm["changes"]?.int64Value ?? 0) changes, \(mib(vm["returned_mean"]?.doubleValue ?? 0)) returned on average, never short")
        }
    }

    // MARK: 3. run: shrink an idle guest, give back to a workload

    /// `qballoon run`: an idle 512 MiB guest is shrunk toward its rule's target (its use plus 64 MiB), which is
    /// below its min, so it stops at min (256 MiB) and never goes under it; then a memory hog takes 256 MiB at
    /// up to 40 MiB/s (more than the 170 MiB the guest has at min), and the daemon (500 ms rounds, 1 s
    /// statistics) gives memory back fast enough that the hog finishes with no OOM kill in the kernel log.
    @Test func daemonShrinksAnIdleGuestAndGivesMemoryBackToAWorkload() async throws {
        try await endToEnd("run") { s in
            let guest = s.guest("vm", ramMiB: 512)
            let min = 256 * Self.MiB
            try Self.writeHostMeminfo("\(s.directory)/host.meminfo", availableBytes: 6 << 30)
            let daemon = try s.daemon(config: Self.reclaimConfig(guest: guest, directory: s.directory, min: "256MiB", step: "128MiB"))
            try await s.boot([guest])
            let trace = BalloonTrace(guest, in: s)
            try daemon.start()
            let shrink = try await s.waitUntil("the idle guest is shrunk to its min (256 MiB)", timeout: 90) {
                try await guest.actual() <= min + Self.page
            }
            s.note("daemon shrank the idle guest 512 MiB -> 256 MiB (min) in \(seconds(shrink)) after it started")
            // Idle at min for a while: the rule still wants less, the envelope holds it at min.
            try await Task.sleep(for: .seconds(4))
            let lowest = trace.lowest() ?? 0
            #expect(lowest + Self.page >= min, s.report("actual went below min: \(mib(lowest))"))
            let reclaims = daemon.decisions().filter { $0["rule"] == "reclaim idle memory" }
            let last = try #require(reclaims.last, s.report("no decision of the reclaim rule"))
            #expect(
                (last["wanted"]?.uint64Value ?? .max) < min && last["to"]?.uint64Value == min,
                s.report("the rule's target should be under min and the balloon set to min: \(last)"))
            let atMin = try await guest.free()
            #expect(
                Self.near(atMin["total"], guest.fullMemTotal - (512 * Self.MiB - min), within: Self.MiB),
                s.report("guest's free at min: \(atMin)"))
            s.note("at min: rule wanted \(mib(last["wanted"]?.uint64Value ?? 0)); guest's free total \(mib(atMin["total"] ?? 0)), available \(mib(atMin["available"] ?? 0))")

            // The workload: 256 MiB of anonymous memory at up to 40 MiB/s, held until it is all there.
            let workloadStart = Date()
            let (output, status) = try await guest.run(Self.hog(mib: 256, pace: true), timeout: 150)
            let workloadSeconds = Date().timeIntervalSince(workloadStart)
            #expect(status == 0 && output.contains("hog done 256"), s.report("the hog did not finish: [\(status)] \(output)"))
            let oom = try await guest.oomReports()
            #expect(oom.isEmpty, s.report("the guest's kernel log reports running out of memory:\n\(oom)"))
            let lowestDuring = trace.lowest(since: workloadStart) ?? 0
            #expect(lowestDuring + Self.page >= min, s.report("actual went below min during the workload: \(mib(lowestDuring))"))
            let firstGrowth = trace.firstAbove(min + 16 * Self.MiB, since: workloadStart)
            #expect(firstGrowth != nil, s.report("the daemon never gave the guest memory back"))
            let giveBack = daemon.decisions().first { $0["rule"] == "guest is short: give memory back" }
            let seenAvailable = giveBack?["figures"]?["available"]?.uint64Value
            s.note(
                "hog of 256 MiB finished in \(seconds(workloadSeconds)) (\(Self.rate(256, workloadSeconds))); the daemon started giving back "
                    + "\(firstGrowth.map { seconds($0.time.timeIntervalSince(workloadStart)) } ?? "never") after it began "
                    + "(it saw available \(seenAvailable.map(mib) ?? "?")), the guest had its 512 MiB back "
                    + "\(trace.firstReaching(guest.ramBytes - Self.page, since: workloadStart).map { seconds($0.time.timeIntervalSince(workloadStart)) } ?? "never") after it began; OOM lines: \(oom.isEmpty ? "none" : oom)")
            let stopped = await daemon.stop()
            #expect(stopped == 0, s.report("qballoon run exited with \(stopped.map(String.init) ?? "nil") on SIGTERM"))
        }
    }

    // MARK: 4. restart

    /// The guest's QEMU is killed and started again on the same sockets: the daemon reattaches and resumes
    /// (shrinks the new, idle guest to its min again).
    @Test func daemonReattachesWhenQEMUIsRestarted() async throws {
        try await endToEnd("restart") { s in
            let guest = s.guest("vm", ramMiB: 512)
            let min = 256 * Self.MiB
            try Self.writeHostMeminfo("\(s.directory)/host.meminfo", availableBytes: 6 << 30)
            let daemon = try s.daemon(config: Self.reclaimConfig(guest: guest, directory: s.directory, min: "256MiB", step: "256MiB"))
            try await s.boot([guest])
            try daemon.start()
            let first = try await s.waitUntil("the idle guest is shrunk to its min", timeout: 90) {
                try await guest.actual() <= min + Self.page
            }
            s.note("first boot shrunk to min \(seconds(first)) after the daemon started")

            await guest.kill()
            let killed = Date()
            s.note("QEMU killed (SIGKILL)")
            try await s.waitUntil("the daemon notices", timeout: 30) {
                !daemon.logLines(containing: "unreachable").isEmpty
            }
            try await Task.sleep(for: .seconds(1))
            try await guest.start()
            let restarted = Date()
            let reattach = try await s.waitUntil("the daemon reattaches to the new QEMU", timeout: 60) {
                daemon.logLines(containing: "] attached").count >= 2
            }
            s.note("QEMU started again \(seconds(restarted.timeIntervalSince(killed))) after the kill; daemon reattached \(seconds(reattach)) later")
            try await guest.waitReady()
            let ready = Date()
            s.note("new guest ready \(seconds(ready.timeIntervalSince(restarted))) after QEMU started; actual \(mib(try await guest.actual()))")
            let resumed = try await s.waitUntil("the daemon shrinks the new guest to its min again", timeout: 60) {
                try await guest.actual() <= min + Self.page
            }
            s.note("resumed: the new guest was shrunk to min \(seconds(resumed)) after it was ready")
            #expect(daemon.isRunning, s.report("the daemon exited"))
        }
    }

    // MARK: 5. stall

    /// Asked for less than the guest can give, the inflation stalls: `set` reports it (exit 3, `stalled`) and
    /// gives the guest room back, which keeps it alive. The daemon never pushes a guest there: its rule asks for
    /// the guest's bare use, the envelope stops the shrink at the use
    /// plus headroom, which the guest gives in full (stall recovery itself is tested on QEMU without a guest
    /// driver and on the fake server).
    @Test func aStalledInflationIsReportedAndNotRetried() async throws {
        try await endToEnd("stall") { s in
            let guest = s.guest("vm", ramMiB: 512)
            try Self.writeHostMeminfo("\(s.directory)/host.meminfo", availableBytes: 6 << 30)
            try await s.boot([guest])

            let result = try await s.qballoon("set", "--qmp", guest.qmpPath, "32MiB", "--stall-after", "2s", "--json")
            #expect(result.status == 3, s.report("set to 32 MiB should stall with exit 3: \(result)"))
            let outcome = try result.json()
            #expect(outcome["result"] == "stalled", s.report("\(result)"))
            let stoppedAt = outcome["actual_bytes"]?.uint64Value ?? 0
            #expect(stoppedAt > 32 * Self.MiB && stoppedAt < 200 * Self.MiB, s.report("stalled at \(mib(stoppedAt))"))
            let resetTo = outcome["target_reset_to_bytes"]?.uint64Value
            #expect(resetTo == stoppedAt + 64 * Self.MiB, s.report("the target should be reset to the stop plus 64 MiB: \(result)"))
            try await s.waitUntil("the guest gets the room back", timeout: 30) {
                try await guest.actual() + Self.page >= (resetTo ?? 0)
            }
            // Alive, and able to allocate again.
            let (dd, ddStatus) = try await guest.run("dd if=/dev/zero of=/dev/null bs=16M count=1 2>&1")
            #expect(ddStatus == 0, s.report("the guest cannot allocate 16 MiB after the stall: \(dd)"))
            s.note("set 32MiB: stalled at \(mib(stoppedAt)) after \(seconds(result.seconds)); target reset to \(mib(resetTo ?? 0)); guest alive")

            // The daemon, with a rule that wants the guest squeezed to its bare use (less than it can give): the
            // envelope stops the shrink at its use plus headroom, which the guest gives in full. No stall, no
            // give-back, and no push below it afterwards.
            let daemon = try s.daemon(config: Self.squeezeConfig(guest: guest, directory: s.directory))
            let trace = BalloonTrace(guest, in: s)
            try daemon.start()
            func pushes() -> [JSON] {
                daemon.decisions().filter { ($0["to"]?.uint64Value ?? .max) < ($0["from"]?.uint64Value ?? 0) }
            }
            try await s.waitUntil("the daemon shrinks the guest", timeout: 60) { !pushes().isEmpty }
            let push = try #require(pushes().first)
            let floor = push["to"]?.uint64Value ?? 0
            #expect(
                floor > stoppedAt && (push["adjustments"]?.arrayValue ?? []).contains { $0.stringValue?.contains("headroom") == true },
                s.report("the shrink should stop at the guest's use plus headroom, above where `set` stalled (\(mib(stoppedAt))): \(push)"))
            let reached = try await s.waitUntil("the guest gives what the daemon asked", timeout: 60) {
                try await guest.actual() <= floor + Self.page
            }
            s.note("daemon shrank to \(mib(floor)) (rule wanted \(mib(push["wanted"]?.uint64Value ?? 0))); the guest got there in \(seconds(reached))")
            let watchStart = Date()
            try await Task.sleep(for: .seconds(20))
            let backOffs = daemon.decisions().filter { $0["reason"] == "stall recovery" || $0["reason"] == "inflation aborted" }
            let tooLow = daemon.decisions().filter { ($0["to"]?.uint64Value ?? .max) + 16 * Self.MiB < floor }
            #expect(
                backOffs.isEmpty && tooLow.isEmpty,
                s.report("the daemon should neither stall the guest nor push it below its use plus headroom:\n" + daemon.decisions().map { "\($0)" }.joined(separator: "\n")))
            let lowest = trace.lowest(since: watchStart) ?? 0
            s.note("in the 20s after: \(daemon.decisions().count) decision(s) in all, lowest actual \(mib(lowest)), now \(mib(try await guest.actual()))")
            let (alive, aliveStatus) = try await guest.run("echo alive")
            #expect(aliveStatus == 0 && alive.contains("alive"), s.report("the guest is not answering: \(alive)"))
        }
    }

    // MARK: 6. shares

    /// Two idle 512 MiB guests, shares 2000 and 1000, no rules; the host's MemAvailable (a file the test
    /// writes: the knob for the host's figures) falls 384 MiB below the 1 GiB reserve. The arbiter takes the
    /// 384 MiB back from them as configured: with no idle tax, it levels shares per byte, so the guests end in
    /// proportion to their shares, 2:1 (about 427 and 213 MiB). The test adds what the guests give to the
    /// host's MemAvailable, as a real host would see it.
    @Test func twoGuestsSplitTheHostReserveReclaimByShares() async throws {
        try await endToEnd("shares") { s in
            let big = s.guest("big", ramMiB: 512)
            let small = s.guest("small", ramMiB: 512)
            let meminfo = "\(s.directory)/host.meminfo"
            let reserve = 1024 * Self.MiB
            let deficit = 384 * Self.MiB
            let roomy = SharedValue(reserve + 1024 * Self.MiB)
            try Self.writeHostMeminfo(meminfo, availableBytes: roomy.value)
            try await s.boot([big, small])

            // The host's MemAvailable: a base (what the host's own processes leave) plus what the guests gave.
            s.background {
                while !Task.isCancelled {
                    if let a = try? await big.actual(), let b = try? await small.actual() {
                        let given = (big.ramBytes - a) + (small.ramBytes - b)
                        try? Self.writeHostMeminfo(meminfo, availableBytes: roomy.value + given)
                    }
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            let daemon = try s.daemon(config: Self.sharesConfig(big: big, small: small, meminfo: meminfo))
            try daemon.start()
            try await s.waitUntil("the daemon follows both guests with fresh statistics", timeout: 60) {
                let now = Date().timeIntervalSince1970
                guard daemon.logLines(containing: "] attached").count >= 2 else { return false }
                let ages = [try await big.stats().lastUpdate, try await small.stats().lastUpdate]
                return ages.allSatisfy { $0.map { now - Double($0) <= 2.5 } ?? false }
            }
            try await Task.sleep(for: .seconds(2))
            #expect(daemon.decisions().isEmpty, s.report("nothing should change while the host has room"))

            // A host process takes memory: MemAvailable drops 384 MiB below the reserve.
            roomy.value = reserve - deficit
            s.note("host MemAvailable set to \(mib(roomy.value)): \(mib(deficit)) under the \(mib(reserve)) reserve")
            let start = Date()
            var previous: (UInt64, UInt64) = (0, 0)
            var steadySince = Date()
            try await s.waitUntil("the guests give back the deficit and stay put for 4s", timeout: 90, every: 0.5) {
                let now = (try await big.actual(), try await small.actual())
                if now != previous {
                    previous = now
                    steadySince = Date()
                }
                let given = 2 * 512 * Self.MiB - now.0 - now.1
                return given + 32 * Self.MiB >= deficit && Date().timeIntervalSince(steadySince) >= 4
            }
            let (bigActual, smallActual) = previous
            let given = 2 * 512 * Self.MiB - bigActual - smallActual
            let expectedBig = Double(1024 * Self.MiB - deficit) * 2 / 3
            let expectedSmall = Double(1024 * Self.MiB - deficit) / 3
            s.note(
                "reclaimed \(mib(given)) of \(mib(deficit)) in \(seconds(Date().timeIntervalSince(start)) ) (incl. 4s steady): big (2000 shares) \(mib(bigActual)) gave \(mib(big.ramBytes - bigActual)), small (1000 shares) \(mib(smallActual)) gave \(mib(small.ramBytes - smallActual)); expected \(mib(expectedBig)) and \(mib(expectedSmall))")
            #expect(
                given + 32 * Self.MiB >= deficit && given <= deficit + 48 * Self.MiB,
                s.report("the guests gave \(mib(given)) for a \(mib(deficit)) deficit"))
            #expect(abs(Double(bigActual) - expectedBig) <= Double(32 * Self.MiB), s.report("big ended at \(mib(bigActual)), expected \(mib(expectedBig))"))
            #expect(abs(Double(smallActual) - expectedSmall) <= Double(32 * Self.MiB), s.report("small ended at \(mib(smallActual)), expected \(mib(expectedSmall))"))
            let reasons = Set(daemon.decisions().compactMap { $0["reason"]?.stringValue })
            #expect(reasons == ["host reserve"], s.report("every change should be for the host reserve: \(reasons)"))
            // Both guests still work.
            for guest in [big, small] {
                let (output, status) = try await guest.run("echo alive")
                #expect(status == 0 && output.contains("alive"), s.report("\(guest.name) does not answer: \(output)"))
            }
        }
    }

    // MARK: 7. shutdown during an inflation

    /// SIGTERM arrives while the daemon's inflation is still under way, with `restore_on_exit = true`: the
    /// worker's `balloon` is answered, then the restore is sent, and only then does the daemon exit. After the
    /// exit the guest has its whole RAM back, and nothing sent earlier shrinks it again.
    @Test func sigtermDuringAnInflationRestoresTheWholeRAM() async throws {
        try await endToEnd("sigterm") { s in
            let guest = s.guest("vm", ramMiB: 768)
            try Self.writeHostMeminfo("\(s.directory)/host.meminfo", availableBytes: 6 << 30)
            let daemon = try s.daemon(config: Self.restoreConfig(guest: guest, directory: s.directory))
            try await s.boot([guest])
            try daemon.start()
            // SIGTERM as soon as the balloon starts to move: one big step (to the guest's use plus headroom) is under way.
            var atSignal: UInt64 = 0
            try await s.waitUntil("the daemon's inflation starts", timeout: 60, every: 0.02) {
                atSignal = try await guest.actual()
                return atSignal < guest.ramBytes - 16 * Self.MiB
            }
            let signalled = Date()
            let stopped = await daemon.stop()
            let afterExit = try await guest.actual()
            #expect(stopped == 0, s.report("qballoon run exited with \(stopped.map(String.init) ?? "nil") on SIGTERM"))
            let shrink = daemon.decisions().first { $0["rule"] == "reclaim idle memory" }
            let target = shrink?["to"]?.uint64Value ?? 0
            #expect(
                target > 0 && target <= guest.ramBytes / 2,
                s.report("the shrink should aim low (the guest's use plus headroom): \(shrink.map { "\($0)" } ?? "none")"))
            #expect(atSignal > target + 256 * Self.MiB, s.report("the inflation was not under way at SIGTERM: actual \(mib(atSignal))"))
            #expect(!daemon.logLines(containing: "restoring every guest").isEmpty, s.report("no restore logged"))
            let back = try await s.waitUntil("the guest has its whole RAM back", timeout: 60) {
                try await guest.actual() + Self.page >= guest.ramBytes
            }
            // Nothing sent before the restore lands after it: the guest stays whole.
            try await Task.sleep(for: .seconds(3))
            let settled = try await guest.actual()
            #expect(settled + Self.page >= guest.ramBytes, s.report("the guest shrank again after the restore: \(mib(settled))"))
            let (output, status) = try await guest.run("echo alive")
            #expect(status == 0 && output.contains("alive"), s.report("the guest does not answer: \(output)"))
            s.note(
                "SIGTERM at actual \(mib(atSignal)) on the way to \(mib(target)); the daemon exited \(seconds(Date().timeIntervalSince(signalled))) later "
                    + "(actual then \(mib(afterExit))); the guest had its \(mib(guest.ramBytes)) back \(seconds(back)) after the exit and kept it")
        }
    }

    // MARK: 8. kill -9 during an inflation

    /// The daemon is killed with SIGKILL while its inflation is under way (no restore, no goodbye), and started
    /// again: the new daemon takes the VM from QEMU's real state (the balloon QEMU still moves to the old target),
    /// with no jump back to the whole RAM and no storm of give-backs; the guest stays alive and keeps what it
    /// needs.
    @Test func aDaemonKilledDuringAnInflationRestartsFromQEMUsState() async throws {
        try await endToEnd("kill9") { s in
            let guest = s.guest("vm", ramMiB: 768)
            try Self.writeHostMeminfo("\(s.directory)/host.meminfo", availableBytes: 6 << 30)
            var config = Self.restoreConfig(guest: guest, directory: s.directory)
            config = config.replacingOccurrences(of: "restore_on_exit = true", with: "restore_on_exit = false")
            let first = try s.daemon("first", config: config)
            try await s.boot([guest])
            let trace = BalloonTrace(guest, in: s)
            try first.start()
            var atKill: UInt64 = 0
            try await s.waitUntil("the daemon's inflation starts", timeout: 60, every: 0.02) {
                atKill = try await guest.actual()
                return atKill < guest.ramBytes - 16 * Self.MiB
            }
            let pid = try #require(first.pid)
            kill(pid, SIGKILL)
            let killedAt = Date()
            try await s.waitUntil("the first daemon is gone", timeout: 10) { !first.isRunning }
            let target = first.decisions().first?["to"]?.uint64Value ?? 0
            s.note("SIGKILL at actual \(mib(atKill)) on the way to \(mib(target))")
            // QEMU carries on to the old target by itself.
            try await Task.sleep(for: .seconds(2))
            let atRestart = try await guest.actual()
            let second = try s.daemon("second", config: config)
            try second.start()
            try await s.waitUntil("the new daemon attaches", timeout: 30) { !second.logLines(containing: "] attached").isEmpty }
            try await Task.sleep(for: .seconds(15))
            let decisions = second.decisions()
            // From where QEMU really is: never back up to the whole RAM, never a give-back for a stall it did not see.
            let lowest = trace.lowest(since: killedAt) ?? 0
            let highest = trace.since(killedAt).map(\.actual).max() ?? 0
            #expect(highest <= max(atKill, atRestart) + Self.page, s.report("the balloon jumped back up to \(mib(highest)) after the restart"))
            let giveBacks = decisions.filter { $0["reason"] == "stall recovery" || $0["reason"] == "inflation aborted" }
            #expect(giveBacks.isEmpty, s.report("give-backs after the restart: \(giveBacks)"))
            #expect(decisions.count <= 3, s.report("\(decisions.count) changes in 15 s after the restart: \(decisions)"))
            if let firstDecision = decisions.first {
                let from = firstDecision["from"]?.uint64Value ?? 0
                let real = trace.since(killedAt).map(\.actual)
                #expect(
                    real.contains { $0 + 32 * Self.MiB >= from && $0 <= from + 32 * Self.MiB },
                    s.report("the new daemon's first change starts from \(mib(from)), which QEMU never had"))
            }
            let (output, status) = try await guest.run("echo alive")
            #expect(status == 0 && output.contains("alive"), s.report("the guest does not answer: \(output)"))
            s.note(
                "after the restart (QEMU at \(mib(atRestart))): \(decisions.count) change(s), lowest \(mib(lowest)), highest \(mib(highest)); now \(mib(try await guest.actual()))")
            await second.stop()
        }
    }

    // MARK: 9. The operator's hand: pin, unpin, pause

    /// `qballoon pin` on a real guest: the idle guest the rules hold at its min (256 MiB) goes to the pinned 448 MiB and
    /// stays there while the reclaim rule goes on wanting less; unpinned, the rules take it back to its min. Paused,
    /// it is held where it is (the rules would shrink it) until resumed. The guest's own MemTotal follows each move.
    @Test func operatorPinsUnpinsAndPausesARealGuest() async throws {
        try await endToEnd("control") { s in
            let guest = s.guest("vm", ramMiB: 512)
            let min = 256 * Self.MiB
            let pinned = 448 * Self.MiB
            try Self.writeHostMeminfo("\(s.directory)/host.meminfo", availableBytes: 6 << 30)
            let daemon = try s.daemon(config: Self.reclaimConfig(guest: guest, directory: s.directory, min: "256MiB", step: "256MiB"))
            try await s.boot([guest])
            try daemon.start()
            let control = daemon.controlSocket
            try await s.waitUntil("the idle guest is shrunk to its min (256 MiB)", timeout: 90) {
                try await guest.actual() <= min + Self.page
            }

            let pin = try await s.qballoon("pin", "vm", "448MiB", "--control", control)
            #expect(pin.status == 0, s.report("qballoon pin: \(pin)"))
            let reached = try await s.waitUntil("the guest is at its pin (448 MiB)", timeout: 30) {
                try await guest.actual() >= pinned - Self.page
            }
            // Ten rounds: the rule wants the guest's use plus 64 MiB (below min); the pin holds.
            try await Task.sleep(for: .seconds(5))
            let held = try await guest.actual()
            #expect(held >= pinned - Self.page && held <= pinned + Self.page, s.report("the pin did not hold: \(mib(held))"))
            let total = try await guest.free()["total"] ?? 0
            #expect(
                Self.near(total, guest.fullMemTotal - (512 * Self.MiB - pinned), within: 2 * Self.MiB),
                s.report("the guest's MemTotal at the pin: \(mib(total))"))
            let vms = try await s.qballoon("vms", "--json", "--control", control)
            let row = try vms.json()["vms"]?.arrayValue?.first
            #expect(row?["state"]?.stringValue == "pinned", s.report("qballoon vms --json: \(vms.stdout)"))
            #expect(row?["last_decision"]?["wanted"]?.uint64Value == pinned, s.report("\(vms.stdout)"))
            s.note("pinned: at 448 MiB \(seconds(reached)) after the pin, held 5 s while the rule wanted less; guest MemTotal \(mib(total))")

            #expect(try await s.qballoon("unpin", "vm", "--control", control).status == 0)
            let back = try await s.waitUntil("the rules take the guest back to its min", timeout: 30) {
                try await guest.actual() <= min + Self.page
            }
            s.note("unpinned: back at its min \(seconds(back)) later")

            // Paused at a pin's size, then unpinned: the rules would shrink it; paused, nothing is sent.
            #expect(try await s.qballoon("pin", "vm", "448MiB", "--control", control).status == 0)
            try await s.waitUntil("the guest is at its pin again", timeout: 30) { try await guest.actual() >= pinned - Self.page }
            #expect(try await s.qballoon("pause", "vm", "--control", control).status == 0)
            #expect(try await s.qballoon("unpin", "vm", "--control", control).status == 0)
            try await Task.sleep(for: .seconds(5))
            let paused = try await guest.actual()
            #expect(paused >= pinned - Self.page, s.report("a paused guest was moved: \(mib(paused))"))
            let explain = try await s.qballoon("explain", "vm", "--control", control)
            #expect(explain.stdout.contains("paused"), s.report("qballoon explain: \(explain)"))
            #expect(try await s.qballoon("resume", "vm", "--control", control).status == 0)
            let resumed = try await s.waitUntil("resumed, the rules shrink it to its min", timeout: 30) {
                try await guest.actual() <= min + Self.page
            }
            s.note("paused: held at \(mib(paused)) for 5 s with no pin; resumed, at its min \(seconds(resumed)) later")
            let acts = daemon.decisions().filter { $0["rule"] == "operator" }.compactMap { $0["act"]?.stringValue }
            #expect(acts == ["pin", "unpin", "pin", "pause", "unpin", "resume"], s.report("operator acts in the decision log: \(acts)"))
            let oom = try await guest.oomReports()
            #expect(oom.isEmpty, s.report("the guest's kernel log reports running out of memory:\n\(oom)"))
            #expect(await daemon.stop() == 0)
        }
    }

    // MARK: Configs and helpers

    /// Idle reclaim and fast give-back, with the host's figures from a file the test writes.
    static func reclaimConfig(guest: Guest, directory: String, min: String, step: String) -> String {
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
        min = "\(min)"
        step = "\(step)"
        grow_step = "512MiB"
        cooldown = "2s"

        [[vm]]
        name = "\(guest.name)"
        qmp = "unix:\(guest.qmpPath)"

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

    /// One big shrink of an idle guest, and its whole RAM back on exit.
    static func restoreConfig(guest: Guest, directory: String) -> String {
        """
        [daemon]
        interval = "500ms"
        stats_interval = "1s"
        stale_after = "5s"
        restore_on_exit = true
        decision_log = "{decision_log}"

        [host]
        reserve = "1GiB"
        meminfo = "\(directory)/host.meminfo"
        pressure = "\(directory)/host.pressure"

        [defaults]
        min = "128MiB"
        step = "768MiB"
        cooldown = "30s"

        [[vm]]
        name = "\(guest.name)"
        qmp = "unix:\(guest.qmpPath)"

        [[rule]]
        name = "reclaim idle memory"
        when = "available > 50% of actual"
        set = "128MiB"
        """
    }

    /// A rule that wants the guest squeezed to its bare use: more than any guest can give.
    static func squeezeConfig(guest: Guest, directory: String) -> String {
        """
        [daemon]
        interval = "1s"
        stats_interval = "1s"
        stale_after = "5s"
        decision_log = "{decision_log}"

        [host]
        reserve = "1GiB"
        meminfo = "\(directory)/host.meminfo"
        pressure = "\(directory)/host.pressure"

        [defaults]
        min = "16MiB"
        step = "512MiB"
        cooldown = "2s"
        stall_after = "3s"

        [[vm]]
        name = "\(guest.name)"
        qmp = "unix:\(guest.qmpPath)"

        [[rule]]
        name = "squeeze idle memory"
        when = "available > 20% of actual for 2s"
        set = "used"
        """
    }

    /// Two VMs, shares 2:1, no idle tax, no rules: only the host reserve moves them.
    static func sharesConfig(big: Guest, small: Guest, meminfo: String) -> String {
        """
        [daemon]
        interval = "1s"
        stats_interval = "1s"
        stale_after = "5s"
        decision_log = "{decision_log}"

        [host]
        reserve = "1GiB"
        idle_tax = 0
        meminfo = "\(meminfo)"
        pressure = "\(meminfo).pressure"

        [defaults]
        min = "25%"
        step = "512MiB"
        cooldown = "5s"

        [[vm]]
        name = "\(big.name)"
        qmp = "unix:\(big.qmpPath)"
        shares = 2000

        [[vm]]
        name = "\(small.name)"
        qmp = "unix:\(small.qmpPath)"
        shares = 1000
        """
    }

    /// A memory hog from busybox: `count` MiB of anonymous memory in 1 MiB strings, all held until the end;
    /// as fast as the guest can allocate, or with `pace`, a 0.1 s pause after every 4 MiB (at most 40 MiB/s,
    /// so the test asks the same of the daemon on a fast host as on a slow one).
    static func hog(mib count: Int, pace: Bool = false) -> String {
        let pause = pace ? "; if (i % 4 == 3) system(\"usleep 100000\")" : ""
        return "awk 'BEGIN { s = sprintf(\"%1048576s\", \"\"); for (i = 0; i < \(count); i++) { a[i] = s i\(pause) }; print \"hog done\", i }' 2>&1"
    }

    static func near(_ value: UInt64?, _ expected: UInt64, within tolerance: UInt64) -> Bool {
        guard let value else { return false }
        return (value > expected ? value - expected : expected - value) <= tolerance
    }

    static func rate(_ mib: Double, _ seconds: Double) -> String {
        String(format: "%.0f MiB/s", mib / Swift.max(seconds, 0.001))
    }
}

/// A value shared with a background task.
final class SharedValue: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: UInt64
    init(_ value: UInt64) { stored = value }
    var value: UInt64 {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

/// Under CI the end-to-end tests must run: a missing QEMU, guest image or qballoon is a failure there.
@Test func guestEndToEndCanRunUnderCI() {
    if GuestEnvironment.isCI {
        #expect(GuestEnvironment.problem == nil, "CI=true but the end-to-end tests cannot run: \(GuestEnvironment.problem ?? "")")
    }
}
