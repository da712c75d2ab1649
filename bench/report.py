#!/usr/bin/env python3
"""Renders bench/results.md and bench/results.png from bench/out/results.json.

bench.py calls `write()` at the end of a run; to re-render without re-running:
    python3 bench/report.py [bench/out/results.json]
"""

import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

SCENARIO_TITLES = {
    "steady/keepalive": "Steady load, keep-alive",
    "steady/close": "Steady load, new connection per request",
    "reload/keepalive": "Reload every second, keep-alive",
    "reload/close": "Reload every second, new connection per request",
}
MODE_TITLES = {"keepalive": "keep-alive", "close": "new connection per request"}
GRACED_PEERS = ("graced-gunicorn", "graced-worker", "graced-swift-worker", "graced-uvicorn", "graced-go")
CONTROL_OF = {"graced-gunicorn": "alone-gunicorn", "graced-worker": "alone-worker",
              "graced-swift-worker": "alone-swift-worker", "graced-uvicorn": "alone-uvicorn",
              "graced-go": "alone-go"}

# How the targets of issue 5 are read, where the issue leaves a number open.
IDLE_CPU_MAX_FRACTION = 0.001     # "idle CPU ~0": at most 0.1 % of one core
RELOAD_OVERHEAD_MAX_S = 0.025     # "a few ms": at most 25 ms over the worker's own start-up (+ ready_settle)


# --------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------

def ms(us):
    return "-" if us is None else f"{us / 1000:.1f} ms" if us < 1e6 else f"{us / 1e6:.2f} s"


def num(value):
    return "-" if value is None else f"{value:,}"


def mib(kib):
    return "-" if kib is None else f"{kib / 1024:.1f} MiB"


def secs(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f} s"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def peers_by_key(results):
    return {p["key"]: p for p in results["peers"]}


def run(results, key, name):
    return peers_by_key(results).get(key, {}).get("runs", {}).get(name)


def parse_settle(label):
    return 1.0 if "ready_settle 1s" in label else 0.0


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------

def header_section(results):
    meta = results["meta"]
    m, v, p = meta["machine"], meta["versions"], meta["params"]
    quick = (f" (**--quick smoke run, {meta['seconds']} s per run: not the numbers to quote**)"
             if meta.get("quick") else "")
    lines = [
        "# graced reload-under-load benchmark",
        "",
        f"Date: {meta['date']}{quick}. Command: `{meta['command']}` (total {meta.get('elapsed_s', '?')} s).",
        "",
        f"Machine: {m['nproc']} cores, {m['cpu']}, {m['memory_gib']} GiB, {m['os']}, Linux {m['kernel']}. "
        f"Load average at start {meta['load_average_start']}, at end {meta.get('load_average_end', '?')} "
        "(the machine may be shared: compare peers within one run).",
        "",
        f"Versions: graced {v['graced']} (release, `--static-swift-stdlib`, binary "
        f"{meta['graced_binary_bytes'] / 1e6:.1f} MB), gunicorn {v['gunicorn']}, circus {v['circus']}, "
        f"supervisor {v['supervisor']}, {v['wrk']}, {v['python']}, {v['swift']}.",
        "",
        f"Load: wrk `-t{p['wrk_threads']} -c{p['connections']} --timeout {p['wrk_timeout']} --latency`, "
        f"{meta['seconds']} s per run, to 127.0.0.1 only. Backend: `examples/app.py` under gunicorn "
        f"({p['gunicorn_workers']} sync workers), `examples/worker.py` ({p['worker_processes']} processes) "
        f"or `examples/swift-worker` (SwiftNIO, {p['worker_processes']} processes of "
        f"{p.get('swift_worker_threads', 1)} event loop thread)"
        + (f", uvicorn {v['uvicorn']} on `examples/readiness/asgi_app.py` ({p['worker_processes']} processes, "
           "asyncio loop, h11)" if v.get("uvicorn") else "")
        + (f", Go net/http `examples/readiness/go` ({p['worker_processes']} processes, {v['go']})"
           if v.get("go") else "")
        + " (uvicorn and Go run under graced with no `ready` key: graced's default `accepting`), "
        f"{p['work_ms']} ms of work per request, accept backlog {p['backlog']}. "
        "\"New connection per request\" = wrk with a Lua script that sends `Connection: close`. "
        "Note that gunicorn's sync workers close every connection themselves, so for the gunicorn "
        "backend both client modes open a connection per request.",
        "",
    ]
    wrk = results.get("checks", {}).get("wrk")
    if wrk:
        lines += [f"Check of the client modes (1 s of wrk against a counting server): close mode "
                  f"{wrk['close']['accepts']:,} connections for {wrk['close']['requests']:,} requests "
                  f"({'one connection per request' if wrk['close_mode_reconnects'] else 'NOT one per request'}); "
                  f"keep-alive {wrk['keepalive']['accepts']:,} connections for {wrk['keepalive']['requests']:,} requests.", ""]
    return lines


