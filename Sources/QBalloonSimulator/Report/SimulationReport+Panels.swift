extension SimulationReport {
    /// The host over time: its memory, what it had available, the memory the balloons returned, the reserve.
    static func hostPanel(_ runs: [SimulationRun], labels: [String], time: TimeAxis) -> String {
        let largest = runs.flatMap { [$0.hostTotal] + $0.host.available + $0.host.returned }.max() ?? 0
        var chart = ReportChart(size: .wide, time: time, memory: SizeAxis(holding: largest, steps: 5))
        for (index, run) in runs.enumerated() {
            chart.level(run.hostTotal, series: .hostTotal, run: index)
            chart.level(run.reserve, series: .reserve, run: index)
            chart.line(times: run.host.times, values: run.host.available, series: .hostAvailable, run: index)
            chart.line(times: run.host.times, values: run.host.returned, series: .returned, run: index)
        }
        return "<h2>Host</h2>\n<div class=\"panel host\">\n" + ReportStyle.hostLegend(labels: labels) + "\n"
            + chart.svg(label: "host memory over time") + "\n</div>\n"
    }

    /// One panel per VM (every name in any run), worst first: most would-be OOM events in any run, then most
    /// time short, then by name. Wide when there are one or two, a grid of small ones otherwise.
    static func vmPanels(_ runs: [SimulationRun], labels: [String], time: TimeAxis) -> String {
        var byName: [String: [VMRun?]] = [:]
        for (index, run) in runs.enumerated() {
            for vm in run.vms {
                byName[vm.name, default: Array(repeating: nil, count: runs.count)][index] = vm
            }
        }
        let ordered = byName.sorted { left, right in
            let (leftOOM, leftShort) = worst(left.value)
            let (rightOOM, rightShort) = worst(right.value)
            if leftOOM != rightOOM { return leftOOM > rightOOM }
            if leftShort != rightShort { return leftShort > rightShort }
            return left.key < right.key
        }
        let withOOM = ordered.filter { worst($0.value).events > 0 }.count
        let short = ordered.filter { worst($0.value).events == 0 && worst($0.value).short > 0 }.count
        var html = "<h2>VMs</h2>\n<p class=\"what\">\(ordered.count) VM\(ordered.count == 1 ? "" : "s"), worst first: "
        html += "\(withOOM) with would-be OOMs, \(short) short at times, \(ordered.count - withOOM - short) never short.</p>\n"
        let size: ReportChart.Size = ordered.count <= 2 ? .wide : .compact
        html += ReportStyle.vmLegend(labels: labels) + "\n<div class=\"vms\(size == .wide ? " wide" : "")\">\n"
        for (position, entry) in ordered.enumerated() {
            html += vmPanel(name: entry.key, entry.value, labels: labels, time: time, size: size, id: position)
        }
        return html + "</div>\n"
    }

    /// The most would-be OOM events and time short of a VM over the runs.
    private static func worst(_ vms: [VMRun?]) -> (events: Int, short: Double) {
        (vms.map { $0?.figures.outOfMemoryEvents ?? 0 }.max() ?? 0, vms.map { $0?.figures.shortSeconds ?? 0 }.max() ?? 0)
    }

    static func vmPanel(name: String, _ vms: [VMRun?], labels: [String], time: TimeAxis, size: ReportChart.Size, id: Int) -> String {
        let present = vms.compactMap { $0 }
        var largest: UInt64 = 0
        for vm in present {
            let line = vm.timeline
            for values in [[vm.ram, vm.max], line.actual, line.target, line.need, line.available] {
                largest = Swift.max(largest, values.max() ?? 0)
            }
        }
        var chart = ReportChart(size: size, time: time, memory: SizeAxis(holding: largest, steps: size == .wide ? 5 : 4))
        let compare = labels.count > 1
        var badges: [String] = []
        var facts = present.first.map { ["RAM \(ReportText.size($0.ram))"] } ?? []
        for (index, vm) in vms.enumerated() {
            let prefix = compare ? labels[index] + ": " : ""
            guard let vm else {
                facts.append("not in \(labels[index])")
                continue
            }
            chart.shade(vm.short, as: .short, run: index, what: prefix + "short")
            chart.shade(vm.outOfMemory, as: .outOfMemory, run: index, what: prefix + "would-be OOM")
            chart.level(vm.max, series: .max, run: index)
            let line = vm.timeline
            chart.line(times: line.times, values: line.available, series: .available, run: index)
            chart.line(times: line.times, values: line.need, series: .need, run: index)
            chart.line(times: line.times, values: line.target, series: .target, run: index, stepped: true)
            chart.line(times: line.times, values: line.actual, series: .actual, run: index)
            let figures = vm.figures
            if figures.outOfMemoryEvents > 0 {
                badges.append(
                    "<span class=\"badge oom\">\(prefix)\(figures.outOfMemoryEvents) would-be OOM (\(ReportText.duration(figures.outOfMemorySeconds)))</span>")
            }
            if figures.shortSeconds > 0 {
                badges.append("<span class=\"badge short\">\(prefix)short \(ReportText.duration(figures.shortSeconds))</span>")
            }
            if figures.outOfMemoryEvents == 0, figures.shortSeconds == 0 {
                badges.append("<span class=\"badge ok\">\(prefix)never short</span>")
            }
            facts.append(
                "\(prefix)max \(ReportText.size(vm.max)), min \(ReportText.size(vm.min)), returned \(ReportText.size(figures.returnedMean)) "
                    + "on average, \(figures.changes) change\(figures.changes == 1 ? "" : "s")")
        }
        let escaped = ReportText.escape(name)
        return "<section class=\"panel vm\" id=\"vm-\(id)\"><h3>\(escaped)</h3>\(badges.joined())\n"
            + "<p class=\"facts\">\(facts.joined(separator: " · "))</p>\n"
            + chart.svg(label: "\(name): memory over time") + "\n</section>\n"
    }
}
