import QBalloonCore

/// A loaded and fully validated config file: daemon settings, the host reserve, per-VM limits and the rules,
/// compiled. Build one with ``QBalloonConfig/load(path:)`` or ``QBalloonConfig/parse(_:file:)``.
///
/// ```swift
/// let config = try QBalloonConfig.load(path: "/etc/qballoon.toml")     // throws ConfigErrors
/// let engine = DecisionEngine(config: config)
/// ```
public struct QBalloonConfig: Sendable {
    /// The file it was read from, as given.
    public let file: String
    public var daemon: DaemonSettings
    public var host: HostSettings
    /// `[defaults]`, over the built-in defaults.
    public var defaults: VMSettings
    /// `[[vm]]` entries in file order, each with its effective settings (its own over `[defaults]`).
    public var vms: [VMEntry]
    /// `[[rule]]` entries in file order: the first whose `when` holds sets the target.
    public var rules: [Rule]
    /// Every pressure condition: `[defaults]`'s first, then each `[[vm]]` override.
    let pressures: [CompiledExpression]
    /// Slots in the evaluation frame: the variables, then every `for` condition.
    let frameSize: Int
}

/// `[daemon]`: how the daemon runs.
public struct DaemonSettings: Sendable, Hashable {
    /// Stats polling and decision period.
    public var interval: Duration = .seconds(2)
    /// Decide and log, but never change a balloon.
    public var dryRun = false
    /// Where the Prometheus metrics endpoint listens (`HOST:PORT`); nil: none.
    public var metricsListen: Endpoint?
    /// A JSON-lines file for every decision; nil: none.
    public var decisionLog: String?
    /// The decision log's largest size: past it, the file moves to `PATH.1` (replacing the one before) and a
    /// new one starts.
    public var decisionLogMax: UInt64 = 64 << 20
    /// Give every guest its max back on shutdown.
    public var restoreOnExit = false
    /// The guest's statistics polling period (`guest-stats-polling-interval`, whole seconds); default: interval.
    public var statsInterval: Duration = .seconds(2)
    /// Statistics older than this are stale: a guest with stale statistics is never shrunk. Default: 3 intervals.
    public var staleAfter: Duration = .seconds(6)
    /// How long QEMU may take to answer a command.
    public var commandTimeout: Duration = .seconds(10)
    /// The control socket (`qballoon vms`, `pin`, `top`...): a unix socket path; nil: none (`control_socket = "off"`).
    public var controlSocket: String? = DaemonSettings.defaultControlSocket
    /// The group whose members may use the control socket (mode 0660); nil: the daemon's user only (0600).
    public var controlGroup: String?
    /// Where pins and pauses are kept across restarts.
    public var stateDirectory = DaemonSettings.defaultStateDirectory
    /// Record every VM into a trace per day here (`record_dir`); nil: no recording.
    public var recordDirectory: String?
    /// The most bytes of traces `record_dir` holds: past it, the oldest days' files are dropped.
    public var recordMaxBytes: UInt64 = 1 << 30

    public static let defaultControlSocket = "/run/qballoon/control.sock"
    public static let defaultStateDirectory = "/var/lib/qballoon"

    public init() {}
}

/// `[host]`: what the host keeps for itself.
public struct HostSettings: Sendable, Hashable {
    /// Never let the host's MemAvailable fall below this; a percentage is of the host's MemTotal.
    public var reserve: MemorySize = .percentOfMax(10)
    /// The idle-memory tax (0 ≤ tax < 1, VMware ESX's default 0.75): idle memory costs 1/(1-tax) times as
    /// much as used memory when the host reclaims, so VMs that hoard idle memory give first.
    public var idleTax = 0.75
    /// How far growth for a guest that needs memory (under pressure, or whose need is rising) may take the host's
    /// MemAvailable into the reserve; nothing takes it lower. Default: half of `reserve`.
    public var hardReserve: MemorySize?
    public var meminfoPath = "/proc/meminfo"
    public var pressurePath = "/proc/pressure/memory"

    public init() {}
}

/// How the daemon keeps a VM's monitor.
public enum ConnectMode: String, Sendable, Hashable, CaseIterable {
    /// One connection for the VM's lifetime (events arrive; the monitor is busy for others).
    case persistent
    /// Connect for each poll and leave (another client can use the monitor in between).
    case perPoll = "per-poll"
}