def peers_section(results):
    rows = []
    for p in results["peers"]:
        status = p["status"] if p["status"] != "ok" else ""
        rows.append([p["label"], p["backend"], p.get("reload_note") or "no reloads",
                     (status + ": " + p["note"]) if status else ""])
    return ["## Peers", "", table(["peer", "backend", "reload", "problem"], rows), ""]


def scenario_sections(results):
    lines = []
    for name, title in SCENARIO_TITLES.items():
        rows = []
        for p in results["peers"]:
            if p.get("key") == "graced-gunicorn-settle0":
                continue
            r = p["runs"].get(name)
            if not r:
                continue
            rel = r.get("reloads")
            rows.append([p["label"], num(r["requests"]), f"{r['rps']:,.0f}", num(r["connect"]), num(r["read"]),
                         num(r["write"]), num(r["timeout"]), num(r["status"]), ms(r["p50_us"]), ms(r["p99_us"]),
                         ms(r["max_us"]),
                         f"{rel['done']} / {rel['failed']}" if rel else "-",
                         secs(rel["median_wall_s"]) if rel else "-",
                         secs(r.get("supervisor_cpu_s"), 2)])
        if rows:
            lines += [f"## {title}", "", table(
                ["peer", "requests", "req/s", "connect err", "read err", "write err", "timeouts", "non-2xx/3xx",
                 "p50", "p99", "max", "reloads ok / failed", "median reload", "supervisor CPU"], rows), ""]
    lines += ["wrk counts a refused connection as a *write* error, and retries it at once: "
              "error counts of a peer with downtime measure retries, not lost users. "
              "Supervisor CPU = utime+stime of the supervisor process during the run (not of "
              "`circusctl`/`supervisorctl`/`graced reload` clients).", ""]
    return lines


def resources_section(results):
    rows = []
    for p in results["peers"]:
        idle = p.get("idle")
        if not idle:
            continue
        cpu = idle.get("idle_cpu_s")
        rows.append([p["label"], p.get("supervisor") or "-", mib(idle["supervisor_rss_kib"]),
                     f"{mib(idle['tree_rss_kib'])} ({idle['tree_processes']} processes)",
                     "-" if cpu is None else f"{cpu:.2f} s / {idle['idle_window_s']} s"])
    lines = ["## Resources at idle", "", table(
        ["peer", "supervisor process", "supervisor RSS", "tree RSS (sum of VmRSS)", "supervisor idle CPU"], rows), ""]
    graced = peers_by_key(results).get("graced-worker", {}).get("idle", {}).get("long_idle")
    if graced:
        lines += [f"graced idle over {graced['seconds']:.0f} s: {graced['cpu_s']:.3f} s CPU, "
                  f"{graced['context_switches']} context switches (all threads).", ""]
    return lines


