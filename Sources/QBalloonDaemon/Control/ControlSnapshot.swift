#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import QBalloonCore
import QBalloonJSON
import QBalloonRules

/// What the daemon knew after its latest round, for the control socket: every VM with its facts, state, holds and
/// last decisions, and the host. Made from what a round already computed, the first time someone asks for that
/// round (``OperatorControls/snapshot``); turned into JSON only then too (README, "Control a running daemon", has
/// the fields).
package struct ControlSnapshot: Sendable {
    package struct Stamped: Sendable {
        package var time: Double
        package var decision: Decision
    }

    package struct VM: Sendable {
        package var name: String
        package var socket: String
        package var facts: VMFacts
        package var status: VMStatus
        package var verdict: VMVerdict?
        /// The config's limits resolved against its RAM, once its RAM is known.
        package var limits: VMLimits?
        package var pin: OperatorHolds.Pin?
        package var paused: Bool
        package var lastDecision: Stamped?
        package var lastChange: Stamped?
        /// Since an inflation stalled: the engine takes it no lower than this, until then (`stall_hold`).
        package var stallFloor: UInt64?
        package var stallFloorUntil: Double?

        /// The state shown: a problem first, then the operator's holds, else ok.
        package var state: String {
            if status != .ok { return status.label }
            if paused { return "paused" }
            if pin != nil { return "pinned" }
            return "ok"
        }
    }

    package var time: Double
    package var vms: [VM]
    package var host: HostSample
    package var reserve: UInt64
    package var hostPaused: Bool
    package var dryRun: Bool
    package var interval: Double
    package var configPath: String

    package func vm(_ name: String) -> VM? { vms.first { $0.name == name } }
    package var names: [String] { vms.map(\.name) }

    // MARK: JSON

    package var json: JSON { ["time": .double(Self.rounded(time)), "host": hostJSON, "vms": .array(vms.map(\.json))] }

    /// A `round` event of `/v1/events`.
    package var roundEvent: JSON {
        ["type": "round", "time": .double(Self.rounded(time)), "host": hostJSON, "vms": .array(vms.map(\.json))]
    }

    package var hostJSON: JSON {
        var returned: UInt64 = 0
        var states: [String: JSON] = [:]
        for vm in vms {
            if let ram = vm.facts.ramBytes, let actual = vm.facts.actual, ram > actual { returned += ram - actual }
            states[vm.state] = .int((states[vm.state]?.int64Value ?? 0) + 1)
        }
        let psi: JSON = host.pressure.map { pressure in
            [
                "some_avg10": .double(pressure.someAvg10), "some_avg60": .double(pressure.someAvg60),
                "full_avg10": pressure.fullAvg10.map(JSON.double) ?? .null,
                "full_avg60": pressure.fullAvg60.map(JSON.double) ?? .null,
            ]
        } ?? .null
        return [
            "time": .double(Self.rounded(time)),
            "total": Self.bytes(host.total), "available": Self.bytes(host.available), "free": Self.bytes(host.free),
            "reserve": .unsigned(reserve), "psi": psi, "returned": .unsigned(returned),
            "vms": .int(Int64(vms.count)), "states": .object(states), "paused": .bool(hostPaused),
            "dry_run": .bool(dryRun), "interval": .double(interval), "config": .string(configPath),
        ]
    }

    static func bytes(_ value: UInt64?) -> JSON { value.map(JSON.unsigned) ?? .null }
    static func rounded(_ time: Double) -> Double { (time * 1000).rounded() / 1000 }
}

