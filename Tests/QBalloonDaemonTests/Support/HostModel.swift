import Glibc
import QBalloonRules
import Synchronization

/// The host's memory as the daemon reads it in a test (`Daemon.Options.readHost`).
///
/// Either fixed figures, or a small model of a host whose only big users are the test's VMs: its
/// MemAvailable is `capacity` minus what the guests hold now (read from the guests themselves, not from what
/// the daemon saw), so memory a balloon takes back shows up as available on the host at once, and memory it
/// gives a guest is gone at once.
final class HostModel: Sendable {
    static let gib: UInt64 = 1 << 30
    static let total: UInt64 = 64 << 30

    private enum Mode {
        case fixed(available: UInt64)
        case model(capacity: UInt64)
    }

    private struct State {
        var mode: Mode = .fixed(available: 48 << 30)
        var total: UInt64 = HostModel.total
        /// What the VMs held when last told (``setVMBytes(_:)``), when nothing reads them live.
        var vmBytes: UInt64 = 0
        var live: (@Sendable () -> UInt64)?
    }

    private let state = Mutex(State())

    /// Reads what the VMs hold from `vmBytes` every time (VMs in memory, virtual time).
    func follow(_ vmBytes: @escaping @Sendable () -> UInt64) {
        state.withLock { $0.live = vmBytes }
    }

    /// What the VMs hold now, when they are read from outside (fake servers over sockets).
    func setVMBytes(_ bytes: UInt64) {
        state.withLock { $0.vmBytes = bytes }
    }

    private func held(_ state: State) -> UInt64 { state.live?() ?? state.vmBytes }

    private let held = Atomic<Bool>(false)

    /// While set, reading the host blocks the thread that reads it: the decision loop is stuck.
    func hold(_ stuck: Bool) {
        held.store(stuck, ordering: .releasing)
    }

    /// The sample the daemon reads.
    func sample(_ settings: HostSettings) -> HostSample {
        while held.load(ordering: .acquiring) { usleep(1000) }
        let (mode, live, cached, total) = state.withLock { ($0.mode, $0.live, $0.vmBytes, $0.total) }
        let held = live?() ?? cached
        let available: UInt64
        switch mode {
        case .fixed(let bytes): available = bytes
        case .model(let capacity): available = capacity > held ? capacity - held : 0
        }
        return HostSample(total: total, available: available, free: available / 2, swapTotal: 0, swapFree: 0)
    }

    /// A small host of `total` bytes whose own processes use `hostUse`: its MemAvailable is what the guests leave
    /// of the rest (the overcommitted host: 2.25 GiB for two 1 GiB guests and 256 MiB of its own).
    func synthetic(total: UInt64, hostUse: UInt64) {
        state.withLock { state in
            state.total = total
            state.mode = .model(capacity: total - hostUse)
        }
    }

    /// Plenty of memory: the reserve never matters.
    func plenty() {
        state.withLock { $0.mode = .fixed(available: 48 << 30) }
    }

    /// From now on the host's available memory is `reserve - short` while the VMs hold what they hold now,
    /// and rises as they give memory back.
    func shortOfReserve(_ reserve: UInt64, by short: UInt64) {
        let held = currentVMBytes()
        state.withLock { $0.mode = .model(capacity: held + reserve - short) }
    }

    /// From now on the host has `room` above its reserve while the VMs hold what they hold now, and less
    /// as they grow.
    func aboveReserve(_ reserve: UInt64, by room: UInt64) {
        let held = currentVMBytes()
        state.withLock { $0.mode = .model(capacity: held + reserve + room) }
    }

    private func currentVMBytes() -> UInt64 {
        let (live, cached) = state.withLock { ($0.live, $0.vmBytes) }
        return live?() ?? cached
    }
}
