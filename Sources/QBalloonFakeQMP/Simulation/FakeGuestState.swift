/// The simulated guest's memory at one moment, for tests and for showing what a demo VM is doing.
/// All sizes are in bytes.
public struct FakeGuestState: Sendable, Hashable {
    /// The time this state is for, in seconds since the Unix epoch.
    public var time: Double
    /// The memory the guest has now (what `query-balloon` says).
    public var actual: UInt64
    /// What the last `balloon` command asked for (clamped to RAM); RAM until one came.
    public var target: UInt64
    /// The workload's memory, resident or swapped.
    public var used: UInt64
    /// The part of ``used`` that does not fit and is swapped out.
    public var swapped: UInt64
    /// Page cache the guest holds now (droppable).
    public var cache: UInt64
    /// Memory holding nothing (`stat-free-memory`).
    public var free: UInt64
    /// What the workload could still use without swapping: free + cache (`stat-available-memory`).
    public var available: UInt64
    /// The lowest the balloon can squeeze the guest: used + unfreeable + shmem + kernelReserved.
    public var floor: UInt64
    /// The workload needs more than the guest has: it swaps, `stat-available-memory` is 0.
    public var isUnderPressure: Bool
    /// The balloon wants the guest smaller but it cannot free more.
    public var isStalled: Bool
}
