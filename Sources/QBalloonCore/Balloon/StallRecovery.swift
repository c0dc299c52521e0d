/// What to do when a guest stalls an inflation: it has nothing left to free. Left at that point a Linux guest
/// retries several times a second ("Out of puff!") and its next allocation fails: the kernel panics ("System
/// is deadlocked on memory"). So the target goes back up, to where the balloon stopped plus the give-back.
///
/// The one definition of the give-back, used by `qballoon set` and by the daemon (`give_back` in a config).
///
/// ```swift
/// let room = StallRecovery.giveBack(ramBytes: 2 << 30)                     // 128 MiB: 1/16 of RAM
/// let target = StallRecovery.target(stoppedAt: actual, ramBytes: 2 << 30, giveBack: room)
/// ```
public enum StallRecovery {
    /// The give-back when none is configured: 1/16 of the VM's RAM.
    public static let defaultGiveBack = MemorySize.percentOfMax(6.25)
    /// The give-back is never smaller than this.
    public static let minimumGiveBack: UInt64 = 64 << 20

    /// The room to give back, in bytes: `size` of the VM's RAM, at least ``minimumGiveBack`` and `atLeast`.
    public static func giveBack(_ size: MemorySize = defaultGiveBack, ramBytes: UInt64, atLeast: UInt64 = 0) -> UInt64 {
        max(size.bytes(ofMax: ramBytes), minimumGiveBack, atLeast)
    }

    /// The target after a stall at `actual`: the give-back above it, never above RAM.
    public static func target(stoppedAt actual: UInt64, ramBytes: UInt64, giveBack: UInt64) -> UInt64 {
        max(actual, min(ramBytes, actual &+ giveBack))
    }
}
