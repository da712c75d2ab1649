#!/usr/bin/env python3
"""Reload-under-load benchmark: graced against the peers users would pick instead.

Run it through bench/run.sh (which installs wrk, gunicorn, circus, supervisor and
matplotlib, and builds the release graced). It writes bench/out/results.json and
renders bench/results.md and bench/results.png from it (bench/report.py).

    bench/run.sh [--quick] [--seconds N] [--only KEY,KEY...] [--results bench/NAME.md]
    BENCH_SECONDS=20 bench/run.sh        # seconds per load run (default 20; --quick: 5)

Every process started here is stopped in a `finally`, also on Ctrl-C or SIGTERM.
"""

import argparse
import datetime
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import load
import peers
import procs
import report

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
IDLE_SECONDS = 5          # idle time before RSS is read
BETWEEN_RUNS = 1.0        # pause between two load runs on the same peer
SCENARIOS = ["steady", "reload"]
MODES = ["keepalive", "close"]


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------
# Facts about the machine and the software
# --------------------------------------------------------------------------

def first_line(argv):
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        text = (result.stdout or result.stderr).strip()
        return text.splitlines()[0] if text else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "not available"


def machine_facts():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory_gib": round(mem_kib / 1048576, 1),
            "kernel": platform.release(), "os": first_line(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"])}


def versions(graced_bin):
    return {
        "graced": first_line([graced_bin, "--version"]),
        "gunicorn": re.sub(r"^gunicorn \(version (.*)\)$", r"\1",
                           first_line([peers.PYTHON, "-m", "gunicorn", "--version"])),
        "circus": first_line([os.path.join(peers.PY_BIN, "circusd"), "--version"]),
        "supervisor": first_line([os.path.join(peers.PY_BIN, "supervisord"), "--version"]),
        "wrk": first_line(["wrk", "-v"]),
        "python": first_line([peers.PYTHON, "--version"]),
        "swift": first_line(["swift", "--version"]),
        "uvicorn": re.sub(r"^Running uvicorn (\S+) .*$", r"\1",
                          first_line([peers.PYTHON, "-m", "uvicorn", "--version"])),
        "go": first_line(["go", "version"]),
    }


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# --------------------------------------------------------------------------
# Sanity check: does wrk really open one connection per request in "close" mode?
# --------------------------------------------------------------------------

def check_wrk_close_mode(port):
    """Runs wrk for 1 s in each mode against a tiny counting server in this process."""
    counts = {"accepts": 0, "requests": 0}
    lock = threading.Lock()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(128)
    server.settimeout(0.2)
    stop = threading.Event()

    def handle(conn):
        buffer = b""
        with conn:
            conn.settimeout(2.0)
            try:
                while not stop.is_set():
                    data = conn.recv(4096)
                    if not data:
                        return
                    buffer += data
                    while b"\r\n\r\n" in buffer:
                        head, buffer = buffer.split(b"\r\n\r\n", 1)
                        with lock:
                            counts["requests"] += 1
                        close = b"connection: close" in head.lower()
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                     + (b"Connection: close\r\n" if close else b"") + b"\r\nok")
                        if close:
                            return
            except OSError:
                return

    def accept_loop():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with lock:
                counts["accepts"] += 1
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    acceptor = threading.Thread(target=accept_loop, daemon=True)
    acceptor.start()
    result = {}
    try:
        for mode in MODES:
            with lock:
                counts.update(accepts=0, requests=0)
            argv, env = load.wrk_command(port, 1, mode)
            subprocess.run(argv, env=env, capture_output=True, timeout=30)
            time.sleep(0.2)
            with lock:
                result[mode] = dict(counts)
    finally:
        stop.set()
        server.close()
        acceptor.join(2)
    close, keep = result["close"], result["keepalive"]
    # A connection or two may be open without a request when wrk stops.
    result["close_mode_reconnects"] = close["requests"] > 0 and abs(close["accepts"] - close["requests"]) <= load.CONNECTIONS
    result["keepalive_reuses"] = keep["accepts"] <= 2 * load.CONNECTIONS < keep["requests"]
    return result


# --------------------------------------------------------------------------
# Backend start-up time, measured alone (context for the reload wall time)
# --------------------------------------------------------------------------

