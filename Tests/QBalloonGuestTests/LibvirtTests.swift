import Foundation
import QBalloonCore
import QBalloonJSON
import QBalloonLibvirt
import QBalloonTestSupport
import Testing

/// The one-shot commands against the test guest as a domain of a real libvirtd (started by the tests, as
/// ../shared/LIBVIRT.md does it), one guest at a time. Never skipped under CI=true.
@Suite(.serialized, LibvirtDaemon.required, needsGuest)
struct LibvirtTests {
    static let MiB: UInt64 = 1 << 20

    /// `stats` agrees with the guest's /proc/meminfo (MemTotal exactly, MemAvailable within 4 MiB, as for QMP);
    /// `status` names the domain; `set` moves the balloon until actual is the target, and the guest's MemTotal follows.
    @Test func statsAndSetMoveARealDomainsBalloon() async throws {
        try await withLibvirt("stats-set") { s, uri, domains in
            let guest = domains.add(LibvirtGuest("stats", ramMiB: 512, directory: s.directory))
            try await guest.boot()
            s.note("booted \(guest.name)")

            let before = try await guest.meminfo()
            let stats = try await s.qballoon(
                "stats", "--libvirt", uri, "--domain", guest.name, "--interval", "1", "--count", "2", "--json", timeout: 60)
            let after = try await guest.meminfo()
            #expect(stats.status == 0, s.report("\(stats)"))
            let sample = try #require(try stats.jsonLines().last, s.report("no sample: \(stats)"))
            #expect(sample["actual_bytes"]?.uint64Value == guest.ramBytes, s.report("\(stats)"))
            let total = sample["stats"]?["total_bytes"]?.uint64Value
            #expect(total == before["MemTotal"] && total == after["MemTotal"], s.report("MemTotal \(before["MemTotal"] ?? 0): \(stats)"))
            let available = try #require(sample["stats"]?["available_bytes"]?.uint64Value, s.report("\(stats)"))
            let low = min(before["MemAvailable"] ?? 0, after["MemAvailable"] ?? 0)
            let high = max(before["MemAvailable"] ?? 0, after["MemAvailable"] ?? 0)
            #expect(
                available + 4 * Self.MiB >= low && available <= high + 4 * Self.MiB,
                s.report("available \(mib(available)), guest's MemAvailable \(mib(low))...\(mib(high))"))
            s.note("stats: total \(mib(total ?? 0)), available \(mib(available)) vs MemAvailable \(mib(low))...\(mib(high))")

            let status = try await s.qballoon("status", "--libvirt", uri, "--domain", guest.name, "--json")
            #expect(status.status == 0, s.report("\(status)"))
            let document = try status.json()
            #expect(document["libvirt"]?.stringValue == uri && document["domain"]?.stringValue == guest.name, s.report("\(status)"))
            #expect(document["max_bytes"]?.uint64Value == guest.ramBytes, s.report("\(status)"))
            #expect(document["stats_polling_interval"]?.int64Value == 1, s.report("\(status)"))
            let text = try await s.qballoon("status", "--libvirt", uri, "--domain", guest.name)
            #expect(text.stdout.hasPrefix("libvirt      \(uri) domain \(guest.name)\n"), s.report("\(text)"))

            let set = try await s.qballoon("set", "--libvirt", uri, "--domain", guest.name, "256M", "--json", timeout: 120)
            #expect(set.status == 0, s.report("\(set)"))
            let outcome = try set.json()
            #expect(outcome["result"]?.stringValue == "reached", s.report("\(set)"))
            #expect(outcome["actual_bytes"]?.uint64Value == 256 * Self.MiB, s.report("\(set)"))
            let memstat = try await LibvirtDaemon.virsh("dommemstat", guest.name, in: s.directory)
            #expect(memstat.stdout.contains("actual 262144"), s.report("\(memstat)"))
            let shrunk = try await guest.meminfo()
            let expected = (before["MemTotal"] ?? 0) - 256 * Self.MiB
            #expect(
                (shrunk["MemTotal"] ?? 0) + Self.MiB >= expected && (shrunk["MemTotal"] ?? 0) <= expected + Self.MiB,
                s.report("MemTotal after set 256M: \(mib(shrunk["MemTotal"] ?? 0)), expected \(mib(expected))"))
            s.note("set 256M: reached, guest MemTotal \(mib(shrunk["MemTotal"] ?? 0))")

