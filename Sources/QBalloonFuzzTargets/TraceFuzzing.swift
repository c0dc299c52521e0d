import QBalloon
import QBalloonCore
import QBalloonFakeQMP
import QBalloonRules
import QBalloonSimulator

/// Arbitrary bytes as a trace file (`qballoon simulate`'s input, which a user may get from anywhere):
/// `Trace(parsing:)` either reads it or names a line inside the text; what reads back writes back the same; what
/// makes a guest (`TraceGuest`) never needs more than its RAM, and plays for up to two minutes through the engine
/// with figures that stay finite and within the VM's RAM.
enum TraceFuzzing {
    static let config = try! QBalloonConfig.parse(
        """
        [daemon]
        interval = "1s"
        control_socket = "off"

        [defaults]
        min = "10%"
        cooldown = "0s"

        [[vm]]
        qmp = "/run/qemu/*.qmp"

        [[rule]]
        name = "squeeze"
        when = "available > 10% of actual"
        set = "used + 64MiB"
        """, file: "fuzz")

    static func run(_ input: UnsafeRawBufferPointer) {
        let text = String(decoding: input, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
        let trace: Trace
        do {
            trace = try Trace(parsing: text, file: "fuzz")
        } catch {
            check(error.line >= 1 && error.line <= max(1, lines), "an error at line \(error.line) of \(lines)")
            check(!error.reason.isEmpty, "an error without a reason")
            return
        }
        check(trace.samples.allSatisfy { $0.actual <= trace.header.ramBytes }, "a sample above the VM's RAM")
        if let again = try? Trace(parsing: trace.text, file: "again") {
            check(again.samples.count == trace.samples.count && again.header.vm == trace.header.vm, "the trace did not write back the same")
        } else {
            check(false, "a trace that read does not read back")
        }
        guard let guest = try? TraceGuest(trace: trace) else { return }
        check(TraceGuest.need(of: trace).allSatisfy { $0.need <= trace.header.ramBytes }, "a need above the VM's RAM")
        check(guest.scenario.workload.points.allSatisfy { $0.at >= 0 && $0.used <= trace.header.ramBytes }, "a workload point out of range")
        let run = Simulation(
            config: config, name: "fuzz", guests: [guest], options: .init(duration: min(guest.duration, 120))
        ).run()
        let figures = run.figures
        check(figures.returnedMean.isFinite && figures.returnedMean >= 0, "returned mean \(figures.returnedMean)")
        check(figures.returnedMean <= Double(trace.header.ramBytes) + 1, "returned more than the VM's RAM")
        check(figures.shortSeconds >= 0 && figures.outOfMemorySeconds >= 0, "negative time")
        for vm in run.vms {
            check(vm.timeline.actual.allSatisfy { $0 <= vm.ram }, "actual above RAM")
            check(vm.short.allSatisfy { $0.end >= $0.start }, "an episode ending before it starts")
        }
    }
}
