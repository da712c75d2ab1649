#!/usr/bin/env python3
"""Measures `graced reload` with a notify-ready worker: the command's wall time, and the
time from the new worker's READY=1 (graced's `worker-ready` line) to the stop signal of
the old generation (`generation-retire` line). Usage: scripts/measure-reload.py [GRACED] [N]"""
import os, re, socket, statistics, subprocess, sys, tempfile, time
from datetime import datetime

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
graced = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    subprocess.check_output(["swift", "build", "--show-bin-path"], cwd=root, text=True).strip(), "graced")
count = int(sys.argv[2]) if len(sys.argv) > 2 else 20

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def stamp(line):
    return datetime.strptime(line.split(" ", 1)[0], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()

with tempfile.TemporaryDirectory(prefix="graced-measure-") as tmp:
    conf = os.path.join(tmp, "graced.conf")
    with open(conf, "w") as f:
        f.write(f'''[graced]
control_socket = "{tmp}/control.sock"
[[listener]]
name = "http"
address = "127.0.0.1:{free_port()}"
[worker]
command = ["python3", "{root}/examples/worker.py"]
ready = "notify"
drain_timeout = "5s"
''')
    log = open(os.path.join(tmp, "graced.log"), "w+")
    proc = subprocess.Popen([graced, "run", "--config", conf], stderr=log, stdout=log)
    try:
        deadline = time.time() + 20
        while "generation-ready" not in open(log.name).read():
            if time.time() > deadline:
                sys.exit("graced did not become ready:\n" + open(log.name).read())
            time.sleep(0.05)
        walls = []
        for _ in range(count):
            start = time.monotonic()
            subprocess.run([graced, "reload", "--config", conf], check=True, stdout=subprocess.DEVNULL)
            walls.append(time.monotonic() - start)
            time.sleep(0.2)
        lines = open(log.name).read().splitlines()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    ready, retire = {}, {}
    for line in lines:
        g = re.search(r"generation=(\d+)", line)
        if not g:
            continue
        if "event=worker-ready" in line:
            ready[int(g.group(1))] = stamp(line)
        elif "event=generation-retire" in line:
            retire[int(g.group(1))] = stamp(line)
    gaps = [retire[g - 1] - ready[g] for g in ready if g - 1 in retire]
    print(f"reloads: {count} (graced {graced})")
    print(f"graced reload wall time: median {statistics.median(walls)*1000:.1f} ms, "
          f"min {min(walls)*1000:.1f} ms, max {max(walls)*1000:.1f} ms")
    print(f"READY=1 of the new worker -> stop signal to the old generation: median "
          f"{statistics.median(gaps)*1000:.2f} ms, max {max(gaps)*1000:.2f} ms (log timestamps, 1 ms resolution)")
