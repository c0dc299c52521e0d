#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The files qballoon ships with (the demo's config and scenarios, the example configs): installed beside the
/// binary (`PREFIX/bin/qballoon` finds them in `PREFIX/share/qballoon/`, as `make install` and the .deb put them),
/// or, run from a checkout, in the repository's own folders relative to the current directory.
struct ShippedFiles {
    /// Where to look, in order: the installed tree, then the checkout.
    let places: [Place]

    struct Place: Equatable {
        /// The folder of the example configs (`demo.toml` among them).
        let configs: String
        /// The folder of the fake-QMP scenarios.
        let scenarios: String
    }

    /// The share folder of the installation this binary belongs to, when it can be told.
    static func installedShare(executable: String?) -> String? {
        guard let executable, executable.hasPrefix("/") else { return nil }
        let parts = executable.split(separator: "/")
        guard parts.dropLast().last == "bin" else { return nil }
        return parts.dropLast(2).map { "/" + $0 }.joined() + "/share/qballoon"
    }

    init(executable: String? = ShippedFiles.executablePath()) {
        var places: [Place] = []
        if let share = Self.installedShare(executable: executable) {
            places.append(Place(configs: share + "/configs", scenarios: share + "/scenarios"))
        }
        places.append(Place(configs: "Configs", scenarios: "Fixtures/scenarios"))
        self.places = places
    }

    /// The first place that holds `configs/NAME` and every scenario named.
    func place(holdingConfig name: String, scenarios: [String]) -> Place? {
        places.first { place in
            Self.isFile(place.configs + "/" + name)
                && scenarios.allSatisfy { Self.isFile(place.scenarios + "/" + $0 + ".json") }
        }
    }

    /// The running binary, from `/proc/self/exe` (Linux); nil where that cannot be read.
    static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func isFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }
}
