import QBalloonCore

extension QBalloonConfig {
    /// A one-screen summary for `qballoon check`: daemon settings, the host reserve, each VM with its effective
    /// limits (percentages shown as such, resolved against the VM's RAM when it attaches), and the rules in order.
    public var summary: String {
        var lines: [String] = []
        lines.append("\(file): OK, \(vms.count) VM \(vms.count == 1 ? "entry" : "entries"), \(rules.count) rule\(rules.count == 1 ? "" : "s")")
        var daemonLine = "daemon: every \(DurationText.format(daemon.interval)), guest stats every \(DurationText.format(daemon.statsInterval))"
        daemonLine += ", stale after \(DurationText.format(daemon.staleAfter)), command timeout \(DurationText.format(daemon.commandTimeout))"
        lines.append(daemonLine)
        lines.append(
            "        dry run \(daemon.dryRun ? "on" : "off"), restore on exit \(daemon.restoreOnExit ? "on" : "off")"
                + ", metrics \(daemon.metricsListen?.hostPortText ?? "off"), decision log \(daemon.decisionLog ?? "off")")
        lines.append(
            "        control socket \(daemon.controlSocket.map { "\($0) (\(daemon.controlGroup.map { "group \($0), 0660" } ?? "0600"))" } ?? "off")"
                + ", pins and pauses kept in \(daemon.stateDirectory)")
        if let record = daemon.recordDirectory {
            lines.append("        every VM recorded into \(record) (at most \(MemorySize.format(daemon.recordMaxBytes)) of traces)")
        }
        let reserveText: String
        if case .percentOfMax = host.reserve {
            reserveText = "\(host.reserve) of host memory"
        } else {
            reserveText = host.reserve.description
        }
        let hardText = host.hardReserve.map { "down to \($0)" } ?? "down to half of it"
        if host.reserve == .bytes(0) {
            lines.append("host: no reserve: no memory is taken back for the host (rules alone shrink guests)")
        } else {
            lines.append(
                "host: keep MemAvailable above \(reserveText) (a guest that needs memory may take it \(hardText));"
                    + " idle-memory tax \(formatNumber(host.idleTax * 100))%")
        }
        lines.append("")
        let header = ["VM", "REACHED BY", "CONNECT", "MIN", "MAX", "STEP", "GROW", "COOLDOWN", "SHARES"]
        var rows: [[String]] = [header]
        for vm in vms {
            let s = vm.settings
            rows.append([
                vm.name ?? (vm.libvirt != nil ? "(domain name)" : "(socket name)"),
                vm.socketGlob.map { "\($0) (glob)" } ?? vm.address?.description ?? vm.target,
                s.connect.rawValue, s.min.description, s.max.description, s.step.description, s.growStep.description,
                DurationText.format(s.cooldown), String(s.shares),
            ])
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            var line = ""
            for (column, cell) in row.enumerated() {
                line += column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count + 2)
            }
            lines.append(line)
        }
        let d = defaults
        lines.append(
            "deadband \(d.deadband) (at least 16 MiB or 1% of max), give back \(d.giveBack) after a stall"
                + " (at least 64 MiB), stall after \(DurationText.format(d.stallAfter)), hold \(DurationText.format(d.stallHold))"
                + ", grow on pressure \(d.growOnPressure ? "on" : "off")")
        let reaction = daemon.statsInterval.seconds + daemon.interval.seconds + 1
        lines.append(
            "need: headroom \(d.headroom) (at least 64 MiB), or \(rate(d.growthAllowance)) for the \(formatNumber(reaction))s"
                + " the daemon takes to react (\(MemorySize.format(UInt64(Swift.min(d.growthAllowance * reaction, 1.8e19)))))")
        lines.append(
            "      no shrink while use grows over \(rate(d.needRising)) (over \(DurationText.format(d.trendWindow))),"
                + " below its peak of the last \(DurationText.format(d.peakWindow)) plus headroom,"
                + " or for \(DurationText.format(d.pressureHold)) after pressure;"
                + " pressure within \(DurationText.format(d.shrinkWatch)) of a shrink undoes it")
        lines.append("pressure: \(d.pressure)")
        for vm in vms where vm.settings.pressure != d.pressure {
            lines.append("  \(vm.name ?? vm.target): \(vm.settings.pressure)")
        }
        lines.append("")
        if rules.isEmpty {
            lines.append("rules: none (only the safety envelope, pressure growth and the host reserve act)")
        } else {
            lines.append("rules, in order (the first whose 'when' holds sets the target):")
        }
        for (index, rule) in rules.enumerated() {
            let scope = rule.vms.isEmpty ? "" : "  [vms: \(rule.vms.joined(separator: ", "))]"
            lines.append("  \(index + 1). \(rule.name)\(scope)")
            lines.append("     when \(rule.when.source)")
            lines.append("     set  \(rule.set.source)")
        }
        return lines.joined(separator: "\n")
    }
}

/// A rate in bytes per second, as written in a config: "40 MiB/s".
private func rate(_ bytesPerSecond: Double) -> String {
    MemorySize.format(UInt64(Swift.max(0, bytesPerSecond))) + "/s"
}

/// A percentage or fraction as the summary shows it: whole numbers as is, others to three decimals.
private func formatNumber(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return String((value * 1000).rounded() / 1000)
}
