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

    @Test func aPollOfAnIdleAttachedWorkerIsReadWithoutWakingIt() async {
        let mailbox = Mailbox()
        mailbox.allowTaskless(TasklessRead(connection: UnusedConnection(), generation: 3))
        #expect(mailbox.poll()?.generation == 3, "handed to the orchestrator to start on the connection's loop")
        #expect(!mailbox.isIdle, "a read in flight")
        #expect(mailbox.poll() == nil, "the read in flight answers this poll too")
        mailbox.tasklessDone(nil)
        #expect(mailbox.isIdle, "settled where it was read: nothing for the worker")

        #expect(mailbox.poll() != nil)
        let failure = ReadOutcome(generation: 3, result: .failure(VMWorkerError(description: "no reply within 1s")))
        mailbox.tasklessDone(failure)
        #expect(!mailbox.isIdle, "a failure is for the worker to judge")
        #expect(mailbox.poll() == nil, "not read without the worker until it has judged")
        #expect(await mailbox.next() == .readDone(failure))
        mailbox.done()
        #expect(await mailbox.next() == .poll, "the poll asked meanwhile waits for the worker")
        mailbox.done()

        mailbox.target(1 << 30)
        #expect(await mailbox.next() == .target(1 << 30))
        #expect(mailbox.poll() == nil, "while the worker works, a poll is its own to do, as without a connection")
        mailbox.done()
        #expect(await mailbox.next() == .poll)
        mailbox.done()

        mailbox.allowTaskless(nil)
        #expect(mailbox.poll() == nil, "detached: the worker polls (it connects first)")
        #expect(await mailbox.next() == .poll)
        mailbox.done()
        #expect(mailbox.isIdle)
    }

    @Test func stopDropsWhatAReadWithoutATaskBroughtBack() async {
        let mailbox = Mailbox()
        mailbox.allowTaskless(TasklessRead(connection: UnusedConnection(), generation: 1))
        #expect(mailbox.poll() != nil)
        mailbox.stop(restoringTo: nil)
        mailbox.tasklessDone(ReadOutcome(generation: 1, result: .failure(VMWorkerError(description: "closed"))))
        #expect(await mailbox.next() == .stop(restoringTo: nil))
        mailbox.done()
        #expect(mailbox.isIdle)
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

/// A connection that is never read: for the mailbox's bookkeeping of reads without a task.
private struct UnusedConnection: TasklessReading {
    var ramBytes: UInt64 { 1 << 30 }
    var deflateOnOOM: Bool? { nil }
    var preferredExecutor: (any TaskExecutor)? { nil }
    var readThread: ObjectIdentifier { ObjectIdentifier(Self.self) }
    func read(includingActual: Bool) async throws -> VMReading { throw VMWorkerError(description: "not read here") }
    func read(includingActual: Bool, done: @escaping @Sendable (Result<VMReading, any Error>) -> Void) {}
    func onReadThread(_ work: @escaping @Sendable () -> Void) { work() }
    func setTarget(_ bytes: UInt64) async throws {}
    func close() async {}
}
