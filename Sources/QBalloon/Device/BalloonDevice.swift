import DequeModule
import QBalloonCore
import QBalloonJSON
import QBalloonQMP

/// The virtio-balloon device of one VM, reached over its QMP connection.
///
/// ```swift
/// let client = try await QMPClient.connect(to: Endpoint("/run/qemu/db.qmp"))
/// let balloon = try await BalloonDevice.find(on: client)
/// let outcome = try await balloon.setTarget(2 << 30, waiting: .init(timeout: .seconds(60)))
/// ```
public struct BalloonDevice: Sendable, BalloonControl {
    public let client: QMPClient
    /// The device's QOM path, e.g. `/machine/peripheral/balloon0` or `/machine/peripheral-anon/device[0]`.
    public let path: String
    /// The two commands every poll sends, made once.
    private let queryBalloon = QMPCommand("query-balloon")
    private let getGuestStats: QMPCommand

    public init(client: QMPClient, path: String) {
        self.client = client
        self.path = path
        self.getGuestStats = QMPCommand("qom-get", arguments: ["path": .string(path), "property": "guest-stats"])
    }

    private var address: String { "\(client.address)" }

    /// How far ``find(on:)`` looks for a balloon that is not where `-device` puts it. A real machine's QOM tree
    /// has a few hundred objects, the widest listing (`/machine/unattached`) a few hundred entries; a monitor
    /// that answers with more is not QEMU as we know it, and the search stops there with `badReply`.
    public struct SearchLimits: Sendable, Hashable {
        /// Objects listed (one `qom-list` each).
        public var objects: Int
        /// Objects waiting to be listed.
        public var queue: Int
        /// Entries in one listing.
        public var entries: Int

        public init(objects: Int = 512, queue: Int = 2048, entries: Int = 4096) {
            self.objects = objects
            self.queue = queue
            self.entries = entries
        }
    }

    /// Finds the balloon device, whether or not `-device virtio-balloon-*` was given an id.
    /// - Throws: ``BalloonError`` `noDevice` when the VM has none, `badReply` when the monitor's QOM tree goes
    ///   beyond `limits`; ``QMPError`` when QMP fails.
    public static func find(on client: QMPClient, limits: SearchLimits = SearchLimits()) async throws -> BalloonDevice {
        for container in ["/machine/peripheral", "/machine/peripheral-anon"] {
            if let path = try await balloonChild(of: container, client: client, limits: limits) {
                return BalloonDevice(client: client, path: path)
            }
        }
        // Not where -device puts it. Tell "no balloon" apart from "somewhere else" before searching.
        do {
            _ = try await client.execute("query-balloon")
        } catch let error as QMPError where error.serverError?.errorClass == "DeviceNotActive" {
            throw noDevice(client)
        }
        // Breadth first, each listing at most once, within the limits.
        var queue: Deque<String> = ["/machine"]
        var listed = 0
        while let parent = queue.popFirst() {
            guard listed < limits.objects else {
                throw tooLarge(client, "listed \(listed) QOM objects without finding the balloon device (limit \(limits.objects))")
            }
            listed += 1
            for (name, type) in try await children(of: parent, client: client, limits: limits) {
                let child = parent == "/" ? "/\(name)" : "\(parent)/\(name)"
                if type.hasPrefix("child<virtio-balloon") { return BalloonDevice(client: client, path: child) }
                guard type.hasPrefix("child<") else { continue }
                guard queue.count < limits.queue else {
                    throw tooLarge(client, "more than \(limits.queue) QOM objects waiting to be listed under \(parent) (limit \(limits.queue))")
                }
                queue.append(child)
            }
        }
        throw noDevice(client)
    }

    private static func noDevice(_ client: QMPClient) -> BalloonError {
        BalloonError(
            code: .noDevice, address: "\(client.address)",
            detail: "this VM has no balloon device (start QEMU with -device virtio-balloon-pci)")
    }

    private static func tooLarge(_ client: QMPClient, _ detail: String) -> BalloonError {
        BalloonError(code: .badReply, address: "\(client.address)", detail: "QOM tree too large: \(detail)")
    }

