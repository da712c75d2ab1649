#!/bin/bash
# make test-systemd: graced under a real systemd as PID 1.
#
# Boots Debian 12's systemd 252 in systemd-nspawn (a minimal Debian tree built once with
# debootstrap and cached in .build-systemd/root), installs the release graced, the shipped
# units and the example worker into it with `make install DESTDIR=`, and runs scenarios
# against the shipped units, one fresh boot per group (--volatile=overlay: every boot starts
# from the cached tree, changes go to a tmpfs). The guest has its own network namespace with
# only a loopback interface; every client runs inside it and talks to 127.0.0.1.
#
# Prints `PASS name: figure` or `FAIL name: why` per scenario and ends with `N passed, N failed`.
# Skips (exit 0, with the reason) only where nspawn cannot run: not root, no apt-get, or a
# guest that does not boot. Environment: GRACED_SYSTEMD_ONLY="name name" runs only those groups
# (start socket fdstore stop template watchdog), GRACED_SYSTEMD_KEEP=1 keeps the work directory.
set -uo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
cache="$repo/.build-systemd"
tree="$cache/root"
tests="$repo/scripts/systemd"
work="$(mktemp -d /tmp/graced-systemd-XXXXXX)"
run_id="gt$$$(printf '%04x' $RANDOM)"
boots=0
passed=0
failed=0
nspawn_pid=""
leader=""
machine=""
began=$(date +%s.%N)
guest_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
worker=/usr/local/share/graced/examples/worker.py

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.2f", b - a }'; }
say() { echo "  [$(since "$began")s] $*" >&2; }
pass() { echo "PASS $1: $2"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
skip() {
    echo "SKIP test-systemd: $*"
    echo "0 passed, 0 failed"
    exit 0
}
# jq-less JSON access: json 'EXPR' where EXPR is Python on `d` (the document on stdin).
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" 2>/dev/null; }

# --------------------------------------------------------------------------
# The container
# --------------------------------------------------------------------------

halt_guest() {
    [ -n "$nspawn_pid" ] || return 0
    if kill -0 "$nspawn_pid" 2>/dev/null; then
        [ -n "$leader" ] || leader="$(find_leader)"
        # nspawn turns SIGTERM into an orderly shutdown of the guest's systemd.
        kill -TERM "$nspawn_pid" 2>/dev/null
        for _ in $(seq 200); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.05; done
        if kill -0 "$nspawn_pid" 2>/dev/null; then
            # SIGKILL to the guest's PID 1 ends its whole pid namespace; nspawn alone would orphan it.
            [ -n "$leader" ] && kill -KILL "$leader" 2>/dev/null
            sleep 0.5
            kill -KILL "$nspawn_pid" 2>/dev/null
        fi
    fi
    wait "$nspawn_pid" 2>/dev/null
    # nspawn's per-machine directory, left behind when it was killed.
    rmdir "/run/systemd/nspawn/propagate/$machine" 2>/dev/null
    nspawn_pid=""
    leader=""
}

cleanup() {
    halt_guest
    # Any background job of ours that outlived its scenario (a client, a timer).
    local jobs_left
    jobs_left="$(jobs -p)"
    [ -n "$jobs_left" ] && kill $jobs_left 2>/dev/null
    if [ "${GRACED_SYSTEMD_KEEP:-0}" = 1 ]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'echo "interrupted: stopping the guest" >&2; exit 130' INT TERM

# The guest's PID 1: among nspawn's descendants, the process that is pid 1 of its own
# pid namespace (last NSpid field) and already runs systemd.
find_leader() {
    local pid children queue=("$nspawn_pid")
    while [ ${#queue[@]} -gt 0 ]; do
        pid="${queue[0]}"; queue=("${queue[@]:1}")
        if [ "$pid" != "$nspawn_pid" ] && awk '$1 == "NSpid:" && $NF == 1 { found = 1 } END { exit !found }' "/proc/$pid/status" 2>/dev/null \
            && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ]; then
            echo "$pid"; return 0
        fi
        children="$(cat /proc/"$pid"/task/*/children 2>/dev/null)"
        for c in $children; do queue+=("$c"); done
    done
    return 1
}

# Runs a command in the guest (all its namespaces), with a clean environment.
g() {
    timeout "${G_TIMEOUT:-60}" nsenter -t "$leader" -a \
        env -i PATH="$guest_path" LANG=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}
# Writes stdin to a file in the guest.
gput() { g sh -c 'mkdir -p "$(dirname "$1")" && cat > "$1"' sh "$1"; }

boot() {
    boots=$((boots + 1))
    local t0
    machine="$run_id-$boots"
    t0=$(now)
    systemd-nspawn --quiet --directory="$tree" --volatile=overlay --machine="$machine" \
        --register=no --keep-unit --private-network --console=read-only \
        --bind-ro="$tests:/opt/graced-test" --boot </dev/null >"$work/console-$boots.log" 2>&1 &
    nspawn_pid=$!
    for _ in $(seq 200); do
        leader="$(find_leader)" && break
        kill -0 "$nspawn_pid" 2>/dev/null || break
        sleep 0.05
    done
    if [ -z "$leader" ]; then
        echo "systemd-nspawn did not start a guest:" >&2; tail -20 "$work/console-$boots.log" >&2
        return 1
    fi
    # Until systemd has set itself up, systemctl answers "offline" at once: ask again.
    local state=""
    for _ in $(seq 300); do
        state="$(G_TIMEOUT=30 g systemctl is-system-running --wait 2>>"$work/boot-$boots.err")"
        case "$state" in running|degraded) break ;; esac
        kill -0 "$nspawn_pid" 2>/dev/null || break
        sleep 0.1
    done
    case "$state" in
        running|degraded) ;;
        *) echo "guest did not finish booting (state '$state')" >&2; tail -20 "$work/console-$boots.log" >&2; return 1 ;;
    esac
    [ $boots = 1 ] && say "graced in the guest: $(g graced --version 2>&1 | head -1)"
    say "guest $machine booted in $(since "$t0")s ($state, PID 1 = host pid $leader)"
}

