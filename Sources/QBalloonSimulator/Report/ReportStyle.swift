/// How the report looks: its one inline style sheet, the hatch patterns the runs after the first shade with, and
/// the legends. Colours stay the same across configs; a second config's lines are dashed and its intervals hatched.
enum ReportStyle {
    static let css = """
        body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:16px 20px;color:#222;background:#fff}
        h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 6px}h3{font-size:14px;margin:0;display:inline}
        p.what{color:#333;margin:2px 0}code{font-size:13px;background:#f3f3f3;padding:0 3px;border-radius:3px}
        table{border-collapse:collapse;margin:6px 0}th,td{padding:3px 10px;border-bottom:1px solid #e4e4e4;text-align:right}
        th{background:#f6f6f6}th:first-child,td:first-child{text-align:left}td.note{color:#777;text-align:left;font-size:12px}
        td.better{background:#dcf2dc;font-weight:600}
        .legend{display:flex;flex-wrap:wrap;gap:4px 18px;align-items:center;font-size:13px;padding:6px 2px;background:#fff}
        .legend svg{vertical-align:middle;margin-right:5px}
        .sticky{position:sticky;top:0;z-index:1;border-bottom:1px solid #ddd}
        .vms{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,660px),1fr));gap:12px 14px;margin-top:8px}
        .vms.wide{grid-template-columns:1fr}
        .panel{border:1px solid #ddd;border-radius:6px;padding:6px 8px 2px;background:#fff}
        .facts{color:#666;font-size:12px;margin:1px 0 3px}
        svg.chart{display:block;max-width:100%;height:auto;font-size:11px}
        .plot{fill:#fdfdfd;stroke:#aaa}.grid{stroke:#e8e8e8}.tick{fill:#555}.axis{fill:#333}
        polyline{fill:none;stroke-width:1.5;stroke-linejoin:round}
        .max,.host-total{stroke:#555;stroke-width:1.3}.actual,.returned{stroke:#1f6fd1;stroke-width:2.2}
        .target{stroke:#8e44ad;stroke-width:1.4}.need{stroke:#d6267b}.available,.host-available{stroke:#2a9d3a}
        .reserve{stroke:#c0392b;stroke-width:1.3}
        polyline.r1{stroke-dasharray:7 4}polyline.r2{stroke-dasharray:2 3}
        rect.short.r0{fill:#f5b301;fill-opacity:.3}rect.oom.r0{fill:#e0302a;fill-opacity:.3}
        rect.short.r1,rect.short.r2{fill:url(#hatch-short)}rect.oom.r1,rect.oom.r2{fill:url(#hatch-oom)}
        .badge{display:inline-block;border-radius:9px;padding:0 7px;font-size:12px;font-weight:600;margin-left:6px}
        .badge.oom{background:#fbd3d0;color:#8e1b15}.badge.short{background:#fdebbd;color:#6e4e00}
        .badge.ok{background:#e2f1e2;color:#256b29}
        """

    /// The hatch patterns, once per page: an SVG of no size whose definitions every chart refers to.
    static let patterns = """
        <svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>
        <pattern id="hatch-short" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">\
        <rect width="6" height="6" fill="#f5b301" fill-opacity=".12"/><line x1="1" y1="0" x2="1" y2="6" stroke="#d99a00" stroke-width="2" stroke-opacity=".7"/></pattern>
        <pattern id="hatch-oom" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)">\
        <rect width="6" height="6" fill="#e0302a" fill-opacity=".12"/><line x1="1" y1="0" x2="1" y2="6" stroke="#c0392b" stroke-width="2" stroke-opacity=".7"/></pattern>
        </defs></svg>
        """

    /// A legend entry for a line.
    static func key(_ series: ReportChart.Series, run: Int = 0, _ text: String) -> String {
        "<span><svg width=\"30\" height=\"10\"><polyline class=\"\(series.rawValue) r\(run)\" points=\"1,5 29,5\"/></svg>\(text)</span>"
    }

    /// A legend entry for a shaded interval.
    static func key(_ shade: ReportChart.Shade, run: Int = 0, _ text: String) -> String {
        "<span><svg width=\"18\" height=\"12\"><rect class=\"\(shade.rawValue) r\(run)\" width=\"18\" height=\"12\"/></svg>\(text)</span>"
    }

    /// The legend of the VM panels; with several configs, which line style and shading is whose.
    static func vmLegend(labels: [String]) -> String {
        var keys = [
            key(.max, "max (the most it may have)"), key(.actual, "actual (the balloon's size)"),
            key(.target, "target (stepped)"), key(.need, "need (guest)"), key(.available, "available (guest)"),
        ]
        if labels.count <= 1 {
            keys += [key(.short, "short"), key(.outOfMemory, "would-be OOM")]
        } else {
            for (run, label) in labels.enumerated() {
                keys += [
                    key(.max, run: run, "\(label): \(run == 0 ? "solid" : "dashed")"),
                    key(.short, run: run, "\(label) short"), key(.outOfMemory, run: run, "\(label) would-be OOM"),
                ]
            }
        }
        return "<div class=\"legend sticky\">" + keys.joined() + "</div>"
    }

    /// The legend of the host panel.
    static func hostLegend(labels: [String]) -> String {
        var keys = [
            key(.hostTotal, "host memory"), key(.hostAvailable, "host available"),
            key(.returned, "memory returned (RAM − actual, all VMs)"), key(.reserve, "reserve"),
        ]
        if labels.count > 1 {
            keys += labels.enumerated().map { key(.hostTotal, run: $0.offset, "\($0.element): \($0.offset == 0 ? "solid" : "dashed")") }
        }
        return "<div class=\"legend\">" + keys.joined() + "</div>"
    }
}
