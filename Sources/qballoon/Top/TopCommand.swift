import ArgumentParser
import NIOHTTP1
import QBalloonCore
import QBalloonDaemon
import QBalloonJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

struct TopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "Watch a running daemon's VMs live, full screen, and pause, resume, pin and unpin them.",
        discussion: """
            One row per VM, redrawn at every round of the daemon: its state, the balloon's actual size and max, \
            the target, what the guest has available (with a bar, as a share of actual), a sparkline of that \
            share over the last minute (LAST 60s) and the last rule; above them the host's memory, reserve and \
            what the balloons returned, and the VMs by state.

            Keys: q quits; s cycles the sort (name, actual largest first, available least first, pressure: \
            the VMs in trouble first) and 1-4 pick one; the arrows or j and k select a VM; p pauses or resumes \
            it; P pauses or resumes the whole host; i pins it (type a size like 2GiB or 50%, Enter to send, Esc to \
            cancel); u unpins it. What the daemon answers shows on the status line for a few seconds.

            When standard output is not a terminal, it prints the screen once (100 columns, no keys) and exits.
            """)

    @OptionGroup var control: ControlOptions

    func run() async throws {
        let client = control.client
        // Before the terminal is taken: no daemon is one clear line on the shell's own screen.
        let first = try await client.request(.GET, "/v1/vms")
        var screen = TopScreen(socketPath: client.socketPath, now: WallClock.system.now())
        screen.apply(round: first.body)
        guard isatty(1) == 1 else {
            screen.interactive = false
            let lines = screen.render(width: 100, height: TopScreen.headerLines + screen.round.vms.count)
            print(lines.map { String($0.reversed().drop { $0 == " " }.reversed()) }.joined(separator: "\n"))
            return
        }
        var session = TopSession(client: client, screen: screen)
        try await session.run()
    }
}

/// One run of the full-screen view: the terminal, the daemon's event stream, a clock tick for the status
/// line, and the acts the keys ask for, all feeding one loop that owns the screen.
struct TopSession {
    let client: ControlClient
    var screen: TopScreen

    enum Input: Sendable {
        case terminal(Terminal.Input)
        case event(JSON)
        /// The event stream ended: the daemon went away.
        case lost(String)
        case tick
        case answered(String, isError: Bool)
    }

    mutating func run() async throws {
        let terminal = try Terminal()
        try terminal.enter()
        defer { terminal.restore() }
        let (inputs, continuation) = AsyncStream.makeStream(of: Input.self)
        let (terminalInputs, terminalContinuation) = AsyncStream.makeStream(of: Terminal.Input.self)
        terminal.watch(terminalContinuation)
        let client = self.client
        var screen = self.screen
        var failure: String?
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await input in terminalInputs { continuation.yield(.terminal(input)) }
            }
            group.addTask {
                do {
                    try await client.events { continuation.yield(.event($0)) }
                    if !Task.isCancelled { continuation.yield(.lost("lost the daemon at \(client.socketPath): it ended the event stream (did it stop?)")) }
                } catch let error as ControlClientError where error.code == .connectionClosed {
                    continuation.yield(.lost("lost the daemon at \(client.socketPath): it closed the connection (did it stop?)"))
                } catch {
                    continuation.yield(.lost("lost the daemon: \(error)"))
                }
            }
            group.addTask {
                while (try? await Task.sleep(for: .seconds(1))) != nil { continuation.yield(.tick) }
            }
            var decoder = TerminalKeyDecoder()
            var size = terminal.size
            terminal.draw(screen.render(width: size.width, height: size.height), width: size.width, clear: true)
            loop: for await input in inputs {
                screen.now = WallClock.system.now()
                var clear = false
                switch input {
                case .terminal(.bytes(let bytes)):
                    for key in decoder.decode(bytes) {
                        switch screen.handle(key) {
                        case .none: break
                        case .quit: break loop
                        case .send(let act):
                            screen.showStatus(act.what + "…")
                            group.addTask { continuation.yield(await Self.send(act, with: client)) }
                        }
                    }
                case .terminal(.resize):
                    size = terminal.size
                    clear = true
                case .terminal(.stop):
                    break loop
                case .event(let event):
                    switch event["type"]?.stringValue {
                    case "round": screen.apply(round: event)
                    case "operator": screen.apply(operatorEvent: event)
                    default: break
                    }
                case .lost(let message):
                    failure = message
                    break loop
                case .tick:
                    break
                case .answered(let message, let isError):
                    screen.showStatus(message, isError: isError)
                }
                terminal.draw(screen.render(width: size.width, height: size.height), width: size.width, clear: clear)
            }
            terminalContinuation.finish()
            group.cancelAll()
        }
        continuation.finish()
        self.screen = screen
        terminal.restore()
        if let failure { throw TopError(failure) }
    }

    /// Sends a key's act; the daemon's message (or its refusal) for the status line.
    private static func send(_ act: TopScreen.Act, with client: ControlClient) async -> Input {
        do {
            let reply = try await client.request(act.method == .post ? .POST : .DELETE, act.path, body: act.body)
            return .answered(reply.message ?? "\(act.what): done", isError: false)
        } catch {
            return .answered("\(act.what): \(error)", isError: true)
        }
    }
}
