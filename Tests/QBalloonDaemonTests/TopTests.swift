import QBalloonCore
import QBalloonJSON
import Testing

@testable import qballoon

// `qballoon top`'s screen, keys and sparklines as plain values: no terminal, no daemon, no clock.

/// Rounds as the control API sends them.
enum SampleRounds {
    static let gib: UInt64 = 1 << 30
    static let mib: UInt64 = 1 << 20

    static func vm(
        _ name: String, state: String = "ok", actual: UInt64, max: UInt64 = 4 << 30, available: UInt64?,
        pressured: Bool = false, paused: Bool = false, rule: String? = "reclaim idle memory", pin: JSON = .null
    ) -> JSON {
        let decision: JSON = [
            "time": 1_700_000_000.0, "from": .unsigned(actual + 256 * mib), "to": .unsigned(actual),
            "wanted": .unsigned(actual - 512 * mib), "reason": rule.map { .string("rule \"\($0)\"") } ?? "pressure",
            "rule": rule.map(JSON.string) ?? .null, "figures": ["available": available.map(JSON.unsigned) ?? .null],
            "figures_text": ["available=1.2 GiB", "used=1.5 GiB"],
            "adjustments": ["step: at most 256 MiB", "min: not below 1 GiB"], "pressured": .bool(pressured),
            "text": .string("\(name): 3.25 GiB -> 3 GiB, rule wanted 2.5 GiB"),
        ]
        return [
            "name": .string(name), "socket": .string("/run/qemu/\(name).qmp"), "state": .string(state),
            "status": .string(state == "unreachable" ? "unreachable: connection refused" : state),
            "actual": .unsigned(actual), "target": .unsigned(actual), "ram": .unsigned(max), "max": .unsigned(max),
            "min": .unsigned(gib), "available": available.map(JSON.unsigned) ?? .null,
            "used": available.map { .unsigned(actual - $0) } ?? .null, "stats_age": 1.5,
            "pressured": .bool(pressured), "stalled": false, "paused": .bool(paused), "pin": pin,
            "last_decision": decision, "last_change": decision,
        ]
    }

    /// Four VMs whose orders by name, actual, available and pressure all differ.
    static func round(time: Double = 1_700_000_000, hostPaused: Bool = false, vms: [JSON]? = nil) -> JSON {
        let vms = vms ?? [
            vm("alpha", actual: 3 * gib, available: 2 * gib),
            vm("bravo", actual: 1 * gib, available: 100 * mib, pressured: true),
            vm("charlie-with-a-long-name", actual: 2 * gib, available: 300 * mib),
            vm("delta", state: "paused", actual: 4 * gib, available: 1 * gib, paused: true),
        ]
        return [
            "type": "round", "time": .double(time),
            "host": [
                "time": .double(time), "total": .unsigned(64 * gib), "available": .unsigned(20 * gib),
                "free": .unsigned(10 * gib), "reserve": .unsigned(2 * gib), "psi": .null,
                "returned": .unsigned(6 * gib), "vms": .int(Int64(vms.count)), "states": ["ok": 3, "paused": 1],
                "paused": .bool(hostPaused), "dry_run": false, "interval": 2, "config": "/etc/qballoon/qballoon.toml",
            ],
            "vms": .array(vms),
        ]
    }
}

@Suite struct TopTests {
    static func screen(_ round: JSON = SampleRounds.round()) -> TopScreen {
        var screen = TopScreen(socketPath: "/run/qballoon/control.sock", now: 1_700_000_000)
        screen.apply(round: round)
        return screen
    }

    /// The names in the order the rows show them.
    static func rowNames(_ lines: [String]) -> [String] {
        lines.dropFirst(TopScreen.headerLines).compactMap { line in
            let plain = ScreenText.plain(line)
            return ["alpha", "bravo", "charlie", "delta"].first { plain.dropFirst().hasPrefix($0) }
        }
    }

    static func checkFits(_ lines: [String], width: Int, height: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(lines.count == height, sourceLocation: sourceLocation)
        for line in lines {
            #expect(ScreenText.width(line) <= width, "\(ScreenText.width(line)) > \(width): \(ScreenText.plain(line))", sourceLocation: sourceLocation)
        }
    }

