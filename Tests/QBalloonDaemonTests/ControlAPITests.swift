import Foundation
import QBalloonDaemon
import QBalloonFakeQMP
import QBalloonJSON
import QBalloonTestSupport
import Testing

/// The control socket against a running daemon on fake VMs, spoken to as `curl --unix-socket` would: every endpoint
/// and its errors, the holds kept across restarts (and a `kill -9`), a garbage state file set aside, and who may
/// connect.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ControlAPITests {
    static let gib = TestFleet.gib
    static let mib = TestFleet.mib

    static func config(_ fleet: TestFleet, extra: String = "") -> String {
        TestConfig.daemon(extra: "decision_log = \"\(fleet.directory)/decisions.jsonl\"\n" + extra) + TestConfig.defaults()
            + TestConfig.vm("first", in: fleet) + TestConfig.vm("second", in: fleet) + TestConfig.reclaimRule
    }

    func eventually(_ what: String, tries: Int = 100, _ condition: () async throws -> Bool) async throws {
        for _ in 0..<tries {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("not after \(tries) tries: \(what)")
    }

    /// Waits until the daemon has read both VMs (they may be pinned or paused).
    func ready(_ http: ControlHTTP) async throws {
        try await eventually("both VMs read") {
            guard let reply = try? await http.call("GET", "/v1/vms"), reply.status == 200 else { return false }
            let vms = reply.json["vms"]?.arrayValue ?? []
            return vms.count == 2 && vms.allSatisfy { $0["actual"]?.uint64Value != nil && $0["state"]?.stringValue != "connecting" }
        }
    }

    /// The VM's state; on a machine loaded enough (a sanitizer build) for its statistics to go stale for a moment,
    /// that problem is shown before a hold, so the hold is read from its own fields then.
    func state(_ http: ControlHTTP, _ vm: String) async throws -> String {
        let json = try await http.get("/v1/vms/\(vm)")
        let state = json["state"]?.stringValue ?? "?"
        if state == "stale_stats" {
            if json["paused"] == true { return "paused" }
            if json["pin"]?.isNull == false { return "pinned" }
            return "ok"
        }
        return state == "paused" || state == "ok" || state == "pinned" ? state : "\(state): \(json["status"]?.stringValue ?? "")"
    }

    @Test func everyEndpointAndItsErrors() async throws {
        try await TestFleet.run(.sockets) { fleet in
            try await fleet.startVM("first")
            try await fleet.startVM("second")
            try await fleet.startDaemon(config: Self.config(fleet))
            let http = ControlHTTP(socket: fleet.controlSocket)
            try await ready(http)

            let first = try await http.get("/v1/vms/first")
            #expect(first["name"]?.stringValue == "first")
            #expect(first["socket"]?.stringValue == fleet.socket("first"))
            #expect(first["ram"]?.uint64Value == 2 * Self.gib)
            #expect(first["max"]?.uint64Value == 2 * Self.gib)
            #expect(first["min"]?.uint64Value == 512 * Self.mib)
            #expect(first["available"]?.uint64Value != nil)
            #expect(first["stats_age"]?.doubleValue != nil)
            #expect(first["pin"]?.isNull == true)
            let host = try await http.get("/v1/host")
            #expect(host["vms"]?.int64Value == 2)
            #expect(host["reserve"]?.uint64Value == Self.gib)
            #expect(host["total"]?.uint64Value != nil)
            #expect(host["config"]?.stringValue == fleet.configPath)

            // The rules reclaim both; a pin holds `first` at 1.5 GiB while they go on wanting less.
            let pinned = try await http.call("POST", "/v1/vms/first/pin", body: #"{"size": "1.5GiB"}"#)
            #expect(pinned.status == 200, "\(pinned.body)")
            #expect(pinned.json["message"]?.stringValue == "first pinned to 1.5 GiB")
            #expect(pinned.json["vm"]?["state"]?.stringValue == "pinned")
            try await eventually("first at its pin, second reclaimed") {
                let one = try await fleet.guest("first")
                let two = try await fleet.guest("second")
                return one.target == 3 * Self.gib / 2 && two.target < Self.gib
            }
            for _ in 0..<5 {
                _ = try await fleet.nextRound()
                let target = try await fleet.guest("first").target
                #expect(target == 3 * Self.gib / 2, "the pin holds while the rule wants less")
            }
            let explained = try await http.get("/v1/vms/first")
            #expect(explained["last_change"]?["reason"]?.stringValue == "pinned by the operator")
            #expect(explained["last_change"]?["rule"]?.stringValue == "operator")
            #expect(explained["pin"]?["bytes"]?.uint64Value == 3 * Self.gib / 2)

            // Errors name the thing at fault.
            let aboveMax = try await http.call("POST", "/v1/vms/first/pin", body: #"{"size": "3GiB"}"#)
            #expect(aboveMax.status == 400)
            #expect(aboveMax.json["error"]?.stringValue == "first: 3 GiB is above its max 2 GiB")
            let badSize = try await http.call("POST", "/v1/vms/first/pin", body: #"{"size": "lots"}"#)
            #expect(badSize.status == 400)
            #expect(badSize.json["error"]?.stringValue?.hasPrefix("bad size 'lots'") == true, "\(badSize.body)")
            let badFor = try await http.call("POST", "/v1/vms/first/pin", body: #"{"size": "1GiB", "for": "soon"}"#)
            #expect(badFor.status == 400)
            #expect(badFor.json["error"]?.stringValue?.contains("bad duration 'soon'") == true, "\(badFor.body)")
            let noSize = try await http.call("POST", "/v1/vms/first/pin", body: "")
            #expect(noSize.status == 400)
            let notJSON = try await http.call("POST", "/v1/vms/first/pin", body: "size=1G")
            #expect(notJSON.status == 400)
            #expect(notJSON.json["error"]?.stringValue?.hasPrefix("the body is not JSON") == true)
            let unknown = try await http.call("POST", "/v1/vms/nope/pin", body: #"{"size": "1GiB"}"#)
            #expect(unknown.status == 404)
            #expect(unknown.json["error"]?.stringValue == "no VM named 'nope' (known: first, second)")
            #expect(unknown.json["known"] == ["first", "second"])
            #expect(try await http.call("GET", "/v1/vms/nope").status == 404)
            let noEndpoint = try await http.call("GET", "/v2/vms")
            #expect(noEndpoint.status == 404)
            #expect(noEndpoint.json["error"]?.stringValue?.hasPrefix("no such endpoint: GET /v2/vms") == true)
            #expect(try await http.call("PUT", "/v1/vms").status == 405)
            let huge = try await http.call("POST", "/v1/pause", body: String(repeating: " ", count: 70_000))
            #expect(huge.status == 413)

            // Unpinned, the rules take over.
            let unpinned = try await http.call("DELETE", "/v1/vms/first/pin")
            #expect(unpinned.json["message"]?.stringValue == "first unpinned; the rules take over")
            try await eventually("first reclaimed by the rule") { try await fleet.guest("first").target < Self.gib }
            #expect(try await http.call("DELETE", "/v1/vms/first/pin").json["message"]?.stringValue == "first was not pinned")
            let percent = try await http.call("POST", "/v1/vms/first/pin", body: #"{"size": "75%", "for": "10m"}"#)
            #expect(percent.json["vm"]?["pin"]?["bytes"]?.uint64Value == 3 * Self.gib / 2)
            #expect(percent.json["vm"]?["pin"]?["until"]?.doubleValue != nil)
            #expect(percent.json["message"]?.stringValue?.hasPrefix("first pinned to 1.5 GiB (75% of its max) for 10m, until ") == true)
            _ = try await http.call("DELETE", "/v1/vms/first/pin")

            // Pause and resume, one VM and the whole host; the live feed reports each act.
            async let feed = http.events(4) { $0["type"]?.stringValue == "operator" }
            try await Task.sleep(for: .milliseconds(300))
            let paused = try await http.call("POST", "/v1/pause", body: #"{"vm": "second"}"#)
            #expect(paused.json["message"]?.stringValue == "second paused: it is still read and shown, nothing is sent to it")
            #expect(try await state(http, "second") == "paused")
            #expect(try await state(http, "first") == "ok")
            _ = try await http.call("POST", "/v1/resume", body: #"{"vm": "second"}"#)
            #expect(try await state(http, "second") == "ok")
            _ = try await http.call("POST", "/v1/pause")
            #expect(try await http.get("/v1/host")["paused"] == true)
            #expect(try await state(http, "first") == "paused")
            let resumed = try await http.call("POST", "/v1/resume", body: "{}")
            #expect(resumed.json["message"]?.stringValue == "resumed: the whole host and every VM")
            let (headers, acts) = try await feed
            #expect(headers.contains("application/x-ndjson"))
            #expect(acts.map { $0["act"]?.stringValue ?? "" } == ["pause", "resume", "pause", "resume"])
            #expect(acts.first?["vm"]?.stringValue == "second")
            let rounds = try await http.events(2) { $0["type"]?.stringValue == "round" }.lines
            #expect(rounds.allSatisfy { $0["vms"]?.arrayValue?.count == 2 && $0["host"]?["vms"]?.int64Value == 2 })

            // Reload: the outcome comes back; a broken config is refused with its errors and the daemon goes on.
            let reloaded = try await http.call("POST", "/v1/reload")
            #expect(reloaded.status == 200)
            #expect(reloaded.json["message"]?.stringValue == "reloaded \(fleet.configPath)")
            try fleet.writeConfig(Self.config(fleet) + "\n[[rule]]\nname = \"broken\"\nwhen = \"availble > 1GiB\"\nset = \"actual\"\n")
            let refused = try await http.call("POST", "/v1/reload")
            #expect(refused.status == 422)
            let error = refused.json["error"]?.stringValue ?? ""
            #expect(error.hasPrefix("reload refused, the running config stays: "), "\(error)")
            #expect(error.contains("availble"), "\(error)")
            #expect(try await http.get("/v1/vms")["vms"]?.arrayValue?.count == 2)

            // Every act is in the decision log, as the operator's.
            let log = (try? String(contentsOfFile: fleet.directory + "/decisions.jsonl", encoding: .utf8)) ?? ""
            let acts2 = log.split(separator: "\n").compactMap { try? JSON.decode(String($0)) }.filter { $0["rule"]?.stringValue == "operator" }
            let kinds = Set(acts2.compactMap { $0["act"]?.stringValue })
            #expect(kinds == ["pin", "unpin", "pause", "resume", "reload"], "\(kinds)")
            #expect(acts2.contains { $0["act"]?.stringValue == "pin" && $0["to"]?.uint64Value == 3 * Self.gib / 2 })
            #expect(log.contains(#""reason":"pinned by the operator""#), "the balloon change a pin made is logged with its reason")
        }
    }

    @Test func holdsSurviveARestartAndRunOut() async throws {
        try await TestFleet.run(.sockets) { fleet in
            try await fleet.startVM("first")
            try await fleet.startVM("second")
            let metrics = DaemonMetrics()
            try await fleet.startDaemon(config: Self.config(fleet), metrics: metrics)
            let http = ControlHTTP(socket: fleet.controlSocket)
            try await ready(http)
            #expect(try await http.call("POST", "/v1/vms/first/pin", body: #"{"size": "1.5GiB"}"#).status == 200)
            #expect(try await http.call("POST", "/v1/pause", body: #"{"vm": "second"}"#).status == 200)
            try await eventually("the holds in the metrics") {
                let text = String(decoding: metrics.exposition(), as: UTF8.self)
                return text.contains(#"qballoon_vm_pinned{vm="first"} 1"#) && text.contains(#"qballoon_vm_paused{vm="second"} 1"#)
                    && text.contains(#"qballoon_vm_paused{vm="first"} 0"#)
                    && text.contains(#"qballoon_operator_acts_total{act="pause"} 1"#)
            }
            let saved = try String(contentsOfFile: fleet.directory + "/control.state/holds.json", encoding: .utf8)
            #expect(saved.contains(#""paused":["second"]"#), "\(saved)")

            try await fleet.stopDaemon()
            #expect(!FileManager.default.fileExists(atPath: fleet.controlSocket), "the socket goes with the daemon")
            try await fleet.startDaemon(config: Self.config(fleet))
            try await ready(http)
            #expect(try await state(http, "first") == "pinned")
            #expect(try await state(http, "second") == "paused")
            #expect(fleet.logs.matching("operator holds from").count == 1)

            // A pin `for` a while ends by itself, and says so.
            _ = try await http.call("POST", "/v1/resume")
            #expect(try await http.call("POST", "/v1/vms/first/pin", body: #"{"size": "1.5GiB", "for": "1s"}"#).status == 200)
            try await eventually("the pin ran out") { try await http.get("/v1/vms/first")["pin"]?.isNull == true }
            let log = (try? String(contentsOfFile: fleet.directory + "/decisions.jsonl", encoding: .utf8)) ?? ""
            #expect(log.contains(#""act":"expire""#))

            // A garbage state file is set aside and reported; the daemon runs with the config's VMs.
            try await fleet.stopDaemon()
            try "{\"version\": 1, \"pins\": {\"first\": {\"since\": 1, \"bytes\": \"many\"}".write(
                toFile: fleet.directory + "/control.state/holds.json", atomically: true, encoding: .utf8)
            try await fleet.startDaemon(config: Self.config(fleet))
            try await ready(http)
            #expect(try await state(http, "first") == "ok")
            let aside = try FileManager.default.contentsOfDirectory(atPath: fleet.directory + "/control.state")
            #expect(aside.contains { $0.hasPrefix("holds.json.bad-") }, "\(aside)")
            #expect(fleet.logs.matching("is not a state file qballoon can read").count == 1, "\(fleet.logs.tail(5))")
        }
    }

    @Test func aPinSurvivesKill9() async throws {
        try await TestFleet.run(.sockets) { fleet in
            try await fleet.startVM("first")
            try await fleet.startVM("second")
            let daemon = try DaemonProcess(config: Self.config(fleet), directory: fleet.directory)
            try daemon.start()
            let http = ControlHTTP(socket: fleet.directory + "/daemon.control.sock")
            try await ready(http)
            #expect(try await http.call("POST", "/v1/vms/first/pin", body: #"{"size": "1GiB"}"#).status == 200)
            try await eventually("first at its pin") { try await fleet.guest("first").target == Self.gib }
            let pid = try #require(daemon.pid)
            kill(pid, SIGKILL)
            try await eventually("the daemon is gone") { !daemon.isRunning }
            // Its socket is left behind; the next daemon replaces it, and finds the pin.
            #expect(FileManager.default.fileExists(atPath: fleet.directory + "/daemon.control.sock"))
            try daemon.start()
            try await ready(http)
            let first = try await http.get("/v1/vms/first")
            #expect(first["state"]?.stringValue == "pinned")
            #expect(first["pin"]?["bytes"]?.uint64Value == Self.gib)
            try await Task.sleep(for: .seconds(1))
            let guest = try await fleet.guest("first")
            let log = (try? String(contentsOfFile: fleet.directory + "/decisions.jsonl", encoding: .utf8)) ?? ""
            #expect(guest.target == Self.gib, "\(guest)\n\(log.split(separator: "\n").suffix(6).joined(separator: "\n"))")
            #expect(await daemon.stop() == 0)
        }
    }

    @Test func onlyTheDaemonsUserOrItsGroupMayConnect() async throws {
        try await TestFleet.run(.sockets) { fleet in
            chmod(fleet.directory, 0o755)
            try await fleet.startVM("first")
            try await fleet.startVM("second")
            try await fleet.startDaemon(config: Self.config(fleet))
            let http = ControlHTTP(socket: fleet.controlSocket)
            try await ready(http)
            var info = stat()
            #expect(stat(fleet.controlSocket, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o600)
            #expect(info.st_uid == getuid())
            let curl = ["--silent", "--show-error", "--unix-socket", fleet.controlSocket, "http://qballoon/v1/vms"]
            let nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
            let refused = try await BuiltCLI.run(curl, wrapper: nobody, executable: "/usr/bin/curl")
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("Permission denied") || refused.stderr.contains("Couldn't connect"), "\(refused)")
            try await fleet.stopDaemon()

            // control_group: its members may connect (mode 0660), others still not.
            let group = "qballoon-ctl-test"
            _ = try await BuiltCLI.run(["-f", group], executable: "/usr/sbin/groupadd")
            try await fleet.startDaemon(config: Self.config(fleet, extra: "control_group = \"\(group)\""))
            try await ready(http)
            #expect(stat(fleet.controlSocket, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o660)
            let gid = try #require(getgrnam(group)?.pointee.gr_gid)
            #expect(info.st_gid == gid)
            let member = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--groups=\(gid)", "--"]
            let allowed = try await BuiltCLI.run(curl, wrapper: member, executable: "/usr/bin/curl")
            #expect(allowed.status == 0, "\(allowed)")
            #expect((try? JSON.decode(allowed.stdout))?["vms"]?.arrayValue?.count == 2, "\(allowed)")
            let stranger = try await BuiltCLI.run(curl, wrapper: nobody, executable: "/usr/bin/curl")
            #expect(stranger.status != 0)
            try await fleet.stopDaemon()

            // A group that does not exist stops the daemon at start, naming it.
            try fleet.writeConfig(Self.config(fleet, extra: "control_group = \"no-such-group-here\""))
            let failed = try await BuiltCLI.run(["run", "--config", fleet.configPath], timeout: 30)
            #expect(failed.status == 1)
            #expect(failed.stderr.contains("control_group: no group named 'no-such-group-here' on this host"), "\(failed)")
        }
    }
}