# --------------------------------------------------------------------------
# Setup: tools, guest tree, graced
# --------------------------------------------------------------------------

[ "$(id -u)" = 0 ] || skip "needs root (systemd-nspawn, debootstrap)"
command -v apt-get >/dev/null || skip "no apt-get to install systemd-container and debootstrap"
if ! command -v systemd-nspawn >/dev/null || ! command -v debootstrap >/dev/null || ! command -v nsenter >/dev/null; then
    echo "installing systemd-container debootstrap" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd-container debootstrap util-linux; } >&2 \
        || skip "apt-get could not install systemd-container and debootstrap"
fi

# The Debian mirror this machine uses (deb822 or one-line sources), else deb.debian.org.
mirror="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }')"
[ -n "$mirror" ] || mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }')"
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

if [ ! -f "$tree/.graced-guest-tree" ]; then
    t0=$(now)
    echo "building the guest tree (debootstrap bookworm from $mirror, about a minute)" >&2
    mkdir -p "$cache"
    rm -rf "$cache/root.tmp"
    if ! debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,python3,procps \
            bookworm "$cache/root.tmp" "$mirror" >"$cache/debootstrap.log" 2>&1; then
        tail -20 "$cache/debootstrap.log"
        rm -rf "$cache/root.tmp"
        echo "FAIL guest-tree: debootstrap failed (log: $cache/debootstrap.log)"
        echo "0 passed, 1 failed"
        exit 1
    fi
    rm -rf "$tree"
    mv "$cache/root.tmp" "$tree"
    touch "$tree/.graced-guest-tree"
    say "guest tree built in $(since "$t0")s"
fi

# graced, the units, the example and the sample config exactly as `make install` puts them.
t0=$(now)
rm -f "$tree/etc/graced/graced.conf"
if ! make -s -C "$repo" install DESTDIR="$tree" SWIFT="${SWIFT:-nice -n 10 swift}" >"$work/install.log" 2>&1; then
    tail -30 "$work/install.log"
    echo "FAIL install: make install DESTDIR=$tree failed"
    echo "0 passed, 1 failed"
    exit 1
fi
# It must run against the guest's own libraries (libsystemd, libstdc++). No /proc in a bare
# chroot, so Swift sees no arguments there: `graced` alone prints the usage (and exits 2,
# bad usage); that it printed it at all shows the binary loads and runs.
out="$(chroot "$tree" /usr/local/bin/graced 2>&1)"
if ! printf '%s' "$out" | grep -q "OVERVIEW:"; then
    echo "FAIL install: the release graced does not run in the guest: $out"
    echo "0 passed, 1 failed"
    exit 1
