/// The QOM tree (`qom-list`, `qom-get`, `qom-set` paths) of a fake VM: the containers a client walks to find
/// the balloon, the balloon device and its `virtio-backend` child. Property lists are QEMU 7.2's for
/// `-M pc -nodefaults -device virtio-balloon-pci`.
struct FakeQOMTree: Sendable {
    /// Where the balloon device sits, if there is one.
    enum Placement: Sendable, Hashable {
        case none
        /// `/machine/peripheral/ID`
        case withID(String)
        /// `/machine/peripheral-anon/device[0]`
        case anonymous
    }

    struct Property: Sendable, Hashable {
        let name: String
        let type: String

        init(_ name: String, _ type: String) {
            self.name = name
            self.type = type
        }
    }

    /// What an object is, for what `qom-get`/`qom-set` do with its properties.
    enum Role: Sendable, Hashable {
        case container, machine, balloonProxy, balloonBackend
    }

    struct Node: Sendable {
        let components: [String]
        let typeName: String
        let role: Role
        let properties: [Property]

        var path: String { "/" + components.joined(separator: "/") }

        func property(named name: String) -> Property? { properties.first { $0.name == name } }
    }

    enum Resolution {
        case found(Node)
        case notFound
        case ambiguous
    }

    let nodes: [Node]
    /// The balloon device's path, if there is one.
    let balloonPath: String?

    init(placement: Placement) {
        var peripheral = [Property("type", "string")]
        var anonymous = [Property("type", "string")]
        var balloon: [String]?
        switch placement {
        case .none:
            break
        case .withID(let id):
            peripheral.append(Property(id, "child<virtio-balloon-pci>"))
            balloon = ["machine", "peripheral", id]
        case .anonymous:
            anonymous.append(Property("device[0]", "child<virtio-balloon-pci>"))
            balloon = ["machine", "peripheral-anon", "device[0]"]
        }
        let container = [Property("type", "string")]
        var nodes = [
            Node(components: [], typeName: "container", role: .container, properties: Self.root),
            Node(components: ["objects"], typeName: "container", role: .container, properties: container),
            Node(components: ["chardevs"], typeName: "container", role: .container, properties: container),
            Node(components: ["machine"], typeName: "pc-i440fx-7.2-machine", role: .machine, properties: Self.machine),
            Node(
                components: ["machine", "unattached"], typeName: "container", role: .container, properties: container),
            Node(
                components: ["machine", "peripheral"], typeName: "container", role: .container, properties: peripheral),
            Node(
                components: ["machine", "peripheral-anon"], typeName: "container", role: .container,
                properties: anonymous),
        ]
        if let balloon {
            nodes.append(
                Node(
                    components: balloon, typeName: "virtio-balloon-pci", role: .balloonProxy,
                    properties: Self.balloonPCI))
            nodes.append(
                Node(
                    components: balloon + ["virtio-backend"], typeName: "virtio-balloon-device", role: .balloonBackend,
                    properties: Self.balloonDevice))
        }
        self.nodes = nodes
        self.balloonPath = balloon.map { "/" + $0.joined(separator: "/") }
    }

    /// Finds an object as QEMU's `object_resolve_path` does: an absolute path from `/` (empty components
    /// are ignored), or a partial path that must match the end of exactly one object's path.
    func resolve(_ path: String) -> Resolution {
        let components = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if path.hasPrefix("/") {
            guard let node = nodes.first(where: { $0.components == components }) else { return .notFound }
            return .found(node)
        }
        guard let first = components.first else { return .ambiguous }
        // A real VM has /machine/unattached/device[N] objects too, which this tree leaves out.
        if first.hasPrefix("device["), first.hasSuffix("]") { return .ambiguous }
        let matches = nodes.filter {
            $0.components.count >= components.count && $0.components.suffix(components.count) == components[...]
        }
        switch matches.count {
        case 0: return .notFound
        case 1: return .found(matches[0])
        default: return .ambiguous
        }
    }

    /// `/`.
    static let root: [Property] = [
        .init("type", "string"), .init("objects", "child<container>"),
        .init("machine", "child<pc-i440fx-7.2-machine>"), .init("chardevs", "child<container>"),
    ]

