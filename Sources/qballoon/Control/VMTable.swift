import QBalloonCore

/// What `qballoon vms` prints: one row per VM, columns as wide as their widest cell.
///
/// ```
/// NAME    STATE   ACTUAL/MAX          TARGET    AVAILABLE  STATS-AGE  LAST RULE
/// db      ok      3 GiB / 4 GiB       3 GiB     1.2 GiB    1s         reclaim idle
/// web     pinned  1 GiB / 2 GiB       1 GiB     310 MiB    2s         operator
/// ```
enum VMTable {
    static let headers = ["NAME", "STATE", "ACTUAL/MAX", "TARGET", "AVAILABLE", "STATS-AGE", "LAST RULE"]

    static func render(_ round: RoundView) -> String {
        var rows = [headers]
        for vm in round.vms {
            rows.append([
                vm.name, vm.state, "\(size(vm.actual)) / \(size(vm.max))", size(vm.target), size(vm.available),
                vm.statsAge.map(ClockText.age) ?? "-", vm.lastRule ?? "-",
            ])
        }
        var widths = Array(repeating: 0, count: headers.count)
        for row in rows {
            for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
        }
        var lines = rows.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
            }.joined(separator: "  ")
        }
        if round.vms.isEmpty { lines.append("(no VMs: the config names none, or no socket matches its globs)") }
        if round.host.paused { lines.append("the whole host is paused: nothing moves until `qballoon resume`") }
        if round.host.dryRun { lines.append("dry run: decisions are logged, no balloon is changed") }
        return lines.joined(separator: "\n")
    }

    /// A size as every message shows it, `-` when unknown.
    static func size(_ bytes: UInt64?) -> String { bytes.map(MemorySize.format) ?? "-" }
}