fi
say "installed graced into the guest tree in $(since "$t0")s ($(du -sh "$tree" | cut -f1) tree)"

# --------------------------------------------------------------------------
# Helpers for the scenarios
# --------------------------------------------------------------------------

# conf PORT 'WORKER ARGS AS TOML LIST ITEMS' [PROCESSES] [EXTRA [graced] LINES] [DRAIN] [COMMAND]
conf() {
    local port="$1" args="$2" processes="${3:-2}" extra="${4:-}" drain="${5:-30s}"
    local command="${6:-\"python3\", \"$worker\"}"
    [ -n "$args" ] && command="$command, $args"
    cat <<EOF
[graced]
$extra

[[listener]]
name = "http"
address = "127.0.0.1:$port"
backlog = 4096

[worker]
command = [$command]
processes = $processes
ready = "notify"
ready_timeout = "15s"
stop_signal = "SIGTERM"
drain_timeout = "$drain"
restart = "on-failure"
expected_shutdown_messages = ["use of closed network connection"]
EOF
}
main_conf_extra='control_socket = "/run/graced/graced.sock"'

prop() { g systemctl show -P "$2" "$1"; }
status_json() { g graced status --json "$@"; }
client() { g python3 /opt/graced-test/client.py "$@"; }
alive() { g test -d "/proc/$1"; }

# Waits until unit $1 is active with a MainPID other than $2; prints the seconds since $3.
wait_restarted() {
    local unit="$1" old="$2" t0="$3" pid state
    for _ in $(seq 600); do
        pid="$(prop "$unit" MainPID)"; state="$(prop "$unit" ActiveState)"
        if [ "$state" = active ] && [ -n "$pid" ] && [ "$pid" != 0 ] && [ "$pid" != "$old" ]; then
            since "$t0"; return 0
        fi
        sleep 0.05
    done
    return 1
}

# Polls pids (guest pids) until all are gone; prints "pid:ms" for each, "pid:alive" if not within $2 s.
watch_exits() {
    local t0="$1" limit="$2"; shift 2
    local -A gone=()
    local deadline
    deadline=$(awk -v a="$t0" -v l="$limit" 'BEGIN { printf "%.3f", a + l }')
    while :; do
        local all=1
        for p in "$@"; do
            [ -n "${gone[$p]:-}" ] && continue
            if alive "$p"; then all=0; else gone[$p]=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%d", (b - a) * 1000 }'); fi
        done
        [ $all = 1 ] && break
        awk -v d="$deadline" -v n="$(now)" 'BEGIN { exit !(n > d) }' && break
        sleep 0.02
    done
    for p in "$@"; do echo -n "$p:${gone[$p]:-alive} "; done
}

# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------

