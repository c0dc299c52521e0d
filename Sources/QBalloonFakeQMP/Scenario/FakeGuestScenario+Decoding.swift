import QBalloonCore
import QBalloonJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension FakeGuestScenario {
    /// Reads a scenario file (format: `Fixtures/scenarios/README.md`).
    /// - Parameter path: the file; its name without `.json` becomes the scenario's ``name`` unless it sets one.
    /// - Throws: ``FakeScenarioError`` naming the file and the field at fault.
    public static func load(path: String) throws(FakeScenarioError) -> FakeGuestScenario {
        let bytes = try readFile(path)
        let json: JSON
        do {
            json = try JSON.decode(bytes)
        } catch {
            throw FakeScenarioError(file: path, field: "", reason: "not valid JSON: \(error)")
        }
        var baseName = path.split(separator: "/").last.map(String.init) ?? path
        if baseName.hasSuffix(".json") { baseName.removeLast(5) }
        return try FakeGuestScenario(json: json, source: path, defaultName: baseName)
    }

    /// Reads a scenario from decoded JSON.
    /// - Parameters:
    ///   - json: the scenario object.
    ///   - source: where it came from, for error messages.
    ///   - defaultName: the ``name`` when the object has none.
    /// - Throws: ``FakeScenarioError`` naming `source` and the field at fault.
    public init(json: JSON, source: String, defaultName: String = "custom") throws(FakeScenarioError) {
        let reader = ScenarioReader(file: source)
        let root = try reader.object(json, at: "")
        try reader.allowOnly(
            ["name", "description", "ram", "startPaused", "balloon", "guest", "workload", "faults"], in: root, at: "")
        self.init()
        name = try reader.string(root["name"], at: "name") ?? defaultName
        ram = try reader.size(root["ram"], at: "ram") ?? ram
        guard ram >= 1 << 20 else {
            throw reader.error("ram", "must be at least 1MiB, got \(MemorySize.format(ram))")
        }
        startPaused = try reader.bool(root["startPaused"], at: "startPaused") ?? false
        if let balloonJSON = root["balloon"] {
            let object = try reader.object(balloonJSON, at: "balloon")
            try reader.allowOnly(["id", "speed", "deflateOnOOM", "freePageReporting"], in: object, at: "balloon")
            if let id = object["id"] {
                if id.isNull {
                    balloon.id = nil
                } else {
                    guard let text = id.stringValue, !text.isEmpty, !text.contains("/") else {
                        throw reader.error("balloon.id", "expected a device id like \"balloon0\" or null, got \(id)")
                    }
                    balloon.id = text
                }
            }
            balloon.speed = try reader.size(object["speed"], at: "balloon.speed") ?? balloon.speed
            balloon.deflateOnOOM = try reader.bool(object["deflateOnOOM"], at: "balloon.deflateOnOOM") ?? false
            balloon.freePageReporting =
                try reader.bool(object["freePageReporting"], at: "balloon.freePageReporting") ?? false
        }
        if let guestJSON = root["guest"] {
            guest = try Self.decodeGuest(guestJSON, reader: reader, ram: ram)
        }
        if let workloadJSON = root["workload"] {
            workload = try Self.decodeWorkload(workloadJSON, reader: reader)
        }
        if let faultsJSON = root["faults"] {
            faults = try FakeQMPFaults(json: faultsJSON, reader: reader, at: "faults")
        }
    }

    private static func decodeGuest(_ json: JSON, reader: ScenarioReader, ram: UInt64) throws(FakeScenarioError)
        -> Guest
    {
        let object = try reader.object(json, at: "guest")
        try reader.allowOnly(
            ["unfreeable", "shmem", "cache", "kernelReserved", "statsAtBoot", "unreportedStats", "minorFaultRate", "thrashRate"],
            in: object, at: "guest")
        var guest = Guest()
        guest.unfreeable = try reader.size(object["unfreeable"], at: "guest.unfreeable") ?? guest.unfreeable
        guest.shmem = try reader.size(object["shmem"], at: "guest.shmem") ?? guest.shmem
        guest.cache = try reader.size(object["cache"], at: "guest.cache") ?? guest.cache
        guest.kernelReserved = try reader.size(object["kernelReserved"], at: "guest.kernelReserved") ?? guest.kernelReserved
        guard guest.unfreeable + guest.shmem + guest.kernelReserved < ram else {
            throw reader.error(
                "guest.unfreeable", "unfreeable + shmem + kernelReserved must be less than ram (\(MemorySize.format(ram)))")
        }
        guest.statsAtBoot = try reader.bool(object["statsAtBoot"], at: "guest.statsAtBoot") ?? guest.statsAtBoot
        if let list = object["unreportedStats"] {
            guard let items = list.arrayValue else {
                throw reader.error("guest.unreportedStats", "expected a list of statistic names, got \(list.typeName)")
            }
            for (index, item) in items.enumerated() {
                guard let name = item.stringValue, FakeGuestStats.names.contains(name) else {
                    throw reader.error(
                        "guest.unreportedStats[\(index)]",
                        "expected one of \(FakeGuestStats.names.joined(separator: ", ")), got \(item)")
                }
                guest.unreportedStats.insert(name)
            }
        }
        guest.minorFaultRate =
            try reader.number(object["minorFaultRate"], at: "guest.minorFaultRate", minimum: 0) ?? guest.minorFaultRate
        guest.thrashRate =
            try reader.number(object["thrashRate"], at: "guest.thrashRate", minimum: 0) ?? guest.thrashRate
        return guest
    }

    private static func decodeWorkload(_ json: JSON, reader: ScenarioReader) throws(FakeScenarioError) -> FakeWorkload {
        let object = try reader.object(json, at: "workload")
        try reader.allowOnly(["points", "loop", "bursts"], in: object, at: "workload")
        guard let pointsJSON = object["points"] else { throw reader.error("workload.points", "missing") }
        guard let items = pointsJSON.arrayValue, !items.isEmpty else {
            throw reader.error("workload.points", "expected a non-empty list of {\"at\": SECONDS, \"used\": SIZE}")
        }
        var points: [FakeWorkload.Point] = []
        for (index, item) in items.enumerated() {
            let field = "workload.points[\(index)]"
            let point = try reader.object(item, at: field)
            try reader.allowOnly(["at", "used"], in: point, at: field)
            guard let at = try reader.number(point["at"], at: "\(field).at", minimum: 0) else {
                throw reader.error("\(field).at", "missing")
            }
            guard let used = try reader.size(point["used"], at: "\(field).used") else {
                throw reader.error("\(field).used", "missing")
            }
            if let previous = points.last, at <= previous.at {
                throw reader.error("\(field).at", "times must increase, but \(at) follows \(previous.at)")
            }
            points.append(FakeWorkload.Point(at: at, used: used))
        }
        let loop = try reader.bool(object["loop"], at: "workload.loop") ?? false
        if loop, (points.last?.at ?? 0) <= 0 {
            throw reader.error("workload.loop", "a looping workload needs a last point after 0 seconds")
        }
        var bursts: FakeWorkload.Bursts?
        if let burstsJSON = object["bursts"] {
            let burst = try reader.object(burstsJSON, at: "workload.bursts")
            try reader.allowOnly(["every", "length", "extra", "start", "ramp"], in: burst, at: "workload.bursts")
            guard let every = try reader.number(burst["every"], at: "workload.bursts.every", minimum: 0), every > 0
            else {
                throw reader.error("workload.bursts.every", "expected a number of seconds above 0")
            }
            guard let length = try reader.number(burst["length"], at: "workload.bursts.length", minimum: 0),
                length > 0, length <= every
            else {
                throw reader.error("workload.bursts.length", "expected seconds above 0 and at most 'every' (\(every))")
            }
            guard let extra = try reader.size(burst["extra"], at: "workload.bursts.extra") else {
                throw reader.error("workload.bursts.extra", "missing")
            }
            let start = try reader.number(burst["start"], at: "workload.bursts.start", minimum: 0) ?? 0
            let ramp = try reader.number(burst["ramp"], at: "workload.bursts.ramp", minimum: 0) ?? 0
            guard ramp * 2 <= length else {
                throw reader.error("workload.bursts.ramp", "must be at most half of 'length' (\(length / 2))")
            }
            bursts = FakeWorkload.Bursts(every: every, length: length, extra: extra, start: start, ramp: ramp)
        }
        return FakeWorkload(points: points, loop: loop, bursts: bursts)
    }

    private static func readFile(_ path: String) throws(FakeScenarioError) -> [UInt8] {
        guard let file = fopen(path, "rb") else {
            throw FakeScenarioError(file: path, field: "", reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if count > 0 { bytes.append(contentsOf: chunk[0..<count]) }
            if count < chunk.count { break }
            if bytes.count > 16 << 20 {
                throw FakeScenarioError(file: path, field: "", reason: "file is over 16 MiB; is it a scenario?")
            }
        }
        if ferror(file) != 0 {
            throw FakeScenarioError(file: path, field: "", reason: "read error: \(String(cString: strerror(errno)))")
        }
        return bytes
    }
}

extension FakeQMPFaults {
    init(json: JSON, reader: ScenarioReader, at field: String) throws(FakeScenarioError) {
        let object = try reader.object(json, at: field)
        try reader.allowOnly(
            [
                "noGreeting", "closeAfterCommands", "closeOn", "replyDelay", "delayOn", "hangOn", "garbageOn",
                "writeChunkSize", "noBalloonDevice", "noGuestStats", "qomListFlood", "oversizedOn", "deepOn",
                "eventFlood", "lie",
            ], in: object, at: field)
        self.init()
        noGreeting = try reader.bool(object["noGreeting"], at: "\(field).noGreeting") ?? false
        if let count = try reader.number(object["closeAfterCommands"], at: "\(field).closeAfterCommands", minimum: 0) {
            guard count == count.rounded(), count < 1e9 else {
                throw reader.error("\(field).closeAfterCommands", "expected a whole number of commands, got \(count)")
            }
            closeAfterCommands = Int(count)
        }
        closeOn = try reader.commandSet(object["closeOn"], at: "\(field).closeOn") ?? .none
        replyDelay = try reader.number(object["replyDelay"], at: "\(field).replyDelay", minimum: 0) ?? 0
        delayOn = try reader.commandSet(object["delayOn"], at: "\(field).delayOn") ?? .all
        hangOn = try reader.commandSet(object["hangOn"], at: "\(field).hangOn") ?? .none
        garbageOn = try reader.commandSet(object["garbageOn"], at: "\(field).garbageOn") ?? .none
        if let size = try reader.number(object["writeChunkSize"], at: "\(field).writeChunkSize", minimum: 1) {
            guard size == size.rounded(), size < 1e9 else {
                throw reader.error("\(field).writeChunkSize", "expected a whole number of bytes, got \(size)")
            }
            writeChunkSize = Int(size)
        }
        noBalloonDevice = try reader.bool(object["noBalloonDevice"], at: "\(field).noBalloonDevice") ?? false
        noGuestStats = try reader.bool(object["noGuestStats"], at: "\(field).noGuestStats") ?? false
        func count(_ key: String) throws(FakeScenarioError) -> Int? {
            guard let number = try reader.number(object[key], at: "\(field).\(key)", minimum: 0) else { return nil }
            guard number == number.rounded(), number <= 10_000_000 else {
                throw reader.error("\(field).\(key)", "expected a whole number up to 10000000, got \(number)")
            }
            return Int(number)
        }
        qomListFlood = try count("qomListFlood")
        eventFlood = try count("eventFlood")
        oversizedOn = try reader.commandSet(object["oversizedOn"], at: "\(field).oversizedOn") ?? .none
        deepOn = try reader.commandSet(object["deepOn"], at: "\(field).deepOn") ?? .none
        if let word = try reader.string(object["lie"], at: "\(field).lie") {
            guard let lie = FakeQMPLie(rawValue: word) else {
                throw reader.error(
                    "\(field).lie", "expected one of \(FakeQMPLie.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(word)\"")
            }
            self.lie = lie
        }
    }
}

/// Field readers that name the file and the field in every error.
struct ScenarioReader {
    let file: String

    func error(_ field: String, _ reason: String) -> FakeScenarioError {
        FakeScenarioError(file: file, field: field, reason: reason)
    }

    func object(_ json: JSON, at field: String) throws(FakeScenarioError) -> [String: JSON] {
        guard let members = json.objectValue else { throw error(field, "expected an object, got \(json.typeName)") }
        return members
    }

    func allowOnly(_ names: Set<String>, in object: [String: JSON], at field: String) throws(FakeScenarioError) {
        for key in object.keys.sorted() where !names.contains(key) {
            let path = field.isEmpty ? key : "\(field).\(key)"
            throw error(path, "unknown field (known: \(names.sorted().joined(separator: ", ")))")
        }
    }

    func string(_ json: JSON?, at field: String) throws(FakeScenarioError) -> String? {
        guard let json else { return nil }
        guard let text = json.stringValue else { throw error(field, "expected a string, got \(json.typeName)") }
        return text
    }

    func bool(_ json: JSON?, at field: String) throws(FakeScenarioError) -> Bool? {
        guard let json else { return nil }
        guard let flag = json.boolValue else { throw error(field, "expected true or false, got \(json)") }
        return flag
    }

    func number(_ json: JSON?, at field: String, minimum: Double) throws(FakeScenarioError) -> Double? {
        guard let json else { return nil }
        guard let number = json.doubleValue, number.isFinite else {
            throw error(field, "expected a number, got \(json.typeName)")
        }
        guard number >= minimum else { throw error(field, "must be at least \(minimum), got \(number)") }
        return number
    }

    /// A size: a string with a binary unit (`"300MiB"`) or a plain integer of bytes.
    func size(_ json: JSON?, at field: String) throws(FakeScenarioError) -> UInt64? {
        guard let json else { return nil }
        if let bytes = json.uint64Value { return bytes }
        guard let text = json.stringValue else {
            throw error(
                field, "expected a size like \"300MiB\" or \"2GiB\" (units B, KiB, MiB, GiB, TiB) or bytes, got \(json)")
        }
        do {
            return try MemorySize.bytes(parsing: text, allowingZero: true)
        } catch {
            throw self.error(field, "\(error): expected a size like \"300MiB\" or \"2GiB\" or bytes")
        }
    }

    /// `"all"`, `"none"` or a list of command names.
    func commandSet(_ json: JSON?, at field: String) throws(FakeScenarioError) -> FakeQMPCommandSet? {
        guard let json else { return nil }
        if let word = json.stringValue {
            switch word {
            case "all": return .all
            case "none": return FakeQMPCommandSet.none
            default: throw error(field, "expected \"all\", \"none\" or a list of command names, got \"\(word)\"")
            }
        }
        guard let items = json.arrayValue else {
            throw error(field, "expected \"all\", \"none\" or a list of command names, got \(json.typeName)")
        }
        var names: Set<String> = []
        for (index, item) in items.enumerated() {
            guard let name = item.stringValue, !name.isEmpty else {
                throw error("\(field)[\(index)]", "expected a command name, got \(item)")
            }
            names.insert(name)
        }
        return .only(names)
    }
}
