"""Load generation (wrk for the headline numbers, loadclient.py for the time series)
and the reloader that triggers a peer's reload every second while the load runs."""

import json
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WRK_THREADS = 2
CONNECTIONS = 16
WRK_TIMEOUT = "2s"        # wrk's default, written out: a slower request is a timeout error
RELOAD_INTERVAL = 1.0


class Reloader(threading.Thread):
    """Calls peer.reload() at t0+1, t0+2, ... while the load runs; one at a time, so a
    reload slower than a second is followed at once by the next one."""

    def __init__(self, peer, t0, seconds):
        super().__init__(name=f"reloader-{peer.key}", daemon=True)
        self.peer = peer
        self.t0 = t0
        self.end = t0 + seconds
        self.stop_event = threading.Event()
        self.events = []          # {t: start offset s, wall: s, rc: exit status, generation: graced's}

    def run(self):
        next_at = self.t0 + RELOAD_INTERVAL
        while not self.stop_event.is_set():
            if self.stop_event.wait(max(0.0, next_at - time.time())):
                break
            started = time.time()
            if started >= self.end - 0.2:    # no reload whose effect the load would not see
                break
            try:
                rc = self.peer.reload()
            except Exception as error:      # a crashing reload is a failed reload, not a crashed benchmark
                print(f"  reload raised: {error}", file=sys.stderr)
                rc = -1
            self.events.append({"t": started - self.t0, "wall": time.time() - started, "rc": rc,
                                "generation": getattr(self.peer, "last_generation", None)})
            next_at = max(next_at + RELOAD_INTERVAL, time.time())

    def finish(self, timeout=120.0):
        """Stops scheduling and waits for a reload still in progress (bounded)."""
        self.stop_event.set()
        self.join(timeout)

    def summary(self):
        walls = [e["wall"] for e in self.events]
        return {"done": sum(1 for e in self.events if e["rc"] == 0),
                "failed": sum(1 for e in self.events if e["rc"] != 0),
                "median_wall_s": statistics.median(walls) if walls else None,
                "events": self.events}


def wrk_command(port, seconds, mode):
    return (["wrk", "-t", str(WRK_THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s",
             "--timeout", WRK_TIMEOUT, "--latency", "-s", os.path.join(HERE, "wrk_report.lua"),
             f"http://127.0.0.1:{port}/"],
            dict(os.environ, BENCH_WRK_CLOSE="1" if mode == "close" else "0"))


def start_wrk(port, seconds, mode, raw_path):
    argv, env = wrk_command(port, seconds, mode)
    out = open(raw_path, "w")
    try:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
    finally:
        out.close()


def parse_wrk(raw_path):
    """The BENCHJSON line written by wrk_report.lua, plus derived req/s and error total."""
    with open(raw_path) as f:
        for line in f:
            if line.startswith("BENCHJSON "):
                result = json.loads(line[len("BENCHJSON "):])
                seconds = result["duration_us"] / 1e6
                result["rps"] = result["requests"] / seconds if seconds else 0.0
                result["socket_errors"] = sum(result[k] for k in ("connect", "read", "write", "timeout"))
                result["failed"] = result["socket_errors"] + result["status"]
                return result
    raise RuntimeError(f"wrk printed no result (see {raw_path})")


def start_loadclient(port, seconds, mode, out_path, log_path):
    argv = [sys.executable, os.path.join(HERE, "loadclient.py"), "--port", str(port),
            "--seconds", str(seconds), "--connections", str(CONNECTIONS), "--mode", mode, "--out", out_path]
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        log.close()


def wait_started(log_path, timeout=10.0):
    """The start time loadclient.py prints once its event loop runs (None if it never does)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(log_path) as f:
            for line in f:
                if line.startswith("STARTED "):
                    return float(line.split()[1])
        time.sleep(0.01)
    return None


def wait_bounded(proc, seconds):
    """Waits for a load generator; kills it if it overruns its run by far."""
    try:
        return proc.wait(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"load generator overran its {seconds}s run; killed")