scenario_start() {
    conf 8080 '"--ready-after", "1.5"' 2 "$main_conf_extra" | gput /etc/graced/graced.conf
    local t0 rc dur st active text
    t0=$(now); g systemctl start graced; rc=$?; dur=$(since "$t0")
    active="$(prop graced ActiveState)"; text="$(prop graced StatusText)"
    st="$(status_json --config /etc/graced/graced.conf | json '" ".join(w["state"] for gen in d["generations"] for w in gen["workers"])')"
    if [ $rc = 0 ] && [ "$active" = active ] && [ "$st" = "ready ready" ] \
        && awk -v d="$dur" 'BEGIN { exit !(d >= 1.5) }' && [[ "$text" == "generation 1: 2/2 workers ready"* ]]; then
        pass start "systemctl start returned after ${dur}s (workers send READY=1 after 1.5s), both workers ready at that moment, StatusText='$text'"
    else
        fail start "rc=$rc after ${dur}s, ActiveState=$active, worker states '$st', StatusText='$text'"
    fi

    # A first generation that cannot start: graced gives up after start_limit failed starts and
    # exits 1, so systemctl start fails instead of hanging.
    g systemctl stop graced
    conf 8080 '"--crash-at-start"' 2 "$main_conf_extra" | gput /etc/graced/graced.conf
    # Bounded at 25 s (the unit's TimeoutStartSec is systemd's default 90 s).
    t0=$(now); G_TIMEOUT=25 g systemctl start graced 2>/dev/null; rc=$?; dur=$(since "$t0")
    local result crashes
    result="$(prop graced Result)"
    crashes="$(g journalctl -u graced -o cat --no-pager | grep -c 'crashing on purpose')"
    local gave_up; gave_up="$(g journalctl -u graced -o cat --no-pager | grep -m1 -iE 'giving up|failed starts|start_limit|start limit' | cut -c1-120)"
    g systemctl stop graced; g systemctl reset-failed graced 2>/dev/null
    if [ $rc = 124 ]; then
        fail start-failure "systemctl start with a worker that exits 3 at once was still waiting after ${dur}s ($crashes failed worker starts, restarted with backoff, no start limit reached): it would fail only at TimeoutStartSec (90s), and Restart=on-failure then tries again"
    elif [ $rc != 0 ]; then
        pass start-failure "systemctl start with a worker that exits 3 at once failed (exit $rc) after ${dur}s, Result=$result, $crashes failed worker starts; log: '$gave_up'"
    else
        fail start-failure "systemctl start exited 0 after ${dur}s with a worker that cannot start"
    fi
    conf 8080 '"--ready-after", "1.5"' 2 "$main_conf_extra" | gput /etc/graced/graced.conf
    g systemctl start graced

    # A good reload under load.
    client load --threads 3 --seconds 5 >"$work/reload-load.json" &
    local load=$!
    sleep 1
    # What systemd thinks meanwhile: RELOADING=1 puts the unit in "reloading" until READY=1.
    ( for _ in $(seq 40); do prop graced ActiveState; sleep 0.05; done | sort | uniq -c | awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }' >"$work/reload-states" ) &
    local states_pid=$!
    t0=$(now); g systemctl reload graced; rc=$?; dur=$(since "$t0")
    wait $load $states_pid
    local states; states="$(cat "$work/reload-states")"
    local gen lf text2
    gen="$(status_json --config /etc/graced/graced.conf | json '[g["number"] for g in d["generations"] if g["state"] == "serving"][0]')"
    lf="$(json '"%d requests, %d failed" % (d["requests"], d["failed"])' <"$work/reload-load.json")"
    text2="$(prop graced StatusText)"
    if [ $rc = 0 ] && [ "$gen" = 2 ] && [[ "$lf" == *", 0 failed" ]] && [[ "$states" == *reloading* ]]; then
        pass reload "systemctl reload exited 0 after ${dur}s (new workers READY after 1.5s), generation 2 serves; ActiveState sampled every ~50ms meanwhile: $states; under load: $lf; StatusText='$text2'"
    else
        fail reload "rc=$rc after ${dur}s, serving generation '$gen', ActiveState samples: $states, load: $lf"
    fi

    # A reload whose new generation fails: systemctl reload must fail, generation 2 keeps serving.
    conf 8080 '"--crash-at-start"' 2 "$main_conf_extra" | gput /etc/graced/graced.conf
    client load --threads 3 --seconds 4 >"$work/reload-fail-load.json" &
    load=$!
    sleep 0.5
    t0=$(now); g systemctl reload graced >"$work/reload-fail.out" 2>&1; rc=$?; dur=$(since "$t0")
    wait $load
    active="$(prop graced ActiveState)"; text="$(prop graced StatusText)"
    gen="$(status_json --config /etc/graced/graced.conf | json '[g["number"] for g in d["generations"] if g["state"] == "serving"][0]')"
    lf="$(json '"%d requests, %d failed" % (d["requests"], d["failed"])' <"$work/reload-fail-load.json")"
    local why
    why="$(g journalctl -u graced -o cat --no-pager -n 30 | grep -m1 -i 'reload failed' | cut -c1-140)"
    if [ $rc != 0 ] && [ "$active" = active ] && [ "$gen" = 2 ] && [[ "$lf" == *", 0 failed" ]]; then
        pass reload-failure "systemctl reload exited $rc after ${dur}s (worker --crash-at-start), unit still active, generation 2 still serves; under load: $lf; StatusText='$text'; log: '$why'"
    else
        fail reload-failure "rc=$rc after ${dur}s, ActiveState=$active, serving generation '$gen', load: $lf; $(head -3 "$work/reload-fail.out")"
    fi

    # Reloads while a reload runs: two systemctl reloads and a direct graced reload.
    conf 8080 '"--ready-after", "1.5"' 2 "$main_conf_extra" | gput /etc/graced/graced.conf
    local before after r1 r2 r3 d1 d2 d3 p1 p2 p3
    before="$(status_json --config /etc/graced/graced.conf | json '[g["number"] for g in d["generations"] if g["state"] == "serving"][0]')"
    t0=$(now)
    ( g systemctl reload graced; echo "$? $(since "$t0")" >"$work/r1" ) &
    p1=$!; sleep 0.3
    ( g systemctl reload graced; echo "$? $(since "$t0")" >"$work/r2" ) &
    p2=$!; sleep 0.3
    ( g graced reload --config /etc/graced/graced.conf >"$work/r3.out" 2>&1; echo "$? $(since "$t0")" >"$work/r3" ) &
    p3=$!
    wait $p1 $p2 $p3
    read -r r1 d1 <"$work/r1"; read -r r2 d2 <"$work/r2"; read -r r3 d3 <"$work/r3"
    after="$(status_json --config /etc/graced/graced.conf | json '[g["number"] for g in d["generations"] if g["state"] == "serving"][0]')"
    if [ "$r1" = 0 ] && [ "$r2" = 0 ] && [ "$r3" = 0 ] && [ "$(prop graced ActiveState)" = active ]; then
        pass reload-during-reload "systemctl reload at 0s, systemctl reload at 0.3s, graced reload at 0.6s: all exit 0, after ${d1}s, ${d2}s, ${d3}s; serving generation $before -> $after"
    else
        fail reload-during-reload "exit statuses $r1/$r2/$r3 after ${d1}s/${d2}s/${d3}s, generation $before -> $after: $(head -3 "$work/r3.out")"
    fi
}

