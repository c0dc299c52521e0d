import QBalloonCore
import Testing

@testable import QBalloonLibvirt

struct DomainMemoryStatsTests {
    /// What `virsh dommemstat` showed for the test guest (tags as in libvirt-domain.h), in KiB.
    @Test func libvirtsTagsBecomeTheGuestsStatisticsInBytes() {
        let figures = DomainMemoryStats(tags: [
            (6, 524_288), (0, 0), (1, 0), (2, 120), (3, 45_000), (4, 420_000), (5, 500_000), (8, 430_000),
            (9, 1_764_000_000), (10, 9_000), (7, 210_000),
        ])
        #expect(figures.actual == 512 << 20)
        #expect(figures.rss == 210_000 * 1024)
        #expect(figures.stats.total == 500_000 * 1024)
        // libvirt's "usable" is MemAvailable, its "available" MemTotal, its "unused" MemFree.
        #expect(figures.stats.available == 430_000 * 1024)
        #expect(figures.stats.free == 420_000 * 1024)
        #expect(figures.stats.diskCaches == 9_000 * 1024)
        #expect(figures.stats.swapIn == 0 && figures.stats.swapOut == 0)
        // Counts stay counts.
        #expect(figures.stats.majorFaults == 120 && figures.stats.minorFaults == 45_000)
        #expect(figures.stats.lastUpdate == 1_764_000_000)
        #expect(figures.stats.hugetlbAllocations == nil)
    }

    /// What `virsh domstats --balloon` showed for the test guest (libvirt 9.0): the balloon group of
    /// `virConnectGetAllDomainStats` gives the same figures as `virDomainMemoryStats`, by name.
    @Test func theBalloonGroupsNamesGiveTheSameFigures() {
        let fields: [(name: String, value: UInt64)] = [
            ("balloon.current", 524_288), ("balloon.maximum", 524_288), ("balloon.swap_in", 0), ("balloon.swap_out", 0),
            ("balloon.major_fault", 0), ("balloon.minor_fault", 1285), ("balloon.unused", 439_424),
            ("balloon.available", 468_548), ("balloon.usable", 439_040), ("balloon.last-update", 1_796_254_097),
            ("balloon.disk_caches", 2400), ("balloon.hugetlb_pgalloc", 0), ("balloon.hugetlb_pgfail", 0),
            ("balloon.rss", 217_708), ("balloon.some_future_figure", 5),
        ]
        let figures = DomainMemoryStats(balloonFields: fields)
        #expect(figures.actual == 512 << 20 && figures.maxBytes == 512 << 20)
        #expect(figures.rss == 217_708 * 1024)
        #expect(figures.stats.total == 468_548 * 1024)
        #expect(figures.stats.available == 439_040 * 1024)
        #expect(figures.stats.free == 439_424 * 1024)
        #expect(figures.stats.diskCaches == 2400 * 1024)
        #expect(figures.stats.minorFaults == 1285 && figures.stats.majorFaults == 0)
        #expect(figures.stats.hugetlbAllocations == 0 && figures.stats.hugetlbFailures == 0)
        #expect(figures.stats.lastUpdate == 1_796_254_097)
        let tags = DomainMemoryStats(tags: [
            (6, 524_288), (0, 0), (1, 0), (2, 0), (3, 1285), (4, 439_424), (5, 468_548), (8, 439_040), (9, 1_796_254_097),
            (10, 2400), (11, 0), (12, 0), (7, 217_708),
        ])
        #expect(figures.stats == tags.stats && figures.actual == tags.actual && figures.rss == tags.rss)

        // A domain without a balloon: its size and max, no guest figures; a size that does not fit in bytes is dropped.
        let bare = DomainMemoryStats(balloonFields: [("balloon.current", 262_144), ("balloon.maximum", 262_144), ("balloon.rss", 215_512)])
        #expect(bare.actual == 256 << 20 && bare.stats == GuestStats() && bare.stats.lastUpdate == nil)
        #expect(DomainMemoryStats(balloonFields: [("balloon.current", UInt64.max / 2)]).actual == nil)
    }

    @Test func unreportedStatisticsAreAbsent() {
        let figures = DomainMemoryStats(tags: [(6, 262_144)])
        #expect(figures.actual == 256 << 20)
        #expect(figures.stats == GuestStats())
        #expect(figures.stats.lastUpdate == nil)
    }