def reload_time_section(results):
    startup = results.get("startup", {})
    lines = ["## Reload wall time against the worker's start-up", "",
             f"Backend start-up alone, idle machine (spawn to first 200, median of 3): gunicorn "
             f"{secs(startup.get('gunicorn'))}, example worker {secs(startup.get('worker'))}, "
             f"Swift worker {secs(startup.get('swift-worker'))}"
             + (f", uvicorn {secs(startup.get('uvicorn'))}" if "uvicorn" in startup else "")
             + (f", Go net/http {secs(startup.get('go'))}" if "go" in startup else "") + "; "
             f"`graced --version` runs in {secs(startup.get('graced_cli'))} (the CLI's own share of a reload). "
             "Per reload: the wall time of `graced reload` (exec to exit, as a deploy script sees it) and "
             "graced's own reload time (log: reload-started to reload-succeeded), against the start-up of "
             "the generation it started (log: first worker spawned to last worker ready: READY=1, or "
             "for the peers without a `ready` key the worker seen waiting for connections) plus `ready_settle`. "
             "\"Idle\" = 3 reloads without traffic; \"under load\" = every reload of the reload runs, "
             "with the load generator keeping both cores busy.", ""]
    rows = []
    for key in ("graced-gunicorn", "graced-gunicorn-settle0", "graced-worker", "graced-swift-worker",
                "graced-uvicorn", "graced-go"):
        p = peers_by_key(results).get(key)
        if not p or p["status"] != "ok":
            continue
        for when in ("idle", "load"):
            o = reload_overhead(p, when)
            if o:
                server = "-" if o["server_overhead"] is None else f"{o['server_overhead'] * 1000:+.0f} ms"
                rows.append([p["label"], "idle" if when == "idle" else "under load", o["count"], secs(o["wall"]),
                             secs(o["startup"]), secs(o["settle"], 1), f"{o['overhead'] * 1000:+.0f} ms", server])
    if rows:
        lines += [table(["peer", "when", "reloads", "median wall", "median start-up", "ready_settle",
                         "overhead: wall - start-up - settle", "inside graced: reload time - start-up - settle"],
                        rows), ""]
    return lines


def reload_events(peer, when):
    """Successful reload events of a graced peer: idle ones, or those under load."""
    if when == "idle":
        events = peer.get("idle_reloads", [])
    else:
        events = [e for r in [*peer["runs"].values(), *peer.get("timeseries", {}).values()]
                  if r.get("reloads") for e in r["reloads"]["events"]]
    return [e for e in events if e["rc"] == 0]


def reload_overhead(peer, when):
    """Medians over the reloads whose generation graced's log describes."""
    generations = peer.get("generation_startups_s") or {}
    settle = parse_settle(peer["label"])
    known = [(e["wall"], generations[str(e["generation"])]) for e in reload_events(peer, when)
             if str(e.get("generation")) in generations]
    if not known:
        return None
    server = [g["server"] - g["startup"] - settle for _, g in known if "server" in g]
    return {"count": len(known), "wall": statistics.median(w for w, _ in known),
            "startup": statistics.median(g["startup"] for _, g in known), "settle": settle,
            "overhead": statistics.median(w - g["startup"] - settle for w, g in known),
            "server_overhead": statistics.median(server) if server else None}


def throughput_section(results):
    ab = results.get("throughput_ab")
    if not ab:
        return []
    p = results["meta"]["params"]
    rows = []
    for backend, modes in ab.items():
        for mode, r in modes.items():
            rows.append([backend, MODE_TITLES[mode], ", ".join(f"{x:,.0f}" for x in r["control"]),
                         ", ".join(f"{x:,.0f}" for x in r["graced"]), f"{r['ratio']:.3f}"])
    return ["## Throughput: graced against the backend alone, interleaved", "",
            f"Both up at once, steady runs of {p['ab_seconds']} s alternating (A B, then B A, ...), "
            f"{p['ab_repeats']} per peer and client mode; ratio = graced's requests ÷ the control's. "
            "This is what the throughput target is judged on: the single runs in the tables above lie "
            "minutes apart.", "",
            table(["backend", "client", "alone: req/s per run", "under graced: req/s per run", "ratio"], rows), ""]


