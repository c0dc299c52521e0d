#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether a config file can be trusted by a daemon that runs as root, as OpenSSH's `StrictModes` judges its
/// files: the file, and every directory above it, is owned by root or by the user running the daemon, and no
/// one else can write to it. A directory others may write to is allowed only with the sticky bit and owned by
/// root (like `/tmp`), where no one can replace someone else's file. Anyone who could write the config could
/// point the daemon at any VM and set its balloon.
///
/// ```swift
/// if let problem = ConfigFileSafety.problem(path: "/etc/qballoon/qballoon.toml") {
///     print(problem)   // "/etc/qballoon is writable by group (mode 0775): chmod go-w /etc/qballoon"
/// }
/// ```
public enum ConfigFileSafety {
    /// Why the file at `path` cannot be trusted, naming the file or directory at fault and its mode; nil if it
    /// can. A path that does not exist is not judged here (reading it reports that).
    public static func problem(path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        let full = String(cString: resolved)
        free(resolved)
        let me = geteuid()
        var current = full
        var isFile = true
        while true {
            var info = stat()
            guard stat(current, &info) == 0 else { return nil }
            let mode = info.st_mode & 0o7777
            let mine = info.st_uid == 0 || info.st_uid == me
            let others = mode & 0o022
            let sticky = mode & 0o1000 != 0
            if !mine && !(sticky && !isFile) {
                return "\(current) belongs to user \(info.st_uid), not to root or the user running qballoon (\(me)): chown it"
            }
            if others != 0 && !(sticky && !isFile && info.st_uid == 0) {
                let who = others == 0o022 ? "group and others" : (others == 0o020 ? "group" : "others")
                return "\(current) is writable by \(who) (mode \(octal(mode))): chmod go-w \(current)"
            }
            if current == "/" { return nil }
            current = parent(of: current)
            isFile = false
        }
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    private static func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
