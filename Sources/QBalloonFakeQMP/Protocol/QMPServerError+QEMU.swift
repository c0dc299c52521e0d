import QBalloonQMP

extension QMPServerError {
    /// `GenericError` with `desc`.
    static func generic(_ desc: String) -> QMPServerError {
        QMPServerError(errorClass: "GenericError", desc: desc)
    }

    /// The command table has no `name`.
    static func commandNotFound(_ name: String) -> QMPServerError {
        QMPServerError(errorClass: "CommandNotFound", desc: "The command \(name) has not been found")
    }

    /// `balloon`/`query-balloon` without a balloon device.
    static let noBalloon = QMPServerError(
        errorClass: "DeviceNotActive", desc: "No balloon device has been activated")

    /// A QOM path that resolves to nothing.
    static func deviceNotFound(_ path: String) -> QMPServerError {
        QMPServerError(errorClass: "DeviceNotFound", desc: "Device '\(path)' not found")
    }
}