def settle_section(results):
    rows = []
    for key in ("graced-gunicorn-settle0", "graced-gunicorn"):
        p = peers_by_key(results).get(key)
        if not p:
            continue
        for mode in ("keepalive", "close"):
            r = p["runs"].get(f"reload/{mode}")
            if r:
                rows.append([p["label"], MODE_TITLES[mode], f"{r['rps']:,.0f}", num(r["failed"]),
                             ms(r["p50_us"]), ms(r["p99_us"]), ms(r["max_us"]),
                             f"{r['reloads']['done']} / {r['reloads']['failed']}", secs(r["reloads"]["median_wall_s"])])
    if not rows:
        return []
    return ["## Does `ready_settle` matter for gunicorn?", "",
            "gunicorn's master sends READY=1 before its workers have booted. With `ready_settle = \"0s\"` graced "
            "stops the old generation at that moment, and requests wait in the accept queue until the new "
            "workers are up; with `\"1s\"` the old generation keeps serving meanwhile. Reload every second:", "",
            table(["peer", "client", "req/s", "failed", "p50", "p99", "max", "reloads ok / failed", "median reload"], rows), ""]


def timeseries_section(results, png_name="results.png"):
    rows = []
    for p in results["peers"]:
        for name, r in p.get("timeseries", {}).items():
            t = r["totals"]
            rel = r.get("reloads")
            rows.append([p["label"], name.replace("/", ", ").replace("keepalive", "keep-alive")
                         .replace("close", "new connection"), num(t["ok"]), num(t["non2xx"]),
                         num(t["connect"]), num(t["read"]), num(t["write"]), num(t["timeout"]),
                         f"{rel['done']} / {rel['failed']}" if rel else "-"])
    if not rows:
        return []
    return ["## Over time", "", f"![requests per second and errors over time]({png_name})", "",
            "The plot comes from a second pass with `bench/loadclient.py` (same connections, same reload "
            "schedule), which records every second; it pauses 10 ms after a failed attempt, so its error "
            "counts show *when* requests fail rather than how many retries fit in a second.", "",
            table(["peer", "scenario", "2xx", "non-2xx", "connect err", "read err", "write err", "timeouts",
                   "reloads ok / failed"], rows), ""]


# --------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------

