import QBalloonCore
import TOMLKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension QBalloonConfig {
    /// Reads and validates a config file.
    /// - Throws: ``ConfigErrors`` with every error found, each with its file, line and column.
    public static func load(path: String) throws(ConfigErrors) -> QBalloonConfig {
        guard let text = TextFile.read(path) else {
            let reason = String(cString: strerror(errno))
            throw ConfigErrors([ConfigError(file: path, line: 0, column: 0, context: "", message: "cannot read: \(reason)")])
        }
        return try parse(text, file: path)
    }

    /// Validates a config from its text; `file` names it in errors.
    /// - Throws: ``ConfigErrors`` with every error found.
    public static func parse(_ text: String, file: String = "<config>") throws(ConfigErrors) -> QBalloonConfig {
        var loader = ConfigLoader(text: text, file: file)
        guard let config = loader.load(), loader.errors.isEmpty else {
            throw ConfigErrors(loader.errors.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
        return config
    }
}

/// Turns TOML into a ``QBalloonConfig``, collecting every error instead of stopping at the first.
struct ConfigLoader {
    let file: String
    let text: String
    let map: TOMLSourceMap
    var errors: [ConfigError] = []
    var layout = FrameLayout()
    var pressures: [CompiledExpression] = []

    init(text: String, file: String) {
        self.text = text
        self.file = file
        self.map = TOMLSourceMap(text)
    }

    /// A table being read: its path in the source map (`defaults`, `vm[2]`), how errors name it, and the keys
    /// it may have.
    struct Section {
        let table: TOMLTable
        let path: String
        let context: String
    }

    // MARK: - Errors

    mutating func fail(_ message: String, in section: Section, key: String?) {
        let position = key.flatMap { map.keys["\(section.path).\($0)"] }
        let line = position?.line ?? map.tables[section.path] ?? 0
        let prefix = key.map { "\($0): " } ?? ""
        errors.append(
            ConfigError(
                file: file, line: line, column: position?.column ?? 0, context: section.context,
                message: prefix + message))
    }

    // MARK: - Loading

    mutating func load() -> QBalloonConfig? {
        if let bad = map.badHeader {
            errors.append(
                ConfigError(
                    file: file, line: bad.line, column: bad.column, context: "",
                    message: "bad TOML: expected a table name after '[', a bare or quoted key",
                    excerpt: ["    " + map.lines[bad.line - 1], "    " + String(repeating: " ", count: bad.column - 1) + "^"]))
            return nil
        }
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            let line = error.source.begin.line
            let column = error.source.begin.column
            var excerpt: [String] = []
            if line >= 1, line <= map.lines.count {
                excerpt = ["    " + map.lines[line - 1], "    " + String(repeating: " ", count: max(column - 1, 0)) + "^"]
            }
            errors.append(
                ConfigError(
                    file: file, line: line, column: column, context: "", message: "bad TOML: \(error.description)",
                    excerpt: excerpt))
            return nil
        } catch {
            errors.append(ConfigError(file: file, line: 0, column: 0, context: "", message: "bad TOML: \(error)"))
            return nil
        }
        let rootSection = Section(table: root, path: "", context: "")
        checkKeys(rootSection, allowed: ["daemon", "host", "defaults", "vm", "rule"], describe: "table")

        let daemon = loadDaemon(subtable(root, "daemon"))
        let host = loadHost(subtable(root, "host"))
        var builtin = VMSettings()
        builtin.stallAfter = max(.seconds(2), daemon.interval * 2)
        let defaultsSection = subtable(root, "defaults")
        let defaults = loadVMSettings(
            defaultsSection ?? Section(table: TOMLTable(), path: "defaults", context: "[defaults]"), base: builtin,
            isDefaults: true)
        var vms: [VMEntry] = []
        let vmSections = arrayOfTables(root, "vm")
        for (index, section) in vmSections.enumerated() {
            if let vm = loadVM(section, index: index, defaults: defaults) { vms.append(vm) }
        }
        if vmSections.isEmpty, root["vm"] == nil {
            errors.append(
                ConfigError(
                    file: file, line: 0, column: 0, context: "",
                    message: "no [[vm]]: add at least one, like [[vm]] qmp = \"/run/qemu/*.qmp\""))
        }
        checkDuplicateVMs(vms)
        var rules: [Rule] = []
        for (index, section) in arrayOfTables(root, "rule").enumerated() {
            if let rule = loadRule(section, index: index) { rules.append(rule) }
        }
        var seen: [String: Int] = [:]
        for rule in rules {
            if let first = seen[rule.name] {
                errors.append(
                    ConfigError(
                        file: file, line: rule.line, column: 0, context: "rule \"\(rule.name)\"",
                        message: "another rule has this name (line \(first)): give each rule its own name"))
            } else {
                seen[rule.name] = rule.line
            }
        }
        return QBalloonConfig(
            file: file, daemon: daemon, host: host, defaults: defaults, vms: vms, rules: rules,
            pressures: pressures, frameSize: layout.size)
    }

    mutating func subtable(_ root: TOMLTable, _ name: String) -> Section? {
        guard let value = root[name] else { return nil }
        guard let table = value.table else {
            errors.append(
                ConfigError(
                    file: file, line: map.keys[name]?.line ?? 0, column: map.keys[name]?.column ?? 0, context: "",
                    message: "'\(name)' must be a table: write [\(name)] on a line of its own"))
            return nil
        }
        return Section(table: table, path: name, context: "[\(name)]")
    }

    mutating func arrayOfTables(_ root: TOMLTable, _ name: String) -> [Section] {
        guard let value = root[name] else { return [] }
        guard let array = value.array, array.allSatisfy({ $0.table != nil }) else {
            let line = map.tables[name] ?? map.keys[name]?.line ?? 0
            errors.append(
                ConfigError(
                    file: file, line: line, column: 0, context: "",
                    message: "'\(name)' must be written [[\(name)]] (double brackets), once for each \(name)"))
            return []
        }
        return array.enumerated().map { index, element in
            let context = name == "vm" ? "[[vm]] #\(index + 1)" : "[[rule]] #\(index + 1)"
            return Section(table: element.table!, path: "\(name)[\(index)]", context: context)
        }
    }

    mutating func checkKeys(_ section: Section, allowed: [String], describe: String = "key") {
        for key in section.table.keys where !allowed.contains(key) {
            var message = "unknown \(describe) '\(key)'"
            if let suggestion = closestMatch(to: key, in: allowed) {
                message += " (did you mean '\(suggestion)'?)"
            } else {
                message += " (known: \(allowed.joined(separator: ", ")))"
            }
            if section.path.isEmpty {
                let line = map.tables[key] ?? map.tables["\(key)[0]"] ?? map.keys[key]?.line ?? 0
                errors.append(ConfigError(file: file, line: line, column: 0, context: "", message: message))
            } else {
                fail(message, in: section, key: key)
            }
        }
    }

    // MARK: - Sections

    mutating func loadDaemon(_ section: Section?) -> DaemonSettings {
        var daemon = DaemonSettings()
        guard let section else { return daemon }
        checkKeys(
            section,
            allowed: [
                "interval", "dry_run", "metrics_listen", "decision_log", "decision_log_max", "restore_on_exit",
                "stats_interval", "stale_after", "command_timeout", "control_socket", "control_group", "state_dir", "record_dir", "record_max_bytes",
            ])
        if let interval = duration(section, "interval") {
            if interval < .milliseconds(100) || interval > .seconds(3600) {
                fail("must be from 100ms to 1h, not \(interval.seconds)s", in: section, key: "interval")
            } else {
                daemon.interval = interval
            }
        }
        daemon.statsInterval = max(.seconds(1), .seconds(Int64(daemon.interval.seconds.rounded(.up))))
        if let dryRun = bool(section, "dry_run") { daemon.dryRun = dryRun }
        if let restore = bool(section, "restore_on_exit") { daemon.restoreOnExit = restore }
        if let listen = string(section, "metrics_listen") {
            do {
                let endpoint = try Endpoint(listening: listen)
                if endpoint.hostAndPort?.port == 0 {
                    fail("port 0 picks a random port: give a fixed one, like 9464", in: section, key: "metrics_listen")
                } else {
                    daemon.metricsListen = endpoint
                }
            } catch {
                fail(error.reason, in: section, key: "metrics_listen")
            }
        }
        if let log = string(section, "decision_log") {
            if log.isEmpty {
                fail("must be a file path (or \"-\" for standard output); leave it out for none", in: section, key: "decision_log")
            } else {
                daemon.decisionLog = log
            }
        }
        if let max = size(section, "decision_log_max") {
            if case .bytes(let bytes) = max, bytes >= 64 << 10 {
                daemon.decisionLogMax = bytes
            } else {
                fail("must be a size of at least 64KiB, like \"64MiB\" (not a percentage)", in: section, key: "decision_log_max")
            }
        }
        if let stats = duration(section, "stats_interval") {
            if stats < .seconds(1) || stats.seconds != stats.seconds.rounded() {
                fail("must be whole seconds, at least 1s (QEMU polls in seconds)", in: section, key: "stats_interval")
            } else {
                daemon.statsInterval = stats
            }
        }
        // QEMU stamps a report in whole seconds and the guest reports every stats_interval, so a fresh report
        // can look up to stats_interval + 1s old: the default leaves room for two of them.
        daemon.staleAfter = max(daemon.interval * 3, daemon.statsInterval * 2 + .seconds(1))
        if let stale = duration(section, "stale_after") {
            if stale < daemon.interval {
                fail("must be at least the interval (\(daemon.interval.seconds)s)", in: section, key: "stale_after")
            } else {
                daemon.staleAfter = stale
            }
        }
        if let timeout = duration(section, "command_timeout") {
            if timeout <= .zero {
                fail("must be more than 0", in: section, key: "command_timeout")
            } else {
                daemon.commandTimeout = timeout
            }
        }
        if let socket = string(section, "control_socket") {
            if socket == "off" {
                daemon.controlSocket = nil
            } else if !socket.hasPrefix("/") || socket.hasSuffix("/") {
                fail("must be an absolute path to a socket file, or \"off\" for none", in: section, key: "control_socket")
            } else if socket.utf8.count > 107 {
                fail("is \(socket.utf8.count) bytes long: a unix socket path holds at most 107", in: section, key: "control_socket")
            } else {
                daemon.controlSocket = socket
            }
        }
        if let group = string(section, "control_group") {
            if group.isEmpty || group.contains(where: { $0 == ":" || $0 == "/" || $0.isWhitespace }) {
                fail("must be the name of a group, like \"qballoon\"", in: section, key: "control_group")
            } else {
                daemon.controlGroup = group
            }
        }
        if let directory = string(section, "record_dir") {
            if !directory.hasPrefix("/") {
                fail("must be an absolute path to a directory", in: section, key: "record_dir")
            } else {
                daemon.recordDirectory = directory
            }
        }
        if let max = size(section, "record_max_bytes") {
            if case .bytes(let bytes) = max, bytes >= 1 << 20 {
                daemon.recordMaxBytes = bytes
            } else {
                fail("must be a size of at least 1MiB, like \"1GiB\" (not a percentage)", in: section, key: "record_max_bytes")
            }
        }
        if let directory = string(section, "state_dir") {
            if !directory.hasPrefix("/") {
                fail("must be an absolute path to a directory", in: section, key: "state_dir")
            } else {
                daemon.stateDirectory = directory
            }
        }
        return daemon
    }

    mutating func loadHost(_ section: Section?) -> HostSettings {
        var host = HostSettings()
        guard let section else { return host }
        checkKeys(section, allowed: ["reserve", "hard_reserve", "idle_tax", "meminfo", "pressure"])
        if let reserve = size(section, "reserve", allowingZero: true) { host.reserve = reserve }
        if let hard = size(section, "hard_reserve", allowingZero: true) {
            if Self.exceeds(hard, host.reserve) {
                fail("must not be above reserve (\(host.reserve))", in: section, key: "hard_reserve")
            } else {
                host.hardReserve = hard
            }
        }
        if let value = section.table["idle_tax"] {
            var tax: Double?
            if let number = value.double ?? value.int.map { Double($0) } {
                tax = number
            } else if let text = value.string, text.hasSuffix("%"), let percent = Double(text.dropLast()) {
                tax = percent / 100
            }
            if let tax, tax >= 0, tax < 1 {
                host.idleTax = tax
            } else {
                fail("must be a fraction from 0 to below 1 (0.75) or a percentage (\"75%\")", in: section, key: "idle_tax")
            }
        }
        if let path = string(section, "meminfo") { host.meminfoPath = path }
        if let path = string(section, "pressure") { host.pressurePath = path }
        return host
    }

    static let vmSettingKeys = [
        "min", "max", "step", "grow_step", "cooldown", "shares", "deadband", "pressure", "grow_on_pressure",
        "give_back", "stall_after", "stall_hold", "connect", "headroom", "need_rising", "trend_window",
        "shrink_watch", "pressure_hold", "growth_allowance", "peak_window",
    ]

    mutating func loadVMSettings(_ section: Section, base: VMSettings, isDefaults: Bool) -> VMSettings {
        var settings = base
        if isDefaults { checkKeys(section, allowed: Self.vmSettingKeys) }
        if let value = size(section, "min") { settings.min = value }
        if let value = size(section, "max") { settings.max = value }
        let step = size(section, "step")
        if let step {
            settings.step = step
            settings.growStep = step
        }
        if let value = size(section, "grow_step") { settings.growStep = value }
        if let value = duration(section, "cooldown") { settings.cooldown = value }
        if let value = int(section, "shares") {
            if (0...1_000_000).contains(value) {
                settings.shares = value
            } else {
                fail("must be from 0 to 1000000, not \(value)", in: section, key: "shares")
            }
        }
        if let value = size(section, "deadband") { settings.deadband = value }
        if let value = bool(section, "grow_on_pressure") { settings.growOnPressure = value }
        if let value = size(section, "give_back") { settings.giveBack = value }
        if let value = duration(section, "stall_after") {
            if value <= .zero {
                fail("must be more than 0", in: section, key: "stall_after")
            } else {
                settings.stallAfter = value
            }
        }
        if let value = duration(section, "stall_hold") { settings.stallHold = value }
        if let value = size(section, "headroom") { settings.headroom = value }
        if let value = rate(section, "need_rising") { settings.needRising = value }
        if let value = rate(section, "growth_allowance") { settings.growthAllowance = value }
        if let value = duration(section, "trend_window") {
            if value < .seconds(2) || value > .seconds(3600) {
                fail("must be from 2s to 1h, not \(DurationText.format(value))", in: section, key: "trend_window")
            } else {
                settings.trendWindow = value
            }
        }
        if let value = duration(section, "shrink_watch") { settings.shrinkWatch = value }
        if let value = duration(section, "pressure_hold") { settings.pressureHold = value }
        if let value = duration(section, "peak_window") {
            if value > .seconds(86400) {
                fail("must be at most 24h, not \(DurationText.format(value))", in: section, key: "peak_window")
            } else {
                settings.peakWindow = value
            }
        }
        if let value = string(section, "connect") {
            if let mode = ConnectMode(rawValue: value) {
                settings.connect = mode
            } else {
                fail("must be \"persistent\" or \"per-poll\", not \"\(value)\"", in: section, key: "connect")
            }
        }
        let setsLimits = section.table["min"] != nil || section.table["max"] != nil
        if isDefaults || setsLimits, Self.exceeds(settings.min, settings.max) {
            fail("min (\(settings.min)) is above max (\(settings.max))", in: section, key: section.table["min"] != nil ? "min" : "max")
        }
        let pressureText = string(section, "pressure")
        if isDefaults || pressureText != nil {
            let text = pressureText ?? settings.pressure
            let key = pressureText != nil ? "pressure" : nil
            if let compiled = expression(text, expecting: .bool, allowPressure: false, section: section, key: key ?? "pressure", located: key != nil) {
                settings.pressure = text
                settings.pressureIndex = pressures.count
                pressures.append(compiled)
            }
        }
        return settings
    }

    static func exceeds(_ min: MemorySize, _ max: MemorySize) -> Bool {
        switch (min, max) {
        case (.bytes(let a), .bytes(let b)): return a > b
        case (.percentOfMax(let a), .percentOfMax(let b)): return a > b
        default: return false
        }
    }

    mutating func loadVM(_ section: Section, index: Int, defaults: VMSettings) -> VMEntry? {
        checkKeys(section, allowed: ["name", "qmp", "libvirt", "domain"] + Self.vmSettingKeys)
        let name = string(section, "name")
        var section = section
        if let name { section = Section(table: section.table, path: section.path, context: "vm \"\(name)\"") }
        let settings = loadVMSettings(section, base: defaults, isDefaults: false)
        if section.table["libvirt"] != nil {
            if section.table["qmp"] != nil {
                fail("give either 'qmp' (a monitor socket) or 'libvirt' (a libvirt connection), not both", in: section, key: "libvirt")
                return nil
            }
            return loadLibvirtVM(section, name: name, settings: settings)
        }
        if section.table["domain"] != nil {
            fail("'domain' goes with 'libvirt': libvirt = \"qemu:///system\"", in: section, key: "domain")
        }
        guard let qmp = string(section, "qmp") else {
            if section.table["qmp"] == nil {
                fail(
                    "missing 'qmp': the VM's monitor socket, like qmp = \"/run/qemu/db.qmp\" or a glob \"/run/qemu/*.qmp\" (or libvirt = \"qemu:///system\" for VMs libvirt runs)",
                    in: section, key: nil)
            }
            return nil
        }
        if let name, let problem = Self.nameProblem(name) { fail(problem, in: section, key: "name") }
        var entry = VMEntry(
            name: name, qmp: qmp, address: nil, socketGlob: nil, settings: settings, line: map.tables[section.path] ?? 0)
        let address: Endpoint
        do {
            address = try Endpoint(qmp)
        } catch {
            fail("\(error)", in: section, key: "qmp")
            return nil
        }
        if Glob.isPattern(qmp) {
            guard let path = address.unixPath else {
                fail("a glob works only for unix socket paths, not '\(qmp)'", in: section, key: "qmp")
                return nil
            }
            if name != nil {
                fail("a glob names each VM after its socket file: leave 'name' out, or give one socket path", in: section, key: "name")
            }
            entry.socketGlob = path
        } else {
            entry.address = address
            if name == nil {
                guard let path = address.unixPath else {
                    fail("a TCP monitor needs a 'name'", in: section, key: "qmp")
                    return nil
                }
                let stem = VMEntry.fileStem(path)
                if let problem = Self.nameProblem(stem) {
                    fail("the socket's file name does not make a VM name (\(problem)): add a 'name'", in: section, key: "qmp")
                }
            }
        }
        return entry
    }

    /// A `[[vm]]` with `libvirt = URI` and `domain = NAME` or a glob over names (every running domain when left out).
    mutating func loadLibvirtVM(_ section: Section, name: String?, settings: VMSettings) -> VMEntry? {
        guard let uri = string(section, "libvirt") else { return nil }
        guard !uri.isEmpty, uri.utf8.count <= 4096, !uri.contains(where: { $0.isNewline || $0 == "\0" }) else {
            fail("'\(uri.prefix(60))' is not a libvirt URI: like libvirt = \"qemu:///system\"", in: section, key: "libvirt")
            return nil
        }
        let domain: String
        if section.table["domain"] != nil {
            guard let given = string(section, "domain") else { return nil }
            guard !given.isEmpty, given.utf8.count <= 1024, !given.contains(where: { $0.isNewline || $0 == "\0" }) else {
                fail("'domain' must be a domain name or a glob over names, like \"web\" or \"web-*\"", in: section, key: "domain")
                return nil
            }
            domain = given
        } else {
            domain = "*"
        }
        if let name, let problem = Self.nameProblem(name) { fail(problem, in: section, key: "name") }
        if Glob.isPattern(domain) {
            if name != nil {
                fail("a domain glob names each VM after its domain: leave 'name' out, or give one domain", in: section, key: "name")
            }
        } else if name == nil, let problem = Self.nameProblem(domain) {
            fail("the domain's name does not make a VM name (\(problem)): add a 'name'", in: section, key: "domain")
        }
        return VMEntry(
            name: name, qmp: "", libvirt: uri, domain: domain, address: nil, socketGlob: nil, settings: settings,
            line: map.tables[section.path] ?? 0)
    }

    static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "a VM name cannot be empty" }
        let allowed = name.unicodeScalars.allSatisfy {
            ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || "._-".unicodeScalars.contains($0)
        }
        return allowed ? nil : "'\(name)' has characters other than letters, digits, '.', '_' and '-'"
    }

    mutating func checkDuplicateVMs(_ vms: [VMEntry]) {
        var names: [String: Int] = [:]
        var sockets: [String: Int] = [:]
        for vm in vms {
            let context = vm.name.map { "vm \"\($0)\"" } ?? "[[vm]]"
            let name = vm.name ?? vm.address?.unixPath.map(VMEntry.fileStem) ?? (vm.domainGlob == nil ? vm.domain : nil)
            if let name {
                if let line = names[name] {
                    errors.append(
                        ConfigError(
                            file: file, line: vm.line, column: 0, context: context,
                            message: "another [[vm]] (line \(line)) is also named '\(name)'"))
                } else {
                    names[name] = vm.line
                }
            }
            let socket = vm.libvirt != nil ? vm.target : vm.address?.description ?? vm.qmp
            if let line = sockets[socket] {
                errors.append(
                    ConfigError(
                        file: file, line: vm.line, column: 0, context: context,
                        message: vm.libvirt != nil
                            ? "another [[vm]] (line \(line)) has the same libvirt and domain (\(vm.target))"
                            : "another [[vm]] (line \(line)) has the same qmp '\(vm.qmp)'"))
            } else {
                sockets[socket] = vm.line
            }
        }
    }

    mutating func loadRule(_ section: Section, index: Int) -> Rule? {
        checkKeys(section, allowed: ["name", "when", "set", "vms"])
        var section = section
        let name = string(section, "name")
        if let name {
            section = Section(table: section.table, path: section.path, context: "rule \"\(name)\"")
            if name.allSatisfy(\.isWhitespace) { fail("a rule's name cannot be empty", in: section, key: "name") }
        } else if section.table["name"] == nil {
            fail("missing 'name': say what the rule is for, like name = \"reclaim idle memory\"", in: section, key: nil)
        }
        var vms: [String] = []
        if let value = section.table["vms"] {
            if let array = value.array, array.allSatisfy({ $0.string != nil }), !array.isEmpty {
                vms = array.map { $0.string! }
            } else {
                fail("must be a list of VM names or globs, like [\"db\", \"web-*\"]", in: section, key: "vms")
            }
        }
        var when: CompiledExpression?
        var set: CompiledExpression?
        for key in ["when", "set"] {
            guard let text = string(section, key) else {
                if section.table[key] == nil {
                    let example = key == "when" ? "when = \"available > 40% of actual for 60s\"" : "set = \"used + 30% of used\""
                    fail("missing '\(key)', like \(example)", in: section, key: nil)
                }
                continue
            }
            let compiled = expression(text, expecting: key == "when" ? .bool : .bytes, allowPressure: true, section: section, key: key, located: true)
            if key == "when" { when = compiled } else { set = compiled }
        }
        guard let name, let when, let set else { return nil }
        return Rule(name: name, when: when, set: set, vms: vms, line: map.tables[section.path] ?? 0)
    }

    // MARK: - Expressions

    mutating func expression(
        _ text: String, expecting type: ValueType, allowPressure: Bool, section: Section, key: String, located: Bool
    ) -> CompiledExpression? {
        do {
            return try ExpressionCompiler.compile(text, expecting: type, allowPressure: allowPressure, layout: &layout)
        } catch {
            let position = located ? map.keys["\(section.path).\(key)"] : nil
            for problem in error.errors {
                let (excerpt, lineOffset) = problem.excerpt(of: text)
                var line = position?.line ?? map.tables[section.path] ?? 0
                if let position { line += lineOffset + (position.startsOnNextLine ? 1 : 0) }
                var column = 0
                if let position, position.isSingleLineString, lineOffset == 0 { column = position.column + 1 + problem.column }
                var context = section.context
                if !located { context += context.isEmpty ? "built-in default" : " (built-in default)" }
                errors.append(
                    ConfigError(
                        file: file, line: line, column: column, context: context, message: "\(key): \(problem.message)",
                        excerpt: excerpt, showsColumn: false))
            }
            return nil
        }
    }

    // MARK: - Values

    mutating func string(_ section: Section, _ key: String) -> String? {
        guard let value = section.table[key] else { return nil }
        guard let text = value.string else {
            fail("must be a string (in quotes), not \(Self.describe(value))", in: section, key: key)
            return nil
        }
        return text
    }

    mutating func bool(_ section: Section, _ key: String) -> Bool? {
        guard let value = section.table[key] else { return nil }
        guard let flag = value.bool else {
            fail("must be true or false, not \(Self.describe(value))", in: section, key: key)
            return nil
        }
        return flag
    }

    mutating func int(_ section: Section, _ key: String) -> Int? {
        guard let value = section.table[key] else { return nil }
        guard let number = value.int else {
            fail("must be a whole number, not \(Self.describe(value))", in: section, key: key)
            return nil
        }
        return number
    }

    /// A size: a string like "2GiB" or "50%", or a whole number of bytes; `allowingZero`: "0" (or 0) is a size
    /// too, for the host reserves, where 0 means none.
    mutating func size(_ section: Section, _ key: String, allowingZero: Bool = false) -> MemorySize? {
        guard let value = section.table[key] else { return nil }
        if allowingZero, value.int == 0 || value.string == "0" {
            return .bytes(0)
        }
        if let number = value.int {
            guard number > 0 else {
                fail("must be more than 0", in: section, key: key)
                return nil
            }
            return .bytes(UInt64(number))
        }
        guard let text = value.string else {
            fail("must be a size like \"2GiB\" or \"50%\", not \(Self.describe(value))", in: section, key: key)
            return nil
        }
        do {
            return try MemorySize(text)
        } catch {
            fail("\(error)", in: section, key: key)
            return nil
        }
    }

    /// A rate of bytes: a string like "1MiB/s" or "512KiB/s", or a whole number of bytes per second.
    mutating func rate(_ section: Section, _ key: String) -> Double? {
        guard let value = section.table[key] else { return nil }
        if let number = value.int {
            guard number >= 0 else {
                fail("cannot be negative", in: section, key: key)
                return nil
            }
            return Double(number)
        }
        guard let text = value.string, text.hasSuffix("/s") else {
            fail("must be a rate like \"1MiB/s\", not \(value.string.map { "'\($0)'" } ?? Self.describe(value))", in: section, key: key)
            return nil
        }
        do {
            return Double(try MemorySize.bytes(parsing: String(text.dropLast(2)), allowingZero: true))
        } catch {
            fail("bad rate '\(text)': \(error.reason)", in: section, key: key)
            return nil
        }
    }

    /// A duration: a string like "2s", or a number of seconds.
    mutating func duration(_ section: Section, _ key: String) -> Duration? {
        guard let value = section.table[key] else { return nil }
        if let number = value.double ?? value.int.map { Double($0) } {
            guard number >= 0, number < 1e9 else {
                fail("must be from 0 to 1e9 seconds", in: section, key: key)
                return nil
            }
            return .nanoseconds(Int64((number * 1e9).rounded()))
        }
        guard let text = value.string else {
            fail("must be a duration like \"2s\" or \"5m\", not \(Self.describe(value))", in: section, key: key)
            return nil
        }
        do {
            return try DurationText.parse(text)
        } catch {
            fail("\(error)", in: section, key: key)
            return nil
        }
    }

    static func describe(_ value: TOMLValueConvertible) -> String {
        switch value.type {
        case .string: return "a string"
        case .int: return "an integer"
        case .double: return "a number"
        case .bool: return "a boolean"
        case .array: return "an array"
        case .table: return "a table"
        default: return "a date or time"
        }
    }
}