    private static func balloonChild(of container: String, client: QMPClient, limits: SearchLimits) async throws -> String? {
        let entries = try await children(of: container, client: client, limits: limits)
        // Prefer the proxy (virtio-balloon-pci, -ccw) the user added over its backend device.
        let balloons = entries.filter { $0.type.hasPrefix("child<virtio-balloon") }
        guard let chosen = balloons.first(where: { !$0.type.hasSuffix("-device>") }) ?? balloons.first else { return nil }
        return "\(container)/\(chosen.name)"
    }

    private static func children(
        of path: String, client: QMPClient, limits: SearchLimits
    ) async throws -> [(name: String, type: String)] {
        let listing: JSON
        do {
            listing = try await client.execute("qom-list", arguments: ["path": .string(path)])
        } catch let error as QMPError where error.serverError?.errorClass == "DeviceNotFound" {
            return []  // QEMU creates /machine/peripheral-anon only once a device needs it.
        }
        guard let entries = listing.arrayValue else {
            throw BalloonError(code: .badReply, address: "\(client.address)", detail: "qom-list \(path) did not return a list")
        }
        guard entries.count <= limits.entries else {
            throw tooLarge(client, "qom-list \(path) returned \(entries.count) entries (limit \(limits.entries))")
        }
        return entries.compactMap { entry in
            guard let name = entry["name"]?.stringValue, let type = entry["type"]?.stringValue else { return nil }
            return (name, type)
        }
    }

    // MARK: Reading

    /// The guest's current size: RAM minus what it has given back so far (not the target).
    nonisolated(nonsending) public func actual() async throws -> UInt64 {
        try actual(in: try await run(queryBalloon))
    }

    private func actual(in reply: JSON) throws(BalloonError) -> UInt64 {
        guard let actual = reply["actual"]?.uint64Value else {
            throw BalloonError(code: .badReply, address: address, detail: "query-balloon returned no 'actual': \(BalloonError.excerpt(reply))")
        }
        return actual
    }

    /// Reads the guest's statistics and, when asked, `actual`, as ``stats()`` and ``actual()`` do, without a task:
    /// `done` is called once, on the connection's event loop, with the same values or errors. What a daemon that
    /// polls many VMs from their event loops calls (``QMPClient/onEventLoop(_:)``).
    package func read(
        includingActual: Bool, done: @escaping @Sendable (Result<(actual: UInt64?, stats: GuestStats), any Error>) -> Void
    ) {
        guard includingActual else {
            readStats(actual: nil, done: done)
            return
        }
        client.send(queryBalloon) { [self] reply in
            switch reply {
            case .success(let value):
                do throws(BalloonError) {
                    readStats(actual: try actual(in: value), done: done)
                } catch {
                    done(.failure(error))
                }
            case .failure(let error):
                done(.failure(Self.balloonError(error, client)))
            }
        }
    }

    private func readStats(
        actual: UInt64?, done: @escaping @Sendable (Result<(actual: UInt64?, stats: GuestStats), any Error>) -> Void
    ) {
        // The closure keeps the client only (for the address of an error), not a copy of the device.
        client.send(getGuestStats) { [client] (reply: Result<JSONNode, QMPError>) in
            switch reply {
            case .success(let value):
                do throws(BalloonError) {
                    done(.success((actual, try GuestStats(qomNode: value, address: "\(client.address)"))))
                } catch {
                    done(.failure(error))
                }
            case .failure(let error):
                done(.failure(error))
            }
        }
    }

    /// The VM's RAM: base memory plus hot-plugged memory. The balloon can never go above it.
    public func maxBytes() async throws -> UInt64 {
        let reply = try await client.execute("query-memory-size-summary")
        guard let base = reply["base-memory"]?.uint64Value else {
            throw BalloonError(
                code: .badReply, address: address, detail: "query-memory-size-summary returned no 'base-memory': \(BalloonError.excerpt(reply))")
        }
        let (total, overflow) = base.addingReportingOverflow(reply["plugged-memory"]?.uint64Value ?? 0)
        guard !overflow else {
            throw BalloonError(
                code: .badReply, address: address, detail: "query-memory-size-summary: base and plugged memory overflow: \(BalloonError.excerpt(reply))")
        }
        return total
    }

