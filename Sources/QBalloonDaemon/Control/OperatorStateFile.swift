import QBalloonCore
import QBalloonJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Keeps the operator's pins and pauses in `STATE_DIR/holds.json` across reloads, restarts and crashes.
///
/// A write is atomic: a temporary file in the same directory, `fsync`, `rename` over the old one, `fsync` of the
/// directory; a crash at any point leaves the old file or the new one whole. A file that cannot be read as holds
/// (torn by something else, garbage, another program's) is moved aside to `holds.json.bad-TIME` and reported: the
/// daemon starts with no holds rather than not at all.
package struct OperatorStateFile: Sendable {
    package let directory: String
    package var path: String { directory + "/holds.json" }
    /// A state file is small: past this it is not ours.
    static let maxBytes = 16 << 20

    package init(directory: String) {
        self.directory = directory
    }

    /// What a load found: the holds, and a problem to report (a file set aside, a directory that cannot be read).
    package struct Loaded: Sendable {
        package var holds: OperatorHolds
        package var problem: String?
    }

    package func load(now: Double) -> Loaded {
        guard access(path, F_OK) == 0 else { return Loaded(holds: OperatorHolds()) }
        guard let text = TextFile.read(path, limit: Self.maxBytes + 1) else {
            return Loaded(holds: OperatorHolds(), problem: "cannot read \(path): \(String(cString: strerror(errno))); starting with no pins or pauses")
        }
        let reason: String
        if text.utf8.count > Self.maxBytes {
            reason = "larger than \(Self.maxBytes >> 20) MiB"
        } else {
            do {
                return Loaded(holds: try OperatorHolds(json: try JSON.decode(text)))
            } catch let error as OperatorStateError {
                reason = error.reason
            } catch {
                reason = "not JSON (\(error))"
            }
        }
        let aside = path + ".bad-\(Int64(now))"
        let moved = rename(path, aside) == 0
        return Loaded(
            holds: OperatorHolds(),
            problem: "\(path) is not a state file qballoon can read (\(PeerText.excerpt(reason, limit: 300))): "
                + (moved ? "moved aside to \(aside)" : "and it could not be moved aside (\(String(cString: strerror(errno))))")
                + "; starting with no pins or pauses")
    }

    /// Writes the holds atomically, making the directory (0755) if needed.
    package func save(_ holds: OperatorHolds) throws(OperatorStateError) {
        if mkdir(directory, 0o755) != 0, errno != EEXIST {
            throw OperatorStateError("cannot make \(directory): \(String(cString: strerror(errno)))")
        }
        var bytes = holds.json.encoded(sortedKeys: true)
        bytes.append(UInt8(ascii: "\n"))
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw OperatorStateError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        var written = 0
        var failure: String?
        bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let count = write(fd, raw.baseAddress! + written, raw.count - written)
                if count < 0, errno == EINTR { continue }
                if count <= 0 {
                    failure = String(cString: strerror(errno))
                    return
                }
                written += count
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if let failure {
            unlink(temporary)
            throw OperatorStateError("cannot write \(temporary): \(failure)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw OperatorStateError("cannot replace \(path): \(reason)")
        }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }
}
