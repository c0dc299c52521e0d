import CLibvirt
import QBalloonCore

/// One domain on a ``LibvirtConnection``, and its balloon.
///
/// ```swift
/// let domain = try await connection.domain(named: "web")
/// try await domain.setPollingInterval(seconds: 1)
/// let outcome = try await domain.setTarget(1 << 30, waiting: BalloonWait(timeout: .seconds(60)))
/// ```
public struct LibvirtDomain: Sendable, BalloonControl {
    public let name: String
    public let connection: LibvirtConnection

    /// Found by name for each call, on the connection's thread, and let go before the call returns: no libvirt
    /// object of a domain outlives a call, so none is ever freed on another thread (freeing the last one can close
    /// the connection, which must not happen beside a call still under way on it).
    init(name: String, connection: LibvirtConnection) {
        self.name = name
        self.connection = connection
    }

    /// Runs `body` on the connection's thread with the domain pointer.
    private func call<T: Sendable>(
        _ body: @escaping @Sendable (OpaquePointer, _ fail: (String) -> LibvirtError) throws -> T
    ) async throws -> T {
        let name = name
        return try await connection.call(domain: name) { connection, fail in
            let domain = try LibvirtConnection.lookUp(name, on: connection, fail)
            defer { virDomainFree(domain) }
            return try body(domain, fail)
        }
    }

    private func error(_ code: LibvirtError.Code, _ detail: String) -> LibvirtError {
        LibvirtError(code: code, uri: connection.uri, domain: name, detail: detail)
    }

    // MARK: Reading

    /// The domain's live XML, bounded by ``DomainBalloon/maxXMLBytes``.
    public func xml() async throws -> String {
        let tooLong = error(.badReply, "the domain XML is longer than \(DomainBalloon.maxXMLBytes) bytes")
        return try await call { domain, fail in
            guard let text = virDomainGetXMLDesc(domain, 0) else { throw fail("cannot read the domain XML") }
            defer { free(text) }
            let length = strnlen(text, DomainBalloon.maxXMLBytes + 1)
            guard length <= DomainBalloon.maxXMLBytes else { throw tooLong }
            return String(decoding: UnsafeRawBufferPointer(start: text, count: length), as: UTF8.self)
        }
    }

    /// What the domain's XML says about its balloon.
    public func balloon() async throws -> DomainBalloon {
        do {
            return try DomainBalloon(xml: try await xml())
        } catch let failure as DomainXMLError {
            throw error(.badReply, failure.description)
        }
    }

    /// The domain's balloon, or `noBalloon` when it has none (`<memballoon model='none'/>`).
    public func requireBalloon() async throws -> DomainBalloon {
        let balloon = try await balloon()
        guard balloon.hasBalloon else {
            throw error(.noBalloon, "this domain has no balloon (<memballoon model='\(balloon.model ?? "none")'/>): add <memballoon model='virtio'> to its XML")
        }
        return balloon
    }

    /// Whether the domain is running (a balloon can only be read or moved then).
    public func isActive() async throws -> Bool {
        try await call { domain, fail in
            let active = virDomainIsActive(domain)
            guard active >= 0 else { throw fail("cannot tell whether the domain runs") }
            return active == 1
        }
    }

    /// The domain's `<memory>`: the most its balloon can give it, in bytes.
    public func maxBytes() async throws -> UInt64 {
        let kib = try await call { domain, fail in
            let kib = virDomainGetMaxMemory(domain)
            guard kib > 0 else { throw fail("cannot read the domain's maximum memory") }
            return UInt64(kib)
        }
        guard let bytes = DomainMemoryStats.bytes(kib: kib), bytes <= Plausibility.maxRAM else {
            throw error(.badReply, "maximum memory of \(kib) KiB cannot be true")
        }
        return bytes
    }

    /// libvirt's memory figures for the domain: the guest's statistics, `actual`, the QEMU process's RSS.
    public func memoryStats() async throws -> DomainMemoryStats {
        let tags = try await call { domain, fail -> [Tag] in
            let capacity = Int(VIR_DOMAIN_MEMORY_STAT_NR.rawValue)
            var buffer = [virDomainMemoryStatStruct](repeating: virDomainMemoryStatStruct(), count: capacity)
            let count = virDomainMemoryStats(domain, &buffer, UInt32(capacity), 0)
            guard count >= 0 else { throw fail("cannot read the memory statistics") }
            return buffer.prefix(min(Int(count), capacity)).map { Tag(tag: $0.tag, value: $0.val) }
        }
        return DomainMemoryStats(tags: tags.map { ($0.tag, $0.value) })
    }

    private struct Tag: Sendable {
        var tag: Int32
        var value: UInt64
    }

    /// The guest's last reported statistics (`lastUpdate == nil` when it never reported).
    public func stats() async throws -> GuestStats {
        try await memoryStats().stats
    }

    /// The balloon's current size, in bytes.
    public func actual() async throws -> UInt64 {
        guard let actual = try await memoryStats().actual else {
            throw error(.badReply, "libvirt reported no balloon size (actual) for this domain")
        }
        return actual
    }

    /// qballoon's settings from the domain's `<metadata>` (``BalloonMetadata``), or nil when it has none: the
    /// running domain's (`--live`), or the config's when it is not running.
    public func metadata() async throws -> BalloonMetadata? {
        let text = try await call { domain, fail -> String? in
            guard
                let text = virDomainGetMetadata(
                    domain, Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue), BalloonMetadata.namespace,
                    UInt32(VIR_DOMAIN_AFFECT_CURRENT.rawValue))
            else {
                if virGetLastErrorCode() == Int32(VIR_ERR_NO_DOMAIN_METADATA.rawValue) { return nil }
                throw fail("cannot read qballoon's metadata (\(BalloonMetadata.namespace))")
            }
            defer { free(text) }
            let length = strnlen(text, BalloonMetadata.maxXMLBytes + 1)
            return String(decoding: UnsafeRawBufferPointer(start: text, count: length), as: UTF8.self)
        }
        guard let text else { return nil }
        do {
            return try BalloonMetadata(xml: text)
        } catch {
            throw self.error(.badReply, error.description)
        }
    }

    // MARK: Changing

    /// Asks the guest for statistics every `seconds` (0 turns polling off), on the running domain.
    public func setPollingInterval(seconds: Int) async throws {
        guard seconds >= 0, seconds <= Int(Int32.max) else {
            throw error(.call, "polling interval \(seconds)s is out of range")
        }
        try await call { domain, fail in
            guard virDomainSetMemoryStatsPeriod(domain, Int32(seconds), UInt32(VIR_DOMAIN_AFFECT_LIVE.rawValue)) == 0 else {
                throw fail("cannot set the statistics period")
            }
        }
    }

    /// Sets the balloon's target on the running domain (rounded down to KiB); returns at once.
    public func setTarget(_ bytes: UInt64) async throws {
        let kib = bytes / 1024
        guard kib > 0, kib <= UInt64(UInt.max) else {
            throw error(.call, "target \(bytes) bytes is out of range")
        }
        try await call { domain, fail in
            guard virDomainSetMemoryFlags(domain, UInt(kib), UInt32(VIR_DOMAIN_AFFECT_LIVE.rawValue)) == 0 else {
                throw fail("cannot set the balloon target to \(kib) KiB")
            }
        }
    }
}
