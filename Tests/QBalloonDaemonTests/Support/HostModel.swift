import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonRules
import Synchronization

/// The host's memory as the daemon reads it in a test (`Orchestrator.Options.readHost`).
///
/// Either fixed figures, or a small model of a host whose only big users are the test's VMs: its
/// MemAvailable is `capacity` minus what the fake guests hold now (``TestFleet`` updates it every 50 ms
/// from the guests themselves, not from what the daemon saw), so memory a balloon takes back shows up as
/// available on the host at once, and memory it gives a guest is gone at once.
final class HostModel: Sendable {
    static let gib: UInt64 = 1 << 30
    static let total: UInt64 = 64 << 30

    private enum Mode {
        case fixed(available: UInt64)
        case model(capacity: UInt64)
    }

    private struct State {
        var mode: Mode = .fixed(available: 48 << 30)
        var vmBytes: UInt64 = 0
    }

    private let state = Mutex(State())
    private let guests = Mutex<[String: FakeQMPServer]>([:])

    /// The fake VMs running on this host.
    func track(_ name: String, _ server: FakeQMPServer?) {
        guests.withLock { $0[name] = server }
    }

    /// Reads what the fake guests hold now.
    func refresh() async {
        var held: UInt64 = 0
        for server in guests.withLock({ Array($0.values) }) { held += (try? await server.guestState().actual) ?? 0 }
        setVMBytes(held)
    }

    /// The sample the daemon reads.
    func sample(_ settings: HostSettings) -> HostSample {
        state.withLock { state in
            let available: UInt64
            switch state.mode {
            case .fixed(let bytes): available = bytes
            case .model(let capacity): available = capacity > state.vmBytes ? capacity - state.vmBytes : 0
            }
            return HostSample(total: Self.total, available: available, free: available / 2, swapTotal: 0, swapFree: 0)
        }
    }

    /// What the VMs hold now.
    func setVMBytes(_ bytes: UInt64) {
        state.withLock { $0.vmBytes = bytes }
    }

    /// Plenty of memory: the reserve never matters.
    func plenty() {
        state.withLock { $0.mode = .fixed(available: 48 << 30) }
    }

    /// From now on the host's available memory is `reserve - short` while the VMs hold what they hold now,
    /// and rises as they give memory back.
    func shortOfReserve(_ reserve: UInt64, by short: UInt64) {
        state.withLock { $0.mode = .model(capacity: $0.vmBytes + reserve - short) }
    }

    /// From now on the host has `room` above its reserve while the VMs hold what they hold now, and less
    /// as they grow.
    func aboveReserve(_ reserve: UInt64, by room: UInt64) {
        state.withLock { $0.mode = .model(capacity: $0.vmBytes + reserve + room) }
    }
}
