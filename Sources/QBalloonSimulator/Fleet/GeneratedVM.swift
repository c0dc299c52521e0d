import QBalloonFakeQMP

/// One synthetic VM of a fleet drawn by ``FleetGenerator``: what the simulator needs to play it (its RAM, what its
/// guest keeps, its applications' memory over time) in a compact form: workload points only where the slope changes.
///
/// ```swift
/// let vm = FleetGenerator.workloads(shapes: shapes, vms: 1, duration: 86_400, seed: 1)[0]
/// var scenario = FakeGuestScenario(name: vm.name, ram: vm.ram, workload: vm.workload)
/// scenario.guest.kernelReserved = vm.kernelReserved
/// scenario.guest.unfreeable = vm.unfreeable
/// scenario.guest.cache = vm.cache
/// ```
public struct GeneratedVM: Sendable, Hashable {
    /// `vm001`, `vm002`...
    public var name: String
    /// The recorded shape it was drawn from (the shape trace's VM name: `nightly-batch`...).
    public var shape: String
    /// The VM's RAM, bytes: 1, 2, 4 or 8 GiB.
    public var ram: UInt64
    /// Memory the guest's kernel keeps outside MemTotal: MemTotal is `ram - kernelReserved`.
    public var kernelReserved: UInt64
    /// The most page cache the guest keeps when it has room (the highest point of ``pageCache``).
    public var cache: UInt64
    /// What the guest itself uses and never frees (its kernel, its daemons): its use with no workload running.
    public var unfreeable: UInt64
    /// The applications' memory over time, on top of ``unfreeable``: seconds since the VM started, bytes.
    public var workload: FakeWorkload
    /// The page cache the guest would keep over time if it had room (a bursty-cache VM's reads come and go).
    public var pageCache: FakeWorkload

    public init(
        name: String, shape: String, ram: UInt64, kernelReserved: UInt64, cache: UInt64, unfreeable: UInt64,
        workload: FakeWorkload, pageCache: FakeWorkload
    ) {
        self.name = name
        self.shape = shape
        self.ram = ram
        self.kernelReserved = kernelReserved
        self.cache = cache
        self.unfreeable = unfreeable
        self.workload = workload
        self.pageCache = pageCache
    }

    /// The guest's MemTotal.
    public var total: UInt64 { ram - kernelReserved }
}
