import QBalloonCore
import QBalloonJSON

extension GuestStats {
    /// The statistics as the CLI prints them with `--json`: `available_bytes`, `free_bytes`, `total_bytes`,
    /// `disk_caches_bytes`, `swap_in_bytes`, `swap_out_bytes`, `major_faults`, `minor_faults`
    /// (null when unreported).
    public var json: JSON {
        func value(_ number: UInt64?) -> JSON { number.map(JSON.unsigned) ?? .null }
        return [
            "available_bytes": value(available),
            "free_bytes": value(free),
            "total_bytes": value(total),
            "disk_caches_bytes": value(diskCaches),
            "swap_in_bytes": value(swapIn),
            "swap_out_bytes": value(swapOut),
            "major_faults": value(majorFaults),
            "minor_faults": value(minorFaults),
        ]
    }
}
