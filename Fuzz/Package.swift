// swift-tools-version:6.1
// The libFuzzer entry points, one executable per fuzz target, kept out of the root package: they link only with
// `-sanitize=fuzzer` (libFuzzer's driver), so `swift build` of the root must never see them. Build and run them
// with scripts/fuzz.sh (`make fuzz`), which passes `-sanitize=fuzzer,address`. The targets' bodies are
// QBalloonFuzzTargets in the root package, where `swift test` replays the corpora through them.
import PackageDescription

let package = Package(
    name: "qballoon-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        // `qballoon` is a link to `..`: a path dependency's identity is its folder's name, which for `..` would be
        // whatever the clone is called.
        .package(path: "qballoon")
    ],
    targets: [
        .target(name: "CLibFuzzer"),
        // The one libFuzzer driver every target's executable calls.
        .target(
            name: "FuzzDriver",
            dependencies: ["CLibFuzzer", .product(name: "QBalloonFuzzTargets", package: "qballoon")]
        ),
    ]
        + ["qmp-stream", "json", "config", "rules", "trace"].map { name in
            .executableTarget(name: "fuzz-\(name)", dependencies: ["FuzzDriver"])
        }
)
