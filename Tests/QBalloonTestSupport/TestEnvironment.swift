import Foundation

/// What the tests find on this machine, and where: the CI flag, QEMU, the built `qballoon`, the repository.
///
/// Outside CI a missing piece skips the tests that need it, with the reason printed once; under `CI=true`
/// nothing may be skipped (see ``requiresQEMU``).
package enum TestEnvironment {
    package static let variables = ProcessInfo.processInfo.environment

    /// `CI=true`: every test runs, and a missing piece is a failure.
    package static let isCI = variables["CI"] == "true"

    /// The repository's top folder, found from this file's path.
    package static let repositoryRoot: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        parts.removeLast(3)  // Tests/QBalloonTestSupport/TestEnvironment.swift
        return parts.joined(separator: "/")
    }()

    /// An executable on `PATH`, or nil.
    package static func executable(named name: String) -> String? {
        for directory in (variables["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// `qemu-system-x86_64`, if installed.
    package static let qemu: String? = executable(named: "qemu-system-x86_64")

    /// Whether tests needing a real QEMU run here: always under CI (where a missing QEMU then fails them),
    /// otherwise only when it is installed (the reason printed once when not).
    package static let runsQEMUTests: Bool = {
        if qemu != nil || isCI { return true }
        print("note: qemu-system-x86_64 not found: skipping the tests against a real QEMU (install qemu-system-x86; under CI=true this fails)")
        return false
    }()

    /// The `qballoon` executable, built beside the test bundle by `swift build --build-tests`.
    package static let qballoon: String = {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // `swift test` runs .../debug/qballoonPackageTests.xctest (a file on Linux, a bundle elsewhere).
        while !FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("qballoon").path),
            directory.path != "/"
        {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("qballoon").path
    }()

    /// A fresh directory under /tmp (short: unix socket paths are limited to 107 bytes).
    package static func makeTemporaryDirectory(prefix: String = "qbt") -> String {
        var template = Array("/tmp/\(prefix).XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress, let made = mkdtemp(base) else { return "/tmp" }
            return String(cString: made)
        }
    }

    /// Removes a directory made by ``makeTemporaryDirectory(prefix:)`` and everything in it.
    package static func removeDirectory(_ path: String) {
        guard path.hasPrefix("/tmp/"), path != "/tmp" else { return }
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A test failure with a message that says what was being waited for or what was missing.
package struct TestFailure: Error, CustomStringConvertible {
    package let description: String

    package init(_ description: String) {
        self.description = description
    }
}