def measure_startup(registry, backend, port, samples=3):
    """Median seconds from spawn to the first 200, on a socket bound beforehand
    (so the first request waits in the accept queue and is answered on the first accept)."""
    times = []
    for _ in range(samples):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(peers.BACKLOG)
        fd = sock.fileno()
        try:
            argv = peers.standalone_argv(REPO, backend, fd)
        except peers.PeerError:
            sock.close()
            return None
        started = time.monotonic()
        proc = registry.spawn(argv, os.path.join(OUT, f"startup-{backend}.log"), peers.backend_env(), pass_fds=(fd,))
        sock.close()
        ok = procs.wait_http_ok(port, peers.START_TIMEOUT)
        elapsed = time.monotonic() - started
        registry.stop(proc)
        if ok:
            times.append(elapsed)
    return statistics.median(times) if times else None


GRACED_EVENTS = {"worker-started": "started", "worker-ready": "ready",
                 "reload-started": "reload_started", "reload-succeeded": "reload_succeeded"}


def graced_generation_startups(log_path):
    """From graced's log, per reload generation (>= 2): "startup" = first worker-started
    to last worker-ready (the workers' own start-up) and "server" = reload-started to
    reload-succeeded (the reload as graced itself sees it, without the CLI's round trip)."""
    times = {kind: {} for kind in GRACED_EVENTS.values()}
    with open(log_path, errors="replace") as f:
        for line in f:
            event = re.search(r" event=([a-z-]+)", line)
            generation = re.search(r" generation=(\d+)", line)
            stamp = re.match(r"^(\S+Z) ", line)
            if not (event and generation and stamp) or event.group(1) not in GRACED_EVENTS:
                continue
            when = datetime.datetime.fromisoformat(stamp.group(1).replace("Z", "+00:00")).timestamp()
            slot = times[GRACED_EVENTS[event.group(1)]]
            gen = int(generation.group(1))
            # first start, last ready: the generation is ready when its slowest worker is
            slot[gen] = max(slot.get(gen, when), when) if GRACED_EVENTS[event.group(1)] == "ready" \
                else min(slot.get(gen, when), when)
    result = {}
    for gen in sorted(times["started"]):
        if gen >= 2 and gen in times["ready"]:
            entry = {"startup": times["ready"][gen] - times["started"][gen]}
            if gen in times["reload_started"] and gen in times["reload_succeeded"]:
                entry["server"] = times["reload_succeeded"][gen] - times["reload_started"][gen]
            result[str(gen)] = entry
    return result


def cli_startup(graced_bin, samples=10):
    """Median wall time of `graced --version`: the part of a reload's wall time that is
    the client process itself."""
    times = []
    for _ in range(samples):
        started = time.monotonic()
        subprocess.run([graced_bin, "--version"], capture_output=True, timeout=30)
        times.append(time.monotonic() - started)
    return statistics.median(times)


# --------------------------------------------------------------------------
# Measurements on one peer
# --------------------------------------------------------------------------

def idle_measurements(peer, idle_cpu_seconds):
    """RSS of the supervisor and of its whole tree after IDLE_SECONDS without traffic;
    supervisor CPU over that idle time (and over idle_cpu_seconds, if given)."""
    sup = peer.supervisor_pid()
    cpu0 = procs.cpu_seconds(sup) if sup else None
    time.sleep(IDLE_SECONDS)
    result = {"supervisor_rss_kib": procs.rss_kib(sup) if sup else None}
    result["tree_rss_kib"], result["tree_processes"] = procs.tree_rss_kib(peer.tree_roots())
    if sup:
        result["idle_cpu_s"] = procs.cpu_seconds(sup) - cpu0
        result["idle_window_s"] = IDLE_SECONDS
    if sup and idle_cpu_seconds:
        log(f"  {peer.label}: idle CPU over {idle_cpu_seconds}s")
        cpu0, ctx0, t0 = procs.cpu_seconds(sup), procs.context_switches(sup), time.monotonic()
        time.sleep(idle_cpu_seconds)
        result["long_idle"] = {"seconds": round(time.monotonic() - t0, 2),
                               "cpu_s": procs.cpu_seconds(sup) - cpu0,
                               "context_switches": procs.context_switches(sup) - ctx0}
    return result


def idle_reloads(peer, count=3):
    """A few reloads with no traffic: the wall time of `graced reload` without CPU contention."""
    events = []
    for _ in range(count):
        started = time.time()
        rc = peer.reload()
        events.append({"t": 0.0, "wall": time.time() - started, "rc": rc, "generation": peer.last_generation})
        time.sleep(1.0)
    return events


