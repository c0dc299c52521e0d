import QBalloonCore
import QBalloonDaemon
import QBalloonJSON

/// Everything `qballoon top` shows, as a plain value: the latest round, each VM's last minute of `available`
/// (its sparkline), the sort, the selected VM, the pin prompt and the status line. The command feeds it rounds,
/// keys and clock ticks and draws ``render(width:height:)``; what a key asks of the daemon comes back as a
/// ``TopAction`` for the command to send. Nothing here does I/O.
struct TopScreen: Sendable {
    enum SortKey: Int, CaseIterable, Sendable {
        case name = 1, actual, available, pressure

        var title: String {
            switch self {
            case .name: return "name"
            case .actual: return "actual"
            case .available: return "available"
            case .pressure: return "pressure"
            }
        }
    }

    /// A request for the daemon, made by a key.
    struct Act: Sendable, Hashable {
        enum Method: Sendable, Hashable {
            case post, delete
        }
        var method: Method
        var path: String
        var body: JSON?
        /// What it is, for the status line while it is sent: `pause db`.
        var what: String
    }

    /// What the command does after a key.
    enum TopAction: Sendable, Hashable {
        case none
        case quit
        case send(Act)
    }

    struct Status: Sendable, Hashable {
        var text: String
        var isError: Bool
        var until: Double
    }

    /// How long history is kept, and so how much the sparklines span.
    static let historySeconds = 60.0
    /// How long an act's result stays on the status line.
    static let statusSeconds = 4.0

    /// The control socket, for the title.
    var socketPath: String
    var round = RoundView()
    /// Each VM's `available` as a fraction of its `actual`, by round time, the last minute.
    private(set) var history: [String: [(time: Double, value: Double?)]] = [:]
    var sort = SortKey.name
    /// The selected VM, by name, so it stays selected when the order changes.
    private(set) var selected: String?
    /// The pin prompt's text, while it is open (`i`).
    private(set) var prompt: String?
    private(set) var status: Status?
    /// The local clock, for the status line's expiry (rounds carry the daemon's time).
    var now: Double
    /// Interactive: the selection, the status line and the keys' footer, and attributes. A snapshot (stdout not a
    /// terminal) is plain text with none of them.
    var interactive = true

    init(socketPath: String, now: Double) {
        self.socketPath = socketPath
        self.now = now
    }

    // MARK: Rounds

    /// Takes a round (a `round` event, or a `GET /v1/vms` reply).
    mutating func apply(round json: JSON) {
        apply(RoundView(json))
    }

    mutating func apply(_ round: RoundView) {
        self.round = round
        let time = round.time ?? round.host.time ?? now
        var kept: [String: [(time: Double, value: Double?)]] = [:]
        for vm in round.vms {
            var samples = history[vm.name] ?? []
            // A round at the same time again (the first line of a new stream) replaces, never duplicates.
            samples.removeAll { $0.time >= time || $0.time < time - Self.historySeconds }
            samples.append((time, Self.availableFraction(vm)))
            kept[vm.name] = samples
        }
        history = kept
        if selected.map({ name in !round.vms.contains { $0.name == name } }) ?? true {
            // The selected VM went away: a pin typed for it is not for the next one.
            if selected != nil { prompt = nil }
            selected = sortedVMs.first?.name
        }
    }

    /// An `operator` event: someone's act (maybe this screen's own), shown on the status line.
    mutating func apply(operatorEvent json: JSON) {
        guard let message = json["message"]?.stringValue else { return }
        showStatus(message)
    }

    static func availableFraction(_ vm: VMView) -> Double? {
        guard let available = vm.available, let actual = vm.actual, actual > 0 else { return nil }
        return min(1, Double(available) / Double(actual))
    }

