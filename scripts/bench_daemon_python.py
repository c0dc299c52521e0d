#!/usr/bin/env python3
"""The polling loop a user would script instead of running qballoon, with the qemu.qmp library (from pip).

For scripts/bench-daemon.sh: it holds one connection per VM, finds each balloon and turns guest-stats
polling on (as `qballoon run` does when it attaches), then every interval, for every VM at once
(asyncio.gather), runs `query-balloon` and `qom-get guest-stats` on the balloon and keeps the figures.

Standard output, one line each, flushed:
  attached N SECONDS          once every VM is connected (N may be short of the sockets found: see errors)
  round START DURATION ERRORS for each round: its Unix start time, how long it took, how many VMs failed
A round is late when DURATION > the interval; the next round then starts at once. Stops on SIGTERM/SIGINT.

Usage: bench_daemon_python.py --glob 'DIR/*.qmp' --interval 1 [--stats-interval 1] [--connect-parallel 64]
"""

import argparse
import asyncio
import glob
import logging
import signal
import sys
import time

from qemu.qmp import QMPClient


class VM:
    __slots__ = ("socket", "qmp", "path", "actual", "stats", "last_update")

    def __init__(self, socket):
        self.socket = socket
        self.qmp = QMPClient(socket)
        self.path = None
        self.actual = None
        self.stats = None
        self.last_update = None


async def find_balloon(qmp):
    for container in ("/machine/peripheral", "/machine/peripheral-anon"):
        for entry in await qmp.execute("qom-list", {"path": container}):
            if entry["type"].startswith("child<virtio-balloon"):
                return f"{container}/{entry['name']}"
    raise RuntimeError("no balloon device")


async def attach(vm, stats_interval, gate):
    async with gate:
        await vm.qmp.connect(vm.socket)
        vm.path = await find_balloon(vm.qmp)
        polling = await vm.qmp.execute("qom-get", {"path": vm.path, "property": "guest-stats-polling-interval"})
        if polling != stats_interval:
            await vm.qmp.execute(
                "qom-set", {"path": vm.path, "property": "guest-stats-polling-interval", "value": stats_interval})


async def poll(vm):
    balloon = await vm.qmp.execute("query-balloon")
    stats = await vm.qmp.execute("qom-get", {"path": vm.path, "property": "guest-stats"})
    vm.actual = balloon["actual"]
    vm.stats = stats["stats"]
    vm.last_update = stats["last-update"]


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--glob", required=True, help="the monitor sockets, e.g. 'DIR/*.qmp'")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between rounds")
    parser.add_argument("--stats-interval", type=int, default=None, help="guest-stats polling period (s)")
    parser.add_argument("--connect-parallel", type=int, default=64, help="connections opened at once")
    args = parser.parse_args()
    stats_interval = args.stats_interval or max(1, round(args.interval))
    logging.disable(logging.CRITICAL)  # qemu.qmp logs every connection at INFO when logging is configured

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    vms = [VM(path) for path in sorted(glob.glob(args.glob))]
    started = time.monotonic()
    gate = asyncio.Semaphore(args.connect_parallel)
    results = await asyncio.gather(*(attach(vm, stats_interval, gate) for vm in vms), return_exceptions=True)
    failed = [(vm, r) for vm, r in zip(vms, results) if isinstance(r, BaseException)]
    for vm, error in failed[:5]:
        print(f"cannot attach {vm.socket}: {error!r}", file=sys.stderr, flush=True)
    vms = [vm for vm, r in zip(vms, results) if not isinstance(r, BaseException)]
    print(f"attached {len(vms)} {time.monotonic() - started:.3f}", flush=True)

    next_round = time.monotonic()
    while not stop.is_set():
        wall, start = time.time(), time.monotonic()
        results = await asyncio.gather(*(poll(vm) for vm in vms), return_exceptions=True)
        errors = sum(isinstance(r, BaseException) for r in results)
        print(f"round {wall:.3f} {time.monotonic() - start:.4f} {errors}", flush=True)
        next_round += args.interval
        delay = next_round - time.monotonic()
        if delay <= 0:
            next_round = time.monotonic()  # late: start the next round now, do not try to catch up
            continue
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except asyncio.TimeoutError:
            pass

    await asyncio.gather(*(vm.qmp.disconnect() for vm in vms), return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
