#!/usr/bin/env python3
"""Record real QEMU QMP transcripts (balloon-related) into JSON-lines fixture files.

Standard library only. Usage:
    scripts/record-transcripts.py [--qemu qemu-system-x86_64] [--out Fixtures/transcripts]
                                  [--guest-dir /var/cache/qballoon-guest] [--no-guest]

Runs (each a fresh `qemu-system-x86_64 -accel tcg`, 512 MiB):
    qemu-<ver>-balloon-id.jsonl    -S, -device virtio-balloon-pci,id=balloon0
    qemu-<ver>-balloon-anon.jsonl  -S, -device virtio-balloon-pci (no id)
    qemu-<ver>-no-balloon.jsonl    -S, no balloon device
    qemu-<ver>-guest.jsonl         real guest from scripts/build-guest.sh (skipped if not built)

Line format (one JSON object per line, in the order things happened on the socket):
    {"send": OBJECT}          a command object sent as compact JSON followed by "\\n"
    {"raw": "TEXT"}           raw text sent as-is (malformed-input tests)
    {"recv": OBJECT}          an object received (greeting first, replies, events)
    {"note": "TEXT", ...}     commentary, not protocol traffic (may carry extra keys)
"""
import argparse
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

MiB = 1 << 20
HERE = os.path.dirname(os.path.abspath(__file__))


class QMPRecorder:
    """A raw QMP client that writes every byte-level exchange to a transcript."""

    def __init__(self, path, transcript, connect_timeout=20.0):
        self.t = transcript
        self.buf = ""
        self.dec = json.JSONDecoder()
        self.next_id = 0
        deadline = time.monotonic() + connect_timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.pending = []   # objects parsed but not yet consumed
        self.eof = False

    # -- transcript -----------------------------------------------------------
    def note(self, text, **extra):
        self.t.append({"note": text, **extra})

    # -- low level ----------------------------------------------------------------
    def _read_some(self, timeout):
        """Read available bytes (up to `timeout` s); parse whole objects into pending."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            return
        except ConnectionResetError:
            data = b""                # QEMU quit with our bytes unread: the same end as EOF
        if not data:
            self.eof = True
            return
        self.buf += data.decode("utf-8")
        while True:
            s = self.buf.lstrip(" \t\r\n")
            if not s:
                self.buf = ""
                break
            try:
                obj, end = self.dec.raw_decode(s)
            except json.JSONDecodeError:
                self.buf = s          # incomplete: wait for more
                break
            self.buf = s[end:]
            self.pending.append(obj)

    def recv(self, timeout):
        """Next object (recorded), or None on timeout/EOF."""
        deadline = time.monotonic() + timeout
        while not self.pending:
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                return None
            self._read_some(left)
        obj = self.pending.pop(0)
        self.t.append({"recv": obj})
        return obj

    def send_obj(self, obj):
        self.t.append({"send": obj})
        self.sock.sendall(json.dumps(obj, separators=(",", ":")).encode() + b"\n")

    def send_raw(self, text):
        self.t.append({"raw": text})
        self.sock.sendall(text.encode())

    # -- high level ------------------------------------------------------------------
    def reply(self, timeout=30.0):
        """Record everything up to and including the next reply (non-event)."""
        while True:
            obj = self.recv(timeout)
            if obj is None:
                self.note(f"no reply within {timeout}s" + (" (connection closed)" if self.eof else ""))
                return None
            if "event" not in obj:
                return obj

    def drain(self, seconds):
        """Record whatever arrives during `seconds` (events, stray replies)."""
        deadline = time.monotonic() + seconds
        got = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            obj = self.recv(left)
            if obj is None and self.eof:
                return got
            if obj is not None:
                got.append(obj)

    def cmd(self, name, args=None, id=..., timeout=30.0):
        msg = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        if id is ...:
            self.next_id += 1
            id = self.next_id
        if id is not None:
            msg["id"] = id
        self.send_obj(msg)
        return self.reply(timeout)

    def cmd_elided(self, name, keep=200, timeout=60.0):
        """Send a command whose (huge) reply is summarised in a note, not recorded."""
        self.next_id += 1
        msg = {"execute": name, "id": self.next_id}
        self.send_obj(msg)
        deadline = time.monotonic() + timeout
        while True:
            # Re-implement recv without recording the reply itself.
            while not self.pending and not self.eof and time.monotonic() < deadline:
                self._read_some(deadline - time.monotonic())
            if not self.pending:
                self.note(f"no reply to {name} within {timeout}s")
                return None
            obj = self.pending.pop(0)
            if "event" in obj:
                self.t.append({"recv": obj})
                continue
            text = json.dumps(obj, separators=(",", ":"))
            ret = obj.get("return")
            self.note(f"{name} reply elided: {len(text)} bytes as compact JSON on one line; "
                      f"id {obj.get('id')!r}; return is a {type(ret).__name__}"
                      + (f" of {len(ret)} entries" if isinstance(ret, list) else ""),
                      bytes=len(text), head=text[:keep])
            return obj

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------------------
def start_qemu(qemu, tmp, extra, console=False):
    qmp = os.path.join(tmp, "qmp.sock")
    args = [qemu, "-accel", "tcg", "-nodefaults", "-m", "512M", "-no-reboot",
            "-qmp", f"unix:{qmp},server=on,wait=off"]
    if console:
        con = os.path.join(tmp, "console.sock")
        args += ["-nographic", "-serial", f"unix:{con},server=on,wait=off"]
    else:
        args += ["-display", "none"]
    args += extra
    errf = open(os.path.join(tmp, "qemu.stderr"), "w+")
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=errf, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while not os.path.exists(qmp):
        if p.poll() is not None or time.monotonic() > deadline:
            errf.seek(0)
            raise RuntimeError(f"QEMU did not start: {' '.join(args)}\n{errf.read()}")
        time.sleep(0.05)
    return p, args, qmp


def stop_qemu(p):
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def shown_args(args, tmp):
    return [a.replace(tmp, "$TMP") for a in args]


def find_balloon(q, t):
    """qom-list peripheral and peripheral-anon; return the balloon's QOM path (or None)."""
    found = None
    for parent in ("/machine/peripheral", "/machine/peripheral-anon"):
        r = q.cmd("qom-list", {"path": parent})
        for p in (r or {}).get("return", []):
            if p.get("type", "").startswith("child<virtio-balloon") and found is None:
                found = f"{parent}/{p['name']}"
    return found