    /// How often the guest is asked for statistics, in seconds; 0 when polling is off.
    public func pollingInterval() async throws -> Int {
        let reply = try await qomGet("guest-stats-polling-interval")
        guard let seconds = reply.int64Value else {
            throw BalloonError(
                code: .badReply, address: address, detail: "guest-stats-polling-interval is \(reply.typeName), expected an integer")
        }
        return Int(seconds)
    }

    /// Asks the guest for statistics every `seconds` (0 turns polling off).
    public func setPollingInterval(seconds: Int) async throws {
        guard seconds >= 0 else {
            throw BalloonError(code: .badTarget, address: address, detail: "the polling interval cannot be negative")
        }
        _ = try await client.execute(
            "qom-set",
            arguments: [
                "path": .string(path), "property": "guest-stats-polling-interval", "value": .int(Int64(seconds)),
            ])
    }

    /// The device's safety-net features: whether the guest may take memory back from the balloon when it would
    /// otherwise run out (`deflate-on-oom`), and whether it reports free pages to the host (`free-page-reporting`).
    /// Each is nil when this QEMU has no such property.
    public func features() async throws -> BalloonFeatures {
        func flag(_ name: String) async throws -> Bool? {
            do {
                return try await qomGet(name).boolValue
            } catch let error as QMPError where error.code == .commandFailed {
                return nil
            }
        }
        return BalloonFeatures(deflateOnOOM: try await flag("deflate-on-oom"), freePageReporting: try await flag("free-page-reporting"))
    }

    /// Throws `badReply` when figures read from this VM cannot be true (``Plausibility``), so that they are never
    /// shown or used as if they were.
    public func checkPlausible(actual: UInt64?, stats: GuestStats?, previous: GuestStats? = nil, ramBytes: UInt64) throws {
        if let lie = Plausibility.check(actual: actual, stats: stats, previous: previous, ramBytes: ramBytes) {
            throw BalloonError(code: .badReply, address: address, detail: "figures that cannot be true: \(lie)")
        }
    }

    /// The guest's last reported statistics. Unreported values are `nil`; a guest that never reported
    /// has `lastUpdate == nil`.
    nonisolated(nonsending) public func stats() async throws -> GuestStats {
        try GuestStats(qomValue: try await client.execute(getGuestStats), address: address)
    }

    nonisolated(nonsending) private func qomGet(_ property: String) async throws -> JSON {
        try await client.execute("qom-get", arguments: ["path": .string(path), "property": .string(property)])
    }

    // MARK: Changing

    /// Asks the guest to give back or take memory until it has `bytes`; returns at once.
    public func setTarget(_ bytes: UInt64) async throws {
        guard bytes > 0, bytes <= UInt64(Int64.max) else {
            throw BalloonError(code: .badTarget, address: address, detail: "target \(bytes) bytes is out of range")
        }
        _ = try await run(QMPCommand("balloon", arguments: ["value": .int(Int64(bytes))]))
    }

    /// How long ``setTarget(_:waiting:)`` follows the balloon.
    public typealias Wait = BalloonWait

    /// Runs a balloon command, turning QEMU's "no device" into ``BalloonError``.
    nonisolated(nonsending) private func run(_ command: QMPCommand) async throws -> JSON {
        do {
            return try await client.execute(command)
        } catch let error as QMPError {
            throw Self.balloonError(error, client)
        }
    }

    /// QEMU's "no device" as ``BalloonError``; any other error as it is.
    private static func balloonError(_ error: QMPError, _ client: QMPClient) -> any Error {
        error.serverError?.errorClass == "DeviceNotActive" ? noDevice(client) : error
    }
}

/// What the balloon device offers the guest besides the balloon itself.
public struct BalloonFeatures: Sendable, Hashable {
    /// `deflate-on-oom=on`: before the guest's OOM killer acts, the guest takes pages back from the balloon. The
    /// guest's own safety net when memory runs out faster than the daemon can give it back.
    public var deflateOnOOM: Bool?
    /// `free-page-reporting=on`: the guest tells the host which pages are free, so the host can drop them.
    public var freePageReporting: Bool?

    public init(deflateOnOOM: Bool?, freePageReporting: Bool?) {
        self.deflateOnOOM = deflateOnOOM
        self.freePageReporting = freePageReporting
    }
}
