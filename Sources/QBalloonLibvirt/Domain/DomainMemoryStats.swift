import QBalloonCore

/// What `virDomainMemoryStats` returns for a domain, as qballoon's own figures: the guest's statistics in bytes,
/// the balloon's current size and the QEMU process's resident memory.
///
/// libvirt reports sizes in KiB and counts as counts; each statistic comes with a tag (`virDomainMemoryStatTags`).
/// A statistic libvirt did not send is absent. A figure that would not fit in bytes is dropped as unreported.
///
/// ```swift
/// let figures = DomainMemoryStats(tags: [(5, 524_288), (8, 400_000), (9, 1_700_000_000)])
/// figures.stats.total      // 512 MiB
/// figures.stats.available  // 400,000 KiB in bytes (libvirt's "usable" is the guest's MemAvailable)
/// ```
public struct DomainMemoryStats: Sendable, Hashable {
    /// The guest's statistics, named as QEMU names them (so they read like the QMP path's).
    public var stats: GuestStats
    /// The balloon's current size (`actual`), in bytes.
    public var actual: UInt64?
    /// The QEMU process's resident set, in bytes.
    public var rss: UInt64?
    /// The domain's `<memory>` (`balloon.maximum`), in bytes; only from ``init(balloonFields:)``.
    public var maxBytes: UInt64?

    /// The most figures read for one domain from one call; libvirt sends about fifteen.
    public static let maxFields = 1000

    /// What a tag means (`VIR_DOMAIN_MEMORY_STAT_*`, numbered as in libvirt-domain.h).
    enum Tag: Int32 {
        case swapIn = 0, swapOut, majorFaults, minorFaults, unused, available, actualBalloon, rss, usable, lastUpdate
        case diskCaches, hugetlbAllocations, hugetlbFailures

        /// The QEMU name of the guest statistic this tag carries, and whether libvirt sends it in KiB.
        var guestStat: (name: String, inKiB: Bool)? {
            switch self {
            case .swapIn: ("stat-swap-in", true)
            case .swapOut: ("stat-swap-out", true)
            case .majorFaults: ("stat-major-faults", false)
            case .minorFaults: ("stat-minor-faults", false)
            // libvirt's "unused" is the guest's MemFree, its "available" MemTotal, its "usable" MemAvailable.
            case .unused: ("stat-free-memory", true)
            case .available: ("stat-total-memory", true)
            case .usable: ("stat-available-memory", true)
            case .diskCaches: ("stat-disk-caches", true)
            case .hugetlbAllocations: ("stat-htlb-pgalloc", false)
            case .hugetlbFailures: ("stat-htlb-pgfail", false)
            case .actualBalloon, .rss, .lastUpdate: nil
            }
        }
    }

    /// The last Unix second a guest report may carry; later is not a real clock.
    static let latestUpdate: UInt64 = 100_000_000_000

    /// The figures from libvirt's tagged values; unknown tags (newer libvirts) are skipped.
    public init(tags: [(tag: Int32, value: UInt64)]) {
        stats = GuestStats()
        for (raw, value) in tags {
            guard let tag = Tag(rawValue: raw) else { continue }
            switch tag {
            case .actualBalloon: actual = Self.bytes(kib: value)
            case .rss: rss = Self.bytes(kib: value)
            case .lastUpdate:
                // 0 means the guest never reported.
                stats.lastUpdate = value > 0 && value <= Self.latestUpdate ? Int64(value) : nil
            default:
                guard let (name, inKiB) = tag.guestStat else { continue }
                if let figure = inKiB ? Self.bytes(kib: value) : value { stats.record(name, figure) }
            }
        }
    }

    /// The figures from the balloon group of `virConnectGetAllDomainStats` (`balloon.current`, `balloon.usable`...),
    /// as ``init(tags:)`` reads the same figures from `virDomainMemoryStats`; unknown names are skipped.
    public init(balloonFields fields: [(name: String, value: UInt64)]) {
        var tags: [(tag: Int32, value: UInt64)] = []
        var maximum: UInt64?
        for (name, value) in fields {
            if name == "balloon.maximum" {
                maximum = Self.bytes(kib: value)
            } else if let tag = Self.fieldTags[name] {
                tags.append((tag.rawValue, value))
            }
        }
        self.init(tags: tags)
        maxBytes = maximum
    }

    /// The balloon group's names for the tags (libvirt's `balloon.*` typed parameters).
    static let fieldTags: [String: Tag] = [
        "balloon.current": .actualBalloon, "balloon.swap_in": .swapIn, "balloon.swap_out": .swapOut,
        "balloon.major_fault": .majorFaults, "balloon.minor_fault": .minorFaults, "balloon.unused": .unused,
        "balloon.available": .available, "balloon.usable": .usable, "balloon.rss": .rss,
        "balloon.last-update": .lastUpdate, "balloon.disk_caches": .diskCaches,
        "balloon.hugetlb_pgalloc": .hugetlbAllocations, "balloon.hugetlb_pgfail": .hugetlbFailures,
    ]

    /// KiB in bytes, or nil when that does not fit (or is QEMU's all-ones "unreported").
    static func bytes(kib: UInt64) -> UInt64? {
        let (bytes, overflow) = kib.multipliedReportingOverflow(by: 1024)
        return overflow || bytes == GuestStats.unreported ? nil : bytes
    }
}
