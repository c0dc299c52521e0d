@testable import QBalloonDaemon
import QBalloonCore
import QBalloonRules
import Testing

/// The plain values the daemon is made of: the worker's mailbox, the status shown for a VM, backoff, /proc.
@Suite struct WorkerPartsTests {
    @Test func theMailboxKeepsTheLatestWishOfEachKindStopFirst() async {
        let mailbox = Mailbox()
        #expect(mailbox.isIdle)
        mailbox.poll()
        #expect(mailbox.target(1 << 30) == nil)
        #expect(mailbox.target(2 << 30) == 1 << 30, "a target not yet sent is replaced")
        #expect(!mailbox.isIdle)
        #expect(await mailbox.next() == .target(2 << 30))
        #expect(!mailbox.isIdle, "working until done()")
        mailbox.done()
        mailbox.stop(restoringTo: 4 << 30)
        #expect(await mailbox.next() == .stop(restoringTo: 4 << 30), "stop outranks the poll, which is dropped")
        mailbox.done()
        #expect(mailbox.isIdle)
    }

    @Test func aWaitingWorkerWakesForWork() async {
        let mailbox = Mailbox()
        async let next = mailbox.next()
        while mailbox.isIdle == false { await Task.yield() }
        mailbox.poll()
        #expect(await next == .poll)
    }

    static let facts = VMFacts(name: "db", link: "unix:/run/qemu/db.qmp")

    @Test func theStatusComesFromTheWorkersFactsAndTheEnginesVerdict() {
        var facts = Self.facts
        #expect(VMStatus(facts: facts, verdict: nil) == .connecting)
        #expect(VMStatus(facts: facts, verdict: VMVerdict(stats: .fresh(age: 1))) == .ok)
        #expect(VMStatus(facts: facts, verdict: VMVerdict(stats: .stale(age: 9))) == .staleStats(age: 9))
        #expect(VMStatus(facts: facts, verdict: VMVerdict(stats: .neverReported, decided: false)) == .noStats)
        facts.problem = .unreachable("unix:/run/qemu/db.qmp: query-balloon: no reply within 10s")
        #expect(VMStatus(facts: facts, verdict: VMVerdict(stats: .fresh(age: 1))).label == "unreachable")
        facts.problem = .noBalloon("no balloon device")
        #expect(VMStatus(facts: facts, verdict: nil) == .noBalloon)
        #expect(VMStatus.staleStats(age: 150).description == "statistics 3m old")
    }

    @Test func backoffDoublesToItsCapAndResets() {
        var backoff = Backoff(initial: 0.5, cap: 4)
        #expect((0..<6).map { _ in backoff.nextDelay() } == [0.5, 1, 2, 4, 4, 4])
        backoff.reset()
        #expect(backoff.nextDelay() == 0.5)
    }

    @Test func theHostIsReadFromProc() {
        let host = HostReader.read(HostSettings())
        #expect((host.total ?? 0) > 0)
        var missing = HostSettings()
        missing.meminfoPath = "/nonexistent"
        missing.pressurePath = "/nonexistent"
        #expect(HostReader.read(missing) == HostSample())
    }
}