extension ControlSnapshot.VM {
    package var json: JSON {
        let stats = facts.stats
        var pinJSON: JSON = .null
        if let pin {
            pinJSON = [
                "size": .string(pin.size.description.replacingSpaces),
                "bytes": limits.map { .unsigned(pin.bytes(max: $0.max)) } ?? (pin.size.fixedBytes.map(JSON.unsigned) ?? .null),
                "since": .double(ControlSnapshot.rounded(pin.since)),
                "until": pin.until.map { .double(ControlSnapshot.rounded($0)) } ?? .null,
            ]
        }
        var age: JSON = .null
        if case .stale(age: let seconds) = verdict?.stats { age = .double((seconds * 10).rounded() / 10) }
        if case .fresh(age: let seconds) = verdict?.stats { age = .double((seconds * 10).rounded() / 10) }
        return [
            "name": .string(name), "socket": .string(socket), "state": .string(state), "status": .string(statusText),
            "actual": ControlSnapshot.bytes(facts.actual), "target": ControlSnapshot.bytes(facts.lastTarget),
            "ram": ControlSnapshot.bytes(facts.ramBytes), "max": ControlSnapshot.bytes(limits?.max),
            "min": ControlSnapshot.bytes(limits?.min), "available": ControlSnapshot.bytes(stats?.available),
            "used": ControlSnapshot.bytes(stats?.used), "stats_age": age,
            "pressured": .bool(verdict?.pressured ?? false),
            "stalled": .bool(verdict?.inflationStalled == true || stallFloor != nil),
            "stall_floor": ControlSnapshot.bytes(stallFloor),
            "stall_until": stallFloorUntil.map { .double(ControlSnapshot.rounded($0)) } ?? .null,
            "paused": .bool(paused), "pin": pinJSON,
            "last_decision": lastDecision.map(\.json) ?? .null, "last_change": lastChange.map(\.json) ?? .null,
        ]
    }

    /// The state in words: the problem, the hold, or "ok"; and a stall the engine is holding for.
    package var statusText: String {
        if status != .ok { return status.description }
        var text = "ok"
        if paused {
            text = "paused: nothing is sent to it"
        } else if let pin {
            let size = limits.map { MemorySize.format(pin.bytes(max: $0.max)) } ?? pin.size.description
            text = "pinned to \(size)" + (pin.until.map { " until \(ClockText.utc($0))" } ?? "")
        }
        if let stallFloor {
            text += "; its last inflation stalled: not below \(MemorySize.format(stallFloor))"
                + (stallFloorUntil.map { " until \(ClockText.utc($0))" } ?? "")
        }
        return text
    }
}

extension ControlSnapshot.Stamped {
    package var json: JSON {
        let decision = self.decision
        return [
            "time": .double(ControlSnapshot.rounded(time)),
            "from": .unsigned(decision.from), "to": ControlSnapshot.bytes(decision.to),
            "wanted": ControlSnapshot.bytes(decision.wanted),
            "reason": .string("\(decision.reason)"), "rule": decision.reason.ruleName.map(JSON.string) ?? .null,
            "figures": DecisionLog.figures(of: decision), "figures_text": .array(decision.figures.map { .string($0.description) }),
            "adjustments": .array(decision.adjustments.map { .string($0.description) }),
            "pressured": .bool(decision.pressured), "text": .string(decision.description),
        ]
    }
}

extension MemorySize {
    /// The bytes of a size that is not a percentage.
    var fixedBytes: UInt64? {
        if case .bytes(let bytes) = self { return bytes }
        return nil
    }
}

extension String {
    /// "2 GiB" → "2GiB": the form a user types back.
    var replacingSpaces: String { String(filter { $0 != " " }) }
}

/// Times of day for messages and file names, in UTC (a daemon's journal and its operator may be in different zones).
package enum ClockText {
    /// `2026-12-02 12:30:00 UTC`
    package static func utc(_ time: Double) -> String {
        let parts = Self.parts(time)
        return "\(day(parts)) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }

    /// `2026-12-02`: the UTC day of `time`.
    package static func utcDay(_ time: Double) -> String { day(parts(time)) }

    private static func parts(_ time: Double) -> tm {
        var seconds = time_t(time.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return parts
    }

    private static func day(_ parts: tm) -> String { "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))" }

    private static func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
