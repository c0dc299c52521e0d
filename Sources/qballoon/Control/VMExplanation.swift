import QBalloonCore

/// What `qballoon explain VM` prints: the VM's state and figures, the operator's pin and pause, the engine's
/// last decision about it (why, the figures it saw, each limit that changed it) and its last balloon change.
///
/// ```
/// db: ok
///   balloon     actual 3 GiB of 4 GiB RAM (limits 1 GiB to 4 GiB), target 3 GiB
///   guest       available 1.2 GiB, used 1.5 GiB, stats 1s old
/// last decision 12:30:05 (2s ago): no change
///   reason      rule "reclaim idle"
///   ...
/// ```
enum VMExplanation {
    static func render(_ vm: VMView, hostPaused: Bool? = nil, now: Double) -> String {
        var lines = ["\(vm.name): \(vm.status ?? vm.state)"]
        func field(_ name: String, _ value: String) {
            lines.append("  " + name.padding(12) + value)
        }
        if let socket = vm.socket { field("monitor", socket) }
        var balloon = "actual \(size(vm.actual))"
        if let ram = vm.ram { balloon += " of \(MemorySize.format(ram)) RAM" }
        if vm.min != nil || vm.max != nil { balloon += " (limits \(size(vm.min)) to \(size(vm.max)))" }
        balloon += ", target \(size(vm.target))"
        field("balloon", balloon)
        var guest = "available \(size(vm.available)), used \(size(vm.used))"
        guest += vm.statsAge.map { ", stats \(ClockText.age($0)) old" } ?? ", no statistics"
        field("guest", guest)
        var flags: [String] = []
        if vm.pressured { flags.append("under memory pressure: the balloon will not take from it") }
        if vm.stalled { flags.append("the last inflation stalled: the guest had nothing more to give") }
        for flag in flags { field("note", flag) }
        if let pin = vm.pin {
            var text = pin.size
            if let bytes = pin.bytes, pin.size.hasSuffix("%") { text += " (\(MemorySize.format(bytes)))" }
            if let since = pin.since { text += ", since \(ClockText.when(since, now: now))" }
            text += pin.until.map { ", until \(ClockText.when($0, now: now))" } ?? ", until `qballoon unpin \(vm.name)`"
            field("pinned to", text)
        } else {
            field("pinned", "no")
        }
        if vm.paused {
            field("paused", hostPaused == true ? "yes: the whole host is paused (`qballoon resume`)" : "yes (`qballoon resume \(vm.name)`)")
        } else {
            field("paused", "no")
        }
        if let decision = vm.lastDecision {
            let at = decision.time.map { " " + ClockText.when($0, now: now) } ?? ""
            let outcome: String
            if decision.changes {
                outcome = "\(size(decision.from)) -> \(size(decision.to))"
            } else {
                outcome = "no change (stays at \(size(decision.from)))"
            }
            lines.append("last decision\(at): \(outcome)")
            if let reason = decision.reason { field("reason", reason) }
            if let wanted = decision.wanted, wanted != decision.to { field("wanted", MemorySize.format(wanted)) }
            if !decision.figures.isEmpty { field("saw", decision.figures.joined(separator: ", ")) }
            for (index, adjustment) in decision.adjustments.enumerated() {
                field(index == 0 ? "adjusted" : "", adjustment)
            }
            if decision.pressured { field("pressure", "the guest was under memory pressure") }
        } else {
            lines.append("last decision: none yet (the engine decides once the VM reports statistics)")
        }
        if let change = vm.lastChange {
            let at = change.time.map { " " + ClockText.when($0, now: now) } ?? ""
            let why = change.reason.map { ", \($0)" } ?? ""
            lines.append("last change\(at): \(size(change.from)) -> \(size(change.to))\(why)")
        } else {
            lines.append("last change: none since the daemon started")
        }
        return lines.joined(separator: "\n")
    }

    static func size(_ bytes: UInt64?) -> String { bytes.map(MemorySize.format) ?? "unknown" }
}

extension String {
    /// The text padded with spaces to `width` characters (never cut).
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
