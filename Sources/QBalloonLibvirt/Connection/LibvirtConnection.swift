import CLibvirt
import NIOPosix
import QBalloonCore

/// A connection to libvirt (`qemu:///system`), whose blocking calls run on a thread of its own: never on an
/// event loop, never on Swift's cooperative pool.
///
/// ```swift
/// let connection = try await LibvirtConnection.open("qemu:///system")
/// let domain = try await connection.domain(named: "web")
/// let stats = try await domain.memoryStats().stats
/// await connection.close()
/// ```
public final class LibvirtConnection: Sendable {
    public let uri: String
    let handle: Handle
    private let thread: NIOThreadPool

    /// The C pointers, touched only on the connection's thread.
    final class Handle: @unchecked Sendable {
        var connection: OpaquePointer?
        init(_ connection: OpaquePointer) { self.connection = connection }
    }

    private init(uri: String, handle: Handle, thread: NIOThreadPool) {
        self.uri = uri
        self.handle = handle
        self.thread = thread
    }

    /// Once per process, before any other call: libvirt's own setup, and its errors kept off stderr.
    private static let initialized: Int32 = {
        qb_virt_silence_errors()
        return virInitialize()
    }()

    /// Opens a connection.
    /// - Throws: ``LibvirtError`` `connect`, with libvirt's reason, when the URI is bad or the daemon unreachable.
    public static func open(_ uri: String) async throws -> LibvirtConnection {
        guard !uri.isEmpty, uri.utf8.count <= 4096, !uri.utf8.contains(0) else {
            throw LibvirtError(code: .connect, uri: PeerText.excerpt(uri, limit: 100), detail: "not a libvirt URI")
        }
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        do {
            let handle = try await thread.runIfActive { () throws -> Handle in
                guard initialized == 0 else {
                    throw LibvirtError(code: .connect, uri: uri, detail: "libvirt failed to initialize: \(lastError())")
                }
                qb_virt_silence_errors()  // the handler is per thread too
                guard let connection = virConnectOpen(uri) else {
                    throw LibvirtError(code: .connect, uri: uri, detail: "cannot connect: \(lastError())")
                }
                return Handle(connection)
            }
            return LibvirtConnection(uri: uri, handle: handle, thread: thread)
        } catch {
            try? await thread.shutdownGracefully()
            throw error
        }
    }

    /// Closes the connection and stops its thread; calls after this fail with `closed`.
    public func close() async {
        let handle = handle
        _ = try? await thread.runIfActive {
            if let connection = handle.connection { virConnectClose(connection) }
            handle.connection = nil
        }
        try? await thread.shutdownGracefully()
    }

    /// The hypervisor's version (QEMU's, for the QEMU driver) as major, minor, micro.
    public func hypervisorVersion() async throws -> (major: Int, minor: Int, micro: Int) {
        try await call(domain: nil) { connection, fail in
            var version: UInt = 0
            guard virConnectGetVersion(connection, &version) == 0 else { throw fail("cannot read the hypervisor version") }
            return (Int(version / 1_000_000), Int(version / 1000 % 1000), Int(version % 1000))
        }
    }

    /// Finds a domain by name.
    /// - Throws: ``LibvirtError`` `noDomain` when there is none of that name.
    public func domain(named name: String) async throws -> LibvirtDomain {
        guard !name.isEmpty, name.utf8.count <= 1024, !name.utf8.contains(0) else {
            throw LibvirtError(code: .noDomain, uri: uri, domain: PeerText.excerpt(name, limit: 100), detail: "not a domain name")
        }
        let pointer = try await call(domain: name) { connection, fail -> LibvirtDomain.Handle in
            guard let domain = virDomainLookupByName(connection, name) else {
                let code = virGetLastErrorCode()
                let error = fail("no such domain")
                throw code == Int32(VIR_ERR_NO_DOMAIN.rawValue)
                    ? LibvirtError(code: .noDomain, uri: error.uri, domain: name, detail: error.detail) : error
            }
            return LibvirtDomain.Handle(domain)
        }
        return LibvirtDomain(name: name, connection: self, handle: pointer)
    }

    /// Runs `body` on the connection's thread with the connection pointer; `fail(what)` makes the error for a
    /// failed call, with libvirt's last error of this thread.
    func call<T: Sendable>(
        domain: String?,
        _ body: @escaping @Sendable (OpaquePointer, _ fail: (String) -> LibvirtError) throws -> T
    ) async throws -> T {
        let handle = handle
        let uri = uri
        do {
            return try await thread.runIfActive {
                guard let connection = handle.connection else {
                    throw LibvirtError(code: .closed, uri: uri, domain: domain, detail: "the connection is closed")
                }
                virResetLastError()
                return try body(connection) { what in
                    LibvirtError(code: .call, uri: uri, domain: domain, detail: "\(what): \(LibvirtConnection.lastError())")
                }
            }
        } catch let error as LibvirtError {
            throw error
        } catch {
            throw LibvirtError(code: .closed, uri: uri, domain: domain, detail: "the connection is closed (\(error))")
        }
    }

    /// libvirt's last error on this thread, bounded.
    static func lastError() -> String {
        guard let error = virGetLastError(), let message = error.pointee.message else { return "no reason given" }
        return PeerText.excerpt(String(cString: message), limit: 500)
    }
}
