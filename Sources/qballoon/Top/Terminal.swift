import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The terminal `top` draws on, as htop uses it: raw mode (keys arrive one by one, nothing echoed), the
/// alternate screen (the shell's screen comes back untouched), no cursor. ``restore()`` undoes all of it and is
/// called on every way out; SIGINT, SIGTERM and SIGHUP arrive as ``Input/stop(_:)``, so they take the same way.
///
/// Keys are read on a dispatch queue (never blocking the async runtime's threads) and, like SIGWINCH, reach
/// the command as ``Input``s on the stream it passes to ``watch(_:)``.
final class Terminal {
    enum Input: Sendable {
        case bytes([UInt8])
        case resize
        /// A signal to stop (its name), or the terminal went away.
        case stop(String)
    }

    /// Where keys are read: standard input, or /dev/tty when standard input is not the terminal.
    private let inputFD: CInt
    private let ownsInput: Bool
    private var saved = termios()
    private var active = false
    private var sources: [any DispatchSourceProtocol] = []
    private let queue = DispatchQueue(label: "qballoon.top.terminal")
    private static let signals: [(CInt, String)] = [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM"), (SIGHUP, "SIGHUP")]

    /// Takes the terminal. Throws when there is none to read keys from.
    init() throws {
        if isatty(0) == 1 {
            inputFD = 0
            ownsInput = false
        } else {
            let tty = open("/dev/tty", O_RDWR | O_CLOEXEC)
            guard tty >= 0 else { throw TopError("no terminal to read keys from (/dev/tty: \(String(cString: strerror(errno))))") }
            inputFD = tty
            ownsInput = true
        }
        guard tcgetattr(inputFD, &saved) == 0 else {
            throw TopError("cannot read the terminal's settings: \(String(cString: strerror(errno)))")
        }
    }

    deinit {
        restore()
        if ownsInput { close(inputFD) }
    }

    /// Raw mode, the alternate screen, no cursor.
    func enter() throws {
        var raw = saved
        cfmakeraw(&raw)
        guard tcsetattr(inputFD, TCSAFLUSH, &raw) == 0 else {
            throw TopError("cannot put the terminal in raw mode: \(String(cString: strerror(errno)))")
        }
        active = true
        emit("\u{1B}[?1049h\u{1B}[?25l\u{1B}[H\u{1B}[2J")
    }

    /// Back to the shell's screen, the cursor and the terminal's settings as they were; signals as they were.
    /// Safe to call more than once.
    func restore() {
        for source in sources { source.cancel() }
        sources.removeAll()
        for (number, _) in Self.signals + [(SIGWINCH, "SIGWINCH")] { signal(number, SIG_DFL) }
        guard active else { return }
        active = false
        emit("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l")
        tcsetattr(inputFD, TCSAFLUSH, &saved)
    }

    /// The terminal's size, from TIOCGWINSZ (80x24 if it cannot say).
    var size: (width: Int, height: Int) {
        var window = winsize()
        guard ioctl(1, UInt(TIOCGWINSZ), &window) == 0, window.ws_col > 0, window.ws_row > 0 else { return (80, 24) }
        return (Int(window.ws_col), Int(window.ws_row))
    }

    /// Sends keys, resizes and stop signals to `continuation` until ``restore()``.
    func watch(_ continuation: AsyncStream<Input>.Continuation) {
        let fd = inputFD
        let input = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        input.setEventHandler {
            var buffer = [UInt8](repeating: 0, count: 512)
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                continuation.yield(.bytes(Array(buffer[..<count])))
            } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                continuation.yield(.stop("the terminal went away"))
                input.cancel()
            }
        }
        input.resume()
        sources.append(input)
        for (number, name) in Self.signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { continuation.yield(.stop(name)) }
            source.resume()
            sources.append(source)
        }
        let resize = DispatchSource.makeSignalSource(signal: SIGWINCH, queue: queue)
        resize.setEventHandler { continuation.yield(.resize) }
        resize.resume()
        sources.append(resize)
    }

    /// Draws `lines` from the top left, over what was there (`clear`: after a resize, from a blank screen).
    func draw(_ lines: [String], width: Int, clear: Bool) {
        var text = clear ? "\u{1B}[H\u{1B}[2J" : "\u{1B}[H"
        for (index, line) in lines.enumerated() {
            text += line
            // Erasing to the end of a line already full would erase its last column (the cursor waits there).
            if ScreenText.width(line) < width { text += "\u{1B}[K" }
            if index < lines.count - 1 { text += "\r\n" }
        }
        emit(text)
    }

    private func emit(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return
            }
            offset += written
        }
    }
}

/// A failure of `top` itself, in one line.
struct TopError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
