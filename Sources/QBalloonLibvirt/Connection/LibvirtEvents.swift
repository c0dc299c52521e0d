import CLibvirt
import NIOPosix

/// What libvirt says about a connection's domains without being asked (with ``LibvirtConnection/open(_:callTimeout:events:)``'s
/// `events`).
public enum LibvirtEvent: Sendable, Hashable {
    /// A domain started (or was restored, or migrated in).
    case started(domain: String)
    /// A domain stopped (shut down, destroyed, crashed, migrated away, saved).
    case stopped(domain: String)
    /// A domain's balloon moved: the guest has this much memory now (`BALLOON_CHANGE`).
    case balloonChanged(domain: String, actualBytes: UInt64)
    /// The connection to libvirt was lost (libvirtd went away or stopped answering keepalives): every later call
    /// on it fails.
    case closed(reason: String)
}

/// libvirt's own event loop (`virEventRegisterDefaultImpl`), run on a thread of its own for the whole process: it
/// carries domain events, keepalives and the close callback of every connection opened with events.
enum LibvirtEventLoop {
    /// Registers the loop and starts its thread, once; false when libvirt refused (events are then not available).
    static let running: Bool = {
        guard virEventRegisterDefaultImpl() == 0 else { return false }
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        thread.submit { _ in
            qb_virt_silence_errors()
            while virEventRunDefaultImpl() == 0 {}
        }
        return true
    }()
}

/// The Swift side of one connection's callbacks: a C pointer to it travels through libvirt as the callbacks'
/// context, retained until libvirt lets go of the last callback.
final class LibvirtEventSink: Sendable {
    let handler: @Sendable (LibvirtEvent) -> Void

    init(_ handler: @escaping @Sendable (LibvirtEvent) -> Void) {
        self.handler = handler
    }

    /// Registers the callbacks on `connection` (on the connection's thread); nil when libvirt refused.
    static func register(on connection: OpaquePointer, _ handler: @escaping @Sendable (LibvirtEvent) -> Void) -> UnsafeMutablePointer<qb_virt_events>? {
        let context = Unmanaged.passRetained(LibvirtEventSink(handler)).toOpaque()
        return qb_virt_register_events(
            connection,
            { context, kind, domain, event, value in
                guard let context else { return }
                let sink = Unmanaged<LibvirtEventSink>.fromOpaque(context).takeUnretainedValue()
                guard let happened = LibvirtEventSink.event(kind: kind, domain: domain, event: event, value: value) else { return }
                sink.handler(happened)
            },
            { context in
                guard let context else { return }
                Unmanaged<LibvirtEventSink>.fromOpaque(context).release()
            },
            context)
    }

    /// The event libvirt's numbers describe, or nil for one qballoon does not follow. Names are bounded.
    static func event(kind: Int32, domain: UnsafePointer<CChar>?, event: Int32, value: UInt64) -> LibvirtEvent? {
        let name = domain.map { String(cString: $0) }.map { $0.utf8.count <= 1024 ? $0 : String($0.prefix(1024)) }
        switch Int(kind) {
        case Int(QB_VIRT_LIFECYCLE):
            guard let name else { return nil }
            switch UInt32(bitPattern: event) {
            case VIR_DOMAIN_EVENT_STARTED.rawValue: return .started(domain: name)
            case VIR_DOMAIN_EVENT_STOPPED.rawValue, VIR_DOMAIN_EVENT_CRASHED.rawValue: return .stopped(domain: name)
            default: return nil
            }
        case Int(QB_VIRT_BALLOON):
            guard let name, let bytes = DomainMemoryStats.bytes(kib: value) else { return nil }
            return .balloonChanged(domain: name, actualBytes: bytes)
        case Int(QB_VIRT_CLOSED):
            let reason: String
            switch UInt32(bitPattern: event) {
            case VIR_CONNECT_CLOSE_REASON_EOF.rawValue: reason = "libvirtd closed the connection"
            case VIR_CONNECT_CLOSE_REASON_KEEPALIVE.rawValue: reason = "libvirtd stopped answering keepalives"
            case VIR_CONNECT_CLOSE_REASON_ERROR.rawValue: reason = "the connection to libvirtd failed"
            default: reason = "the connection to libvirtd was closed"
            }
            return .closed(reason: reason)
        default:
            return nil
        }
    }
}
