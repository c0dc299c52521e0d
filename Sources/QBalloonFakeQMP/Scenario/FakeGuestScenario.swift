/// Everything about one simulated VM: its RAM, balloon device, guest memory behaviour, workload and the
/// faults its monitor shows. Load one from a file in `Fixtures/scenarios/` (format in its README) or build
/// one in code.
///
/// ```swift
/// let scenario = try FakeGuestScenario.load(path: "Fixtures/scenarios/idle.json")
/// var quick = FakeGuestScenario(ram: 1 << 30, workload: .constant(200 << 20))
/// quick.balloon.speed = 512 << 20
/// ```
public struct FakeGuestScenario: Sendable, Hashable {
    /// The balloon device as QEMU shows it.
    public struct Balloon: Sendable, Hashable {
        /// The device id (`-device virtio-balloon-pci,id=ID`): the device lives at `/machine/peripheral/ID`.
        /// `nil` for a device without id, at `/machine/peripheral-anon/device[0]`.
        public var id: String?
        /// How fast the guest driver moves toward the target, in bytes per second, both ways. 0: the guest
        /// has no balloon driver and `actual` never moves.
        public var speed: UInt64
        /// `-device virtio-balloon-pci,deflate-on-oom=on`: the guest may take pages back from the balloon when it
        /// would otherwise run out of memory (the device property reads true).
        public var deflateOnOOM: Bool
        /// `free-page-reporting=on` (the device property reads true).
        public var freePageReporting: Bool

        public init(id: String? = "balloon0", speed: UInt64 = 256 << 20, deflateOnOOM: Bool = false, freePageReporting: Bool = false) {
            self.id = id
            self.speed = speed
            self.deflateOnOOM = deflateOnOOM
            self.freePageReporting = freePageReporting
        }

        /// The device's QOM path.
        public var path: String {
            if let id { return "/machine/peripheral/\(id)" }
            return "/machine/peripheral-anon/device[0]"
        }
    }

    /// How the guest's memory behaves besides the workload.
    public struct Guest: Sendable, Hashable {
        /// Kernel and locked memory: never freed, not counted in disk caches.
        public var unfreeable: UInt64
        /// tmpfs/shmem pages: counted in `stat-disk-caches` but cannot be dropped.
        public var shmem: UInt64
        /// Memory the guest's kernel keeps outside MemTotal (its image, the page descriptors of all its RAM):
        /// `stat-total-memory` is `actual` minus this, and none of it is ever free. A 1 GiB Linux guest keeps
        /// about 63 MiB (MemTotal 960.7 MiB in the test guest of scripts/build-guest.sh); 0 by default.
        public var kernelReserved: UInt64
        /// Page cache the guest keeps when it has room for it; dropped first when the balloon needs memory.
        public var cache: UInt64
        /// The guest sends one statistics report when its driver loads (at start), as Linux does, so
        /// `last-update` is set (and goes stale) before polling is on.
        public var statsAtBoot: Bool
        /// Statistics the guest does not report: they read as all-ones (e.g. `stat-htlb-pgalloc`).
        public var unreportedStats: Set<String>
        /// Minor page faults per second while running.
        public var minorFaultRate: Double
        /// Under pressure, the share of the swapped-out memory the workload touches (swaps in and out again)
        /// each second.
        public var thrashRate: Double

        public init(
            unfreeable: UInt64 = 128 << 20, shmem: UInt64 = 16 << 20, cache: UInt64 = 256 << 20,
            kernelReserved: UInt64 = 0, statsAtBoot: Bool = true, unreportedStats: Set<String> = [], minorFaultRate: Double = 500,
            thrashRate: Double = 0.05
        ) {
            self.unfreeable = unfreeable
            self.shmem = shmem
            self.cache = cache
            self.kernelReserved = kernelReserved
            self.statsAtBoot = statsAtBoot
            self.unreportedStats = unreportedStats
            self.minorFaultRate = minorFaultRate
            self.thrashRate = thrashRate
        }
    }

    /// A name for messages (the file name without `.json` when loaded from a file).
    public var name: String
    /// The VM's RAM (`-m`), the most the balloon can give the guest.
    public var ram: UInt64
    /// The VM was started with `-S` and never resumed: `query-status` says `prelaunch` and the guest does
    /// nothing (its balloon never moves and it sends no statistics).
    public var startPaused: Bool
    public var balloon: Balloon
    public var guest: Guest
    public var workload: FakeWorkload
    /// Faults the monitor shows; a server started without its own faults uses these.
    public var faults: FakeQMPFaults

    public init(
        name: String = "custom", ram: UInt64 = 2 << 30, startPaused: Bool = false, balloon: Balloon = Balloon(),
        guest: Guest = Guest(), workload: FakeWorkload = .constant(300 << 20), faults: FakeQMPFaults = .none
    ) {
        self.name = name
        self.ram = ram
        self.startPaused = startPaused
        self.balloon = balloon
        self.guest = guest
        self.workload = workload
        self.faults = faults
    }

    /// A VM with 2 GiB of RAM of which its applications use 300 MiB (like `idle.json`).
    public static let idle = FakeGuestScenario(name: "idle")
}
