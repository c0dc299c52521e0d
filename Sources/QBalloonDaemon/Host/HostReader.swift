import QBalloonCore
import QBalloonRules

/// Reads the host's memory from `/proc` (or the paths in `[host]`): the I/O half of ``HostSample``.
public enum HostReader {
    /// A missing pressure file (a kernel without PSI) leaves ``HostSample/pressure`` nil; a missing meminfo
    /// gives a sample with no figures, and the arbiter then leaves the host reserve alone.
    public static func read(_ settings: HostSettings) -> HostSample {
        HostSample(
            meminfo: TextFile.read(settings.meminfoPath) ?? "", pressure: TextFile.read(settings.pressurePath))
    }
}
