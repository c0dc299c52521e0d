import QBalloonCore
import QBalloonJSON

/// The control API's endpoints as a function from a request to a reply, with no sockets: the server feeds it what
/// NIOHTTP1 parsed and writes back what it returns. README, "Control a running daemon", lists the endpoints.
package struct ControlRouter: Sendable {
    package struct Request: Sendable {
        package var method: String
        /// The request target; a query string is ignored.
        package var uri: String
        package var body: [UInt8]

        package init(method: String, uri: String, body: [UInt8] = []) {
            self.method = method
            self.uri = uri
            self.body = body
        }
    }

    package struct Reply: Sendable {
        package var status: Int
        package var body: JSON
    }

    /// What to do with a request: answer it, or stream the live feed.
    package enum Route: Sendable {
        case reply(Reply)
        case events
    }

    let controls: OperatorControls

    package init(controls: OperatorControls) {
        self.controls = controls
    }

    package func route(_ request: Request) async -> Route {
        do {
            return try await handle(request)
        } catch {
            var body: [String: JSON] = ["error": .string(error.message)]
            if let known = error.known { body["known"] = .array(known.map(JSON.string)) }
            return .reply(Reply(status: error.kind.status, body: .object(body)))
        }
    }

    private func handle(_ request: Request) async throws(ControlFailure) -> Route {
        let path = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let method = request.method
        func allow(_ methods: String...) throws(ControlFailure) {
            guard methods.contains(method) else {
                throw ControlFailure(.methodNotAllowed, "\(method) \(path): use \(methods.joined(separator: " or "))")
            }
        }
        guard parts.first == "v1" else { throw notFound(method, path) }
        switch Array(parts.dropFirst()) {
        case ["vms"]:
            try allow("GET")
            return ok(try snapshot().json)
        case let route where route.count == 2 && route[0] == "vms":
            try allow("GET")
            return ok(try vm(route[1]).json)
        case let route where route.count == 3 && route[0] == "vms" && route[2] == "pin":
            try allow("POST", "DELETE")
            let name = route[1]
            if method == "DELETE" { return try act(name) { () throws(ControlFailure) in try controls.unpin(name) } }
            let body = try object(request.body)
            guard let sizeText = body["size"]?.stringValue else {
                throw ControlFailure(.badRequest, "the body needs \"size\": a size like \"2GiB\" or a percentage of max like \"50%\"")
            }
            let size: MemorySize
            do {
                size = try MemorySize(sizeText)
            } catch {
                throw ControlFailure(.badRequest, "\(error)")
            }
            var duration: Duration?
            if let forJSON = body["for"], !forJSON.isNull {
                guard let text = forJSON.stringValue else { throw ControlFailure(.badRequest, "\"for\" must be a duration like \"30m\"") }
                do {
                    duration = try DurationText.parse(text)
                } catch {
                    throw ControlFailure(.badRequest, "\"for\": \(error)")
                }
            }
            return try act(name) { () throws(ControlFailure) in try controls.pin(name, size: size, for: duration) }
        case ["pause"], ["resume"]:
            try allow("POST")
            let body = try object(request.body)
            var vm: String?
            if let named = body["vm"], !named.isNull {
                guard let text = named.stringValue else { throw ControlFailure(.badRequest, "\"vm\" must be a VM's name") }
                vm = text
            }
            let pausing = parts[1] == "pause"
            let message = try pausing ? controls.pause(vm) : controls.resume(vm)
            var reply: [String: JSON] = ["message": .string(message)]
            if let vm { reply["vm"] = try self.vm(vm).json }
            return ok(.object(reply))
        case ["reload"]:
            try allow("POST")
            switch await controls.reload() {
            case .reloaded(let path): return ok(["message": .string("reloaded \(path)")])
            case .refused(let reason):
                throw ControlFailure(.unprocessable, "reload refused, the running config stays: \(reason)")
            }
        case ["host"]:
            try allow("GET")
            return ok(try snapshot().hostJSON)
        case ["events"]:
            try allow("GET")
            return .events
        default:
            throw notFound(method, path)
        }
    }

    private func ok(_ body: JSON) -> Route { .reply(Reply(status: 200, body: body)) }

    private func notFound(_ method: String, _ path: String) -> ControlFailure {
        ControlFailure(
            .notFound,
            "no such endpoint: \(method) \(PeerText.excerpt(path, limit: 100)) (the endpoints: GET /v1/vms, GET /v1/vms/NAME, GET /v1/host, "
                + "POST|DELETE /v1/vms/NAME/pin, POST /v1/pause, POST /v1/resume, POST /v1/reload, GET /v1/events)")
    }

    /// The latest round, with the holds as they are now (an act shows in the reply before the next round).
    private func snapshot() throws(ControlFailure) -> ControlSnapshot {
        guard var snapshot = controls.snapshot else {
            throw ControlFailure(.unavailable, "the daemon has not made its first round yet: try again in a moment")
        }
        let holds = controls.current
        snapshot.hostPaused = holds.hostPaused
        for index in snapshot.vms.indices {
            snapshot.vms[index].pin = holds.pins[snapshot.vms[index].name]
            snapshot.vms[index].paused = holds.isPaused(snapshot.vms[index].name)
        }
        return snapshot
    }

    private func vm(_ name: String) throws(ControlFailure) -> ControlSnapshot.VM {
        let snapshot = try snapshot()
        guard let vm = snapshot.vm(name) else { throw ControlFailure.unknownVM(name, known: snapshot.names) }
        return vm
    }

    private func act(_ name: String, _ body: () throws(ControlFailure) -> String) throws(ControlFailure) -> Route {
        let message = try body()
        return ok(["message": .string(message), "vm": try vm(name).json])
    }

    /// The request body as a JSON object; an empty body is an empty object.
    private func object(_ body: [UInt8]) throws(ControlFailure) -> JSON {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return .object([:]) }
        let json: JSON
        do {
            json = try JSON.decode(body)
        } catch {
            throw ControlFailure(.badRequest, "the body is not JSON: \(PeerText.excerpt("\(error)", limit: 200))")
        }
        guard case .object = json else { throw ControlFailure(.badRequest, "the body must be a JSON object") }
        return json
    }
}
