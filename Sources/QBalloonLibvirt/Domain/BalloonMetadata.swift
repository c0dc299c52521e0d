import QBalloonCore

/// qballoon's own settings in a domain's `<metadata>`: `<balloon min="192MiB"/>` in the namespace
/// ``namespace``. libvirt's QEMU driver refuses `<memtune><min_guarantee>`, so the floor lives here.
///
/// Set it with `virsh metadata DOM urn:qballoon:1 --key qballoon --set '<balloon min="192MiB"/>' --live`
/// (add `--config` to keep it across restarts).
///
/// ```swift
/// let metadata = try BalloonMetadata(xml: #"<balloon xmlns="urn:qballoon:1" min="192MiB"/>"#)
/// metadata.min?.bytes(ofMax: 512 << 20)  // 192 MiB
/// ```
public struct BalloonMetadata: Sendable, Hashable {
    /// The namespace of qballoon's element in `<metadata>`.
    public static let namespace = "urn:qballoon:1"
    /// The prefix qballoon's element is written with.
    public static let key = "qballoon"
    /// The longest element read; qballoon's is a line.
    public static let maxXMLBytes = 4096

    /// The least the domain is ever ballooned down to: a size, or a percentage of its `<memory>`.
    public var min: MemorySize?

    public init(min: MemorySize? = nil) {
        self.min = min
    }

    /// Reads the element `virDomainGetMetadata` returned.
    /// - Throws: ``DomainXMLError`` naming what is wrong: too long, not a `<balloon>`, a size that does not parse.
    public init(xml: String) throws(DomainXMLError) {
        guard xml.utf8.count <= Self.maxXMLBytes else {
            throw DomainXMLError("qballoon's metadata is \(xml.utf8.count) bytes (limit \(Self.maxXMLBytes))")
        }
        guard let element = XMLTag.first("balloon", in: xml[...]) else {
            throw DomainXMLError("qballoon's metadata has no <balloon> element: \(PeerText.excerpt(xml, limit: 120))")
        }
        self.init()
        if let text = element.attributes["min"] {
            do {
                min = try MemorySize(text)
            } catch {
                throw DomainXMLError("<balloon min=\"\(PeerText.excerpt(text, limit: 40))\">: \(error)")
            }
        }
    }
}
