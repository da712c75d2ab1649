#!/usr/bin/env python3
"""HTTP client for scripts/systemd/run.sh, run inside the guest (Python stdlib only).

  client.py one  --port P [--timeout S]
      one GET, prints JSON: status, elapsed, pid, generation, fd3 (the listener's
      "socket:[inode]" as the worker sees it) or error.
  client.py load --port P --threads N --seconds S [--timeout S] [--max-requests M]
      N threads, each a loop of GET with a new connection per request (so a request
      made while nothing accepts waits in the kernel's accept queue), for S seconds;
      bounded by --max-requests and by S + timeout of wall time. Prints JSON: counts,
      failures by kind with their start offsets, latencies, the worker pids and
      generations that answered.

Only 127.0.0.1 is ever contacted.
"""

import argparse
import json
import socket
import sys
import threading
import time

HOST = "127.0.0.1"


def get(port, timeout, path="/"):
    """One request on a fresh connection: (status, headers, body) or raises OSError/ValueError."""
    sock = socket.create_connection((HOST, port), timeout=timeout)
    try:
        sock.settimeout(timeout)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError(f"incomplete response ({len(data)} bytes)")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    if length >= 0 and len(body) != length:
        raise ValueError(f"truncated body ({len(body)} of {length} bytes)")
    return status, headers, body


def error_kind(error):
    if isinstance(error, socket.timeout):
        return "timeout"
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, ConnectionResetError):
        return "reset"
    if isinstance(error, BrokenPipeError):
        return "broken-pipe"
    if isinstance(error, ValueError):
        return "bad-response: " + str(error).split(" (")[0]
    return type(error).__name__


def describe(status, body):
    try:
        doc = json.loads(body)
    except ValueError:
        return {"status": status}
    return {"status": status, "pid": doc.get("pid"), "generation": doc.get("generation"),
            "fd3": (doc.get("fd_targets") or {}).get("3")}


def one(args):
    start = time.monotonic()
    try:
        status, _, body = get(args.port, args.timeout)
        result = describe(status, body)
    except (OSError, ValueError) as error:
        result = {"error": error_kind(error)}
    result["elapsed"] = round(time.monotonic() - start, 3)
    print(json.dumps(result))


def load(args):
    begin = time.monotonic()
    deadline = begin + args.seconds
    hard_deadline = deadline + args.timeout + 5
    lock = threading.Lock()
    records = []

    def worker():
        while True:
            now = time.monotonic()
            if now >= deadline or now >= hard_deadline:
                return
            with lock:
                if len(records) >= args.max_requests:
                    return
            start = time.monotonic()
            record = {"t": round(start - begin, 3)}
            try:
                status, _, body = get(args.port, args.timeout)
                record.update(describe(status, body))
                if status != 200:
                    record["error"] = f"status {status}"
            except (OSError, ValueError) as error:
                record["error"] = error_kind(error)
            record["latency"] = round(time.monotonic() - start, 3)
            with lock:
                records.append(record)
            if "error" in record:
                time.sleep(0.05)   # a failing server is not hammered

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, hard_deadline - time.monotonic()))

    failures = [r for r in records if "error" in r]
    kinds = {}
    for r in failures:
        kinds[r["error"]] = kinds.get(r["error"], 0) + 1
    latencies = sorted(r["latency"] for r in records if "error" not in r)
    summary = {
        "requests": len(records),
        "ok": len(records) - len(failures),
        "failed": len(failures),
        "failure_kinds": kinds,
        "failures": [{"t": r["t"], "error": r["error"], "latency": r["latency"]} for r in failures[:20]],
        "max_latency": latencies[-1] if latencies else None,
        "p50_latency": latencies[len(latencies) // 2] if latencies else None,
        "slow_requests": sum(1 for l in latencies if l >= args.slow),
        "pids": sorted({r["pid"] for r in records if r.get("pid")}),
        "generations": sorted({r["generation"] for r in records if r.get("generation")}),
        "fd3": sorted({r["fd3"] for r in records if r.get("fd3")}),
        "seconds": round(time.monotonic() - begin, 3),
    }
    print(json.dumps(summary))


def main(argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    p_one = sub.add_parser("one")
    p_one.add_argument("--port", type=int, default=8080)
    p_one.add_argument("--timeout", type=float, default=20.0)
    p_load = sub.add_parser("load")
    p_load.add_argument("--port", type=int, default=8080)
    p_load.add_argument("--threads", type=int, default=4)
    p_load.add_argument("--seconds", type=float, default=5.0)
    p_load.add_argument("--timeout", type=float, default=20.0)
    p_load.add_argument("--max-requests", type=int, default=20000)
    p_load.add_argument("--slow", type=float, default=0.5, help="latency counted as slow")
    args = parser.parse_args(argv)
    one(args) if args.mode == "one" else load(args)


if __name__ == "__main__":
    main(sys.argv[1:])
