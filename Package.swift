// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "qballoon",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "qballoon", targets: ["qballoon"]),
        .library(name: "QBalloonCore", targets: ["QBalloonCore"]),
        .library(name: "QBalloonJSON", targets: ["QBalloonJSON"]),
        .library(name: "QBalloonQMP", targets: ["QBalloonQMP"]),
        .library(name: "QBalloonLibvirt", targets: ["QBalloonLibvirt"]),
        .library(name: "QBalloon", targets: ["QBalloon"]),
        .library(name: "QBalloonFakeQMP", targets: ["QBalloonFakeQMP"]),
        .library(name: "QBalloonRules", targets: ["QBalloonRules"]),
        .library(name: "QBalloonDaemon", targets: ["QBalloonDaemon"]),
        .library(name: "QBalloonSimulator", targets: ["QBalloonSimulator"]),
        // For the libFuzzer entry points in Fuzz/ (a package of their own), not for users.
        .library(name: "QBalloonFuzzTargets", targets: ["QBalloonFuzzTargets"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The bottom of the stack, with no dependencies: sizes, durations, endpoints, guest statistics, page
        // math, the one stall detector and the one staleness judgment.
        .target(name: "QBalloonCore"),
        // The only module that sees jansson's C types.
        .systemLibrary(
            name: "CJansson",
            pkgConfig: "jansson",
            providers: [.apt(["libjansson-dev"])]
        ),
        // The only module that sees libvirt's C types. libvirt's headers only: the client library is loaded
        // (dlopen) when a libvirt VM is first reached, never linked, so QMP-only daemons never map it.
        .systemLibrary(
            name: "CLibvirt",
            providers: [.apt(["libvirt-dev"])]
        ),
        // VMs managed by libvirt: a connection, a domain's balloon, statistics and metadata, as Swift values.
        // libvirt's calls block, so they run on a thread of their own, off the event loops and the Swift pool.
        .target(
            name: "QBalloonLibvirt",
            dependencies: [
                "QBalloonCore", "CLibvirt",
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The version `make release` stamps into the binary (a C macro, so a build flag can carry it).
        .target(name: "CBuildInfo"),
        // glibc's malloc settings (`mallopt`), which the Glibc module does not import.
        .target(name: "CMalloc"),
        .target(
            name: "QBalloonJSON",
            dependencies: ["CJansson"]
        ),
        .target(
            name: "QBalloonQMP",
            dependencies: [
                "QBalloonCore", "QBalloonJSON",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "QBalloon",
            dependencies: [
                "QBalloonCore", "QBalloonJSON",
                "QBalloonQMP",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The policy: config files (Config/), the rule language (Language/), the decision engine (Engine/), host
        // figures parsed from /proc text (Host/). Pure logic on the core and TOMLKit: no NIO, no sockets
        // (scripts/check-layering.sh fails the build if its dependency closure ever holds NIO).
        .target(
            name: "QBalloonRules",
            dependencies: [
                "QBalloonCore",
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        // The orchestrator: one worker per VM, the decision loop, reload, metrics, decision log.
        .target(
            name: "QBalloonDaemon",
            dependencies: [
                "QBalloonCore", "QBalloon", "QBalloonQMP", "QBalloonJSON", "QBalloonRules", "QBalloonLibvirt",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `qballoon simulate`: traces replayed through the daemon's own engine (QBalloonRules) in virtual time, with
        // the fake QEMU's guest model answering; the figures, the HTML report, and fleets drawn from traces.
        .target(
            name: "QBalloonSimulator",
            dependencies: ["QBalloonCore", "QBalloonJSON", "QBalloon", "QBalloonRules", "QBalloonFakeQMP"]
        ),
        .target(
            name: "QBalloonFakeQMP",
            dependencies: [
                "QBalloonCore", "QBalloonJSON",
                "QBalloonQMP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "qballoon",
            dependencies: [
                "CBuildInfo", "CMalloc", "QBalloonCore", "QBalloonJSON",
                "QBalloonQMP",
                "QBalloonLibvirt",
                "QBalloon",
                "QBalloonFakeQMP",
                "QBalloonRules",
                "QBalloonDaemon",
                "QBalloonSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "qballoon-bench",
            dependencies: [
                "QBalloonCore", "QBalloonJSON", "CJansson",
                "QBalloonQMP",
                "QBalloon",
                "QBalloonDaemon",
                "QBalloonRules",
                "QBalloonSimulator",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/qballoon-bench"
        ),
        // The fuzz targets' bodies, built and replayed over Fixtures/fuzz/ by `swift test`; the libFuzzer
        // entry points that call them are the separate package in Fuzz/ (scripts/fuzz.sh).
        .target(
            name: "QBalloonFuzzTargets",
            dependencies: [
                "QBalloonCore", "QBalloonJSON", "QBalloonQMP", "QBalloonRules", "QBalloon", "QBalloonSimulator",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // What the tests share, written once: the real-QEMU launcher and the "CI may not skip" rule, the built
        // CLI and supervised processes, captured logs, a virtual clock.
        .target(
            name: "QBalloonTestSupport",
            dependencies: [
                "QBalloonCore", "QBalloonJSON", "QBalloonQMP", "QBalloonFakeQMP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ],
            path: "Tests/QBalloonTestSupport"
        ),
        .testTarget(name: "QBalloonCoreTests", dependencies: ["QBalloonCore"]),
        .testTarget(name: "QBalloonJSONTests", dependencies: ["QBalloonJSON"]),
        .testTarget(name: "QBalloonLibvirtTests", dependencies: ["QBalloonLibvirt", "QBalloonCore"]),
        .testTarget(name: "QBalloonRulesTests", dependencies: ["QBalloonRules", "QBalloonCore"]),
        // End to end with real Linux guests (scripts/build-guest.sh) under QEMU: run by `make test`.
        .testTarget(
            name: "QBalloonGuestTests",
            dependencies: [
                "QBalloonDaemon", "QBalloonRules", "QBalloon", "QBalloonQMP", "QBalloonJSON", "QBalloonCore",
                "QBalloonLibvirt", "QBalloonTestSupport",
            ]
        ),
        .testTarget(
            name: "QBalloonDaemonTests",
            dependencies: [
                // The command line too: `qballoon top`'s screen and the vms/explain text are tested as plain values.
                "qballoon",
                // The simulator too: it must decide as the daemon does.
                "QBalloonSimulator",
                "QBalloonDaemon", "QBalloonRules", "QBalloon", "QBalloonQMP", "QBalloonFakeQMP", "QBalloonJSON",
                "QBalloonCore", "QBalloonTestSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log")]
        ),
        .testTarget(
            name: "QBalloonQMPTests",
            dependencies: [
                "QBalloonQMP", "QBalloon", "QBalloonJSON", "QBalloonCore", "QBalloonFakeQMP", "QBalloonTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "QBalloonSimulatorTests",
            dependencies: [
                "QBalloonSimulator", "QBalloonRules", "QBalloon", "QBalloonFakeQMP", "QBalloonJSON", "QBalloonCore",
                "QBalloonTestSupport",
            ]
        ),
        .testTarget(name: "QBalloonTests", dependencies: ["QBalloon", "QBalloonCore", "QBalloonJSON"]),
        .testTarget(
            name: "QBalloonFuzzTests",
            dependencies: ["QBalloonFuzzTargets", "QBalloonTestSupport"]
        ),
        .testTarget(
            name: "QBalloonFakeQMPTests",
            dependencies: ["QBalloonFakeQMP", "QBalloonQMP", "QBalloonJSON", "QBalloon", "QBalloonCore", "QBalloonTestSupport"]
        ),
        .testTarget(
            name: "QBalloonIntegrationTests",
            dependencies: ["QBalloon", "QBalloonQMP", "QBalloonJSON", "QBalloonCore", "QBalloonTestSupport"]
        ),
    ]
)

// Members of a module are visible only where that module is imported (SE-0444). Without it, an extension of a
// module some dependency imports leaks into every file: `String.contains(_:)` resolved to full Foundation's
// (through TOMLKit), which linked Foundation and ICU's 32 MB of data into the binary.
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [.enableUpcomingFeature("MemberImportVisibility")]
}
