import QBalloonCore
import QBalloonJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// What the control API's JSON says, read once into values the CLI's views (`vms`, `explain`, `top`) format.
// Reading is lenient: a figure missing or of the wrong type is unknown (nil), never an error, so an older or
// newer daemon still shows what it can.

/// One VM as `GET /v1/vms` and the `round` events describe it.
struct VMView: Sendable, Hashable {
    var name: String
    var socket: String?
    /// `ok`, `connecting`, `unreachable`, `no_balloon`, `quarantined`, `no_stats`, `stale_stats`, `paused`, `pinned`.
    var state: String
    /// The state in words (`unreachable: connection refused`).
    var status: String?
    var actual: UInt64?
    var target: UInt64?
    var ram: UInt64?
    var max: UInt64?
    var min: UInt64?
    var available: UInt64?
    var used: UInt64?
    var statsAge: Double?
    var pressured: Bool
    var stalled: Bool
    /// Paused, by itself or with the whole host.
    var paused: Bool
    var pin: PinView?
    var lastDecision: DecisionView?
    var lastChange: DecisionView?

    init(
        name: String, socket: String? = nil, state: String = "ok", status: String? = nil, actual: UInt64? = nil,
        target: UInt64? = nil, ram: UInt64? = nil, max: UInt64? = nil, min: UInt64? = nil, available: UInt64? = nil,
        used: UInt64? = nil, statsAge: Double? = nil, pressured: Bool = false, stalled: Bool = false,
        paused: Bool = false, pin: PinView? = nil, lastDecision: DecisionView? = nil, lastChange: DecisionView? = nil
    ) {
        self.name = name
        self.socket = socket
        self.state = state
        self.status = status
        self.actual = actual
        self.target = target
        self.ram = ram
        self.max = max
        self.min = min
        self.available = available
        self.used = used
        self.statsAge = statsAge
        self.pressured = pressured
        self.stalled = stalled
        self.paused = paused
        self.pin = pin
        self.lastDecision = lastDecision
        self.lastChange = lastChange
    }

    init(_ json: JSON) {
        self.init(
            name: json["name"]?.stringValue ?? "?", socket: json["socket"]?.stringValue,
            state: json["state"]?.stringValue ?? "unknown", status: json["status"]?.stringValue,
            actual: json["actual"]?.uint64Value, target: json["target"]?.uint64Value, ram: json["ram"]?.uint64Value,
            max: json["max"]?.uint64Value, min: json["min"]?.uint64Value, available: json["available"]?.uint64Value,
            used: json["used"]?.uint64Value, statsAge: json["stats_age"]?.doubleValue,
            pressured: json["pressured"]?.boolValue ?? false, stalled: json["stalled"]?.boolValue ?? false,
            paused: json["paused"]?.boolValue ?? false, pin: json["pin"].flatMap(PinView.init),
            lastDecision: json["last_decision"].flatMap(DecisionView.init),
            lastChange: json["last_change"].flatMap(DecisionView.init))
    }

    /// The rule (or the reason, when no rule decided) of the last decision: what the `LAST RULE` columns show.
    var lastRule: String? {
        guard let decision = lastDecision else { return nil }
        return decision.rule ?? decision.reason
    }

    /// Whether the state is a problem (anything but ok, paused or pinned).
    var isProblem: Bool { !["ok", "paused", "pinned"].contains(state) }
}

/// An operator's pin on a VM.
struct PinView: Sendable, Hashable {
    /// As the operator wrote it: `1GiB`, `50%`.
    var size: String
    var bytes: UInt64?
    var since: Double?
    var until: Double?

    init(size: String, bytes: UInt64? = nil, since: Double? = nil, until: Double? = nil) {
        self.size = size
        self.bytes = bytes
        self.since = since
        self.until = until
    }

    init?(_ json: JSON) {
        guard let size = json["size"]?.stringValue else { return nil }
        self.init(
            size: size, bytes: json["bytes"]?.uint64Value, since: json["since"]?.doubleValue,
            until: json["until"]?.doubleValue)
    }
}

/// One decision of the engine about a VM.
struct DecisionView: Sendable, Hashable {
    var time: Double?
    var from: UInt64?
    var to: UInt64?
    var wanted: UInt64?
    var reason: String?
    var rule: String?
    /// The figures it saw, as text (`available=1.2 GiB`).
    var figures: [String]
    /// The limits that changed what the rule wanted (`step: at most 256 MiB`).
    var adjustments: [String]
    var pressured: Bool
    /// The one-line description (`db: 4 GiB -> 3.75 GiB, rule "x" wanted ...`).
    var text: String?

