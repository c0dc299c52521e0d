#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The files qballoon ships with (the demo's config and scenarios, the example configs, the recorded shape traces): installed beside the
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
        /// The folder of the recorded shape traces (`qballoon fleet` draws from them).
        var traces: String = ""
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
            places.append(Place(configs: share + "/configs", scenarios: share + "/scenarios", traces: share + "/traces"))
        }
        places.append(Place(configs: "Configs", scenarios: "Fixtures/scenarios", traces: "Fixtures/traces"))
        self.places = places
    }

    /// The first place that holds `configs/NAME` and every scenario named.
    func place(holdingConfig name: String, scenarios: [String]) -> Place? {
        places.first { place in
            Self.isFile(place.configs + "/" + name)
                && scenarios.allSatisfy { Self.isFile(place.scenarios + "/" + $0 + ".json") }
        }
    }

    /// The `.trace` files of the first place that has any, sorted by name; empty if none has.
    func shapeTraces() -> [String] {
        for place in places where !place.traces.isEmpty {
            guard let folder = opendir(place.traces) else { continue }
            defer { closedir(folder) }
            var found: [String] = []
            while let entry = readdir(folder) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name.hasSuffix(".trace"), Self.isFile(place.traces + "/" + name) { found.append(place.traces + "/" + name) }
            }
            if !found.isEmpty { return found.sorted() }
        }
        return []
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