/// A VM's limits and policy, as written: sizes may be percentages of the VM's RAM.
public struct VMSettings: Sendable, Hashable {
    /// The floor: the balloon never takes the guest below it.
    public var min: MemorySize = .percentOfMax(50)
    /// The ceiling (at most the VM's RAM).
    public var max: MemorySize = .percentOfMax(100)
    /// The largest shrink per interval.
    public var step: MemorySize = .bytes(256 << 20)
    /// The largest growth per interval (default: `step`).
    public var growStep: MemorySize = .bytes(256 << 20)
    /// The least time between two changes of this VM.
    public var cooldown: Duration = .seconds(10)
    /// Weight in host arbitration (Proxmox's default 1000); 0: first to give, last to get.
    public var shares = 1000
    /// Changes smaller than this are not made; never less than 16 MiB or 1% of max.
    public var deadband: MemorySize = .bytes(16 << 20)
    /// What "under pressure" means for this VM. A guest under pressure is never shrunk and is served first.
    public var pressure: String = VMSettings.defaultPressure
    /// Grow a guest under pressure by `grow_step` per interval even when no rule asks for it.
    public var growOnPressure = true
    /// After a stalled inflation, give the guest this much room above where it stopped (at least 64 MiB and the
    /// deadband; see ``StallRecovery``).
    public var giveBack: MemorySize = StallRecovery.defaultGiveBack
    /// An inflation that has not moved for this long has stalled (default: 2 intervals, at least 2s).
    public var stallAfter: Duration = .seconds(4)
    /// After a stall, never target below where the guest stopped (plus give-back) for this long.
    public var stallHold: Duration = .seconds(600)
    /// The least room above the guest's use that a shrink leaves, and that growth keeps: the burst the guest absorbs
    /// before the daemon reacts. More while the need grows (its recent growth rate times the daemon's reaction
    /// time). A percentage is of the VM's RAM; never less than 64 MiB.
    public var headroom: MemorySize = .percentOfMax(15)
    /// A guest whose used memory grows faster than this (bytes per second) is never shrunk.
    public var needRising: Double = 1_048_576
    /// The growth rate (bytes per second) any guest may start at any moment without running short: the headroom
    /// covers it for the daemon's reaction time (a statistics period, an interval and a second).
    public var growthAllowance: Double = 40 * 1_048_576
    /// The window over which `used_rate` and `available_rate` are measured.
    public var trendWindow: Duration = .seconds(30)
    /// A guest that comes under pressure this soon after a shrink gets it undone at once.
    public var shrinkWatch: Duration = .seconds(30)
    /// After the guest was under pressure, it is not shrunk for this long.
    public var pressureHold: Duration = .seconds(120)
    /// No shrink leaves the guest less than the most it used within this window plus its headroom: a guest that
    /// freed memory lately may take it again at once (a batch job's next run). Zero: only its use now counts.
    public var peakWindow: Duration = .seconds(300)
    public var connect: ConnectMode = .persistent
    /// Index of the compiled pressure condition in the config.
    package var pressureIndex = 0

    public static let defaultPressure = "available < 10% of actual or major_faults_rate > 50"

    public init() {}

    /// The limits in bytes and seconds for a VM with `ramBytes` of RAM.
    public func resolve(ramBytes: UInt64) -> VMLimits {
        // Whole 4 KiB pages, as QEMU counts them: min rounds up, max down.
        let maxBytes = Swift.min(max.bytes(ofMax: ramBytes), ramBytes) / 4096 * 4096
        let minBytes = BalloonPages.roundUp(Swift.min(min.bytes(ofMax: ramBytes), maxBytes))
        let deadbandBytes = Swift.max(deadband.bytes(ofMax: ramBytes), 16 << 20, maxBytes / 100)
        let giveBackBytes = StallRecovery.giveBack(giveBack, ramBytes: ramBytes, atLeast: deadbandBytes)
        var limits = VMLimits(
            min: minBytes, max: maxBytes, step: Swift.max(step.bytes(ofMax: ramBytes) / 4096 * 4096, 4096),
            growStep: Swift.max(growStep.bytes(ofMax: ramBytes) / 4096 * 4096, 4096), deadband: deadbandBytes,
            giveBack: giveBackBytes, cooldown: cooldown.seconds, stallAfter: stallAfter.seconds,
            stallHold: stallHold.seconds, shares: shares, growOnPressure: growOnPressure, pressure: pressureIndex)
        limits.headroom = BalloonPages.roundUp(Swift.max(headroom.bytes(ofMax: ramBytes), VMLimits.minimumHeadroom))
        limits.needRising = needRising
        limits.growthAllowance = growthAllowance
        limits.trendWindow = trendWindow.seconds
        limits.shrinkWatch = shrinkWatch.seconds
        limits.pressureHold = pressureHold.seconds
        limits.peakWindow = peakWindow.seconds
        return limits
    }
}