    init(
        time: Double? = nil, from: UInt64? = nil, to: UInt64? = nil, wanted: UInt64? = nil, reason: String? = nil,
        rule: String? = nil, figures: [String] = [], adjustments: [String] = [], pressured: Bool = false,
        text: String? = nil
    ) {
        self.time = time
        self.from = from
        self.to = to
        self.wanted = wanted
        self.reason = reason
        self.rule = rule
        self.figures = figures
        self.adjustments = adjustments
        self.pressured = pressured
        self.text = text
    }

    init?(_ json: JSON) {
        guard json.objectValue != nil else { return nil }
        self.init(
            time: json["time"]?.doubleValue, from: json["from"]?.uint64Value, to: json["to"]?.uint64Value,
            wanted: json["wanted"]?.uint64Value, reason: json["reason"]?.stringValue, rule: json["rule"]?.stringValue,
            figures: json["figures_text"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            adjustments: json["adjustments"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            pressured: json["pressured"]?.boolValue ?? false, text: json["text"]?.stringValue)
    }

    /// Whether it changed the balloon.
    var changes: Bool { to != nil && to != from }
}

/// The host as `GET /v1/host` and the `round` events describe it.
struct HostView: Sendable, Hashable {
    var time: Double?
    var total: UInt64?
    var available: UInt64?
    var reserve: UInt64?
    /// Memory the balloons hold back from the guests (sum of RAM - actual).
    var returned: UInt64?
    var vms: Int?
    /// VMs by state, as the daemon counts them.
    var states: [String: Int]
    /// The whole host paused.
    var paused: Bool
    var dryRun: Bool
    var interval: Double?
    var config: String?
    /// PSI memory pressure, `some` over 10 s (percent), if the kernel reports it.
    var psiSome10: Double?

    init(
        time: Double? = nil, total: UInt64? = nil, available: UInt64? = nil, reserve: UInt64? = nil,
        returned: UInt64? = nil, vms: Int? = nil, states: [String: Int] = [:], paused: Bool = false,
        dryRun: Bool = false, interval: Double? = nil, config: String? = nil, psiSome10: Double? = nil
    ) {
        self.time = time
        self.total = total
        self.available = available
        self.reserve = reserve
        self.returned = returned
        self.vms = vms
        self.states = states
        self.paused = paused
        self.dryRun = dryRun
        self.interval = interval
        self.config = config
        self.psiSome10 = psiSome10
    }

    init(_ json: JSON) {
        var states: [String: Int] = [:]
        for (state, count) in json["states"]?.objectValue ?? [:] {
            if let count = count.int64Value { states[state] = Int(count) }
        }
        self.init(
            time: json["time"]?.doubleValue, total: json["total"]?.uint64Value,
            available: json["available"]?.uint64Value, reserve: json["reserve"]?.uint64Value,
            returned: json["returned"]?.uint64Value, vms: json["vms"]?.int64Value.map { Int($0) }, states: states,
            paused: json["paused"]?.boolValue ?? false, dryRun: json["dry_run"]?.boolValue ?? false,
            interval: json["interval"]?.doubleValue, config: json["config"]?.stringValue,
            psiSome10: json["psi"]?["some_avg10"]?.doubleValue)
    }

    /// `9 ok, 1 paused, 1 unreachable`: ok first, then the rest by count.
    var statesText: String {
        let ordered = states.filter { $0.value > 0 }.sorted {
            if ($0.key == "ok") != ($1.key == "ok") { return $0.key == "ok" }
            return $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key
        }
        return ordered.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
    }
}

/// A round as `GET /v1/vms` and the `round` events carry it.
struct RoundView: Sendable, Hashable {
    var time: Double?
    var host: HostView
    var vms: [VMView]

    init(time: Double? = nil, host: HostView = HostView(), vms: [VMView] = []) {
        self.time = time
        self.host = host
        self.vms = vms
    }

    init(_ json: JSON) {
        self.init(
            time: json["time"]?.doubleValue, host: HostView(json["host"] ?? [:]),
            vms: json["vms"]?.arrayValue?.map(VMView.init) ?? [])
    }
}

/// Times as the views show them.
enum ClockText {
    /// `12:30:05`, local time.
    static func timeOfDay(_ time: Double) -> String {
        var seconds = time_t(time.rounded(.down))
        var parts = tm()
        localtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
    }

    /// `12:30:05 (3m ago)`; `(in 3m)` for a time to come.
    static func when(_ time: Double, now: Double) -> String {
        let delta = now - time
        let distance = DurationText.format(seconds: abs(delta), style: .approximate)
        return "\(timeOfDay(time)) (\(delta >= 0 ? "\(distance) ago" : "in \(distance)"))"
    }

    /// An age: `3s`, `5m`.
    static func age(_ seconds: Double) -> String {
        DurationText.format(seconds: max(0, seconds), style: .approximate)
    }
}
