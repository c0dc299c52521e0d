/// Whether what a monitor and its guest report can be true: the judgment behind quarantine. Everything here is
/// untrusted input (the statistics come from the guest kernel), so a figure that breaks arithmetic is a lie or a
/// broken peer, never something to act on.
///
/// Lag is not a lie: right after an inflation the guest's total can still be above `actual` for a report or two,
/// so totals are held against the VM's RAM, never against `actual`.
///
/// ```swift
/// if let lie = Plausibility.check(actual: actual, stats: stats, previous: last, ramBytes: ram) {
///     // quarantine the VM: "reports 3 GiB total memory, above its 2 GiB of RAM"
/// }
/// ```
public enum Plausibility {
    /// A swap-in or swap-out rate above this many times the VM's RAM a second cannot be real.
    public static let maxSwapRAMPerSecond: Double = 1
    /// A fault rate above this many a second cannot be real (a CPU takes a few million at most).
    public static let maxFaultsPerSecond: Double = 100_000_000
    /// More RAM than this (4 PiB, x86-64's 52-bit physical addresses) no VM has; beyond it sizes would also
    /// overflow the arithmetic that shares the host between VMs.
    public static let maxRAM: UInt64 = 1 << 52

    /// What is impossible in these figures, in words naming them; nil when they can be true.
    /// - Parameters:
    ///   - actual: the balloon's `actual`, if read.
    ///   - stats: the latest statistics, if any.
    ///   - previous: the report before them, for the rates of their counters.
    ///   - ramBytes: the VM's RAM.
    public static func check(actual: UInt64?, stats: GuestStats?, previous: GuestStats?, ramBytes: UInt64) -> String? {
        let ram = MemorySize.format(ramBytes)
        if ramBytes > maxRAM {
            return "the VM reports \(ram) of RAM, more than any machine has (at most \(MemorySize.format(maxRAM)))"
        }
        if let actual, actual > ramBytes &+ BalloonPages.size {
            return "balloon actual \(MemorySize.format(actual)) is above the VM's \(ram) of RAM"
        }
        guard let stats else { return nil }
        if let total = stats.total, total > ramBytes {
            return "the guest reports \(MemorySize.format(total)) total memory, above its \(ram) of RAM"
        }
        if let total = stats.total {
            if let free = stats.free, free > total {
                return "the guest reports \(MemorySize.format(free)) free of \(MemorySize.format(total)) total memory"
            }
            if let available = stats.available, available > total {
                return "the guest reports \(MemorySize.format(available)) available of \(MemorySize.format(total)) total memory"
            }
        }
        guard let previous, let now = stats.lastUpdate, let then = previous.lastUpdate, now > then else { return nil }
        let seconds = Double(now - then)
        func rate(_ value: UInt64?, _ before: UInt64?) -> Double? {
            // A counter that went back is a guest that rebooted, not a lie.
            guard let value, let before, value >= before else { return nil }
            return Double(value - before) / seconds
        }
        let swapLimit = Double(ramBytes) * maxSwapRAMPerSecond
        for (name, value, before) in [("swap-in", stats.swapIn, previous.swapIn), ("swap-out", stats.swapOut, previous.swapOut)] {
            if let rate = rate(value, before), rate > swapLimit {
                return "the guest reports \(name) at \(MemorySize.format(UInt64(min(rate, 1e18))))/s, more than its \(ram) of RAM a second"
            }
        }
        for (name, value, before) in [
            ("major faults", stats.majorFaults, previous.majorFaults), ("minor faults", stats.minorFaults, previous.minorFaults),
        ] {
            if let rate = rate(value, before), rate > maxFaultsPerSecond {
                return "the guest reports \(name) at \(Int(min(rate, 1e18))) a second"
            }
        }
        return nil
    }
}