    @Test func at80x24() {
        let lines = Self.screen().render(width: 80, height: 24)
        Self.checkFits(lines, width: 80, height: 24)
        let plain = lines.map(ScreenText.plain)
        #expect(plain[0].hasPrefix("qballoon top  /run/qballoon/control.sock"))
        #expect(plain[1].contains("total 64 GiB") && plain[1].contains("available 20 GiB") && plain[1].contains("reserve 2 GiB") && plain[1].contains("returned 6 GiB"))
        #expect(plain[2].contains("4: 3 ok, 1 paused"))
        #expect(plain[3].contains("NAME") && plain[3].contains("ACTUAL/MAX") && plain[3].contains("LAST RULE"))
        #expect(Self.rowNames(lines) == ["alpha", "bravo", "charlie", "delta"])
        // The first VM is selected; a long name is cut with an ellipsis at 80 columns.
        #expect(plain[4].hasPrefix(">alpha"))
        #expect(plain[4].contains("3G/4G") && plain[4].contains("2G"))
        #expect(plain[6].contains("charlie-w…"))
        #expect(plain[7].contains("paused"))
        #expect(plain[22].hasPrefix("q quit"))
        #expect(plain[23].contains("1 name") && plain[23].contains("4 pressure"))
        // Attributes are there, and take no columns.
        #expect(lines[3].contains("\u{1B}[7m"))
    }

    @Test func at160x50TheNameBarAndSparklineGrow() {
        var screen = Self.screen()
        for step in 1...30 { screen.apply(round: SampleRounds.round(time: 1_700_000_000 + Double(step) * 2)) }
        let narrow = screen.render(width: 80, height: 24).map(ScreenText.plain)
        let wide = screen.render(width: 160, height: 50).map(ScreenText.plain)
        Self.checkFits(screen.render(width: 160, height: 50), width: 160, height: 50)
        #expect(wide[6].contains("charlie-with-a-long-name"))
        #expect(wide[4].contains("reclaim idle memory"))
        // alpha has 2 of its 3 GiB available: two thirds of the bar.
        let narrowBar = TopScreen.Columns(width: 80).bar
        let wideBar = TopScreen.Columns(width: 160).bar
        #expect(wideBar > narrowBar)
        #expect(wide[4].filter { $0 == "█" }.count > narrow[4].filter { $0 == "█" }.count)
        let sparkWidth = TopScreen.Columns(width: 160).spark
        #expect(screen.sparkline("alpha", width: sparkWidth).count == sparkWidth)
        #expect(TopScreen.Columns(width: 80).spark < sparkWidth)
        // Fifty lines: the footer is at the bottom, blank lines between.
        #expect(wide[49].contains("1 name"))
        #expect(wide[20].isEmpty)
    }

    @Test func sortOrders() {
        var screen = Self.screen()
        #expect(screen.sortedVMs.map(\.name) == ["alpha", "bravo", "charlie-with-a-long-name", "delta"])
        #expect(screen.handle(.character("2")) == .none)
        #expect(screen.sort == .actual)
        #expect(screen.sortedVMs.map(\.name) == ["delta", "alpha", "charlie-with-a-long-name", "bravo"])
        _ = screen.handle(.character("3"))
        #expect(screen.sortedVMs.map(\.name) == ["bravo", "charlie-with-a-long-name", "delta", "alpha"])
        _ = screen.handle(.character("4"))
        // Pressured first, then the least available as a share of actual.
        #expect(screen.sortedVMs.map(\.name) == ["bravo", "charlie-with-a-long-name", "delta", "alpha"])
        #expect(Self.rowNames(screen.render(width: 80, height: 24)) == ["bravo", "charlie", "delta", "alpha"])
        _ = screen.handle(.character("1"))
        #expect(screen.sort == .name)
        // s cycles through all four and back.
        var seen: [TopScreen.SortKey] = []
        for _ in 0..<4 {
            _ = screen.handle(.character("s"))
            seen.append(screen.sort)
        }
        #expect(seen == [.actual, .available, .pressure, .name])
        // The footer shows the keys for it.
        #expect(ScreenText.plain(screen.render(width: 80, height: 24)[23]).hasPrefix("sort (s or 1-4): 1 name  2 actual  3 available  4 pressure"))
    }

    @Test func selectionFollowsTheVMWhenTheOrderChanges() {
        var screen = Self.screen()
        #expect(screen.selectedVM?.name == "alpha")
        _ = screen.handle(.down)
        _ = screen.handle(.character("j"))
        #expect(screen.selectedVM?.name == "charlie-with-a-long-name")
        _ = screen.handle(.character("k"))
        #expect(screen.selectedVM?.name == "bravo")
        _ = screen.handle(.up)
        _ = screen.handle(.up)
        #expect(screen.selectedVM?.name == "alpha", "stops at the top")
        _ = screen.handle(.character("2"))
        #expect(screen.selectedVM?.name == "alpha")
        let plain = screen.render(width: 80, height: 24).map(ScreenText.plain)
        #expect(plain[5].hasPrefix(">alpha"), "alpha is second by actual, and still selected")
        // A VM that goes away hands the selection to the first, and a pin being typed for it is dropped.
        _ = screen.handle(.character("i"))
        screen.apply(round: SampleRounds.round(vms: [SampleRounds.vm("echo", actual: SampleRounds.gib, available: nil)]))
        #expect(screen.selectedVM?.name == "echo")
        #expect(screen.prompt == nil)
    }

