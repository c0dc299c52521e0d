/// How QEMU counts the balloon: in 4 KiB pages.
public enum BalloonPages {
    /// The balloon moves in pages of this many bytes.
    public static let size: UInt64 = 4096

    /// Where QEMU will actually stop for a `balloon` request: the request clamped to RAM, with the balloon
    /// (`ram - target`) rounded down to whole pages.
    public static func effectiveTarget(requested: UInt64, ramBytes: UInt64) -> UInt64 {
        guard requested < ramBytes else { return ramBytes }
        let pages = (ramBytes - requested) / size
        return ramBytes - pages * size
    }

    /// `bytes` rounded down to a whole page.
    public static func roundDown(_ bytes: UInt64) -> UInt64 { bytes / size * size }

    /// `bytes` rounded up to a whole page (saturating at the last whole page).
    public static func roundUp(_ bytes: UInt64) -> UInt64 {
        let (sum, overflow) = bytes.addingReportingOverflow(size - 1)
        return overflow ? roundDown(UInt64.max) : roundDown(sum)
    }
}