def targets_section(results):
    by_key = peers_by_key(results)
    rows = []

    def ok(flag):
        return "n/a" if flag is None else "yes" if flag else "**no**"

    for key in GRACED_PEERS:
        p = by_key.get(key)
        if not p or p["status"] != "ok":
            rows.append([f"{key}: failed requests during reloads = 0", "not measured", "n/a"])
            continue
        wrk = [p["runs"].get(f"reload/{m}", {}).get("failed") for m in ("keepalive", "close")]
        ts = [sum(v for k, v in r["totals"].items() if k != "ok") for r in
              (p["timeseries"].get(f"reload/{m}") for m in ("keepalive", "close")) if r]
        measured = f"wrk: keep-alive {num(wrk[0])}, new connection {num(wrk[1])}; loadclient: " + \
                   ", ".join(num(x) for x in ts)
        met = None if None in wrk else all(x == 0 for x in wrk + ts)
        rows.append([f"{p['label']}: failed requests during reloads = 0", measured, ok(met)])

    ab = results.get("throughput_ab", {})
    for key in GRACED_PEERS:
        p, control = by_key.get(key), by_key.get(CONTROL_OF[key])
        ratios = []
        for m in ("keepalive", "close"):
            interleaved = ab.get(key.split("-", 1)[1], {}).get(m)
            if interleaved:
                ratios.append(interleaved["ratio"])
                continue
            a = run(results, key, f"steady/{m}")
            b = run(results, CONTROL_OF[key], f"steady/{m}")
            ratios.append(a["rps"] / b["rps"] if a and b and b["rps"] else None)
        measured = ", ".join(f"{MODE_TITLES[m]} {r:.3f}" if r is not None else f"{MODE_TITLES[m]} -"
                             for m, r in zip(("keepalive", "close"), ratios))
        met = None if None in ratios else all(r >= 0.98 for r in ratios)
        label = p["label"] if p else key
        source = " (interleaved runs)" if ab else " (single steady runs)"
        rows.append([f"{label}: steady req/s ÷ {control['label'] if control else 'backend alone'} ≥ 0.98",
                     measured + source, ok(met)])

    for key in GRACED_PEERS:
        ratios = []
        for m in ("keepalive", "close"):
            a = run(results, key, f"reload/{m}")
            b = run(results, key, f"steady/{m}")
            ratios.append((a["p99_us"], b["p99_us"]) if a and b else None)
        measured = ", ".join(f"{MODE_TITLES[m]} {ms(r[0])} vs {ms(r[1])} ({r[0] / r[1]:.2f}×)" if r else "-"
                             for m, r in zip(("keepalive", "close"), ratios))
        met = None if None in ratios else all(a <= 1.5 * b for a, b in ratios)
        label = by_key.get(key, {}).get("label", key)
        rows.append([f"{label}: p99 during reloads ≤ 1.5 × steady p99", measured, ok(met)])

    rss = [by_key[k]["idle"]["supervisor_rss_kib"] for k in GRACED_PEERS if by_key.get(k, {}).get("idle")]
    lightest = [p["idle"]["supervisor_rss_kib"] for p in results["peers"]
                if p.get("idle") and p.get("supervisor") and p["key"] not in GRACED_PEERS]
    extra = f" (lightest peer supervisor: {mib(min(lightest))})" if lightest else ""
    rows.append(["graced idle RSS ≤ 8 MiB (release, static stdlib)",
                 (mib(max(rss)) + extra) if rss else "not measured",
                 ok(max(rss) <= 8 * 1024 if rss else None)])

    idle = by_key.get("graced-worker", {}).get("idle", {}).get("long_idle")
    rows.append([f"graced idle CPU ≈ 0 (≤ {IDLE_CPU_MAX_FRACTION * 100:.1f} % of a core)",
                 f"{idle['cpu_s']:.3f} s CPU in {idle['seconds']:.0f} s, {idle['context_switches']} context switches"
                 if idle else "not measured",
                 ok(idle["cpu_s"] <= IDLE_CPU_MAX_FRACTION * idle["seconds"] if idle else None)])

    for key in GRACED_PEERS:
        p = by_key.get(key)
        idle = reload_overhead(p, "idle") if p and p["status"] == "ok" else None
        busy = reload_overhead(p, "load") if p and p["status"] == "ok" else None
        if idle:
            settle_text = f" + ready_settle {idle['settle']:.0f} s" if idle["settle"] else ""
            inside = "" if idle["server_overhead"] is None else \
                f" (inside graced {idle['server_overhead'] * 1000:+.0f} ms)"
            measured = (f"idle: {secs(idle['wall'])} = start-up {secs(idle['startup'])}{settle_text} "
                        f"{idle['overhead'] * 1000:+.0f} ms{inside}")
            if busy:
                measured += f"; under load: {busy['overhead'] * 1000:+.0f} ms over start-up{settle_text}"
        else:
            measured = "not measured"
        rows.append([f"{p['label'] if p else key}: `graced reload` wall ≈ worker start-up + a few ms "
                     f"(≤ {RELOAD_OVERHEAD_MAX_S * 1000:.0f} ms, judged idle)", measured,
                     ok(idle["overhead"] <= RELOAD_OVERHEAD_MAX_S if idle else None)])
    return ["## Targets (issue 5)", "", table(["target", "measured", "met?"], rows), ""]


# --------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------