scenario_socket() {
    conf 8080 '"--ready-after", "0.5"' 2 "$main_conf_extra" | gput /etc/graced/graced.conf
    g systemctl start graced.socket
    local before t0 out status elapsed origin fd3 pid1
    before="$(prop graced ActiveState)"
    t0=$(now)
    out="$(client one --timeout 30)"
    status="$(json 'd.get("status")' <<<"$out")"; elapsed="$(json 'd["elapsed"]' <<<"$out")"
    fd3="$(json 'd.get("fd3")' <<<"$out")"
    origin="$(status_json --config /etc/graced/graced.conf | json '" ".join(l["name"] + "=" + l["origin"] for l in d["listeners"])')"
    pid1="$(g ls -l /proc/1/fd 2>/dev/null | grep -c -F "$fd3")"
    if [ "$before" = inactive ] && [ "$status" = 200 ] && [ "$origin" = "http=systemd" ] && [ "$pid1" -ge 1 ]; then
        pass socket-activation "graced.service was $before when the request was sent; systemd started it on that connection and the request got 200 after ${elapsed}s; graced status origin: $origin; the worker's fd 3 ($fd3) is the very socket PID 1 holds"
    else
        fail socket-activation "graced.service was '$before', answer '$out', origin '$origin', PID 1 holds $fd3: $pid1"
    fi
}

