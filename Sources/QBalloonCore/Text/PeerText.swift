/// A peer's words as qballoon repeats them, in an error, a log line or a status: a QEMU or a guest may send
/// megabytes where a few words were expected, so what is repeated is cut short, saying how long it was.
///
/// ```swift
/// PeerText.excerpt(reply.encodedString(), limit: 200)   // "{"return": [... (2097171 bytes)"
/// ```
public enum PeerText {
    /// `text` if it is at most `limit` bytes of UTF-8; else its first whole characters within `limit` bytes,
    /// then "… (N bytes)".
    public static func excerpt(_ text: String, limit: Int) -> String {
        let total = text.utf8.count
        guard total > limit else { return text }
        var kept = ""
        var bytes = 0
        for character in text {
            bytes += character.utf8.count
            if bytes > limit { break }
            kept.append(character)
        }
        return "\(kept)… (\(total) bytes)"
    }
}