def sequence_paused(q, kind):
    """The fixed command sequence for a paused (-S) VM. kind: id | anon | none."""
    q.recv(10)                                          # greeting
    q.cmd("query-balloon")                              # before negotiation
    q.cmd("qmp_capabilities")
    q.cmd("qmp_capabilities")                           # again
    q.cmd("query-version")
    q.cmd("query-status")
    q.cmd("query-balloon")
    q.cmd("query-memory-size-summary")
    path = find_balloon(q, kind)
    q.note(f"balloon QOM path found by qom-list: {path}")
    if path:
        q.cmd("qom-list", {"path": path})
        q.cmd("qom-get", {"path": path, "property": "guest-stats"})
        q.cmd("qom-get", {"path": path, "property": "guest-stats-polling-interval"})
        q.cmd("qom-get", {"path": path, "property": "deflate-on-oom"})
        q.cmd("qom-get", {"path": path, "property": "free-page-reporting"})
        q.cmd("qom-set", {"path": path, "property": "guest-stats-polling-interval", "value": 2})
        q.cmd("qom-get", {"path": path, "property": "guest-stats-polling-interval"})
        q.cmd("qom-set", {"path": path, "property": "guest-stats-polling-interval", "value": 0})
        q.cmd("qom-set", {"path": path, "property": "guest-stats-polling-interval", "value": -1})
        q.cmd("qom-set", {"path": path, "property": "guest-stats-polling-interval", "value": 1 << 32})
        q.cmd("qom-set", {"path": path, "property": "guest-stats-polling-interval", "value": "2"})
        q.cmd("qom-get", {"path": path, "property": "no-such-property"})
    else:
        # What a client that assumes the usual path gets.
        q.cmd("qom-get", {"path": "/machine/peripheral/balloon0", "property": "guest-stats"})
    q.cmd("qom-get", {"path": "/machine/peripheral/nope", "property": "guest-stats"})
    q.cmd("qom-list", {"path": "/machine/peripheral/nope"})
    q.cmd("balloon", {"value": 256 * MiB})
    q.cmd("query-balloon")
    q.cmd("balloon", {"value": 8 << 30})                  # above RAM
    q.cmd("query-balloon")
    q.cmd("balloon", {"value": 0})
    q.cmd("balloon", {"value": -1})
    q.cmd("balloon", {"value": 512 * MiB})
    q.cmd("no-such-command")
    q.cmd("balloon")                                    # missing argument
    q.cmd("balloon", {})                                # empty arguments
    q.cmd("balloon", {"value": "abc"})                  # wrong type
    q.cmd("balloon", {"value": 1.5e9})                  # float
    q.cmd("balloon", {"value": 268435456, "extra": 1})  # unexpected argument
    q.cmd("query-balloon", {"unexpected": True})
    q.cmd("query-balloon", [1, 2])                      # arguments not an object
    # Malformed input: errors carry no id.
    q.send_raw('{"execute": ')
    q.drain(0.5)
    q.note("nothing is answered while a JSON value is still open")
    q.send_raw('}}}\n')
    q.drain(1.0)
    q.send_raw('[1,2')
    q.drain(0.5)
    q.send_raw(']\n')
    q.drain(1.0)
    q.send_raw('"just a string"\n')
    q.drain(1.0)
    q.send_raw('{"execute": "query-balloon", "id": 7, "bogus": 1}\n')
    q.drain(1.0)
    q.send_raw('{"arguments": {}, "id": 8}\n')
    q.drain(1.0)
    q.send_raw('{"execute": 42, "id": 9}\n')
    q.drain(1.0)
    q.send_raw('{"execute": "query-balloon", "id": 10, "arguments": {}')   # unterminated then closed
    q.drain(0.5)
    q.send_raw('}\n')
    q.drain(1.0)
    q.send_raw("{'execute': 'query-balloon'}\n")      # single quotes (QEMU extension)
    q.drain(1.0)
    q.send_raw('{"execute": "query-balloon", "id": 11}{"execute": "query-balloon", "id": 12}')  # two, no newline
    q.drain(1.0)
    q.send_raw('\n  {"execute":"query-balloon",\n "id":\n 13}\r\n')   # spans lines
    q.drain(1.0)
    q.send_raw('{"execute": "query-balloon", "id": 14, "arguments": {"x": @}}\n')  # lexical error
    q.drain(1.0)
    # ids come back verbatim
    q.cmd("query-balloon", id="req-abc")
    q.cmd("query-balloon", id={"client": "qballoon", "seq": [1, 2.5, None, True]})
    q.cmd("query-balloon", id=None)                     # no id at all
    q.cmd("no-such-command", id="bad-1")
    q.cmd_elided("query-qmp-schema")
    left = q.drain(1.0)
    q.note("paused VM (-S): the guest never runs, so no BALLOON_CHANGE events arrive"
           if not any(o.get("event") == "BALLOON_CHANGE" for o in left) else "events above")
    q.cmd("quit")
    q.drain(2.0)
    q.note("connection closed by QEMU" if q.eof else "connection still open at end")