    /// `/machine` (`-M pc`).
    static let machine: [Property] = [
        .init("type", "string"), .init("kernel", "string"), .init("dt-compatible", "string"),
        .init("boot", "BootConfiguration"), .init("memory", "MemorySizeConfiguration"), .init("initrd", "string"),
        .init("confidential-guest-support", "link<confidential-guest-support>"), .init("graphics", "bool"),
        .init("usb", "bool"), .init("firmware", "string"), .init("memory-encryption", "string"),
        .init("smp", "SMPConfiguration"), .init("dump-guest-core", "bool"), .init("phandle-start", "int"),
        .init("dumpdtb", "string"), .init("memory-backend", "link<memory-backend>"), .init("dtb", "string"),
        .init("mem-merge", "bool"), .init("append", "string"), .init("suppress-vmdesc", "bool"),
        .init("smm", "OnOffAuto"), .init("acpi", "OnOffAuto"), .init("pit", "OnOffAuto"), .init("pic", "OnOffAuto"),
        .init("x-oem-table-id", "string"), .init("bus-lock-ratelimit", "uint64_t"), .init("sgx-epc", "SgxEPC"),
        .init("x-oem-id", "string"), .init("max-fw-size", "size"), .init("default-bus-bypass-iommu", "bool"),
        .init("device-memory-region-size", "int"), .init("sata", "bool"), .init("vmport", "OnOffAuto"),
        .init("i8042", "bool"), .init("hpet", "bool"), .init("smbios-entry-point-type", "str"),
        .init("max-ram-below-4g", "size"), .init("smbus", "bool"), .init("unattached", "child<container>"),
        .init("fw_cfg", "child<fw_cfg_io>"), .init("peripheral-anon", "child<container>"), .init("nvdimm", "bool"),
        .init("peripheral", "child<container>"), .init("nvdimm-persistence", "string"),
        .init("rtc_state", "link<isa-device>"), .init("smram", "link<memory-region>"),
        .init("cxl-fmw", "CXLFixedMemoryWindow"), .init("rtc-time", "struct tm"),
        .init("acpi-device", "link<hotplug-handler>"), .init("hmat", "bool"), .init("cxl", "bool"),
        .init("pcspk-audiodev", "str"), .init("i440fx", "child<i440FX-pcihost>"),
    ]

    /// A `virtio-balloon-pci` device.
    static let balloonPCI: [Property] = [
        .init("type", "string"), .init("parent_bus", "link<bus>"), .init("realized", "bool"),
        .init("hotplugged", "bool"), .init("hotpluggable", "bool"), .init("failover_pair_id", "str"),
        .init("romfile", "str"), .init("addr", "int32"), .init("romsize", "uint32"),
        .init("x-pcie-lnksta-dllla", "bool"), .init("rombar", "uint32"), .init("x-pcie-extcap-init", "bool"),
        .init("acpi-index", "uint32"), .init("multifunction", "bool"), .init("legacy-addr", "str"),
        .init("migrate-extra", "bool"), .init("ats", "bool"), .init("x-ignore-backend-features", "bool"),
        .init("x-pcie-pm-init", "bool"), .init("aer", "bool"), .init("x-pcie-flr-init", "bool"),
        .init("x-pcie-lnkctl-init", "bool"), .init("x-ats-page-aligned", "bool"), .init("page-per-vq", "bool"),
        .init("x-pcie-deverr-init", "bool"), .init("virtio-pci-bus-master-bug-migration", "bool"),
        .init("modern-pio-notify", "bool"), .init("x-disable-pcie", "bool"), .init("disable-legacy", "OnOffAuto"),
        .init("disable-modern", "bool"), .init("free-page-reporting", "bool"), .init("indirect_desc", "bool"),
        .init("virtio-pci-device-virtio-balloon[0]", "child<memory-region>"), .init("iommu_platform", "bool"),
        .init("deflate-on-oom", "bool"), .init("use-disabled-flag", "bool"), .init("event_idx", "bool"),
        .init("bus master container[0]", "child<memory-region>"), .init("page-poison", "bool"),
        .init("guest-stats-polling-interval", "int"), .init("guest-stats", "guest statistics"),
        .init("x-disable-legacy-check", "bool"), .init("any_layout", "bool"), .init("iothread", "link<iothread>"),
        .init("notify_on_empty", "bool"), .init("virtio-pci-notify-virtio-balloon[0]", "child<memory-region>"),
        .init("queue_reset", "bool"), .init("qemu-4-0-config-size", "bool"), .init("packed", "bool"),
        .init("use-started", "bool"), .init("free-page-hint", "bool"), .init("virtio-pci[1]", "child<memory-region>"),
        .init("virtio-pci-notify-pio-virtio-balloon[0]", "child<memory-region>"),
        .init("virtio-pci-common-virtio-balloon[0]", "child<memory-region>"),
        .init("virtio-pci[0]", "child<memory-region>"),
        .init("virtio-pci-isr-virtio-balloon[0]", "child<memory-region>"),
        .init("bus master[0]", "child<memory-region>"), .init("virtio-bus", "child<virtio-pci-bus>"),
        .init("virtio-backend", "child<virtio-balloon-device>"),
    ]

    /// Its `virtio-backend` child, a `virtio-balloon-device`.
    static let balloonDevice: [Property] = [
        .init("type", "string"), .init("parent_bus", "link<bus>"), .init("realized", "bool"),
        .init("hotplugged", "bool"), .init("hotpluggable", "bool"), .init("queue_reset", "bool"),
        .init("use-disabled-flag", "bool"), .init("packed", "bool"), .init("iommu_platform", "bool"),
        .init("event_idx", "bool"), .init("x-disable-legacy-check", "bool"), .init("notify_on_empty", "bool"),
        .init("any_layout", "bool"), .init("use-started", "bool"), .init("indirect_desc", "bool"),
        .init("legacy-iothread", "str"), .init("iothread", "link<iothread>"), .init("deflate-on-oom", "bool"),
        .init("free-page-hint", "bool"), .init("page-poison", "bool"), .init("qemu-4-0-config-size", "bool"),
        .init("free-page-reporting", "bool"), .init("guest-stats-polling-interval", "int"),
        .init("guest-stats", "guest statistics"),
    ]
}
