/// One start tag found in XML text that libvirt returned: its attributes, and the text up to its end tag.
///
/// Enough XML for the few elements qballoon reads (`<memballoon>`, `<stats>`, `<alias>`, qballoon's own
/// `<balloon>`), not a general parser: no entities, no CDATA. The text is bounded by the callers.
struct XMLTag: Hashable {
    /// The attributes by name (a prefix, `qb:min`, stays part of the name).
    var attributes: [String: String]
    /// What lies between the start tag and its end tag; empty for `<tag/>`.
    var content: Substring

    /// The first element named `name` (with or without a namespace prefix) in `text`, or nil.
    static func first(_ name: String, in text: Substring) -> XMLTag? {
        var rest = text
        while let open = rest.firstIndex(of: "<") {
            rest = rest[rest.index(after: open)...]
            let tagName = rest.prefix { !" \t\r\n/>".contains($0) }
            let local = tagName.split(separator: ":", omittingEmptySubsequences: false).last ?? tagName
            guard local == name[...] else { continue }
            guard let tag = parse(afterName: rest[tagName.endIndex...], fullName: tagName) else { return nil }
            return tag
        }
        return nil
    }

    /// Reads the attributes after the element's name, then finds the end tag.
    private static func parse(afterName text: Substring, fullName: Substring) -> XMLTag? {
        var attributes: [String: String] = [:]
        var rest = text
        while true {
            rest = rest.drop { " \t\r\n".contains($0) }
            guard let first = rest.first else { return nil }
            if first == ">" {
                let body = rest.dropFirst()
                guard let end = start(of: "</\(fullName)", in: body) else { return nil }
                return XMLTag(attributes: attributes, content: body[..<end])
            }
            if first == "/" {
                guard rest.dropFirst().first == ">" else { return nil }
                return XMLTag(attributes: attributes, content: "")
            }
            let name = rest.prefix { !" \t\r\n=/>".contains($0) }
            guard !name.isEmpty else { return nil }
            rest = rest[name.endIndex...].drop { " \t\r\n".contains($0) }
            guard rest.first == "=" else { return nil }
            rest = rest.dropFirst().drop { " \t\r\n".contains($0) }
            guard let quote = rest.first, quote == "\"" || quote == "'" else { return nil }
            rest = rest.dropFirst()
            guard let close = rest.firstIndex(of: quote) else { return nil }
            attributes[String(name)] = String(rest[..<close])
            rest = rest[rest.index(after: close)...]
        }
    }

    /// Where `needle` first starts in `text`.
    private static func start(of needle: String, in text: Substring) -> Substring.Index? {
        var rest = text
        while let open = rest.firstIndex(of: "<") {
            if rest[open...].hasPrefix(needle) { return open }
            rest = rest[rest.index(after: open)...]
        }
        return nil
    }
}