/// A VM's limits resolved against its RAM: what the engine works with.
public struct VMLimits: Sendable, Hashable {
    public var min: UInt64
    public var max: UInt64
    public var step: UInt64
    public var growStep: UInt64
    public var deadband: UInt64
    public var giveBack: UInt64
    public var cooldown: Double
    public var stallAfter: Double
    public var stallHold: Double
    public var shares: Int
    public var growOnPressure: Bool
    /// Index of the pressure condition in the config.
    public var pressure: Int
    /// The least room above the guest's use (bytes) a shrink leaves and growth keeps.
    public var headroom: UInt64 = 64 << 20
    /// Bytes per second of growth of the used memory above which the guest is never shrunk.
    public var needRising: Double = 1_048_576
    /// Bytes per second of growth the headroom covers for the daemon's reaction time, whatever the guest did lately.
    public var growthAllowance: Double = 41_943_040
    /// Seconds over which the need's rates are measured.
    public var trendWindow: Double = 30
    /// Seconds after a shrink during which pressure undoes it.
    public var shrinkWatch: Double = 30
    /// Seconds after pressure during which the guest is not shrunk.
    public var pressureHold: Double = 120
    /// Seconds over which the most the guest used bounds shrinks (0: only its use now).
    public var peakWindow: Double = 300

    /// The headroom is never less than this.
    public static let minimumHeadroom: UInt64 = 64 << 20

    public init(
        min: UInt64, max: UInt64, step: UInt64, growStep: UInt64, deadband: UInt64, giveBack: UInt64,
        cooldown: Double, stallAfter: Double, stallHold: Double, shares: Int, growOnPressure: Bool, pressure: Int = 0
    ) {
        self.min = min
        self.max = max
        self.step = step
        self.growStep = growStep
        self.deadband = deadband
        self.giveBack = giveBack
        self.cooldown = cooldown
        self.stallAfter = stallAfter
        self.stallHold = stallHold
        self.shares = shares
        self.growOnPressure = growOnPressure
        self.pressure = pressure
    }
}

/// A `[[vm]]` entry: one monitor socket, or a glob of them; or domains of a libvirt connection (`libvirt`, with one
/// domain name or a glob over names).
public struct VMEntry: Sendable, Hashable {
    /// The name given, or nil for a glob (each VM is then named after its socket's file stem, or its domain).
    public var name: String?
    /// The `qmp` value as written; empty for a libvirt entry.
    public var qmp: String
    /// For a libvirt entry: the connection's URI (`qemu:///system`); nil for a QMP entry.
    public var libvirt: String?
    /// For a libvirt entry: a domain name, or a glob over the running domains' names (`*` when not given).
    public var domain: String?
    /// The address, for a single monitor; nil for a glob.
    public var address: Endpoint?
    /// The socket path pattern, for a glob (`/run/qemu/*.qmp`).
    public var socketGlob: String?
    /// Effective settings: the entry's own over `[defaults]`.
    public var settings: VMSettings
    /// Line of the `[[vm]]` header.
    public var line: Int

    /// A libvirt entry's domain glob (nil for one domain name, or a QMP entry): its VMs are the running domains
    /// whose names match.
    public var domainGlob: String? {
        guard libvirt != nil, let domain, Glob.isPattern(domain) else { return nil }
        return domain
    }

    /// Whether the libvirt domain called `name` is one this entry covers.
    public func matches(domain name: String) -> Bool {
        guard libvirt != nil, let domain else { return false }
        return Glob.isPattern(domain) ? Glob(domain).matches(name) : domain == name
    }

    /// What the entry reaches, as the config says it: the `qmp` value, or `libvirt URI domain NAME`.
    public var target: String {
        guard let libvirt else { return qmp }
        return "\(libvirt) domain \(domain ?? "*")"
    }

    /// Whether `path` is a socket this entry covers (for a glob entry).
    public func matches(socketPath path: String) -> Bool {
        guard libvirt == nil else { return false }
        guard let socketGlob else { return address?.unixPath == path }
        return Glob(socketGlob).matches(path)
    }

    /// The VM's name for a socket: the given name, or the socket's file name without its extension.
    public func vmName(socketPath path: String) -> String {
        if let name { return name }
        return Self.fileStem(path)
    }

    /// Why `name` cannot be a VM's name (VM names go into URLs, metric labels and file names), or nil when it can.
    public static func nameProblem(_ name: String) -> String? {
        ConfigLoader.nameProblem(name)
    }

    static func fileStem(_ path: String) -> String {
        var base = path.split(separator: "/").last.map(String.init) ?? path
        if let dot = base.lastIndex(of: "."), dot != base.startIndex { base = String(base[..<dot]) }
        return base
    }
}

/// A `[[rule]]`: when its condition holds, it gives the VM's desired target.
public struct Rule: Sendable {
    public let name: String
    /// The condition (type bool).
    public let when: CompiledExpression
    /// The desired target (type bytes).
    public let set: CompiledExpression
    /// VM name globs the rule applies to; empty: every VM.
    public let vms: [String]
    /// Line of the `[[rule]]` header.
    public let line: Int

    /// Whether the rule applies to the VM called `name`.
    public func applies(to name: String) -> Bool { vms.isEmpty || vms.contains { Glob($0).matches(name) } }
}