def run_load(peer, scenario, mode, seconds, tool, suffix=""):
    """One load run (wrk or the time-series client), with reloads every second if the
    scenario says so; returns its figures plus the supervisor's CPU during the run."""
    tag = f"{peer.key}-{scenario}-{mode}-{tool}{suffix}"
    sup = peer.supervisor_pid()
    cpu0 = procs.cpu_seconds(sup) if sup else None
    if tool == "wrk":
        generator = load.start_wrk(peer.port, seconds, mode, os.path.join(OUT, f"{tag}.txt"))
        t0 = time.time()    # wrk (C) is sending within a millisecond or two
    else:
        log_path = os.path.join(OUT, f"{tag}.log")
        open(log_path, "w").close()
        generator = load.start_loadclient(peer.port, seconds, mode, os.path.join(OUT, f"{tag}.json"), log_path)
        # Python takes ~0.1 s to start: reloads are scheduled on the client's own clock.
        t0 = load.wait_started(log_path) or time.time()
    reloader = None
    if scenario == "reload":
        reloader = load.Reloader(peer, t0, seconds)
        reloader.start()
    try:
        load.wait_bounded(generator, seconds)
    finally:
        if generator.poll() is None:     # interrupted: the load generator must not outlive us
            generator.kill()
            generator.wait()
        if reloader:
            reloader.finish()
    sup_after = peer.supervisor_pid()
    result = load.parse_wrk(os.path.join(OUT, f"{tag}.txt")) if tool == "wrk" else \
        json.load(open(os.path.join(OUT, f"{tag}.json")))
    if sup and sup_after == sup:
        result["supervisor_cpu_s"] = procs.cpu_seconds(sup) - cpu0
    result["t0"] = result.get("t0", t0)
    if reloader:
        result["reloads"] = reloader.summary()
        # Reload instants relative to the load generator's own clock start.
        offset = t0 - result["t0"]
        result["reloads"]["events"] = [dict(e, t=e["t"] + offset) for e in result["reloads"]["events"]]
    procs.wait_http_ok(peer.port, peers.START_TIMEOUT)   # the next run starts on a serving peer
    for root in peer.tree_roots():
        peer.registry.remember_tree(root)
    time.sleep(BETWEEN_RUNS)
    return result


def describe_run(peer, scenario, mode, result):
    errors = result.get("failed", sum(result["totals"][k] for k in ("connect", "write", "read", "timeout", "non2xx"))
                        if "totals" in result else 0)
    rps = result.get("rps")
    text = f"  {peer.key:26s} {scenario:6s} {mode:9s} "
    text += f"{rps:8.0f} req/s " if rps is not None else f"{sum(result['ok']):8d} ok     "
    text += f"failed {errors:6d}"
    if "p99_us" in result:
        text += f"  p99 {result['p99_us'] / 1000:7.1f} ms"
    if "reloads" in result:
        r = result["reloads"]
        wall = f"{r['median_wall_s']:.3f}s" if r["median_wall_s"] is not None else "-"
        text += f"  reloads {r['done']} ok / {r['failed']} failed, median {wall}"
    log(text)


def bench_peer(peer, config):
    """Everything measured on one peer; always stops it."""
    entry = {"key": peer.key, "label": peer.label, "backend": peer.backend, "port": peer.port,
             "reload_note": peer.reload_note, "supervisor": peer.supervisor_name,
             "status": "ok", "note": "", "runs": {}, "timeseries": {}}
    settle_only = peer.key == "graced-gunicorn-settle0"
    try:
        log(f"{peer.label}: starting on 127.0.0.1:{peer.port}")
        peer.start()
        if not settle_only:
            long_idle = config.graced_idle_seconds if peer.key == "graced-worker" else 0
            entry["idle"] = idle_measurements(peer, long_idle)
        if isinstance(peer, peers.Graced):
            entry["idle_reloads"] = idle_reloads(peer)
            log(f"  {peer.key}: idle reloads {[round(e['wall'], 3) for e in entry['idle_reloads']]} s")
        scenarios = ["reload"] if settle_only else SCENARIOS if peer.reloads else ["steady"]
        for scenario in scenarios:
            for mode in MODES:
                result = run_load(peer, scenario, mode, config.seconds, "wrk")
                entry["runs"][f"{scenario}/{mode}"] = result
                describe_run(peer, scenario, mode, result)
        if not settle_only:
            # The time series: reloads for the supervisors, steady for the controls.
            scenario = "reload" if peer.reloads else "steady"
            for mode in MODES:
                result = run_load(peer, scenario, mode, config.seconds, "ts")
                entry["timeseries"][f"{scenario}/{mode}"] = result
                describe_run(peer, scenario, mode, result)
        if isinstance(peer, peers.Graced):
            entry["generation_startups_s"] = graced_generation_startups(peer.path("log"))
    except (peers.PeerError, RuntimeError, OSError, subprocess.SubprocessError) as error:
        entry["status"] = "failed"
        entry["note"] = str(error)
        log(f"{peer.label}: FAILED: {error}")
    finally:
        peer.stop()
    return entry