    @Test func figuresThatCannotBeBytesAreDroppedAndUnknownTagsSkipped() {
        let figures = DomainMemoryStats(tags: [
            (5, UInt64.max), (8, UInt64.max / 1024 + 1), (6, UInt64.max), (9, 0), (13, 5), (-1, 7), (99, 1),
        ])
        #expect(figures.stats.total == nil)
        #expect(figures.stats.available == nil)
        #expect(figures.actual == nil)
        #expect(figures.stats.lastUpdate == nil)  // 0: never reported
        #expect(figures.stats.others.isEmpty)
        // A report time no clock could give is not used.
        #expect(DomainMemoryStats(tags: [(9, UInt64.max)]).stats.lastUpdate == nil)
    }
}

struct DomainBalloonTests {
    @Test func aRunningDomainsBalloon() throws {
        let xml = """
            <domain type='qemu' id='3'>
              <name>web</name>
              <memory unit='KiB'>524288</memory>
              <devices>
                <serial type='unix'><source mode='bind' path='/tmp/x'/></serial>
                <memballoon model='virtio' autodeflate="on">
                  <stats period='1'/>
                  <alias name='balloon0'/>
                  <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
                </memballoon>
              </devices>
            </domain>
            """
        let balloon = try DomainBalloon(xml: xml)
        #expect(balloon.hasBalloon)
        #expect(balloon.model == "virtio")
        #expect(balloon.deflateOnOOM && !balloon.freePageReporting)
        #expect(balloon.statsPeriod == 1)
        #expect(balloon.alias == "balloon0")
    }

    @Test func modelNoneMeansNoBalloon() throws {
        let balloon = try DomainBalloon(xml: "<domain><devices><memballoon model='none'/></devices></domain>")
        #expect(!balloon.hasBalloon)
        #expect(balloon.statsPeriod == 0 && balloon.alias == nil)
        #expect(!(try DomainBalloon(xml: "<domain><devices><disk/></devices></domain>")).hasBalloon)
    }

    @Test func xmlThatCannotBeReadIsAnError() {
        #expect(throws: DomainXMLError.self) { try DomainBalloon(xml: "<domain/>") }
        #expect(throws: DomainXMLError.self) {
            try DomainBalloon(xml: "<domain><devices><memballoon model='virtio'><stats period='soon'/></memballoon></devices></domain>")
        }
        #expect(throws: DomainXMLError.self) {
            try DomainBalloon(xml: "<domain><devices>" + String(repeating: " ", count: DomainBalloon.maxXMLBytes) + "</devices></domain>")
        }
    }
}

struct BalloonMetadataTests {
    @Test func theFloorReadsBackAsLibvirtReturnsIt() throws {
        // libvirt returns the element with its namespace declared, under the key's prefix or none.
        for xml in [
            #"<balloon xmlns="urn:qballoon:1" min="192MiB"/>"#,
            #"<qballoon:balloon xmlns:qballoon="urn:qballoon:1" qballoon:other='x' min='192MiB'/>"#,
            "<balloon min=\"192MiB\"></balloon>",
        ] {
            let metadata = try BalloonMetadata(xml: xml)
            #expect(metadata.min?.bytes(ofMax: 512 << 20) == 192 << 20, "\(xml)")
        }
        #expect(try BalloonMetadata(xml: #"<balloon min="25%"/>"#).min?.bytes(ofMax: 512 << 20) == 128 << 20)
        #expect(try BalloonMetadata(xml: "<balloon/>").min == nil)
    }

    @Test func badMetadataIsAnErrorNamingIt() {
        #expect(throws: DomainXMLError.self) { try BalloonMetadata(xml: #"<floor min="192MiB"/>"#) }
        #expect(throws: DomainXMLError.self) { try BalloonMetadata(xml: #"<balloon min="lots"/>"#) }
        #expect(throws: DomainXMLError.self) { try BalloonMetadata(xml: #"<balloon min="192MiB"#) }
        #expect(throws: DomainXMLError.self) {
            try BalloonMetadata(xml: "<balloon min='1G' pad='" + String(repeating: "x", count: 5000) + "'/>")
        }
    }
}