    @Test func keysAskTheDaemon() {
        var screen = Self.screen()
        #expect(screen.handle(.character("p")) == .send(.init(method: .post, path: "/v1/pause", body: ["vm": "alpha"], what: "pause alpha")))
        #expect(screen.handle(.character("P")) == .send(.init(method: .post, path: "/v1/pause", body: [:], what: "pause the whole host")))
        #expect(screen.handle(.character("u")) == .send(.init(method: .delete, path: "/v1/vms/alpha/pin", body: nil, what: "unpin alpha")))
        for _ in 0..<3 { _ = screen.handle(.down) }
        #expect(screen.selectedVM?.name == "delta")
        #expect(screen.handle(.character("p")) == .send(.init(method: .post, path: "/v1/resume", body: ["vm": "delta"], what: "resume delta")))
        var paused = Self.screen(SampleRounds.round(hostPaused: true))
        #expect(paused.handle(.character("P")) == .send(.init(method: .post, path: "/v1/resume", body: [:], what: "resume the whole host")))
        #expect(ScreenText.plain(paused.render(width: 80, height: 24)[2]).contains("HOST PAUSED"))
        #expect(screen.handle(.character("q")) == .quit)
        #expect(screen.handle(.interrupt) == .quit)
    }

    @Test func thePinPrompt() {
        var screen = Self.screen()
        #expect(screen.handle(.character("i")) == .none)
        #expect(screen.prompt == "")
        for character in "2GX" { _ = screen.handle(.character(character)) }
        _ = screen.handle(.backspace)
        for character in "iB" { _ = screen.handle(.character(character)) }
        #expect(ScreenText.plain(screen.render(width: 80, height: 24)[21]).hasPrefix("pin alpha to: 2GiB"))
        // q is text in the prompt, not quit.
        #expect(screen.handle(.character("q")) == .none)
        _ = screen.handle(.backspace)
        #expect(screen.handle(.enter) == .send(.init(method: .post, path: "/v1/vms/alpha/pin", body: ["size": "2GiB"], what: "pin alpha to 2GiB")))
        #expect(screen.prompt == nil)

        // A bad size stays in the prompt, with the reason beside it.
        _ = screen.handle(.character("i"))
        for character in "lots" { _ = screen.handle(.character(character)) }
        #expect(screen.handle(.enter) == .none)
        #expect(screen.prompt == "lots")
        #expect(ScreenText.plain(screen.render(width: 100, height: 24)[21]).contains("bad size 'lots'"))
        // Esc cancels.
        #expect(screen.handle(.escape) == .none)
        #expect(screen.prompt == nil)
        _ = screen.handle(.character("i"))
        for character in "50%" { _ = screen.handle(.character(character)) }
        #expect(screen.handle(.enter) == .send(.init(method: .post, path: "/v1/vms/alpha/pin", body: ["size": "50%"], what: "pin alpha to 50%")))
    }

    @Test func theStatusLineLastsAFewSeconds() {
        var screen = Self.screen()
        screen.showStatus("alpha paused")
        #expect(ScreenText.plain(screen.render(width: 80, height: 24)[21]) == "alpha paused")
        screen.now += TopScreen.statusSeconds + 0.1
        #expect(ScreenText.plain(screen.render(width: 80, height: 24)[21]).isEmpty)
        screen.apply(operatorEvent: ["type": "operator", "act": "pin", "vm": "bravo", "message": "bravo pinned to 1 GiB"])
        #expect(ScreenText.plain(screen.render(width: 80, height: 24)[21]) == "bravo pinned to 1 GiB")
    }

