import QBalloonCore
import QBalloonJSON
import QBalloonRules

/// The operator's holds on the fleet, as a plain value: pins (a size, maybe until a time) and pauses (of single VMs,
/// or of the whole host). The control socket changes them; every round reads them; ``OperatorStateFile`` keeps them
/// across reloads and restarts.
public struct OperatorHolds: Sendable, Hashable {
    public struct Pin: Sendable, Hashable {
        /// Bytes, or a percentage of the VM's max.
        public var size: MemorySize
        /// When it was set (Unix seconds).
        public var since: Double
        /// When it ends by itself (`for`); nil: when unpinned.
        public var until: Double?

        public init(size: MemorySize, since: Double, until: Double? = nil) {
            self.size = size
            self.since = since
            self.until = until
        }

        /// Its size in bytes for a VM whose max is `max` bytes.
        public func bytes(max: UInt64) -> UInt64 { size.bytes(ofMax: max) }
    }

    public var pins: [String: Pin] = [:]
    public var paused: Set<String> = []
    /// The whole host is paused: nothing is sent to any VM.
    public var hostPaused = false

    public init() {}

    /// Whether nothing is sent to `vm`.
    public func isPaused(_ vm: String) -> Bool { hostPaused || paused.contains(vm) }

    /// The engine's hold for `vm` whose max is `max` bytes: a pause wins over a pin (nothing is sent either way).
    public func hold(for vm: String, max: UInt64) -> OperatorHold? {
        if isPaused(vm) { return .paused }
        return pins[vm].map { .pinned($0.bytes(max: max)) }
    }

    /// Ends the pins whose time is up, and returns the names of their VMs.
    public mutating func expire(now: Double) -> [String] {
        let ended = pins.filter { ($0.value.until ?? .infinity) <= now }.keys.sorted()
        for name in ended { pins[name] = nil }
        return ended
    }

    public var isEmpty: Bool { pins.isEmpty && paused.isEmpty && !hostPaused }

    // MARK: The state file's form

    /// `{"version": 1, "host_paused": false, "paused": ["web"], "pins": {"db": {"bytes": 2147483648, "since": T, "until": T}}}`
    /// (a percentage pin has `"percent": 50` in place of `"bytes"`).
    public var json: JSON {
        var pinObjects: [String: JSON] = [:]
        for (name, pin) in pins {
            var object: [String: JSON] = ["since": .double(pin.since), "until": pin.until.map(JSON.double) ?? .null]
            switch pin.size {
            case .bytes(let bytes): object["bytes"] = .unsigned(bytes)
            case .percentOfMax(let percent): object["percent"] = .double(percent)
            }
            pinObjects[name] = .object(object)
        }
        return [
            "version": 1,
            "host_paused": .bool(hostPaused),
            "paused": .array(paused.sorted().map(JSON.string)),
            "pins": .object(pinObjects),
        ]
    }

    /// At most this many VMs held: a state file listing more is not ours.
    static let maxEntries = 100_000

    /// Reads the state file's form; throws a one-line reason for anything else.
    public init(json: JSON) throws(OperatorStateError) {
        guard case .object(let top) = json else { throw OperatorStateError("not a JSON object") }
        guard top["version"]?.int64Value == 1 else { throw OperatorStateError("unknown version \(top["version"].map { "\($0)" } ?? "(none)")") }
        func name(_ text: String) throws(OperatorStateError) -> String {
            guard !text.isEmpty, text.utf8.count <= 255 else { throw OperatorStateError("a VM name of \(text.utf8.count) bytes") }
            return text
        }
        if let host = top["host_paused"] {
            guard let paused = host.boolValue else { throw OperatorStateError("host_paused is not true or false") }
            hostPaused = paused
        }
        if let list = top["paused"] {
            guard let names = list.arrayValue, names.count <= Self.maxEntries else { throw OperatorStateError("paused is not a list of VM names") }
            for entry in names {
                guard let text = entry.stringValue else { throw OperatorStateError("paused holds a \(entry.typeName), not a VM name") }
                paused.insert(try name(text))
            }
        }
        if let pinList = top["pins"] {
            guard let objects = pinList.objectValue, objects.count <= Self.maxEntries else { throw OperatorStateError("pins is not an object of VM names") }
            for (vm, entry) in objects {
                let vm = try name(vm)
                guard let since = entry["since"]?.doubleValue, since.isFinite else { throw OperatorStateError("the pin of \(vm) has no time") }
                var until: Double?
                if let end = entry["until"], !end.isNull {
                    guard let value = end.doubleValue, value.isFinite else { throw OperatorStateError("the pin of \(vm) has a bad end time") }
                    until = value
                }
                let size: MemorySize
                if let bytes = entry["bytes"]?.uint64Value, bytes > 0 {
                    size = .bytes(bytes)
                } else if let percent = entry["percent"]?.doubleValue, percent > 0, percent <= 100 {
                    size = .percentOfMax(percent)
                } else {
                    throw OperatorStateError("the pin of \(vm) has no size (bytes, or a percent from 0 to 100)")
                }
                pins[vm] = Pin(size: size, since: since, until: until)
            }
        }
    }
}

public struct OperatorStateError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
