#!/usr/bin/env python3
"""Talk to the qballoon test guest's serial console (a QEMU `-serial unix:PATH,server=on,wait=off`).

As a module:
    from guest_console import GuestConsole   # or load by path with importlib
    con = GuestConsole("/tmp/x.console")      # connect (retries until the socket exists)
    con.wait_ready(timeout=120)               # -> "QBALLOON-GUEST-READY balloon=bound mem_kb=..."
    out, status = con.run("free -k")          # output (str, \\n line ends) and exit status
    con.close()

As a command:
    guest-console.py [--wait-ready] [--timeout S] SOCKET [COMMAND...]
prints COMMAND's output and exits with its status (with no COMMAND, only waits for READY).

How it works: the guest runs an interactive busybox sh on ttyS0. run() sends ONE line
    printf 'QBCBEG-%s\\n' TOKEN; eval 'COMMAND'; printf '\\nQBCEND-%s-%s\\n' TOKEN $?
and returns what lies between the printed begin and end markers. The echoed input line
contains 'QBCBEG-%s', never 'QBCBEG-TOKEN', so the echo, prompts and line-editing escapes
never get mistaken for output. Sending a single line matters: text typed ahead while a
command runs would be echoed by the tty into that command's output.
Limits: busybox line editing caps an input line at ~1000 bytes; stdout and stderr are both
returned (it is one tty). Connect early: console output written while no client is connected
is dropped, which is why wait_ready() probes /run/qballoon-ready when the console is quiet.
"""
import argparse
import os
import re
import select
import socket
import sys
import time
import uuid

READY = b"QBALLOON-GUEST-READY"


class ConsoleError(Exception):
    pass


class GuestConsole:
    def __init__(self, path, connect_timeout=30.0):
        self.path = path
        self.buf = b""
        deadline = time.monotonic() + connect_timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                break
            except OSError as e:
                s.close()
                if time.monotonic() > deadline:
                    raise ConsoleError(f"cannot connect to {path}: {e}")
                time.sleep(0.1)
        s.setblocking(False)
        self.sock = s

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fill(self, wait):
        """Read what is available within `wait` seconds; False on EOF."""
        r, _, _ = select.select([self.sock], [], [], max(0.0, wait))
        if not r:
            return True
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def _send(self, text):
        data = text.encode()
        self.sock.setblocking(True)
        try:
            self.sock.sendall(data)
        finally:
            self.sock.setblocking(False)

    def wait_ready(self, timeout=120.0, probe_after=5.0, probe_every=10.0):
        """Wait for the guest's READY line; returns it (str)."""
        deadline = time.monotonic() + timeout
        next_probe = time.monotonic() + probe_after
        while True:
            m = re.search(re.escape(READY) + rb"[^\r\n]*", self.buf)
            if m and (m.end() < len(self.buf)):  # the whole line has arrived
                line = m.group(0).decode(errors="replace")
                self.buf = self.buf[m.end():]
                return line
            now = time.monotonic()
            if now > deadline:
                tail = self.buf[-2000:].decode(errors="replace")
                raise ConsoleError(f"no {READY.decode()} within {timeout}s; console tail:\n{tail}")
            if now > next_probe:
                # Missed the line (connected late)? The shell prints it again from a file.
                self._send("cat /run/qballoon-ready\n")
                next_probe = now + probe_every
            if not self._fill(min(0.5, deadline - now)):
                raise ConsoleError("console closed (QEMU exited?)")

    def run(self, cmd, timeout=60.0):
        """Run one shell command in the guest; returns (output, exit_status)."""
        tok = uuid.uuid4().hex[:16]
        quoted = "'" + cmd.replace("'", "'\\''") + "'"
        line = (f"printf 'QBCBEG-%s\\n' {tok}; eval {quoted}; "
                f"printf '\\nQBCEND-%s-%s\\n' {tok} $?\n")
        if len(line) > 1000:
            raise ConsoleError("command too long for the guest's line editor (~1000 bytes)")
        self.buf = b""
        self._send(line)
        beg = re.compile(rb"QBCBEG-" + tok.encode() + rb"\r?\n")
        end = re.compile(rb"\r?\nQBCEND-" + tok.encode() + rb"-(\d+)\r?\n")
        deadline = time.monotonic() + timeout
        while True:
            b = beg.search(self.buf)
            if b:
                e = end.search(self.buf, b.end())
                if e:
                    out = self.buf[b.end():e.start()]
                    self.buf = self.buf[e.end():]
                    text = out.decode(errors="replace").replace("\r\n", "\n").replace("\r", "")
                    return text, int(e.group(1))
            now = time.monotonic()
            if now > deadline:
                tail = self.buf[-2000:].decode(errors="replace")
                raise ConsoleError(f"command timed out after {timeout}s: {cmd!r}; console tail:\n{tail}")
            if not self._fill(min(0.5, deadline - now)):
                raise ConsoleError("console closed (QEMU exited?)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("socket")
    ap.add_argument("command", nargs="*")
    ap.add_argument("--wait-ready", action="store_true", help="wait for QBALLOON-GUEST-READY first")
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args()
    try:
        with GuestConsole(a.socket) as con:
            if a.wait_ready or not a.command:
                print(con.wait_ready(timeout=a.timeout), file=sys.stderr)
            if a.command:
                out, status = con.run(" ".join(a.command), timeout=a.timeout)
                sys.stdout.write(out)
                return status
    except ConsoleError as e:
        print(f"guest-console: {e}", file=sys.stderr)
        return 125
    return 0


if __name__ == "__main__":
    sys.exit(main())
