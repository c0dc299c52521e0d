import Testing

/// The trait for tests that need a real `qemu-system-x86_64`: skips them (with the reason) only outside CI;
/// under `CI=true` they run, and fail when QEMU is missing.
package let requiresQEMU = ConditionTrait.enabled(
    if: TestEnvironment.runsQEMUTests, "qemu-system-x86_64 is not installed")

/// Records an issue when CI runs without QEMU: call it from one test in each target that has real-QEMU
/// tests, so CI can never pass without having run them.
package func expectQEMUUnderCI(sourceLocation: SourceLocation = #_sourceLocation) {
    if TestEnvironment.isCI, TestEnvironment.qemu == nil {
        Issue.record(
            "CI=true but qemu-system-x86_64 is missing: the real-QEMU tests cannot run", sourceLocation: sourceLocation)
    }
}

/// The trait for tests that need a program other than QEMU (`chromium`): like ``requiresQEMU``, it skips them
/// (with the reason) only outside CI; under `CI=true` they run, and fail when the program is missing.
/// - Parameters:
///   - name: the program, found on `PATH`.
///   - debianPackage: the package that has it (scripts/install-deps.sh installs it).
package func requiresProgram(_ name: String, from debianPackage: String) -> ConditionTrait {
    .enabled(
        if: TestEnvironment.executable(named: name) != nil || TestEnvironment.isCI,
        "\(name) is not installed (Debian package \(debianPackage); scripts/install-deps.sh installs it)")
}
