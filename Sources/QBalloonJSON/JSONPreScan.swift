/// One pass over JSON text before jansson sees it: it enforces the nesting limit and finds integers
/// above `Int64.max`, which jansson (whose integers are signed 64-bit) would reject as "too big".
struct JSONPreScan {
    /// Byte ranges of integer tokens in `Int64.max + 1 ... UInt64.max`.
    var wideIntegers: [Range<Int>] = []
    /// True when a string holds a `\u0000` escape, which could pass for the wide-integer marker.
    var hasNulEscape = false

    static func scan(_ bytes: UnsafeRawBufferPointer, maxDepth: Int) throws -> JSONPreScan {
        var result = JSONPreScan()
        var depth = 0
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                // Skip the string, honouring escapes; an unterminated one is left for jansson to report.
                index += 1
                while index < count {
                    let inner = bytes[index]
                    if inner == UInt8(ascii: "\\") {
                        if index + 5 < count, bytes[index + 1] == UInt8(ascii: "u"),
                            bytes[(index + 2)...(index + 5)].allSatisfy({ $0 == UInt8(ascii: "0") })
                        {
                            result.hasNulEscape = true
                        }
                        index += 2
                        continue
                    }
                    if inner == UInt8(ascii: "\"") { break }
                    index += 1
                }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > maxDepth {
                    throw JSONError(
                        code: .tooDeep,
                        message: "JSON nesting deeper than \(maxDepth) levels at byte \(index)")
                }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                let start = index
                var end = index
                var plainDigits = true
                while end < count {
                    let digit = bytes[end]
                    if digit >= UInt8(ascii: "0") && digit <= UInt8(ascii: "9") {
                        end += 1
                    } else if digit == UInt8(ascii: ".") || digit == UInt8(ascii: "e") || digit == UInt8(ascii: "E")
                        || digit == UInt8(ascii: "+") || digit == UInt8(ascii: "-")
                    {
                        plainDigits = false
                        end += 1
                    } else {
                        break
                    }
                }
                // A minus sign just before makes it negative: jansson handles (or rejects) those itself.
                let negative = start > 0 && bytes[start - 1] == UInt8(ascii: "-")
                // A leading zero is not JSON: leave it to jansson to reject.
                if plainDigits && !negative && end - start >= 19 && end - start <= 20
                    && bytes[start] != UInt8(ascii: "0") && isWide(bytes[start..<end])
                {
                    result.wideIntegers.append(start..<end)
                }
                index = end
                continue
            default:
                break
            }
            index += 1
        }
        return result
    }

    /// True when the digits are above `Int64.max` and at most `UInt64.max`.
    private static func isWide(_ digits: Slice<UnsafeRawBufferPointer>) -> Bool {
        var value: UInt64 = 0
        for digit in digits {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return false }
            value = sum
        }
        return value > UInt64(Int64.max)
    }

    /// The text with every wide integer turned into a marked string that the tree walk turns back.
    func rewritingWideIntegers(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var output = [UInt8]()
        output.reserveCapacity(bytes.count + wideIntegers.count * (WideIntegerMarker.escaped.count + 1))
        var copied = 0
        for range in wideIntegers {
            output.append(contentsOf: bytes[copied..<range.lowerBound])
            output.append(contentsOf: WideIntegerMarker.escaped)
            output.append(contentsOf: bytes[range])
            output.append(UInt8(ascii: "\""))
            copied = range.upperBound
        }
        output.append(contentsOf: bytes[copied...])
        return output
    }
}