# kill -9 of graced under load, with the listener in the fd store (no socket unit).
# $1: scenario name, $2: a drop-in for graced.service or "", $3: the worker command or "",
# $4: failed requests allowed (default 8: at most the one in flight per client when graced dies;
# the rest must wait in the accept queue and be served by the restarted graced).
fdstore_kill() {
    local name="$1" dropin="$2" command="${3:-}" max_failed="${4:-8}"
    # No socket unit here: graced binds the port itself and only the fd store keeps it open.
    g rm -f /etc/systemd/system/graced.socket
    if [ -n "$dropin" ]; then
        printf '[Service]\n%s\n' "$dropin" | gput /etc/systemd/system/graced.service.d/test.conf
    else
        g rm -f /etc/systemd/system/graced.service.d/test.conf
    fi
    g systemctl daemon-reload
    conf 8080 '"--work-ms", "300"' 2 "$main_conf_extra
fd_store = true" 30s "$command" | gput /etc/graced/graced.conf
    g systemctl start graced || { fail "$name" "systemctl start failed"; return; }
    local origin0 ino0 main workers
    origin0="$(status_json --config /etc/graced/graced.conf | json 'd["listeners"][0]["origin"]')"
    ino0="$(client one | json 'd.get("fd3")')"
    main="$(prop graced MainPID)"
    workers="$(status_json --config /etc/graced/graced.conf | json '" ".join(str(w["pid"]) for gen in d["generations"] for w in gen["workers"])')"
    g journalctl --rotate -q >/dev/null 2>&1
    local since_ts; since_ts="$(g date '+%Y-%m-%d %H:%M:%S.%N' | cut -c1-23)"

    client load --threads 8 --seconds 8 --timeout 30 >"$work/$name-load.json" &
    local load=$!
    sleep 2
    local t0 restart exits origin1 ino1 killed nrestarts
    t0=$(now)
    g kill -KILL "$main"
    exits="$(watch_exits "$t0" 3 $workers)"
    restart="$(wait_restarted graced "$main" "$t0")" || restart="never"
    wait $load
    origin1="$(status_json --config /etc/graced/graced.conf | json 'd["listeners"][0]["origin"]')"
    ino1="$(client one | json 'd.get("fd3")')"
    nrestarts="$(prop graced NRestarts)"
    killed="$(g journalctl -u graced --since "$since_ts" -o cat --no-pager | grep -c 'Killing process .* with signal SIGKILL')"
    local summary failed kinds slow
    summary="$(json '"%d requests, %d ok, %d failed %s, %d answered after >=0.5s (max %.2fs)" % (d["requests"], d["ok"], d["failed"], d["failure_kinds"], d["slow_requests"], d["max_latency"] or 0)' <"$work/$name-load.json")"
    failed="$(json 'd["failed"]' <"$work/$name-load.json")"
    slow="$(json 'd["slow_requests"]' <"$work/$name-load.json")"
    kinds="$(json '" ".join(d["failure_kinds"])' <"$work/$name-load.json")"
    # The old workers' own last words, if any reached the journal.
    g journalctl -u graced --since "$since_ts" -o cat --no-pager >"$work/$name-journal.txt"
    local verdict="graced (pid $main) SIGKILLed under load (8 clients, 300 ms requests): systemd restarted it, active again after ${restart}s (NRestarts=$nrestarts); listener origin $origin0 -> $origin1, inode $ino0 -> $ino1; load: $summary; old workers (pid:ms after the kill until gone) $exits; systemd logged $killed 'Killing process ... SIGKILL' lines"
    if [ "$restart" != never ] && [ "$origin0" = bound ] && [ "$origin1" = "fd store" ] && [ -n "$ino0" ] && [ "$ino0" = "$ino1" ] \
        && [ "$slow" -ge 1 ] && [[ "$kinds" != *refused* ]] && [ "$failed" -le "$max_failed" ]; then
        pass "$name" "$verdict"
    else
        fail "$name" "$verdict"
    fi
    g systemctl stop graced
}

scenario_fdstore() {
    fdstore_kill fd-store-kill-9 ""
    # The same with KillMode=process: systemd leaves the old workers alone when graced dies.
    fdstore_kill fd-store-kill-9-killmode-process "KillMode=process"
    # ... and with a worker that survives losing its log pipe (its stderr goes to /dev/null):
    # the example worker dies of EPIPE on its first log line once graced, the pipe's reader, is gone.
    fdstore_kill fd-store-kill-9-killmode-process-quiet-worker "KillMode=process" \
        "\"/bin/sh\", \"-c\", \"exec python3 $worker \\\"\$@\\\" 2>/dev/null\", \"sh\"" 0
}

