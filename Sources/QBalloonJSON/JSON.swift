/// A JSON value, as QMP sends and receives it.
///
/// Integers keep their full range: QEMU writes guest statistics as unsigned 64-bit values and marks an
/// unreported one with the all-ones value `18446744073709551615`, which does not fit a signed 64-bit
/// integer. Decoding gives `.int` for every integer that fits `Int64` and `.uint` only above `Int64.max`,
/// so two equal numbers always decode to the same case.
///
/// ```swift
/// let reply = try JSON.decode(Array(#"{"return": {"actual": 1073741824}}"#.utf8))
/// let actual = reply["return"]?["actual"]?.uint64Value   // 1073741824
/// ```
public enum JSON: Sendable, Hashable {
    case null
    case bool(Bool)
    /// An integer that fits `Int64`.
    case int(Int64)
    /// An integer above `Int64.max` (decoding never uses this case for smaller values).
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])
}

extension JSON {
    /// An unsigned integer in its canonical case: `.int` when it fits, `.uint` above `Int64.max`.
    public static func unsigned(_ value: UInt64) -> JSON {
        value <= UInt64(Int64.max) ? .int(Int64(value)) : .uint(value)
    }

    /// The member `key` of an object; `nil` for a missing member or a value that is not an object.
    public subscript(key: String) -> JSON? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The value as an unsigned 64-bit integer, if it is a non-negative integer.
    public var uint64Value: UInt64? {
        switch self {
        case .int(let value) where value >= 0: return UInt64(value)
        case .uint(let value): return value
        default: return nil
        }
    }

    /// The value as a signed 64-bit integer, if it is an integer that fits.
    public var int64Value: Int64? {
        if case .int(let value) = self { return value }
        return nil
    }

    /// The value as a floating-point number, for any JSON number.
    public var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .uint(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSON]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var objectValue: [String: JSON]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The name of this value's JSON type, for error messages ("expected an object, got a string").
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .uint, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

extension JSON: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension JSON: CustomStringConvertible {
    /// The compact JSON text of this value.
    public var description: String { encodedString() }
}
