#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Lists the unix sockets that match shell globs, such as `/run/qemu/*.qmp`.
package enum SocketScanner {
    package static func sockets(matching patterns: [String]) -> [String] {
        var found: Set<String> = []
        for pattern in patterns {
            var result = glob_t()
            defer { globfree(&result) }
            guard glob(pattern, 0, nil, &result) == 0 else { continue }
            for index in 0..<Int(result.gl_pathc) {
                guard let cPath = result.gl_pathv[index] else { continue }
                let path = String(cString: cPath)
                var info = stat()
                if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK { found.insert(path) }
            }
        }
        return found.sorted()
    }
}
