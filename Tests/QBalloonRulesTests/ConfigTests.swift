import QBalloonCore
import Testing
@testable import QBalloonRules

@Suite("Config files")
struct ConfigTests {
    static let configsDirectory = repositoryRoot + "/Configs"

    @Test("every shipped config passes validation", arguments: [
        "example.toml", "minimal.toml", "conservative.toml", "aggressive-reclaim.toml", "proxmox-like.toml",
    ])
    func shipped(name: String) throws {
        let config = try QBalloonConfig.load(path: "\(Self.configsDirectory)/\(name)")
        #expect(!config.vms.isEmpty)
        #expect(!config.rules.isEmpty)
        #expect(config.summary.contains("OK"))
    }

    @Test("the example's values are read as written")
    func example() throws {
        let config = try QBalloonConfig.load(path: "\(Self.configsDirectory)/example.toml")
        #expect(config.daemon.interval == .seconds(2))
        #expect(config.daemon.metricsListen == .hostname("127.0.0.1", port: 9464))
        #expect(config.host.reserve == .bytes(2 << 30))
        #expect(config.defaults.growStep == .bytes(512 << 20))
        let db = try #require(config.vms.first)
        #expect(db.name == "db")
        #expect(db.address?.unixPath == "/run/qemu/db.qmp")
        #expect(db.settings.min == .bytes(2 << 30))
        #expect(db.settings.max == .percentOfMax(100))
        #expect(db.settings.shares == 2000)
        #expect(db.settings.step == .bytes(256 << 20))
        let runner = config.vms[1]
        #expect(runner.settings.connect == .perPoll)
        #expect(runner.settings.pressureIndex != db.settings.pressureIndex)
        let glob = config.vms[2]
        #expect(glob.name == nil)
        #expect(glob.socketGlob == "/run/qemu/*.qmp")
        #expect(glob.matches(socketPath: "/run/qemu/web.qmp"))
        #expect(glob.vmName(socketPath: "/run/qemu/web.qmp") == "web")
        #expect(config.rules.map(\.name).last == "keep the build runner roomy")
        #expect(config.rules.last?.applies(to: "build-7") == true)
        #expect(config.rules.last?.applies(to: "db") == false)
    }

    @Test("built-in defaults follow the interval")
    func builtins() throws {
        let config = try QBalloonConfig.parse("[daemon]\ninterval = \"5s\"\n[[vm]]\nqmp = \"/run/a.qmp\"\n", file: "x")
        #expect(config.daemon.staleAfter == .seconds(15))
        #expect(config.daemon.statsInterval == .seconds(5))
        #expect(config.defaults.stallAfter == .seconds(10))
        #expect(config.vms[0].name == nil)
        let limits = config.defaults.resolve(ramBytes: 8 << 30)
        #expect(limits.min == 4 << 30)
        #expect(limits.max == 8 << 30)
        #expect(limits.deadband == 8 * GiB / 100)  // 1% of 8 GiB, above 16 MiB
        #expect(limits.giveBack == 512 << 20)  // 1/16 of 8 GiB
    }

    @Test("bad TOML: the parser's position, with the line")
    func badTOML() {
        let text = "[daemon]\ninterval = \"2s\nstep = 3\n"
        let message = configError(text)
        #expect(message.hasPrefix("x.toml:2:"))
        #expect(message.contains("bad TOML"))
        #expect(message.contains("    interval = \"2s"))
    }