def load_console():
    spec = importlib.util.spec_from_file_location("guest_console", os.path.join(HERE, "guest-console.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def sequence_guest(q, con, t0):
    q.recv(10)
    q.cmd("qmp_capabilities")
    ready = con.wait_ready(timeout=180)
    q.note(f"guest console printed: {ready!r} after {time.monotonic() - t0:.1f}s")
    q.drain(0.2)
    path = "/machine/peripheral/balloon0"
    q.cmd("query-balloon")
    q.cmd("qom-get", {"path": path, "property": "guest-stats-polling-interval"})
    q.cmd("qom-get", {"path": path, "property": "guest-stats"})
    q.note("before polling is enabled: the values are from the stats buffer the Linux driver "
           "queues when it probes, so last-update is already non-zero but goes stale")
    q.cmd("qom-set", {"path": path, "property": "guest-stats-polling-interval", "value": 1})
    q.drain(3.0)
    r = q.cmd("qom-get", {"path": path, "property": "guest-stats"})
    out, _ = con.run("cat /proc/meminfo")
    mi = {l.split(":")[0]: l.split(":")[1].strip() for l in out.splitlines() if ":" in l}
    q.note("guest /proc/meminfo right after: " + ", ".join(
        f"{k} {mi.get(k)}" for k in ("MemTotal", "MemFree", "MemAvailable", "Cached", "Shmem")),
        now=int(time.time()))
    q.cmd("balloon", {"value": 384 * MiB})
    q.drain(5.0)
    q.cmd("query-balloon")
    out, _ = con.run("free -k")
    q.note("guest `free -k` at 384 MiB: " + " | ".join(l.strip() for l in out.splitlines()[:2]))
    q.cmd("qom-get", {"path": path, "property": "guest-stats"})
    q.cmd("balloon", {"value": 512 * MiB})
    q.drain(4.0)
    q.cmd("query-balloon")
    q.cmd("qom-set", {"path": path, "property": "guest-stats-polling-interval", "value": 0})
    q.cmd("quit")
    q.drain(2.0)
    q.note("connection closed by QEMU" if q.eof else "connection still open at end")


def write(out_dir, name, lines):
    path = os.path.join(out_dir, name)
    with open(path, "w") as f:
        for obj in lines:
            f.write(json.dumps(obj, separators=(", ", ": ")) + "\n")
    n_send = sum(1 for o in lines if "send" in o or "raw" in o)
    n_recv = sum(1 for o in lines if "recv" in o)
    n_ev = sum(1 for o in lines if "recv" in o and isinstance(o["recv"], dict) and "event" in o["recv"])
    print(f"wrote {path}: {len(lines)} lines ({n_send} sent, {n_recv} received, {n_ev} events)")


def qemu_version(qemu):
    out = subprocess.run([qemu, "--version"], capture_output=True, text=True, check=True).stdout
    v = out.split("version ")[1].split()[0]          # e.g. 7.2.22
    return ".".join(v.split(".")[:2]), out.splitlines()[0]


def main():
    ap = argparse.ArgumentParser(description="Record QEMU QMP transcripts for qballoon's tests.")
    ap.add_argument("--qemu", default=shutil.which("qemu-system-x86_64") or "qemu-system-x86_64")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "Fixtures", "transcripts"))
    ap.add_argument("--guest-dir", default=os.environ.get("QBALLOON_GUEST_DIR", "/var/cache/qballoon-guest"))
    ap.add_argument("--no-guest", action="store_true", help="skip the real-guest run")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    ver, verline = qemu_version(a.qemu)

    runs = [("balloon-id", "id", ["-device", "virtio-balloon-pci,id=balloon0"]),
            ("balloon-anon", "anon", ["-device", "virtio-balloon-pci"]),
            ("balloon-deflate-on-oom", "id", ["-device", "virtio-balloon-pci,id=balloon0,deflate-on-oom=on,free-page-reporting=on"]),
            ("no-balloon", "none", [])]
    for name, kind, dev in runs:
        tmp = tempfile.mkdtemp(prefix="qballoon-rec-")
        try:
            p, args, qmp = start_qemu(a.qemu, tmp, ["-S"] + dev)
            lines = [{"note": f"{verline}; argv: {' '.join(shown_args(args, tmp))}"}]
            q = QMPRecorder(qmp, lines)
            try:
                sequence_paused(q, kind)
            finally:
                q.close()
                stop_qemu(p)
            write(a.out, f"qemu-{ver}-{name}.jsonl", lines)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    vmlinuz = os.path.join(a.guest_dir, "vmlinuz")
    initrd = os.path.join(a.guest_dir, "initrd.gz")
    if a.no_guest:
        return 0
    if not (os.path.exists(vmlinuz) and os.path.exists(initrd)):
        print(f"skipped the guest run: no guest in {a.guest_dir} (run scripts/build-guest.sh)")
        return 0
    gc = load_console()
    tmp = tempfile.mkdtemp(prefix="qballoon-rec-")
    try:
        t0 = time.monotonic()
        p, args, qmp = start_qemu(a.qemu, tmp, [
            "-kernel", vmlinuz, "-initrd", initrd, "-append", "console=ttyS0 panic=-1 quiet",
            "-device", "virtio-balloon-pci,id=balloon0"], console=True)
        con = gc.GuestConsole(os.path.join(tmp, "console.sock"))
        lines = [{"note": f"{verline}; argv: {' '.join(shown_args(args, tmp))}"}]
        q = QMPRecorder(qmp, lines)
        try:
            sequence_guest(q, con, t0)
        finally:
            q.close()
            con.close()
            stop_qemu(p)
        write(a.out, f"qemu-{ver}-guest.jsonl", lines)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