            // The floor in a running domain's live metadata reads back through the API.
            let metadata = try await LibvirtDaemon.virsh(
                "metadata", guest.name, BalloonMetadata.namespace, "--key", BalloonMetadata.key,
                "--set", #"<balloon min="192MiB"/>"#, "--live", in: s.directory)
            #expect(metadata.status == 0, s.report("\(metadata)"))
            let connection = try await LibvirtConnection.open(uri)
            let floor = try? await readFloor(try await connection.domain(named: guest.name))
            await connection.close()
            #expect(floor == 192 * Self.MiB, s.report("live metadata floor \(floor.map(mib) ?? "nil")"))

            // Back up, as the QMP path does it.
            let grow = try await s.qballoon("set", "--libvirt", uri, "--domain", guest.name, "100%", timeout: 120)
            #expect(grow.status == 0 && grow.stdout.hasPrefix("reached 512 MiB"), s.report("\(grow)"))
        }
    }

    /// The floor in the domain's metadata (`<balloon min="192MiB"/>`, urn:qballoon:1) reads back through the API;
    /// a domain without it has none.
    @Test func theMetadataFloorReadsBack() async throws {
        try await withLibvirt("metadata") { s, uri, domains in
            let guest = domains.add(LibvirtGuest("meta", ramMiB: 256, directory: s.directory))
            try await guest.define()
            let connection = try await LibvirtConnection.open(uri)
            do {
                let domain = try await connection.domain(named: guest.name)
                #expect(try await domain.metadata() == nil)
                let set = try await LibvirtDaemon.virsh(
                    "metadata", guest.name, BalloonMetadata.namespace, "--key", BalloonMetadata.key,
                    "--set", #"<balloon min="192MiB"/>"#, "--config", in: s.directory)
                #expect(set.status == 0, s.report("\(set)"))
                // A domain that is not running has its config's metadata; a running one's is read live (below).
                let floor = try await readFloor(domain)
                #expect(floor == 192 * Self.MiB, s.report("metadata floor \(floor.map(mib) ?? "nil")"))
                #expect(try await domain.maxBytes() == guest.ramBytes)
                s.note("metadata floor read back: \(floor.map(mib) ?? "nil")")
            } catch {
                await connection.close()
                throw error
            }
            await connection.close()
        }
    }

    /// A domain defined with `<memballoon model='none'/>` is reported as having no balloon (exit 1, saying so).
    @Test func aDomainWithoutABalloonIsReportedAsSuch() async throws {
        try await withLibvirt("no-balloon") { s, uri, domains in
            let guest = domains.add(LibvirtGuest("noballoon", ramMiB: 256, directory: s.directory, balloonModel: "none"))
            try await guest.define()
            for command in [["status"], ["stats", "--count", "1"], ["set", "128M"]] {
                let result = try await BuiltCLI.run(
                    command + ["--libvirt", uri, "--domain", guest.name], in: s.directory, timeout: 60)
                #expect(result.status == 1, s.report("\(result)"))
                #expect(
                    result.stderr.contains("\(uri) domain \(guest.name): this domain has no balloon (<memballoon model='none'/>)"),
                    s.report("\(result)"))
            }
            let connection = try await LibvirtConnection.open(uri)
            let balloon = try await connection.domain(named: guest.name).balloon()
            await connection.close()
            #expect(!balloon.hasBalloon && balloon.model == "none")
        }
    }

    /// An unknown domain and a bad URI fail with libvirt's reason, naming them (exit 1); a half-given choice of
    /// VM is a usage error (exit 2).
    @Test func unknownDomainsBadURIsAndBadUsageGiveClearErrors() async throws {
        try await withLibvirt("errors") { s, uri, _ in
            let missing = "qb-test-missing-\(UInt32.random(in: 0...UInt32.max))"
            let unknown = try await s.qballoon("status", "--libvirt", uri, "--domain", missing)
            #expect(unknown.status == 1, s.report("\(unknown)"))
            #expect(unknown.stderr.contains("\(uri) domain \(missing): no such domain: Domain not found"), s.report("\(unknown)"))

            let badURI = try await s.qballoon("stats", "--libvirt", "nosuchdriver:///x", "--domain", "web")
            #expect(badURI.status == 1, s.report("\(badURI)"))
            #expect(badURI.stderr.contains("nosuchdriver:///x: cannot connect: no connection driver available"), s.report("\(badURI)"))

            // A libvirtd that does not answer fails the command after --command-timeout (exit 1), as a hung QEMU does.
            let hung = try await LibvirtDaemon.shared.whilePaused {
                try await BuiltCLI.run(
                    ["status", "--libvirt", uri, "--domain", "web", "--command-timeout", "1s"], in: s.directory, timeout: 60)
            }
            if let hung {
                #expect(hung.status == 1 && hung.stderr.contains("\(uri): libvirt did not answer within 1s"), s.report("\(hung)"))
            } else {
                s.note("libvirtd was running before the tests: not pausing it")
            }

            for (arguments, message) in [
                (["status", "--libvirt", uri], "--libvirt needs --domain NAME"),
                (["set", "--domain", "web", "1G"], "--domain needs --libvirt URI"),
                (["stats", "--qmp", "/tmp/x.qmp", "--libvirt", uri, "--domain", "web"], "give one of them"),
                (["status"], "give the VM: --qmp ADDR, or --libvirt URI --domain NAME"),
            ] {
                let result = try await BuiltCLI.run(arguments, in: s.directory, timeout: 60)
                #expect(result.status == 2 && result.stderr.contains(message), s.report("\(result)"))
            }
        }
    }

    private func readFloor(_ domain: LibvirtDomain) async throws -> UInt64? {
        try await domain.metadata()?.min?.bytes(ofMax: try await domain.maxBytes())
    }
}