    @Test("missing qmp")
    func missingQMP() {
        #expect(
            configError("[[vm]]\nname = \"db\"\nmin = \"1GiB\"\n")
                == "x.toml:1: vm \"db\": missing 'qmp': the VM's monitor socket, like qmp = \"/run/qemu/db.qmp\" or a glob \"/run/qemu/*.qmp\" (or libvirt = \"qemu:///system\" for VMs libvirt runs)")
    }

    @Test("libvirt entries: every running domain, one domain, a glob over names")
    func libvirtEntries() throws {
        let config = try QBalloonConfig.parse(
            """
            [[vm]]
            libvirt = "qemu:///system"
            domain = "db"
            min = "2GiB"
            [[vm]]
            libvirt = "qemu:///system"
            domain = "legacy db"
            name = "legacy"
            [[vm]]
            libvirt = "qemu+ssh://root@node2/system"
            domain = "ci-*"
            [[vm]]
            libvirt = "qemu:///system"
            """, file: "x")
        let db = config.vms[0]
        #expect(db.libvirt == "qemu:///system" && db.domain == "db" && db.domainGlob == nil && db.qmp.isEmpty)
        #expect(db.address == nil && db.socketGlob == nil)
        #expect(db.settings.min == .bytes(2 << 30))
        #expect(db.matches(domain: "db") && !db.matches(domain: "db2"))
        #expect(!db.matches(socketPath: "/run/qemu/db.qmp"))
        #expect(db.target == "qemu:///system domain db")
        #expect(config.vms[1].name == "legacy" && config.vms[1].matches(domain: "legacy db"))
        let ci = config.vms[2]
        #expect(ci.domainGlob == "ci-*" && ci.matches(domain: "ci-7") && !ci.matches(domain: "db"))
        let every = config.vms[3]
        #expect(every.domain == "*" && every.domainGlob == "*" && every.matches(domain: "anything"))
        #expect(config.summary.contains("qemu:///system domain db"))
        #expect(config.summary.contains("(domain name)"))
    }

    @Test("libvirt entries: each mistake named with its line and key", arguments: [
        ("[[vm]]\nqmp = \"/run/a.qmp\"\nlibvirt = \"qemu:///system\"\n",
         "x.toml:3:|[[vm]] #1: libvirt: give either 'qmp' (a monitor socket) or 'libvirt' (a libvirt connection), not both"),
        ("[[vm]]\nqmp = \"/run/a.qmp\"\ndomain = \"db\"\n",
         "x.toml:3:|[[vm]] #1: domain: 'domain' goes with 'libvirt': libvirt = \"qemu:///system\""),
        ("[[vm]]\nlibvirt = \"\"\n", "x.toml:2:|[[vm]] #1: libvirt: '' is not a libvirt URI: like libvirt = \"qemu:///system\""),
        ("[[vm]]\nlibvirt = 7\n", "x.toml:2:|[[vm]] #1: libvirt"),
        ("[[vm]]\nlibvirt = \"qemu:///system\"\ndomain = \"\"\n",
         "x.toml:3:|[[vm]] #1: domain: 'domain' must be a domain name or a glob over names, like \"web\" or \"web-*\""),
        ("[[vm]]\nlibvirt = \"qemu:///system\"\ndomain = \"web-*\"\nname = \"web\"\n",
         "a domain glob names each VM after its domain: leave 'name' out, or give one domain"),
        ("[[vm]]\nlibvirt = \"qemu:///system\"\ndomain = \"my db\"\n",
         "x.toml:3:|[[vm]] #1: domain: the domain's name does not make a VM name ('my db' has characters other than letters, digits, '.', '_' and '-'): add a 'name'"),
        ("[[vm]]\nlibvirt = \"qemu:///system\"\ndomain = \"db\"\n[[vm]]\nlibvirt = \"qemu:///system\"\ndomain = \"db\"\nname = \"db2\"\n",
         "another [[vm]] (line 1) has the same libvirt and domain (qemu:///system domain db)"),
        ("[[vm]]\nlibvirt = \"qemu:///system\"\ndomain = \"db\"\n[[vm]]\nqmp = \"/run/db.qmp\"\n",
         "another [[vm]] (line 1) is also named 'db'"),
    ])
    func libvirtMistakes(text: String, expected: String) {
        // "x.toml:LINE:|TEXT": the message starts with the file and line (a column may follow) and has TEXT.
        let message = configError(text)
        let parts = expected.split(separator: "|", maxSplits: 1).map(String.init)
        if parts.count == 2 {
            #expect(message.hasPrefix(parts[0]) && message.contains(parts[1]), "\(message)")
        } else {
            #expect(message.contains(expected), "\(message)")
        }
    }

    @Test("no VMs at all")
    func noVMs() {
        #expect(configError("[daemon]\ninterval = \"2s\"\n") == "x.toml: no [[vm]]: add at least one, like [[vm]] qmp = \"/run/qemu/*.qmp\"")
    }

    @Test(
        "field errors carry line and column",
        arguments: [
            ("[defaults]\nmin = \"2GX\"\n", "x.toml:2:7: [defaults]: min: bad size '2GX': unknown unit 'GX' (use K, M, G, T, KiB, MiB, GiB, TiB or %)"),
            ("[defaults]\nstep = \"150%\"\n", "x.toml:2:8: [defaults]: step: bad size '150%': a percentage cannot exceed 100"),
            ("[defaults]\ncooldown = \"10 parsecs\"\n", "x.toml:2:12: [defaults]: cooldown: bad duration '10 parsecs': expected a number with ms, s, m or h, like '2s'"),
            ("[defaults]\nmim = \"1GiB\"\n", "x.toml:2:7: [defaults]: mim: unknown key 'mim' (did you mean 'min'?)"),
            ("[defaults]\nshares = \"many\"\n", "x.toml:2:10: [defaults]: shares: must be a whole number, not a string"),
            ("[defaults]\nshares = -5\n", "x.toml:2:10: [defaults]: shares: must be from 0 to 1000000, not -5"),
            ("[defaults]\nconnect = \"sometimes\"\n", "x.toml:2:11: [defaults]: connect: must be \"persistent\" or \"per-poll\", not \"sometimes\""),
            ("[defaults]\nmin = \"4GiB\"\nmax = \"2GiB\"\n", "x.toml:2:7: [defaults]: min: min (4 GiB) is above max (2 GiB)"),
            ("[daemon]\ninterval = \"10ms\"\n", "x.toml:2:12: [daemon]: interval: must be from 100ms to 1h, not 0.01s"),
            ("[daemon]\nmetrics_listen = \"localhost\"\n", "x.toml:2:18: [daemon]: metrics_listen: expected HOST:PORT, like \"127.0.0.1:9464\""),
            ("[daemon]\nstats_interval = \"1.5s\"\n", "x.toml:2:18: [daemon]: stats_interval: must be whole seconds, at least 1s (QEMU polls in seconds)"),
            ("[host]\nidle_tax = 1.5\n", "x.toml:2:12: [host]: idle_tax: must be a fraction from 0 to below 1 (0.75) or a percentage (\"75%\")"),
            ("[deamon]\ninterval = \"2s\"\n", "x.toml:1: unknown table 'deamon' (did you mean 'daemon'?)"),
            ("[vm]\nqmp = \"/a.qmp\"\n", "x.toml:1: 'vm' must be written [[vm]] (double brackets), once for each vm"),
        ])
    func fieldErrors(text: String, expected: String) {
        let withVM = text.contains("vm]") ? text : text + "[[vm]]\nqmp = \"/run/qemu/*.qmp\"\n"
        #expect(configError(withVM) == expected)
    }

    @Test(
        "[[vm]] errors",
        arguments: [
            ("[[vm]]\nqmp = \"tcp:10.0.0.1:4444\"\n", "x.toml:2:7: [[vm]] #1: qmp: a TCP monitor needs a 'name'"),
            ("[[vm]]\nqmp = \"ssh:10.0.0.1\"\nname = \"a\"\n", "x.toml:2:7: vm \"a\": qmp: bad QMP address 'ssh:10.0.0.1': unknown scheme 'ssh': use unix:PATH, tcp:HOST:PORT or a path"),
            ("[[vm]]\nqmp = \"/run/qemu/*.qmp\"\nname = \"all\"\n", "x.toml:3:8: vm \"all\": name: a glob names each VM after its socket file: leave 'name' out, or give one socket path"),
            ("[[vm]]\nqmp = \"/run/a.qmp\"\n[[vm]]\nqmp = \"/srv/a.qmp\"\n", "x.toml:3: [[vm]]: another [[vm]] (line 1) is also named 'a'"),
            ("[[vm]]\nqmp = \"/run/a.qmp\"\nname = \"my vm\"\n", "x.toml:3:8: vm \"my vm\": name: 'my vm' has characters other than letters, digits, '.', '_' and '-'"),
        ])
    func vmErrors(text: String, expected: String) {
        #expect(configError(text) == expected)
    }

    @Test("rule errors: missing fields, duplicate names, bad vms")
    func ruleErrors() {
        let text = """
            [[vm]]
            qmp = "/run/qemu/*.qmp"
            [[rule]]
            when = "available > 1GiB"
            [[rule]]
            name = "a"
            when = "available > 1GiB"
            set = "used"
            vms = "db"
            [[rule]]
            name = "a"
            when = "available > 1GiB"
            set = "used"
            """
        #expect(
            configError(text)
                == """
                x.toml:3: [[rule]] #1: missing 'name': say what the rule is for, like name = "reclaim idle memory"
                x.toml:3: [[rule]] #1: missing 'set', like set = "used + 30% of used"
                x.toml:9:7: rule "a": vms: must be a list of VM names or globs, like ["db", "web-*"]
                x.toml:10: rule "a": another rule has this name (line 5): give each rule its own name
                """)
    }

    @Test("every error is listed, in file order")
    func everyError() throws {
        let text = """
            [daemon]
            interval = "fast"
            [defaults]
            min = "lots"
            [[vm]]
            name = "db"
            [[rule]]
            name = "r"
            when = "availabel > 1GiB"
            set = "actual + 5s"
            """
        do {
            _ = try QBalloonConfig.parse(text, file: "x.toml")
            Issue.record("no error")
        } catch {
            #expect(error.errors.map(\.line) == [2, 4, 5, 9, 10])
        }
    }

    @Test("a file that cannot be read")
    func unreadable() {
        do {
            _ = try QBalloonConfig.load(path: "/nonexistent/qballoon.toml")
            Issue.record("no error")
        } catch {
            #expect(error.description == "/nonexistent/qballoon.toml: cannot read: No such file or directory")
        }
    }

    @Test("globs")
    func globs() {
        #expect(Glob("/run/qemu/*.qmp").matches("/run/qemu/web.qmp"))
        #expect(!Glob("/run/qemu/*.qmp").matches("/run/qemu/web.sock"))
        #expect(Glob("web-?").matches("web-1"))
        #expect(!Glob("web-?").matches("web-10"))
        #expect(Glob("db[0-9]").matches("db7"))
        #expect(!Glob("db[!0-9]").matches("db7"))
        #expect(Glob("*").matches(""))
        #expect(Glob("a*b*c").matches("axxbyyc"))
    }

    @Test("summary shows effective values, percentages as such")
    func summary() throws {
        let config = try QBalloonConfig.load(path: "\(Self.configsDirectory)/example.toml")
        let text = config.summary
        #expect(text.contains("db             unix:/run/qemu/db.qmp   persistent  2 GiB  100%  256 MiB  512 MiB  10s       2000"))
        #expect(text.contains("host: keep MemAvailable above 2 GiB (a guest that needs memory may take it down to 1 GiB); idle-memory tax 75%"))
        #expect(text.contains("need: headroom 15% (at least 64 MiB), or 40 MiB/s for the 5s the daemon takes to react (200 MiB)"))
        #expect(text.contains("  3. reclaim idle memory"))
        #expect(text.split(separator: "\n").count < 40)
    }
}