    /// The VMs in the current sort order: name A-Z; actual largest first; available least first; pressure: the
    /// pressured, stalled and troubled first, then the least available (as a share of actual) first.
    var sortedVMs: [VMView] {
        round.vms.sorted { a, b in
            switch sort {
            case .name:
                return a.name < b.name
            case .actual:
                if (a.actual ?? 0) != (b.actual ?? 0) { return (a.actual ?? 0) > (b.actual ?? 0) }
            case .available:
                if (a.available ?? .max) != (b.available ?? .max) { return (a.available ?? .max) < (b.available ?? .max) }
            case .pressure:
                let rank = { (vm: VMView) in (vm.pressured ? 0 : 2) + (vm.stalled || vm.isProblem ? 0 : 1) }
                if rank(a) != rank(b) { return rank(a) < rank(b) }
                let fa = Self.availableFraction(a) ?? 2
                let fb = Self.availableFraction(b) ?? 2
                if fa != fb { return fa < fb }
            }
            return a.name < b.name
        }
    }

    var selectedVM: VMView? { selected.flatMap { name in round.vms.first { $0.name == name } } }

    // MARK: Keys

    /// Handles a key; returns what the command should do.
    mutating func handle(_ key: TerminalKey) -> TopAction {
        if let text = prompt { return handlePrompt(key, text) }
        switch key {
        case .character("q"), .character("Q"), .interrupt:
            return .quit
        case .character("s"):
            let all = SortKey.allCases
            sort = all[(all.firstIndex(of: sort)! + 1) % all.count]
        case .character(let digit) where digit.wholeNumberValue.flatMap(SortKey.init(rawValue:)) != nil:
            sort = SortKey(rawValue: digit.wholeNumberValue!)!
        case .up, .character("k"):
            moveSelection(by: -1)
        case .down, .character("j"):
            moveSelection(by: 1)
        case .character("p"):
            guard let vm = selectedVM else { return noVM() }
            let verb = vm.paused ? "resume" : "pause"
            return .send(Act(method: .post, path: "/v1/\(verb)", body: ["vm": .string(vm.name)], what: "\(verb) \(vm.name)"))
        case .character("P"):
            let verb = round.host.paused ? "resume" : "pause"
            return .send(Act(method: .post, path: "/v1/\(verb)", body: [:], what: "\(verb) the whole host"))
        case .character("i"):
            guard selectedVM != nil else { return noVM() }
            prompt = ""
        case .character("u"):
            guard let vm = selectedVM else { return noVM() }
            return .send(Act(method: .delete, path: "/v1/vms/\(ControlClient.path(vm.name))/pin", body: nil, what: "unpin \(vm.name)"))
        default:
            break
        }
        return .none
    }

    private mutating func handlePrompt(_ key: TerminalKey, _ text: String) -> TopAction {
        switch key {
        case .escape, .interrupt:
            prompt = nil
        case .backspace:
            prompt = String(text.dropLast())
        case .character(let character):
            if text.count < 24 { prompt = text + String(character) }
        case .enter:
            let size = String(text.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
            guard let vm = selected else {
                prompt = nil
                return noVM()
            }
            do {
                _ = try MemorySize(size)
            } catch {
                showStatus("\(error)", isError: true)
                return .none
            }
            prompt = nil
            return .send(
                Act(method: .post, path: "/v1/vms/\(ControlClient.path(vm))/pin", body: ["size": .string(size)], what: "pin \(vm) to \(size)"))
        case .up, .down:
            break
        }
        return .none
    }

    private mutating func noVM() -> TopAction {
        showStatus("no VM selected", isError: true)
        return .none
    }

    private mutating func moveSelection(by step: Int) {
        let names = sortedVMs.map(\.name)
        guard !names.isEmpty else { return }
        let index = selected.flatMap { names.firstIndex(of: $0) } ?? 0
        selected = names[min(names.count - 1, max(0, index + step))]
    }

    /// Shows a line on the status line for ``statusSeconds``.
    mutating func showStatus(_ text: String, isError: Bool = false) {
        status = Status(text: text, isError: isError, until: now + Self.statusSeconds)
    }

    /// The status line's text while it lasts.
    var visibleStatus: Status? {
        guard let status, status.until > now else { return nil }
        return status
    }
}