/// The domains a libvirt test made, destroyed at its end, failed or not.
final class TestDomains: @unchecked Sendable {
    private let lock = NSLock()
    private var guests: [LibvirtGuest] = []

    func add(_ guest: LibvirtGuest) -> LibvirtGuest {
        lock.withLock { guests.append(guest) }
        return guest
    }

    var all: [LibvirtGuest] { lock.withLock { guests } }
}

/// Runs a libvirt test: libvirtd up (``LibvirtDaemon``), a scenario for its files and notes, every domain it made
/// destroyed at the end; a thrown error is recorded with the consoles and libvirtd's log.
func withLibvirt(
    _ name: String, _ body: @Sendable (Scenario, String, TestDomains) async throws -> Void
) async throws {
    let scenario = try Scenario("libvirt-\(name)")
    let domains = TestDomains()
    var failed = false
    do {
        try GuestEnvironment.check()
        try await LibvirtDaemon.using { uri in
            do {
                try await body(scenario, uri, domains)
            } catch {
                let consoles = domains.all.map { $0.report() }.joined(separator: "\n")
                Issue.record(error, scenario.report("\(error)\n\(consoles)\n\(await LibvirtDaemon.shared.logs())"))
            }
            for guest in domains.all { await guest.destroy() }
        }
    } catch {
        failed = true
        Issue.record(error, scenario.report("\(error)"))
    }
    await scenario.cleanup(keepFiles: failed && !GuestEnvironment.isCI)
}
