import Foundation
import QBalloonTestSupport
import Testing

/// What the end-to-end tests need on this machine: `qemu-system-x86_64`, the test guest built by
/// `scripts/build-guest.sh` (`vmlinuz` and `initrd.gz` in `$QBALLOON_GUEST_DIR`, default
/// `/var/cache/qballoon-guest`), and the built `qballoon`.
///
/// Outside CI, anything missing skips the tests with the reason printed; under `CI=true` nothing is skipped:
/// the tests run and fail on what is missing.
enum GuestEnvironment {
    static let environment = TestEnvironment.variables
    static let isCI = TestEnvironment.isCI
    static let qemu = TestEnvironment.qemu

    static let guestDirectory: String = {
        if let directory = environment["QBALLOON_GUEST_DIR"], !directory.isEmpty { return directory }
        return "/var/cache/qballoon-guest"
    }()
    static var kernel: String { guestDirectory + "/vmlinuz" }
    static var initrd: String { guestDirectory + "/initrd.gz" }

    static let qballoon = TestEnvironment.qballoon

    /// Why the end-to-end tests cannot run here, or nil.
    static let problem: String? = {
        var problems: [String] = []
        if qemu == nil { problems.append("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)") }
        for file in [kernel, initrd] where !FileManager.default.fileExists(atPath: file) {
            problems.append("no test guest: \(file) is missing (run scripts/build-guest.sh, or set QBALLOON_GUEST_DIR)")
        }
        if !FileManager.default.isExecutableFile(atPath: qballoon) {
            problems.append("the qballoon executable was not found beside the tests (swift build --build-tests)")
        }
        return problems.isEmpty ? nil : problems.joined(separator: "; ")
    }()

    /// Whether the tests run: always under CI, otherwise only when nothing is missing (the reason printed once).
    static let enabled: Bool = {
        guard let problem else { return true }
        if isCI { return true }
        print("note: skipping the end-to-end tests with real guests: \(problem) (under CI=true this fails)")
        return false
    }()

    /// Throws what is missing (under CI the tests run and fail here).
    static func check() throws {
        if let problem { throw E2EError("cannot run end-to-end tests: \(problem)") }
    }
}

/// Enables a test only where a real guest can boot, or under CI (where a missing piece is a failure).
let needsGuest = ConditionTrait.enabled(
    if: GuestEnvironment.enabled,
    "needs qemu-system-x86_64, the test guest (scripts/build-guest.sh) and the built qballoon")

struct E2EError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
