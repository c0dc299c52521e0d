import ArgumentParser
import QBalloonCore
import QBalloon
import QBalloonQMP

/// The options every command that talks to a VM takes.
struct MonitorOptions: ParsableArguments {
    @Option(
        name: .customLong("qmp"),
        help: ArgumentHelp("The VM's QMP monitor: unix:PATH, a socket path, or tcp:HOST:PORT.", valueName: "ADDR"))
    var qmp: String

    @Option(
        name: .customLong("command-timeout"),
        help: ArgumentHelp("How long to wait for QEMU to answer a command (and to greet).", valueName: "DURATION"))
    var commandTimeout: String = "10s"

    func validate() throws {
        do {
            _ = try Endpoint(qmp)
        } catch {
            throw ValidationError("\(error)")
        }
        let timeout = try parsedDuration(commandTimeout, option: "--command-timeout")
        guard timeout > .zero else { throw ValidationError("--command-timeout must be more than 0") }
    }

    var address: Endpoint { get throws { try Endpoint(qmp) } }

    /// Connects and negotiates, with the command timeout as the greeting timeout too.
    func connect() async throws -> QMPClient {
        let timeout = try DurationText.parse(commandTimeout)
        return try await QMPClient.connect(
            to: try address, options: QMPClient.Options(commandTimeout: timeout, connectTimeout: timeout))
    }
}

func parsedDuration(_ text: String, option: String) throws -> Duration {
    do {
        return try DurationText.parse(text)
    } catch {
        throw ValidationError("\(option): \(error)")
    }
}

/// Runs `body` with a connected client and closes it afterwards, whatever happens.
func withClient<T>(_ options: MonitorOptions, _ body: (QMPClient) async throws -> T) async throws -> T {
    let client = try await options.connect()
    do {
        let result = try await body(client)
        await client.close()
        return result
    } catch {
        await client.close()
        throw error
    }
}
