/// What a domain's XML (`virDomainGetXMLDesc`) says about its balloon: `<memballoon model='virtio'
/// autodeflate='on' freePageReporting='on'><stats period='1'/><alias name='balloon0'/></memballoon>`.
///
/// ```swift
/// let balloon = try DomainBalloon(xml: "<domain><devices><memballoon model='none'/></devices></domain>")
/// balloon.hasBalloon  // false
/// ```
public struct DomainBalloon: Sendable, Hashable {
    /// The device model (`virtio`, `virtio-transitional`...); `none` when the domain has no balloon.
    public var model: String?
    /// `autodeflate='on'`: the guest takes memory back from the balloon before its OOM killer acts.
    public var deflateOnOOM: Bool
    /// `freePageReporting='on'`: the guest tells the host which pages are free.
    public var freePageReporting: Bool
    /// Seconds between the guest's statistics reports; 0 when polling is off.
    public var statsPeriod: Int
    /// The device's name in QEMU (`balloon0`), when libvirt gave it one (running domains).
    public var alias: String?

    /// Whether the domain has a balloon at all (`<memballoon model='none'/>` means it has none).
    public var hasBalloon: Bool { model.map { $0 != "none" } ?? false }

    /// The longest domain XML read; libvirt's own are a few KiB.
    public static let maxXMLBytes = 4 << 20

    /// Reads the balloon from a domain's XML.
    /// - Throws: ``DomainXMLError`` when the text is too long or its `<memballoon>` cannot be read.
    public init(xml: String) throws(DomainXMLError) {
        guard xml.utf8.count <= Self.maxXMLBytes else {
            throw DomainXMLError("the domain XML is \(xml.utf8.count) bytes (limit \(Self.maxXMLBytes))")
        }
        guard let devices = XMLTag.first("devices", in: xml[...]) else {
            throw DomainXMLError("the domain XML has no <devices>")
        }
        guard let device = XMLTag.first("memballoon", in: devices.content) else {
            // No element at all: libvirt's QEMU driver adds one unless told `none`; treat it as absent.
            self.init(model: nil, deflateOnOOM: false, freePageReporting: false, statsPeriod: 0, alias: nil)
            return
        }
        var period = 0
        if let stats = XMLTag.first("stats", in: device.content), let text = stats.attributes["period"] {
            guard let seconds = Int(text), seconds >= 0, seconds <= Int(Int32.max) else {
                throw DomainXMLError("<memballoon><stats period='\(text.prefix(40))'> is not a number of seconds")
            }
            period = seconds
        }
        self.init(
            model: device.attributes["model"],
            deflateOnOOM: device.attributes["autodeflate"] == "on",
            freePageReporting: device.attributes["freePageReporting"] == "on",
            statsPeriod: period,
            alias: XMLTag.first("alias", in: device.content)?.attributes["name"])
    }

    public init(model: String?, deflateOnOOM: Bool, freePageReporting: Bool, statsPeriod: Int, alias: String?) {
        self.model = model
        self.deflateOnOOM = deflateOnOOM
        self.freePageReporting = freePageReporting
        self.statsPeriod = statsPeriod
        self.alias = alias
    }
}

/// Why XML from libvirt could not be read.
public struct DomainXMLError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