# --------------------------------------------------------------------------
# Throughput: graced against its backend alone, interleaved
# --------------------------------------------------------------------------

def throughput_ab(registry, config, port):
    """graced's throughput target is a 2 % claim, finer than the drift of a shared
    machine between two runs minutes apart. So the control and graced run side by side
    (both idle but one), and steady runs alternate A B B A ... on them."""
    result = {}
    for backend in ("gunicorn", "worker", "swift-worker"):
        control_cls = {"gunicorn": peers.GunicornAlone, "worker": peers.WorkerAlone,
                       "swift-worker": peers.SwiftWorkerAlone}[backend]
        control = control_cls(registry, REPO, OUT, port)
        control.key = f"ab-{control.key}"
        graced = peers.Graced(registry, REPO, OUT, port + 1, config.graced, backend,
                              "1s" if backend == "gunicorn" else "0s", key=f"ab-graced-{backend}")
        port += 2
        runs = {m: {"control": [], "graced": []} for m in MODES}
        try:
            if backend == "swift-worker" and not os.access(peers.swift_worker_bin(REPO), os.X_OK):
                log(f"  A/B {backend} skipped: {peers.swift_worker_bin(REPO)} is not built")
                continue
            control.start()
            graced.start()
            time.sleep(IDLE_SECONDS)
            for rep in range(config.ab_repeats):
                order = [("control", control), ("graced", graced)]
                if rep % 2:
                    order.reverse()
                for mode in MODES:
                    for name, peer in order:
                        r = run_load(peer, "steady", mode, config.ab_seconds, "wrk", suffix=f"-{rep}")
                        runs[mode][name].append(r["rps"])
                log(f"  A/B {backend} repeat {rep + 1}: " + ", ".join(
                    f"{m} {runs[m]['graced'][-1] / runs[m]['control'][-1]:.3f}" for m in MODES))
        finally:
            graced.stop()
            control.stop()
        result[backend] = {m: dict(runs[m], ratio=sum(runs[m]["graced"]) / sum(runs[m]["control"]))
                           for m in MODES if runs[m]["control"] and runs[m]["graced"]}
    return result


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_args():
    parser = argparse.ArgumentParser(description="graced reload-under-load benchmark")
    parser.add_argument("--quick", action="store_true", help="5 s runs, 5 s idle-CPU window (smoke test)")
    parser.add_argument("--seconds", type=int, help="seconds per load run (default $BENCH_SECONDS or 20)")
    parser.add_argument("--only", help="comma-separated peer keys, and `ab` for the interleaved throughput "
                        "runs (for debugging; results.md then is partial)")
    parser.add_argument("--results", default=os.path.join(HERE, "results.md"),
                        help="the Markdown report to write (default bench/results.md); the plot goes "
                        "beside it, same name with .png")
    parser.add_argument("--graced", default=os.path.join(REPO, ".build-release", "release", "graced"))
    parser.add_argument("--port-base", type=int, default=int(os.environ.get("BENCH_PORT_BASE", "28100")))
    args = parser.parse_args()
    if args.seconds is None:
        args.seconds = 5 if args.quick else int(os.environ.get("BENCH_SECONDS", "20"))
    args.graced_idle_seconds = 5 if args.quick else 60
    args.ab_seconds = max(5, args.seconds // 2)
    args.ab_repeats = 2 if args.quick else 3
    return args


def circus_unavailable():
    """Why Circus cannot be benchmarked here, or None if it can."""
    notes = os.environ.get("BENCH_CIRCUS_NOTE", "")
    if notes:
        return notes
    line = first_line([os.path.join(peers.PY_BIN, "circusd"), "--version"])
    return None if re.match(r"^\d", line) else f"circusd does not run: {line}"


def estimated_seconds(config, peer_list):
    """Rough wall time of a run (measured: about 1.5 s of overhead per load run)."""
    runs = sum(2 if p.key == "graced-gunicorn-settle0" else 6 if p.reloads else 4 for p in peer_list)
    ab = 0
    if not config.only or "ab" in config.only.split(","):
        ab = 2 * config.ab_repeats * 4 * (config.ab_seconds + 1.5) + 2 * (IDLE_SECONDS + 5)
    return (runs * (config.seconds + 1.5) + len(peer_list) * (IDLE_SECONDS + 6) + config.graced_idle_seconds
            + ab + 10)


def main():
    config = parse_args()
    os.makedirs(OUT, exist_ok=True)
    # Logs are appended to (a naive restart writes one log over many starts), and graced
    # generation numbers restart at 1 each run: start from an empty out/ (run.sh's install log stays).
    for name in os.listdir(OUT):
        if name != "circus-install.log" and os.path.isfile(os.path.join(OUT, name)):
            os.remove(os.path.join(OUT, name))
    registry = procs.Registry()
    all_peers = peers.make_peers(registry, REPO, OUT, config.graced, config.port_base)
    if config.only:
        wanted = set(config.only.split(","))
        all_peers = [p for p in all_peers if p.key in wanted]
    check_port, startup_port, ab_port = config.port_base + 50, config.port_base + 51, config.port_base + 60
    ports = [p.port for p in all_peers] + [check_port, startup_port] + list(range(ab_port, ab_port + 6))
    busy = [p for p in ports if not procs.port_free(p)]
    if busy:
        sys.exit(f"ports in use: {busy}; set BENCH_PORT_BASE to a free range")

    # SIGTERM/SIGHUP end the run like Ctrl-C does: through the `finally` below.
    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    results = {"meta": {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": os.environ.get("BENCH_COMMAND", " ".join(sys.argv)),
        "machine": machine_facts(), "versions": versions(config.graced),
        "load_average_start": load_average(), "seconds": config.seconds, "quick": config.quick,
        "graced_binary_bytes": os.path.getsize(config.graced),
        "params": {"wrk_threads": load.WRK_THREADS, "connections": load.CONNECTIONS,
                   "wrk_timeout": load.WRK_TIMEOUT, "work_ms": peers.WORK_MS,
                   "gunicorn_workers": peers.GUNICORN_WORKERS, "worker_processes": peers.WORKER_PROCESSES,
                   "swift_worker_threads": peers.SWIFT_WORKER_THREADS,
                   "backlog": peers.BACKLOG, "idle_seconds": IDLE_SECONDS,
                   "graced_idle_seconds": config.graced_idle_seconds,
                   "ab_seconds": config.ab_seconds, "ab_repeats": config.ab_repeats},
    }, "peers": []}
    started = time.monotonic()
    log(f"{len(all_peers)} peers, {config.seconds}s per run; expected duration about "
        f"{estimated_seconds(config, all_peers) / 60:.0f} min")
    try:
        results["checks"] = {"wrk": check_wrk_close_mode(check_port)}
        log(f"wrk check: {results['checks']['wrk']}")
        backends = ["gunicorn", "worker", "swift-worker"]
        backends += [b for b in ("uvicorn", "go") if any(p.backend == b for p in all_peers)]
        results["startup"] = {b: measure_startup(registry, b, startup_port) for b in backends}
        results["startup"]["graced_cli"] = cli_startup(config.graced)
        log(f"backend start-up alone: {results['startup']}")
        skip_circus = circus_unavailable()
        for peer in all_peers:
            if isinstance(peer, peers.Circus) and skip_circus:
                log(f"Circus skipped: {skip_circus}")
                results["peers"].append({"key": peer.key, "label": peer.label, "backend": peer.backend,
                                         "reload_note": peer.reload_note, "status": "skipped", "note": skip_circus, "runs": {}, "timeseries": {}})
                continue
            results["peers"].append(bench_peer(peer, config))
        if not config.only or "ab" in config.only.split(","):
            log(f"throughput, graced against the backend alone, interleaved ({config.ab_repeats} x "
                f"{config.ab_seconds}s per peer and client mode)")
            results["throughput_ab"] = throughput_ab(registry, config, ab_port)
    finally:
        registry.stop_all()
        leftovers = registry.sweep_ports(ports)
        results["meta"]["leftover_listeners"] = leftovers
        results["meta"]["load_average_end"] = load_average()
        results["meta"]["elapsed_s"] = round(time.monotonic() - started)
        with open(os.path.join(OUT, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
        if leftovers:
            log(f"WARNING leftover listeners: {leftovers}")
    png = os.path.splitext(config.results)[0] + ".png"
    os.makedirs(os.path.dirname(os.path.abspath(config.results)), exist_ok=True)
    report.write(results, config.results, png)
    log(f"done in {results['meta']['elapsed_s']}s: {config.results}, {png}")


if __name__ == "__main__":
    main()
