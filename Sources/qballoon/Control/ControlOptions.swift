import ArgumentParser
import QBalloonDaemon

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The option every command that talks to a running daemon takes: where its control socket is.
struct ControlOptions: ParsableArguments {
    static let defaultSocket = "/run/qballoon/control.sock"

    @Option(
        name: .customLong("control"),
        help: ArgumentHelp(
            "The daemon's control socket (its [daemon] control_socket). Default: $QBALLOON_CONTROL, else \(ControlOptions.defaultSocket).",
            valueName: "PATH"))
    var control: String?

    /// --control, else $QBALLOON_CONTROL, else the installed default.
    var socketPath: String {
        if let control { return control }
        if let variable = getenv("QBALLOON_CONTROL"), case let path = String(cString: variable), !path.isEmpty {
            return path
        }
        return Self.defaultSocket
    }

    var client: ControlClient { ControlClient(socketPath: socketPath) }
}