scenario_stop() {
    # One worker, every request takes 3 s; the command leaves a `sleep` behind in a session
    # of its own (graced's process-group cleanup cannot see it; systemd's cgroup can).
    conf 8080 '"--work-ms", "3000"' 1 "$main_conf_extra" 30s \
        "\"/bin/sh\", \"-c\", \"setsid sleep 1000 </dev/null >/dev/null 2>&1 & exec python3 $worker \\\"\$@\\\"\", \"sh\"" \
        | gput /etc/graced/graced.conf
    g systemctl start graced || { fail stop-drain "systemctl start failed: $(g journalctl -u graced -o cat -n 5 --no-pager)"; return; }
    local leftover out t0 tstop rc dur status elapsed
    leftover="$(g pgrep -x sleep | head -1)"
    t0=$(now)
    client one --timeout 30 >"$work/stop-one.json" &
    local c=$!
    sleep 0.5
    tstop=$(now); g systemctl stop graced 2>/dev/null; rc=$?; dur=$(since "$tstop")
    wait $c
    out="$(cat "$work/stop-one.json")"
    status="$(json 'd.get("status")' <<<"$out")"; elapsed="$(json 'd["elapsed"]' <<<"$out")"
    local left="gone"
    [ -n "$leftover" ] && alive "$leftover" && left="still running"
    local killed
    killed="$(g journalctl -u graced -o cat --no-pager | grep -m1 'Killing process .*sleep' | sed 's/^graced.service: //')"
    if [ $rc = 0 ] && [ "$status" = 200 ] && [ -n "$leftover" ] && [ "$left" = gone ]; then
        pass stop-drain "systemctl stop sent 0.5s into a 3s request took ${dur}s and exited 0; the request completed with 200 after ${elapsed}s; the worker's setsid leftover (sleep, pid $leftover) is $left: '$killed'"
    else
        fail stop-drain "stop rc=$rc after ${dur}s, request $out, leftover '$leftover' $left"
    fi

    # systemctl restart under load (the shipped setup: graced.socket holds the listener).
    conf 8080 '"--work-ms", "20", "--print-on-drain", "use of closed network connection"' 2 "$main_conf_extra" 5s \
        | gput /etc/graced/graced.conf
    g systemctl start graced
    client load --threads 6 --seconds 7 --timeout 30 >"$work/restart-load.json" &
    local load=$!
    sleep 2
    t0=$(now); g systemctl restart graced; rc=$?; dur=$(since "$t0")
    wait $load
    local summary failed
    summary="$(json '"%d requests, %d failed %s, max latency %.2fs" % (d["requests"], d["failed"], d["failure_kinds"], d["max_latency"] or 0)' <"$work/restart-load.json")"
    failed="$(json 'd["failed"]' <"$work/restart-load.json")"
    if [ $rc = 0 ] && [ "$failed" = 0 ]; then
        pass restart-under-load "systemctl restart took ${dur}s (drain, exit, start, READY=1) with graced.socket holding the port; 6 clients: $summary"
    else
        fail restart-under-load "rc=$rc after ${dur}s; $summary"
    fi

    # The journal: graced's structured fields, and the info-level closing lines.
    g systemctl reload graced
    sleep 1
    g systemctl stop graced 2>/dev/null
    g journalctl -u graced -o json --no-pager >"$work/journal.json"
    local report
    report="$(python3 - "$work/journal.json" <<'PY'
import json, sys
entries = []
for line in open(sys.argv[1]):
    try:
        entries.append(json.loads(line))
    except ValueError:
        pass
ours = [e for e in entries if "GRACED_EVENT" in e]
have = lambda k: sum(1 for e in ours if k in e)
closed = [e for e in ours if e["GRACED_EVENT"] == "closed-listener"]
lclosed = [e for e in ours if e["GRACED_EVENT"] == "listener-closed"]
ok = (ours and have("PRIORITY") == len(ours) and have("GRACED_GENERATION") and have("WORKER_PID")
      and closed and all(e["PRIORITY"] == "6" for e in closed)
      and lclosed and all(e["PRIORITY"] == "6" for e in lclosed))
events = sorted({e["GRACED_EVENT"] for e in ours})
print("ok" if ok else "bad",
      f"{len(ours)} entries with GRACED_EVENT ({len(events)} kinds), {have('GRACED_GENERATION')} with GRACED_GENERATION,"
      f" {have('WORKER_PID')} with WORKER_PID, {len(closed)} closed-listener at PRIORITY"
      f" {sorted({e['PRIORITY'] for e in closed})} ('{closed[0]['MESSAGE'] if closed else ''}'),"
      f" {len(lclosed)} listener-closed at PRIORITY {sorted({e['PRIORITY'] for e in lclosed})}"
      f" ('{lclosed[0]['MESSAGE'] if lclosed else ''}'); priorities seen {sorted({e['PRIORITY'] for e in ours})}")
PY
)"
    if [[ "$report" == ok* ]]; then pass journal "${report#ok }"; else fail journal "${report#bad }"; fi
}

