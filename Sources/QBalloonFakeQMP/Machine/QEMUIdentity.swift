import QBalloonJSON

/// What the fake says it is: QEMU 7.2 as Debian 12 ships it, with the same greeting and version.
enum QEMUIdentity {
    static let version: JSON = [
        "qemu": ["micro": 22, "minor": 2, "major": 7],
        "package": "Debian 1:7.2+dfsg-7+deb12u18+b3",
    ]

    /// The greeting sent when a client gets the monitor.
    static let greeting: JSON = ["QMP": ["version": version, "capabilities": ["oob"]]]

    /// An event as QEMU writes it, stamped with `time` (seconds since the Unix epoch).
    static func event(_ name: String, data: JSON?, at time: Double) -> JSON {
        let seconds = time.rounded(.down)
        let microseconds = min(999_999, ((time - seconds) * 1e6).rounded(.down))
        var members: [String: JSON] = [
            "event": .string(name),
            "timestamp": ["seconds": .int(Int64(seconds)), "microseconds": .int(Int64(microseconds))],
        ]
        if let data { members["data"] = data }
        return .object(members)
    }
}