    @Test func neverWiderOrTallerThanTheTerminal() {
        var generator = SeededRandom(seed: 12)
        let states = ["ok", "connecting", "unreachable", "no_balloon", "quarantined", "no_stats", "stale_stats", "paused", "pinned"]
        for _ in 0..<200 {
            let count = Int.random(in: 0...30, using: &generator)
            let vms = (0..<count).map { index -> JSON in
                let actual = UInt64.random(in: 1...(1 << 42), using: &generator)
                let name = String(repeating: "vm\(index)-界", count: Int.random(in: 1...12, using: &generator))
                return SampleRounds.vm(
                    name, state: states.randomElement(using: &generator)!, actual: actual, max: actual * 2,
                    available: Bool.random(using: &generator) ? UInt64.random(in: 0...actual, using: &generator) : nil,
                    pressured: Bool.random(using: &generator))
            }
            var screen = Self.screen(SampleRounds.round(vms: vms))
            screen.sort = TopScreen.SortKey.allCases.randomElement(using: &generator)!
            if Bool.random(using: &generator) { _ = screen.handle(.character("i")) }
            let width = Int.random(in: 1...220, using: &generator)
            let height = Int.random(in: 1...70, using: &generator)
            Self.checkFits(screen.render(width: width, height: height), width: width, height: height)
        }
    }

    @Test func sparklines() {
        #expect(ScreenText.sparkline([0, 0.5, 1, nil, 2, -1]) == "▁▅█ █▁")
        var screen = Self.screen()
        // alpha's share of available falls from all to nothing over the minute, one round every 2 s.
        for step in 0...30 {
            let share = 1 - Double(step) / 30
            let vm = SampleRounds.vm("alpha", actual: 4 * SampleRounds.gib, available: UInt64(share * Double(4 * SampleRounds.gib)))
            screen.apply(round: SampleRounds.round(time: 1_700_000_000 + Double(step) * 2, vms: [vm]))
        }
        let line = screen.sparkline("alpha", width: 10)
        #expect(line.count == 10)
        #expect(line.first == "█")
        #expect(line.last == "▁")
        #expect(Array(line) == Array(line).sorted { ScreenText.sparks.firstIndex(of: $0)! > ScreenText.sparks.firstIndex(of: $1)! })
        // A VM seen for the first time has a blank history but its latest point.
        screen.apply(round: SampleRounds.round(time: 1_700_000_062, vms: [SampleRounds.vm("new", actual: SampleRounds.gib, available: SampleRounds.gib / 2)]))
        #expect(screen.sparkline("new", width: 5) == "    ▅")
        #expect(screen.sparkline("alpha", width: 5) == "     ", "gone VMs lose their history")
    }

    @Test func keyDecoding() {
        var decoder = TerminalKeyDecoder()
        #expect(decoder.decode(Array("q2jk".utf8)) == [.character("q"), .character("2"), .character("j"), .character("k")])
        #expect(decoder.decode([0x1B, 0x5B, 0x41, 0x1B, 0x4F, 0x42]) == [.up, .down])
        // A sequence cut by the read waits for its end.
        #expect(decoder.decode([0x1B, 0x5B]) == [])
        #expect(decoder.decode([0x42]) == [.down])
        #expect(decoder.decode([0x1B]) == [.escape])
        #expect(decoder.decode([0x0D, 0x7F, 0x08, 0x03]) == [.enter, .backspace, .backspace, .interrupt])
        // Right arrow and F1 do nothing.
        #expect(decoder.decode([0x1B, 0x5B, 0x43, 0x1B, 0x4F, 0x50, 0x1B, 0x5B, 0x31, 0x35, 0x7E]) == [])
        let accented = Array("é".utf8)
        #expect(decoder.decode([accented[0]]) == [])
        #expect(decoder.decode([accented[1]]) == [.character("é")])
    }

    @Test func aSnapshotIsPlainTextWithoutKeys() {
        var screen = Self.screen()
        screen.interactive = false
        let lines = screen.render(width: 100, height: TopScreen.headerLines + 4)
        #expect(lines.allSatisfy { !$0.contains("\u{1B}") })
        #expect(Self.rowNames(lines) == ["alpha", "bravo", "charlie", "delta"])
        #expect(!lines.contains { $0.hasPrefix(">") || $0.contains("q quit") })
    }

    @Test func widthsAndCuts() {
        #expect(ScreenText.width("\u{1B}[1;31mabc\u{1B}[0m") == 3)
        #expect(ScreenText.width("界x") == 3)
        #expect(ScreenText.cut("abcdef", 4) == "abc…")
        #expect(ScreenText.fit("ab", 4, right: true) == "  ab")
        #expect(ScreenText.width(ScreenText.clip("\u{1B}[7mabcdef\u{1B}[0m", 3)) == 3)
        #expect(ScreenText.bar(0.5, width: 4) == "██  ")
        #expect(ScreenText.bar(0.3, width: 4) == "█▎  ")
        #expect(ScreenText.shortSize(3 << 30 + 768 << 20) == "3.75G")
        #expect(ScreenText.shortSize(768 << 20) == "768M")
        #expect(ScreenText.shortSize(nil) == "-")
    }
}
