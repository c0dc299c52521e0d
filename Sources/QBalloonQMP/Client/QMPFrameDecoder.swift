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
        var frame: QMPFrame?
        _ = try next(in: &buffer) { message in
            switch message {
            case .success(let node): frame = .json(node.json)
            case .failure(let error): frame = .invalid(error)
            }
        }
        return frame
    }

    /// Splits the next message off `buffer` and hands it to `body` as jansson decoded it (the node is valid during
    /// the call only), or why it is not JSON: what ``QMPChannelHandler`` reads a reply with, building no ``JSON``
    /// tree for a caller that reads it in place (issue 14). False, and `body` not called, when `buffer` ends inside
    /// a message.
    /// - Throws: when the stream cannot be split (``QMPFrameSplitter/FrameError``).
    package mutating func next(in buffer: inout ByteBuffer, _ body: (Result<JSONNode, JSONError>) -> Void) throws -> Bool {
        while true {
            let frame = try buffer.withUnsafeReadableBytes { bytes throws(QMPFrameSplitter.FrameError) in
                try splitter.next(in: bytes)
            }
            switch frame {
            case .skip(let count):
                buffer.moveReaderIndex(forwardBy: count)
            case .needMoreData:
                return false
            case .message(let count):
                defer { buffer.moveReaderIndex(forwardBy: count) }
                buffer.withUnsafeReadableBytes { bytes in
                    do {
                        try JSON.withDecoded(UnsafeRawBufferPointer(rebasing: bytes[0..<count]), limits: limits, keys: Self.keys) {
                            body(.success($0))
                        }
                    } catch {
                        // Only decoding throws (`body` does not), and it throws JSONError.
                        body(.failure(error as? JSONError ?? JSONError(code: .syntax, message: "\(error)")))
                    }
                }
                return true
            }
        }
    }

    package mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> QMPFrame? {
        try decode(buffer: &buffer)
    }
}
