import NIOCore
import QBalloonJSON
import QBalloonQMP

/// Arbitrary bytes as what a QEMU monitor sends. The stream is fed three ways (whole, byte by byte, and in
/// chunks whose sizes come from the bytes): the frames must come out the same, each decoded message is read
/// as a `QMPMessage`, and the messages drive a session state machine with commands pending.
enum QMPStreamFuzzing {
    /// Small limits, so that inputs of a few kilobytes reach them.
    static let maxMessageBytes = 2048
    static let maxDepth = 16

    /// The frames decoded from a stream, and whether the stream ended in a framing error.
    struct Decoded: Equatable {
        var frames: [QMPFrame] = []
        var failed = false
    }

    static func run(_ input: UnsafeRawBufferPointer) {
        let whole = decode(input, chunkSizes: { input.count })
        let byteByByte = decode(input, chunkSizes: { 1 })
        var random = ChunkSizes(seed: input)
        let chunked = decode(input, chunkSizes: { random.next() })
        check(whole == byteByByte, "the stream splits differently fed byte by byte")
        check(whole == chunked, "the stream splits differently fed in chunks")

        var machine = QMPSessionStateMachine<Int>(address: "unix:/fuzz.qmp")
        let now = NIODeadline.uptimeNanoseconds(1_000_000_000)
        // Commands a client queues before the greeting arrives; replies with ids 1...3 match them.
        for id in 1...3 {
            _ = machine.send(QMPCommand("query-balloon"), id: id, context: id, now: now, timeout: .seconds(10))
        }
        for frame in whole.frames {
            switch frame {
            case .json(let json):
                check(json.objectValue != nil, "a frame starting with '{' decoded as \(json.typeName)")
                do {
                    let message = try QMPMessage(json)
                    _ = machine.received(message)
                    if machine.isReady {
                        _ = machine.send(QMPCommand("qom-get"), id: 4, context: 4, now: now, timeout: .seconds(1))
                    }
                } catch {
                    _ = machine.receivedGarbage(error.description)
                }
            case .invalid(let error):
                check(!error.message.isEmpty, "invalid JSON without a message")
                _ = machine.receivedGarbage("QEMU sent invalid JSON: \(error.message)")
            }
        }
        _ = machine.timerFired(now: now + .seconds(5))
        _ = machine.cancelled(id: 2)
        _ = machine.connectionClosed()
        check(machine.closedError != nil, "the session is not closed after the connection closed")
    }

    /// Feeds `input` to a `QMPFrameDecoder` in chunks, as a channel's reads would bring it.
    static func decode(_ input: UnsafeRawBufferPointer, chunkSizes: () -> Int) -> Decoded {
        var decoder = QMPFrameDecoder(maxMessageBytes: maxMessageBytes, maxDepth: maxDepth)
        var buffer = ByteBufferAllocator().buffer(capacity: input.count)
        var decoded = Decoded()
        var offset = 0
        repeat {
            let end = Swift.min(input.count, offset + Swift.max(chunkSizes(), 1))
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: input[offset..<end]))
            offset = end
            do {
                while let frame = try decoder.decode(buffer: &buffer) { decoded.frames.append(frame) }
            } catch {
                check(error is QMPFrameSplitter.FrameError, "the decoder threw \(error)")
                decoded.failed = true
                return decoded
            }
        } while offset < input.count
        do {
            while let frame = try decoder.decodeLast(buffer: &buffer, seenEOF: true) { decoded.frames.append(frame) }
        } catch {
            decoded.failed = true
        }
        return decoded
    }

    /// Chunk sizes from 1 to 64 bytes, from a generator seeded with the input's hash, so that a mutation of
    /// the input also moves the chunk boundaries.
    struct ChunkSizes {
        var state: UInt64

        init(seed input: UnsafeRawBufferPointer) {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in input { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            state = hash
        }

        mutating func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 58) + 1
        }
    }
}
