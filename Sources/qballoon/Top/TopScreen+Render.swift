import QBalloonCore

extension TopScreen {
    /// The lines above the VMs: title, host, VMs by state, column headers.
    static let headerLines = 4
    /// The lines below the VMs when interactive: the status (or prompt) line and two of keys.
    static let footerLines = 3

    /// The column widths at a terminal width: name, bar and sparkline grow with wider terminals, the last
    /// rule takes the rest; below 80 columns the sparkline, bar and name give way first.
    struct Columns: Sendable, Hashable {
        static let state = 11
        static let actualMax = 11
        static let target = 6
        static let available = 6
        /// The marker, the columns above and a space between each.
        static let fixed = 1 + state + actualMax + target + available + 7

        var name: Int
        var bar: Int
        var spark: Int
        var rule: Int

        init(width: Int) {
            let extra = max(0, width - 80)
            name = 10 + min(22, extra / 5)
            bar = 5 + min(25, extra / 6)
            spark = 10 + min(50, extra / 4)
            rule = width - Self.fixed - name - bar - spark
            // Narrower than 80: the sparkline goes first, then the bar, then the name down to 4.
            if rule < 6 { spark = max(0, spark - (6 - rule)); rule = width - Self.fixed - name - bar - spark }
            if rule < 6 { bar = max(0, bar - (6 - rule)); rule = width - Self.fixed - name - bar - spark }
            if rule < 0 { name = max(4, name + rule); rule = max(0, width - Self.fixed - name - bar - spark) }
        }
    }

    /// The screen: exactly `height` lines, none wider than `width` columns (escapes take no columns).
    func render(width: Int, height: Int) -> [String] {
        let width = max(1, width)
        let columns = Columns(width: width)
        var lines = [titleLine(width: width), hostLine(width: width), statesLine(), columnHeader(columns)]
        let vms = sortedVMs
        if interactive {
            let room = max(0, height - Self.headerLines - Self.footerLines)
            // Scroll so the selected VM is in view.
            let index = selected.flatMap { name in vms.firstIndex { $0.name == name } } ?? 0
            let first = max(0, min(index - room + 1, vms.count - room))
            let shown = vms.dropFirst(first).prefix(room)
            lines += shown.map { row($0, columns) }
            if vms.isEmpty, room > 0 { lines.append(round.time == nil ? " waiting for the first round…" : " no VMs") }
            while lines.count < Self.headerLines + room { lines.append("") }
            lines.append(statusLine(width: width, hidden: vms.count - shown.count))
            lines += footer(width: width)
        } else {
            lines += vms.map { row($0, columns) }
        }
        lines = Array(lines.prefix(height))
        while lines.count < height { lines.append("") }
        return lines.map { ScreenText.clip($0, width) }
    }

    private func styled(_ text: String, _ attributes: ScreenText.Attribute...) -> String {
        ScreenText.styled(text, attributes, enabled: interactive)
    }

    private func titleLine(width: Int) -> String {
        let left = "qballoon top  " + socketPath
        let right = round.time.map { "round " + ClockText.timeOfDay($0) } ?? "waiting for the first round"
        let gap = max(2, width - ScreenText.width(left) - ScreenText.width(right))
        return styled(left, .bold) + String(repeating: " ", count: gap) + right
    }

    /// Sizes as every message writes them, or shorter (`23.5G`) when that would not fit.
    private func hostLine(width: Int) -> String {
        let host = round.host
        func line(_ size: (UInt64?) -> String) -> String {
            var text = "host  total \(size(host.total))  available \(size(host.available))  reserve \(size(host.reserve))"
            text += "  returned \(size(host.returned))"
            if let psi = host.psiSome10 { text += "  psi \((psi * 10).rounded() / 10)%" }
            return text
        }
        let long = line { $0.map(MemorySize.format) ?? "-" }
        return ScreenText.width(long) <= width ? long : line(ScreenText.shortSize)
    }

    private func statesLine() -> String {
        let host = round.host
        let count = host.vms ?? round.vms.count
        var text = "vms   \(count)"
        let states = host.statesText
        if !states.isEmpty { text += ": " + states }
        if host.paused { text += "  " + styled(" HOST PAUSED ", .reverse, .yellow) }
        if host.dryRun { text += "  " + styled("dry run", .yellow) }
        return text
    }

    private func columnHeader(_ columns: Columns) -> String {
        var cells = [
            " " + ScreenText.fit("NAME", columns.name), ScreenText.fit("STATE", Columns.state),
            ScreenText.fit("ACTUAL/MAX", Columns.actualMax), ScreenText.fit("TARGET", Columns.target, right: true),
        ]
        cells.append(ScreenText.fit("AVAILABLE", Columns.available + (columns.bar > 0 ? 1 + columns.bar : 0)))
        if columns.spark > 0 { cells.append(ScreenText.fit("LAST 60s", columns.spark)) }
        if columns.rule > 0 { cells.append(ScreenText.fit("LAST RULE", columns.rule)) }
        let line = cells.joined(separator: " ")
        return interactive ? styled(line, .reverse) : line
    }