scenario_template() {
    conf 8081 '' 1 | gput /etc/graced/a.conf
    conf 8082 '' 1 | gput /etc/graced/b.conf
    g systemctl start graced@a graced@b || { fail template "systemctl start graced@a graced@b failed"; return; }
    gens() {
        echo "a=$(status_json --control /run/graced-a/graced.sock | json '[g["number"] for g in d["generations"] if g["state"] == "serving"][0]')/$(client one --port 8081 | json 'd.get("generation")')" \
             "b=$(status_json --control /run/graced-b/graced.sock | json '[g["number"] for g in d["generations"] if g["state"] == "serving"][0]')/$(client one --port 8082 | json 'd.get("generation")')"
    }
    local g0 g1 g2 r1 r2
    g0="$(gens)"
    g systemctl reload graced@a; r1=$?
    g1="$(gens)"
    g systemctl reload graced@b; r2=$?
    g2="$(g systemctl reload graced@b && gens)"
    if [ "$g0" = "a=1/1 b=1/1" ] && [ "$g1" = "a=2/2 b=1/1" ] && [ "$g2" = "a=2/2 b=3/3" ] && [ $r1 = 0 ] && [ $r2 = 0 ]; then
        pass template "graced@a (:8081) and graced@b (:8082), serving generation per status/HTTP: start $g0; reload graced@a -> $g1; reload graced@b twice -> $g2; control sockets /run/graced-a, /run/graced-b"
    else
        fail template "start $g0, after reload a (rc $r1) $g1, after reload b twice (rc $r2) $g2"
    fi
    g systemctl stop graced@a graced@b
}

scenario_watchdog() {
    printf '[Service]\nWatchdogSec=2s\n' | gput /etc/systemd/system/graced.service.d/watchdog.conf
    g systemctl daemon-reload
    conf 8080 '' 2 "$main_conf_extra" | gput /etc/graced/graced.conf
    g systemctl start graced || { fail watchdog "systemctl start failed"; return; }
    local w1 w2 main line t0 restart result nr jl
    line="$(g journalctl -u graced -o cat --no-pager | grep -m1 'watchdog enabled')"
    w1="$(prop graced WatchdogTimestampMonotonic)"
    sleep 3
    w2="$(prop graced WatchdogTimestampMonotonic)"
    main="$(prop graced MainPID)"
    t0=$(now)
    g kill -STOP "$main"
    restart="$(wait_restarted graced "$main" "$t0")" || restart="never"
    nr="$(prop graced NRestarts)"
    jl="$(g journalctl -u graced -o cat --no-pager | grep -A3 -i 'watchdog timeout' | grep -E 'Watchdog timeout|Main process exited|Killing process' | sed 's/^graced.service: //' | paste -sd'|' | sed 's/|/; /g')"
    local answer
    answer="$(client one | json 'd.get("status")')"
    if [ -n "$line" ] && [ "$w1" != "$w2" ] && [ "$w2" != 0 ] && [ "$restart" != never ] && [ "$answer" = 200 ]; then
        pass watchdog "WatchdogSec=2s (drop-in): '$line', WatchdogTimestamp advanced over 3s while active; SIGSTOP of graced -> '$jl', active again after ${restart}s (NRestarts=$nr), serving (200)"
    else
        fail watchdog "log '$line', WatchdogTimestamp $w1 -> $w2, restart after $restart (NRestarts=$nr), '$jl', answer $answer"
    fi
}

# --------------------------------------------------------------------------

groups="${GRACED_SYSTEMD_ONLY:-start socket fdstore stop template watchdog}"
first=1
for group in $groups; do
    t0=$(now)
    if ! boot; then
        if [ $first = 1 ]; then skip "systemd-nspawn cannot boot the guest here (see above)"; fi
        fail "$group" "the guest did not boot"
        halt_guest
        continue
    fi
    first=0
    "scenario_$group"
    halt_guest
    say "group $group done in $(since "$t0")s"
done
say "total $(since "$began")s"
echo "$passed passed, $failed failed"
[ $failed = 0 ]
