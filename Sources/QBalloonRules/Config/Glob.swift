/// A shell-style wildcard pattern: `*` (any run of characters), `?` (one character), `[abc]`, `[a-z]`, `[!a]`.
/// Used for VM names in `[[rule]] vms` and for `qmp` socket globs. `*` crosses `/` (it is matched against
/// whole names), so give socket globs in one directory: `/run/qemu/*.qmp`.
package struct Glob: Sendable, Hashable {
    package let pattern: String

    package init(_ pattern: String) { self.pattern = pattern }

    /// Whether `text` has wildcard characters.
    package static func isPattern(_ text: String) -> Bool { text.contains { $0 == "*" || $0 == "?" || $0 == "[" } }

    /// Whether `text` matches the pattern as a whole.
    package func matches(_ text: String) -> Bool { globMatches(pattern, text) }
}

private func globMatches(_ pattern: String, _ text: String) -> Bool {
    let p = Array(pattern.unicodeScalars)
    let t = Array(text.unicodeScalars)
    var pi = 0
    var ti = 0
    var starP = -1
    var starT = 0
    while ti < t.count {
        if pi < p.count {
            switch p[pi] {
            case "*":
                starP = pi
                starT = ti
                pi += 1
                continue
            case "?":
                pi += 1
                ti += 1
                continue
            case "[":
                if let (matched, next) = matchClass(p, pi, t[ti]) {
                    if matched {
                        pi = next
                        ti += 1
                        continue
                    }
                } else if t[ti] == "[" {
                    pi += 1
                    ti += 1
                    continue
                }
            default:
                if p[pi] == t[ti] {
                    pi += 1
                    ti += 1
                    continue
                }
            }
        }
        guard starP >= 0 else { return false }
        pi = starP + 1
        starT += 1
        ti = starT
    }
    while pi < p.count, p[pi] == "*" { pi += 1 }
    return pi == p.count
}

/// Matches `c` against the class starting at `p[start] == "["`; nil if the class is not closed.
private func matchClass(_ p: [Unicode.Scalar], _ start: Int, _ c: Unicode.Scalar) -> (Bool, Int)? {
    var i = start + 1
    var negate = false
    if i < p.count, p[i] == "!" || p[i] == "^" {
        negate = true
        i += 1
    }
    var matched = false
    var first = true
    while i < p.count, p[i] != "]" || first {
        first = false
        if i + 2 < p.count, p[i + 1] == "-", p[i + 2] != "]" {
            if c >= p[i] && c <= p[i + 2] { matched = true }
            i += 3
        } else {
            if c == p[i] { matched = true }
            i += 1
        }
    }
    guard i < p.count else { return nil }
    return (matched != negate, i + 1)
}