def plot(results, png_path):
    """Per client mode (columns): req/s of the gunicorn-backed peers, req/s of the
    example-worker peers (their scales differ 5x), failed requests/s, reload instants."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [(p, name, r) for p in results["peers"] for name, r in p.get("timeseries", {}).items()]
    if not series:
        return
    meta = results["meta"]
    fig, axes = plt.subplots(4, 2, figsize=(15, 13), sharex=True,
                             gridspec_kw={"height_ratios": [3, 2, 2, 1.6]})
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    keys = [p["key"] for p in results["peers"] if p.get("timeseries")]
    color = {k: palette[i % len(palette)] for i, k in enumerate(k for k in keys if not k.startswith("graced"))}
    color.update({"graced-gunicorn": "black", "graced-worker": "#e377c2", "graced-swift-worker": "#17becf",
                  "graced-uvicorn": "#8c564b", "graced-go": "#bcbd22"})
    for col, mode in enumerate(("keepalive", "close")):
        ax_g, ax_w, ax_err, ax_rel = (axes[row][col] for row in range(4))
        row, worst, names = 0, 0, []
        for p, name, r in series:
            if not name.endswith(mode):
                continue
            xs = [i + 0.5 for i in range(len(r["ok"]))]
            steady = name.startswith("steady")
            graced = p["key"].startswith("graced")
            style = dict(color=color[p["key"]], linewidth=2.4 if graced else 1.3, drawstyle="steps-mid",
                         linestyle="--" if steady else "-")
            label = p["label"] + (" (no reloads)" if steady else "")
            ax = ax_g if p["backend"] == "gunicorn" else ax_w
            ax.plot(xs, r["ok"], label=label, **style)
            errors = [e + n for e, n in zip(r["errors"], r["non2xx"])]
            worst = max([worst, *errors])
            ax_err.plot(xs, errors, label=label, **style)
            rel = r.get("reloads")
            if rel:
                names.append(p["key"])
                for e in rel["events"]:
                    ax_rel.plot([e["t"], e["t"] + e["wall"]], [row, row], color=color[p["key"]],
                                linewidth=4, alpha=0.35, solid_capstyle="butt")
                ok_t = [e["t"] for e in rel["events"] if e["rc"] == 0]
                bad_t = [e["t"] for e in rel["events"] if e["rc"] != 0]
                ax_rel.scatter(ok_t, [row] * len(ok_t), marker="|", s=150, color=color[p["key"]])
                ax_rel.scatter(bad_t, [row] * len(bad_t), marker="x", s=50, color="red")
                row += 1
        ax_g.set_title(f"client: {MODE_TITLES[mode]}")
        ax_g.set_ylabel("2xx / s\n(gunicorn backend)")
        ax_w.set_ylabel("2xx / s\n(other backends:\nPython, Swift,\nuvicorn, Go)")
        for ax in (ax_g, ax_w):
            ax.set_ylim(bottom=0)
        ax_err.set_ylabel("failed requests / s\n(symlog)")
        ax_err.set_yscale("symlog", linthresh=1)
        ax_err.set_ylim(0, max(10, worst * 2))
        ax_rel.set_ylabel("reloads\n(| start, bar = until\nthe command returned,\nx failed)")
        ax_rel.set_yticks(range(len(names)), names, fontsize=7)
        ax_rel.set_ylim(-0.7, max(row, 1) - 0.3)
        ax_rel.set_xlim(0, meta["seconds"])
        ax_rel.set_xlabel("seconds since the load started")
        for ax in (ax_g, ax_w, ax_err, ax_rel):
            ax.grid(alpha=0.3)
    legend = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    fig.legend(legend.values(), legend.keys(), loc="lower center", ncol=4, fontsize=9, frameon=False)
    fig.suptitle(f"graced reload-under-load benchmark: a reload every second ({meta['date']}, "
                 f"{meta['machine']['nproc']} cores, {meta['seconds']} s per run, "
                 f"{meta['params']['connections']} connections, bench/loadclient.py)")
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


def write(results, md_path, png_path):
    lines = header_section(results)
    lines += peers_section(results)
    lines += scenario_sections(results)
    lines += resources_section(results)
    lines += throughput_section(results)
    lines += reload_time_section(results)
    lines += settle_section(results)
    lines += timeseries_section(results, os.path.basename(png_path))
    leftovers = results["meta"].get("leftover_listeners")
    if leftovers:
        lines += ["Leftover listeners after the run: " + "; ".join(leftovers), ""]
    lines += targets_section(results)
    with open(md_path, "w") as f:
        f.write("\n".join(lines))
    plot(results, png_path)


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "out", "results.json")
    with open(path) as f:
        data = json.load(f)
    write(data, os.path.join(HERE, "results.md"), os.path.join(HERE, "results.png"))