    private func row(_ vm: VMView, _ columns: Columns) -> String {
        let isSelected = interactive && vm.name == selected
        // Inside the selected row's reverse video, cells carry no attributes of their own.
        func cell(_ text: String, _ attributes: ScreenText.Attribute...) -> String {
            isSelected ? text : ScreenText.styled(text, attributes, enabled: interactive)
        }
        let actualMax = ScreenText.shortSize(vm.actual) + "/" + ScreenText.shortSize(vm.max ?? vm.ram)
        var cells = [
            (isSelected ? ">" : " ") + cell(ScreenText.fit(vm.name, columns.name), vm.pressured ? .red : .bold),
            cell(ScreenText.fit(vm.state, Columns.state), Self.stateColor(vm.state)),
            ScreenText.fit(actualMax, Columns.actualMax),
            ScreenText.fit(ScreenText.shortSize(vm.target), Columns.target, right: true),
        ]
        let fraction = Self.availableFraction(vm)
        var available = ScreenText.fit(ScreenText.shortSize(vm.available), Columns.available, right: true)
        if columns.bar > 0 {
            let bar = ScreenText.bar(fraction ?? 0, width: columns.bar)
            let color: ScreenText.Attribute = (fraction ?? 1) < 0.1 ? .red : (fraction ?? 1) < 0.25 ? .yellow : .green
            available += " " + cell(bar, color)
        }
        cells.append(available)
        if columns.spark > 0 { cells.append(cell(sparkline(vm.name, width: columns.spark), .cyan)) }
        if columns.rule > 0 {
            let rule = vm.isProblem ? (vm.status ?? vm.state) : vm.state == "pinned" ? (vm.status ?? "pinned") : vm.lastRule ?? "-"
            cells.append(ScreenText.fit(rule, columns.rule))
        }
        let line = cells.joined(separator: " ")
        return isSelected ? styled(line, .reverse) : line
    }

    static func stateColor(_ state: String) -> ScreenText.Attribute {
        switch state {
        case "ok": return .green
        case "paused", "pinned": return .cyan
        case "connecting", "no_stats", "stale_stats": return .yellow
        default: return .red
        }
    }

    /// The VM's `available` (as a share of actual) over the last minute, one character per `width`th of it;
    /// a stretch with no round repeats the one before, and before the first round it is blank.
    func sparkline(_ name: String, width: Int) -> String {
        guard width > 0 else { return "" }
        let samples = history[name] ?? []
        guard let end = samples.last?.time else { return String(repeating: " ", count: width) }
        let start = end - Self.historySeconds
        let step = Self.historySeconds / Double(width)
        var values: [Double?] = []
        var index = 0
        var last: Double?? = nil
        for bucket in 0..<width {
            let bucketEnd = bucket == width - 1 ? end + 1 : start + step * Double(bucket + 1)
            while index < samples.count, samples[index].time < bucketEnd {
                last = .some(samples[index].value)
                index += 1
            }
            values.append(last ?? nil)
        }
        return ScreenText.sparkline(values)
    }

    private func statusLine(width: Int, hidden: Int) -> String {
        if let prompt {
            let name = selected ?? "?"
            let line = styled("pin \(name) to: ", .bold) + prompt + "▏  "
            if let status = visibleStatus, status.isError { return line + styled(status.text, .red, .bold) }
            return line + styled("(a size like 2GiB or 50%; Enter pins, Esc cancels)", .dim)
        }
        if let status = visibleStatus {
            return status.isError ? styled(status.text, .red, .bold) : styled(status.text, .green)
        }
        if hidden > 0 { return styled("\(hidden) more VMs: ↑↓ to scroll", .dim) }
        return ""
    }

    /// The keys, in two lines that fit 80 columns; the sparkline's legend where there is room.
    private func footer(width: Int) -> [String] {
        let keys = "q quit  ↑↓ j k select  p pause/resume VM  P pause/resume host  i pin  u unpin"
        let sorts = SortKey.allCases.map { key in
            key == sort ? styled("\(key.rawValue) \(key.title)", .reverse) : "\(key.rawValue) \(key.title)"
        }.joined(separator: "  ")
        var second = "sort (s or 1-4): " + sorts
        let legend = "   LAST 60s: available/actual"
        if ScreenText.width(second + legend) <= width { second += styled(legend, .dim) }
        return [keys, second]
    }
}
