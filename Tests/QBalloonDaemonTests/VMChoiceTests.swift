import Testing

@testable import qballoon

/// `--qmp ADDR` or `--libvirt URI --domain NAME`: exactly one way into the VM, checked as a plain value.
struct VMChoiceTests {
    @Test func exactlyOneWayIntoTheVM() throws {
        #expect(try VMChoice(qmp: "/run/qemu/web.qmp", libvirt: nil, domain: nil) == .qmp("/run/qemu/web.qmp"))
        #expect(
            try VMChoice(qmp: nil, libvirt: "qemu:///system", domain: "web") == .libvirt(uri: "qemu:///system", domain: "web"))
    }

    @Test func halfAChoiceOrBothIsAUsageErrorSayingWhatIsMissing() {
        for (qmp, libvirt, domain, message) in [
            (nil, nil, nil, "give the VM: --qmp ADDR, or --libvirt URI --domain NAME"),
            ("/x.qmp", "qemu:///system", "web", "give one of them"),
            ("/x.qmp", nil, "web", "give one of them"),
            (nil, "qemu:///system", nil, "--libvirt needs --domain NAME"),
            (nil, nil, "web", "--domain needs --libvirt URI"),
            (nil, "", "web", "--libvirt needs a URI"),
            (nil, "qemu:///system", "", "--domain needs a domain's name"),
        ] as [(String?, String?, String?, String)] {
            #expect {
                _ = try VMChoice(qmp: qmp, libvirt: libvirt, domain: domain)
            } throws: { error in
                "\(error)".contains(message)
            }
        }
    }
}
