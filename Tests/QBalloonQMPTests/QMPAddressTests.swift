import QBalloonCore
import QBalloonQMP
import Testing

@Suite struct EndpointTests {
    static let valid: [(String, Endpoint, String)] = [
        ("unix:/run/qemu/vm.qmp", .unixDomainSocket(path: "/run/qemu/vm.qmp"), "unix:/run/qemu/vm.qmp"),
        ("/run/qemu/vm.qmp", .unixDomainSocket(path: "/run/qemu/vm.qmp"), "unix:/run/qemu/vm.qmp"),
        ("vm.qmp", .unixDomainSocket(path: "vm.qmp"), "unix:vm.qmp"),
        ("./sockets/vm.qmp", .unixDomainSocket(path: "./sockets/vm.qmp"), "unix:./sockets/vm.qmp"),
        ("unix:relative.qmp", .unixDomainSocket(path: "relative.qmp"), "unix:relative.qmp"),
        // A colon after a slash is part of a path, not a scheme.
        ("/tmp/a:b.qmp", .unixDomainSocket(path: "/tmp/a:b.qmp"), "unix:/tmp/a:b.qmp"),
        ("unix:/tmp/a:b", .unixDomainSocket(path: "/tmp/a:b"), "unix:/tmp/a:b"),
        ("tcp:127.0.0.1:4444", .hostname("127.0.0.1", port: 4444), "tcp:127.0.0.1:4444"),
        ("tcp:localhost:1", .hostname("localhost", port: 1), "tcp:localhost:1"),
        ("tcp:vm-host.example:65535", .hostname("vm-host.example", port: 65535), "tcp:vm-host.example:65535"),
        ("tcp:[::1]:4444", .hostname("::1", port: 4444), "tcp:[::1]:4444"),
        ("tcp:[fe80::1%eth0]:4444", .hostname("fe80::1%eth0", port: 4444), "tcp:[fe80::1%eth0]:4444"),
    ]

    @Test(arguments: valid)
    func parses(text: String, expected: Endpoint, description: String) throws {
        let address = try Endpoint(text)
        #expect(address == expected)
        #expect(address.description == description)
        #expect(try Endpoint(address.description) == address, "the description parses back")
    }

    @Test func unixPath() throws {
        #expect(try Endpoint("unix:/a.qmp").unixPath == "/a.qmp")
        #expect(try Endpoint("b.qmp").unixPath == "b.qmp")
        #expect(try Endpoint("tcp:h:1").unixPath == nil)
    }

    static let invalid: [(String, String)] = [
        ("", "the address is empty"),
        ("unix:", "no path after 'unix:'"),
        ("tcp:127.0.0.1", "expected tcp:HOST:PORT"),
        ("tcp:", "expected tcp:HOST:PORT"),
        ("tcp::4444", "no host in tcp:HOST:PORT"),
        ("tcp:host:", "port '' is not a number from 0 to 65535"),
        ("tcp:host:65536", "port '65536' is not a number from 0 to 65535"),
        ("tcp:host:-1", "port '-1' is not a number from 0 to 65535"),
        ("tcp:host:http", "port 'http' is not a number from 0 to 65535"),
        ("tcp:host:44 44", "port '44 44' is not a number from 0 to 65535"),
        ("tcp:[::1]4444", "expected tcp:[IPV6]:PORT"),
        ("tcp:[::1", "expected tcp:[IPV6]:PORT"),
        ("tcp:[]:4444", "no host in tcp:HOST:PORT"),
        ("tcp:[::1]:", "port '' is not a number from 0 to 65535"),
        ("foo:bar", "unknown scheme 'foo': use unix:PATH, tcp:HOST:PORT or a path"),
        ("udp:127.0.0.1:4444", "unknown scheme 'udp'"),
        ("TCP:127.0.0.1:4444", "unknown scheme 'TCP'"),
    ]

    @Test(arguments: invalid)
    func refuses(text: String, reason: String) {
        let error = #expect(throws: EndpointError.self) { try Endpoint(text) }
        #expect(error?.text == text)
        #expect(error?.reason.hasPrefix(reason) == true, "\(error?.reason ?? "")")
        #expect(error?.description.hasPrefix("bad QMP address '\(text)': ") == true)
    }
}
