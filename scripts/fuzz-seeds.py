#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora, Fixtures/fuzz/TARGET/, from the repository's own fixtures.

  qmp-stream  what QEMU sent in Fixtures/transcripts/*.jsonl, as it sends it (compact, `\\r\\n` after each
              message) and as a `pretty=on` monitor does, in windows of a few messages
  json        each distinct message of the transcripts, the fake-server scenarios, and edge cases
  config      Configs/*.toml, and small configs with mistakes
  rules       every `when`, `set` and `pressure` expression in Configs/*.toml, and a few more
  trace       the start of each recorded trace in Fixtures/traces/ (header and 40 samples), and traces with mistakes

Run it after changing those fixtures: `python3 scripts/fuzz-seeds.py`. It replaces the seed folders only;
Fixtures/fuzz/regressions/ (inputs that once crashed a target) is left alone.
"""
import glob
import json
import os
import shutil
import tomllib

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
out = os.path.join(root, "Fixtures", "fuzz")


def write(target, name, data):
    path = os.path.join(out, target, name)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def qemu(message):
    # QEMU's own spacing: `{"return": {}, "id": 1}`.
    return json.dumps(message, separators=(", ", ": ")) + "\r\n"


for target in ["qmp-stream", "json", "config", "rules", "trace"]:
    shutil.rmtree(os.path.join(out, target), ignore_errors=True)
    os.makedirs(os.path.join(out, target))

# qmp-stream and json, from the transcripts.
messages = []
for path in sorted(glob.glob(os.path.join(root, "Fixtures", "transcripts", "*.jsonl"))):
    stem = os.path.basename(path)[: -len(".jsonl")]
    received = []
    for line in open(path):
        entry = json.loads(line)
        if "recv" in entry:
            received.append(entry["recv"])
        if "recv" in entry or "send" in entry:
            message = entry.get("recv", entry.get("send"))
            if message not in messages:
                messages.append(message)
    # The greeting and the replies after it, a window at a time, under 2 KiB each (the fuzzer's message limit).
    window, size, part = [], 0, 0
    for message in received:
        text = qemu(message)
        if window and size + len(text) > 1800:
            write("qmp-stream", f"{stem}-{part}", "".join(window))
            window, size, part = [], 0, part + 1
        window.append(text)
        size += len(text)
    if window:
        write("qmp-stream", f"{stem}-{part}", "".join(window))
    write("qmp-stream", f"{stem}-pretty", "".join(json.dumps(m, indent=4) + "\r\n" for m in received[:3]))
write("qmp-stream", "byte-by-byte-escapes", '{"return": {"s": "a}b\\"{\\\\"}, "id": 1}{"event": "X"}  \n')
write("qmp-stream", "garbage-after-greeting", qemu(messages[0]) + '{"return": {}, "id": -1}\r\n]{')
write("qmp-stream", "invalid-json-then-reply", '{"return": tru}\r\n{"return": {}, "id": -1}\r\n')

for index, message in enumerate(messages[:40]):
    write("json", f"transcript-{index:02}", json.dumps(message))
for path in sorted(glob.glob(os.path.join(root, "Fixtures", "scenarios", "*.json"))):
    write("json", "scenario-" + os.path.basename(path)[: -len(".json")], open(path, "rb").read())
edge_cases = {
    "wide-integers": '{"stat-free-memory": 18446744073709551615, "a": [9223372036854775808, 9223372036854775807]}',
    "negative-wide": "[-9223372036854775808, -18446744073709551615]",
    "reals": "[0.5, -0.0, 1e308, 5e-324, 1E+2, 123456789012345678901234567890.0]",
    "escapes": '{"s": "\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\\\/", "k\\u0001": null}',
    "nul-escape": '["\\u0000", 18446744073709551615]',
    "nested": "[[[[[[[[[[{}]]]]]]]]]]",
    "scalars": ' true ',
    "duplicate-keys": '{"a": 1, "a": 2}',
}
for name, text in edge_cases.items():
    write("json", name, text)

# config: the shipped configs, and small configs with mistakes.
for path in sorted(glob.glob(os.path.join(root, "Configs", "*.toml"))):
    write("config", os.path.basename(path)[: -len(".toml")], open(path, "rb").read())
small = {
    "minimal-tcp": '[[vm]]\nqmp = "tcp:[::1]:4444"\nname = "db"\nmin = "1GiB"\nmax = 4294967296\n',
    "bad-units": '[defaults]\nmin = "2GB"\nstep = "-1M"\ncooldown = "10x"\n[[vm]]\nqmp = "/run/qemu/a.qmp"\n',
    "bad-rule": '[[vm]]\nqmp = "/run/qemu/*.qmp"\n[[rule]]\nname = "r"\nwhen = "avialable > 40% of actual for 60s"\nset = "used +"\n',
    "multiline": '[[vm]]\nqmp = "/q/*.qmp"\n[[rule]]\nname = "r"\nwhen = """\navailable > 1GiB\n  and swap_in_rate == 0"""\nset = \'\'\'used\n+ 10%\'\'\'\nvms = ["a", "b-*"]\n',
    "wrong-types": '[daemon]\ninterval = true\nmetrics_listen = "127.0.0.1:0"\n[host]\nidle_tax = "75%"\nreserve = 0\n[[vm]]\nqmp = 3\n',
    "not-toml": '[[vm]\nqmp = "/run/qemu/a.qmp\n',
}
for name, text in small.items():
    write("config", name, text)

# rules: the expressions of the shipped configs, and a few more.
expressions = []
for path in sorted(glob.glob(os.path.join(root, "Configs", "*.toml"))):
    config = tomllib.load(open(path, "rb"))
    tables = [config.get("defaults", {})] + config.get("vm", []) + config.get("rule", [])
    for table in tables:
        for key in ("pressure", "when", "set"):
            if key in table and table[key] not in expressions:
                expressions.append(table[key])
expressions += [
    "available > 40% of actual for 60s and swap_in_rate == 0",
    "(available < 1GiB or pressure) for 5m",
    "not (used_rate > 5MiB/s) and stats_age < 10",
    "min(used + 1GiB, max, 2 * used) - -512M",
    "used / total > 0.5 and major_faults_rate * 60s > 100",
    "host_psi_full_avg60 >= 1.5% or 1.5h > stats_age",
    "available < 10%",
    "available > 60s",
    "a < b < c",
    "used + 1 GB",
    "max(used)",
]
for index, expression in enumerate(expressions):
    write("rules", f"expression-{index:02}", expression)

# trace: the start of each recorded trace, and small traces with mistakes.
for path in sorted(glob.glob(os.path.join(root, "Fixtures", "traces", "*.trace"))):
    lines = open(path).read().split("\n")
    write("trace", os.path.basename(path)[: -len(".trace")], "\n".join(lines[:41]) + "\n")
header = '{"interval":1.0,"qballoon_trace":1,"qemu":"7.2.22","ram":1073741824,"start":1796222222.45,"vm":"db"}'
sample = '{"actual":1073741824,"available":900096000,"caches":2457600,"free":968622080,"major_faults":0,"minor_faults":1712,"reported":1796222222,"swap_in":0,"swap_out":0,"t":1796222222.454,"total":1007353856}'
broken = {
    "no-header": sample + "\n",
    "version-2": header.replace('"qballoon_trace":1', '"qballoon_trace":2') + "\n" + sample + "\n",
    "time-back": header + "\n" + sample + "\n" + sample.replace("1796222222.454", "1796222200.0") + "\n",
    "above-ram": header + "\n" + sample.replace('"actual":1073741824', '"actual":2147483648') + "\n",
    "swapping": header + "\n" + "\n".join(
        sample.replace('"swap_in":0', '"swap_in":%d' % (i * 40960000)).replace('"available":900096000', '"available":%d' % (1000000 if i % 2 else 50000000)).replace('"major_faults":0', '"major_faults":%d' % (i * 9000)).replace("1796222222.454", "%.3f" % (1796222222.454 + i))
        for i in range(20)) + "\n",
    "reboot": header + "\n" + sample.replace('"swap_in":0', '"swap_in":999999999') + "\n" + sample.replace("1796222222.454", "1796222223.454") + "\n",
    "unreported": header + "\n" + '{"actual":1073741824,"t":1796222222.5}' + "\n" + '{"actual":1073741824,"t":1796222223.5,"total":1}' + "\n",
    "huge-ram": header.replace('"ram":1073741824', '"ram":18446744073709551615') + "\n" + sample.replace('"total":1007353856', '"total":18446744073709551615').replace('"available":900096000', '"available":0') + "\n",
    "not-json": header + "\n{\"t\": 1,\n",
    "blank-lines": "\n\n" + header + "\n\n" + sample + "\n\n",
}
for name, text in broken.items():
    write("trace", name, text)
