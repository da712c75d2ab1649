#!/usr/bin/env python3
"""Small closed-loop HTTP load client that records what happens *each second*.

wrk gives the headline numbers but cannot say when its errors happened; this
client gives the time series for the plot: per second, the 2xx responses, the
non-2xx responses and the failed attempts (connect / write / read / timeout).

    loadclient.py --port P --seconds S --connections C --mode keepalive|close --out FILE

Traffic goes to 127.0.0.1 only, and the run stops by itself after S seconds.
After a failed attempt a connection waits ERROR_PAUSE before retrying: unlike wrk
(which retries a refused connect in a tight loop), it then reports failures at a
bounded rate, so its error counts show *when* requests fail, not how many retries fit.
"""

import argparse
import asyncio
import json
import time

TIMEOUT = 2.0          # like wrk's default --timeout
ERROR_PAUSE = 0.01


class Stats:
    def __init__(self, seconds, t0):
        self.t0 = t0
        self.ok = [0] * seconds
        self.non2xx = [0] * seconds
        self.errors = [0] * seconds
        self.max_latency_ms = [0.0] * seconds
        self.totals = {"ok": 0, "non2xx": 0, "connect": 0, "write": 0, "read": 0, "timeout": 0}

    def slot(self, now):
        i = int(now - self.t0)
        return i if 0 <= i < len(self.ok) else None

    def record(self, kind, latency=None):
        now = time.time()
        i = self.slot(now)
        if i is None:
            return          # finished after the end of the run: not counted (wrk does the same)
        self.totals[kind] += 1
        if kind == "ok":
            self.ok[i] += 1
        elif kind == "non2xx":
            self.non2xx[i] += 1
        else:
            self.errors[i] += 1
        if latency is not None:
            self.max_latency_ms[i] = max(self.max_latency_ms[i], latency * 1000.0)


async def read_response(reader):
    """Reads one response; returns (status, server wants to close)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection") == "close" or lines[0].startswith("HTTP/1.0")


async def connection_loop(port, mode, stats, deadline):
    request = (f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               + ("Connection: close\r\n" if mode == "close" else "") + "\r\n").encode()
    reader = writer = None
    while time.time() < deadline:
        started = time.time()
        stage = "connect"
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
            stage = "write"
            writer.write(request)
            await writer.drain()
            stage = "read"
            status, close = await asyncio.wait_for(read_response(reader), TIMEOUT)
            stats.record("ok" if 200 <= status < 300 else "non2xx", time.time() - started)
            if close or mode == "close":
                writer.close()
                reader = writer = None
        except (asyncio.TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as error:
            stats.record("timeout" if isinstance(error, asyncio.TimeoutError) else stage)
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(ERROR_PAUSE)
    if writer is not None:
        writer.close()


async def main_async(args):
    t0 = time.time()
    print(f"STARTED {t0}", flush=True)   # the benchmark starts its reloads on this clock
    stats = Stats(args.seconds, t0)
    deadline = t0 + args.seconds
    tasks = [asyncio.create_task(connection_loop(args.port, args.mode, stats, deadline))
             for _ in range(args.connections)]
    # Hard bound: a connection stuck in a read gives up at TIMEOUT past the deadline.
    await asyncio.wait(tasks, timeout=args.seconds + TIMEOUT + 1)
    for task in tasks:
        task.cancel()
    return {"t0": t0, "seconds": args.seconds, "mode": args.mode, "connections": args.connections,
            "ok": stats.ok, "non2xx": stats.non2xx, "errors": stats.errors,
            "max_latency_ms": stats.max_latency_ms, "totals": stats.totals}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=int, required=True)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--mode", choices=["keepalive", "close"], default="keepalive")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
