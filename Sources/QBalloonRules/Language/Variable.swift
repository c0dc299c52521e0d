/// A name the rule language knows, with its type. Each has a fixed slot in the evaluation frame, so compiled
/// expressions read figures by index, never by name.
public enum Variable: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    // The balloon and the VM's limits.
    case actual, max, min, target
    // The guest's statistics (bytes, or counts for the fault counters).
    case total, free, available, caches, used
    case swapIn, swapOut, majorFaults, minorFaults
    case swapInRate, swapOutRate, majorFaultsRate, minorFaultsRate
    /// How fast the guest's need moves: used and available memory per second over `trend_window`.
    case usedRate, availableRate
    case statsAge
    /// The VM's `pressure` condition, evaluated this interval.
    case pressure
    // The host, from /proc/meminfo and /proc/pressure/memory.
    case hostTotal, hostAvailable, hostFree, hostSwapTotal, hostSwapFree, hostReserve
    case hostPSISomeAvg10, hostPSISomeAvg60, hostPSIFullAvg10, hostPSIFullAvg60

    /// The name written in rules.
    public var name: String {
        switch self {
        case .actual: return "actual"
        case .max: return "max"
        case .min: return "min"
        case .target: return "target"
        case .total: return "total"
        case .free: return "free"
        case .available: return "available"
        case .caches: return "caches"
        case .used: return "used"
        case .swapIn: return "swap_in"
        case .swapOut: return "swap_out"
        case .majorFaults: return "major_faults"
        case .minorFaults: return "minor_faults"
        case .swapInRate: return "swap_in_rate"
        case .swapOutRate: return "swap_out_rate"
        case .majorFaultsRate: return "major_faults_rate"
        case .minorFaultsRate: return "minor_faults_rate"
        case .usedRate: return "used_rate"
        case .availableRate: return "available_rate"
        case .statsAge: return "stats_age"
        case .pressure: return "pressure"
        case .hostTotal: return "host_total"
        case .hostAvailable: return "host_available"
        case .hostFree: return "host_free"
        case .hostSwapTotal: return "host_swap_total"
        case .hostSwapFree: return "host_swap_free"
        case .hostReserve: return "host_reserve"
        case .hostPSISomeAvg10: return "host_psi_some_avg10"
        case .hostPSISomeAvg60: return "host_psi_some_avg60"
        case .hostPSIFullAvg10: return "host_psi_full_avg10"
        case .hostPSIFullAvg60: return "host_psi_full_avg60"
        }
    }

    public var description: String { name }

    public var type: ValueType {
        switch self {
        case .majorFaults, .minorFaults: return .count
        case .swapInRate, .swapOutRate, .majorFaultsRate, .minorFaultsRate, .usedRate, .availableRate: return .rate
        case .statsAge: return .duration
        case .pressure: return .bool
        case .hostPSISomeAvg10, .hostPSISomeAvg60, .hostPSIFullAvg10, .hostPSIFullAvg60: return .percent
        default: return .bytes
        }
    }

    /// One line for people: what the figure is.
    public var help: String {
        switch self {
        case .actual: return "the guest's memory now: the balloon's 'actual'"
        case .max: return "the VM's RAM, or its configured max if lower"
        case .min: return "the VM's configured floor"
        case .target: return "the last target qballoon set, or actual if none"
        case .total: return "guest MemTotal as the guest reports it"
        case .free: return "guest free memory (leaves out page cache)"
        case .available: return "guest MemAvailable: what it could use without swapping"
        case .caches: return "guest disk caches (includes tmpfs that cannot be dropped)"
        case .used: return "total - available"
        case .swapIn: return "bytes swapped in since boot"
        case .swapOut: return "bytes swapped out since boot"
        case .majorFaults: return "major page faults since boot"
        case .minorFaults: return "minor page faults since boot"
        case .swapInRate: return "bytes swapped in per second, between the last two reports"
        case .swapOutRate: return "bytes swapped out per second"
        case .majorFaultsRate: return "major faults per second"
        case .minorFaultsRate: return "minor faults per second"
        case .usedRate: return "how fast used grows, bytes per second over trend_window (negative: shrinking)"
        case .availableRate: return "how fast available grows, bytes per second over trend_window"
        case .statsAge: return "how old the guest's last statistics report is"
        case .pressure: return "the VM's pressure condition holds"
        case .hostTotal: return "host MemTotal"
        case .hostAvailable: return "host MemAvailable"
        case .hostFree: return "host MemFree"
        case .hostSwapTotal: return "host SwapTotal"
        case .hostSwapFree: return "host SwapFree"
        case .hostReserve: return "the [host] reserve in bytes"
        case .hostPSISomeAvg10: return "host memory PSI 'some' avg10 (percent)"
        case .hostPSISomeAvg60: return "host memory PSI 'some' avg60 (percent)"
        case .hostPSIFullAvg10: return "host memory PSI 'full' avg10 (percent)"
        case .hostPSIFullAvg60: return "host memory PSI 'full' avg60 (percent)"
        }
    }

    /// Whether the figure comes from the guest's statistics (unknown until the guest reports).
    var isGuestStatistic: Bool {
        switch self {
        case .total, .free, .available, .caches, .used, .swapIn, .swapOut, .majorFaults, .minorFaults,
            .swapInRate, .swapOutRate, .majorFaultsRate, .minorFaultsRate, .usedRate, .availableRate, .statsAge:
            return true
        default: return false
        }
    }

    /// Whether the figure is bytes per second (shown as `10 MiB/s`), not a count per second.
    var isByteRate: Bool {
        switch self {
        case .swapInRate, .swapOutRate, .usedRate, .availableRate: return true
        default: return false
        }
    }

    static let byName: [String: Variable] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.name, $0) })

    /// The functions the language has.
    static let functions = ["min", "max"]
}
