import NIOCore
import QBalloonCore
import QBalloonJSON

/// One delimited message from a QMP stream.
package enum QMPFrame: Sendable, Equatable {
    /// A message that decoded as JSON.
    case json(JSON)
    /// A delimited message that is not valid JSON; the stream goes on after it.
    case invalid(JSONError)
}

/// The only place that turns QMP bytes into messages: it splits the stream with ``QMPFrameSplitter`` and
/// decodes each message with jansson.
package struct QMPFrameDecoder: NIOSingleStepByteToMessageDecoder {
    package typealias InboundOut = QMPFrame

    private var splitter: QMPFrameSplitter
    private let limits: JSONLimits

    /// Long member names in every poll's reply: the guest's statistics (`stat-available-memory`...).
    static let keys = JSONKeys(GuestStats.knownNames)

    package init(maxMessageBytes: Int = 16 << 20, maxDepth: Int = 1024) {
        self.splitter = QMPFrameSplitter(maxMessageBytes: maxMessageBytes, maxDepth: maxDepth)
        self.limits = JSONLimits(maxBytes: maxMessageBytes, maxDepth: maxDepth)
    }

    package mutating func decode(buffer: inout ByteBuffer) throws -> QMPFrame? {
        while true {
            let frame = try buffer.withUnsafeReadableBytes { bytes throws(QMPFrameSplitter.FrameError) in
                try splitter.next(in: bytes)
            }
            switch frame {
            case .skip(let count):
                buffer.moveReaderIndex(forwardBy: count)
            case .needMoreData:
                return nil
            case .message(let count):
                defer { buffer.moveReaderIndex(forwardBy: count) }
                return buffer.withUnsafeReadableBytes { bytes in
                    do {
                        return .json(
                            try JSON.decode(UnsafeRawBufferPointer(rebasing: bytes[0..<count]), limits: limits, keys: Self.keys))
                    } catch let error as JSONError {
                        return .invalid(error)
                    } catch {
                        return .invalid(JSONError(code: .syntax, message: "\(error)"))
                    }
                }
            }
        }
    }

    package mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> QMPFrame? {
        try decode(buffer: &buffer)
    }
}
