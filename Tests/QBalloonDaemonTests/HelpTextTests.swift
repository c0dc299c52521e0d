import QBalloonTestSupport
import Testing

/// The help of every subcommand reads well at 80, 100 and 120 columns (the man pages are made from it): paragraphs are
/// wrapped by the parser, not broken by hand, so no word is left alone on a line and no line overflows.
@Suite struct HelpTextTests {
    static let subcommands = [
        "status", "stats", "set", "record", "check", "run", "demo", "fake-qmp", "vms", "explain", "top", "pin", "unpin", "pause",
        "resume", "reload", "fleet", "simulate",
    ]

    @Test(arguments: HelpTextTests.subcommands, [80, 100, 120])
    func helpWraps(subcommand: String, columns: Int) async throws {
        let result = try await BuiltCLI.run(["help", subcommand], timeout: 30, wrapper: ["/usr/bin/env", "COLUMNS=\(columns)"])
        #expect(result.status == 0, "\(result)")
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count > 5)
        for line in lines where !line.hasPrefix("USAGE:") {
            #expect(line.count <= columns, "\(subcommand) at \(columns): too long: \(line)")
            let words = line.split(separator: " ")
            // A paragraph may end with one word, with its full stop; a word alone without one was broken off.
            let alone = words.count == 1 && !line.hasPrefix(" ") && !(words[0].last.map { ".):;,".contains($0) } ?? false)
            #expect(!alone, "\(subcommand) at \(columns): a word alone: '\(line)'")
        }
    }

    @Test func versionSaysWhatItIsAndWhatItWasTestedAgainst() async throws {
        let result = try await BuiltCLI.run(["--version"], timeout: 30)
        #expect(result.status == 0, "\(result)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("qballoon ") == true, "\(result)")
        #expect(lines.contains { $0.contains("tested against QEMU 7.2") }, "\(result)")
    }
}
