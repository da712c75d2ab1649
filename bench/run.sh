#!/usr/bin/env bash
# graced reload-under-load benchmark: installs what it needs, builds the release
# graced, runs every peer and scenario, writes bench/results.md and bench/results.png.
#
#   bench/run.sh              full run (BENCH_SECONDS=20 s per load run, about 37 min)
#   bench/run.sh --quick      smoke test (5 s per run, about 9 min)
#   BENCH_SECONDS=30 bench/run.sh
#   bench/run.sh --only graced-worker,alone-worker   (debugging: a partial results.md)
#   bench/run.sh --quick --only graced-worker,alone-uvicorn,graced-uvicorn,alone-go,graced-go \
#       --results bench/results-accepting.md          (a partial run written beside results.md)
#
# Traffic goes to 127.0.0.1 only (ports 28100.. by default; BENCH_PORT_BASE moves them).
set -euo pipefail

cd "$(dirname "$0")/.."
mkdir -p bench/out
export BENCH_COMMAND="${BENCH_SECONDS:+BENCH_SECONDS=$BENCH_SECONDS }bench/run.sh${*:+ $*}"

log() { echo "[run.sh] $*"; }

# --- tools -------------------------------------------------------------------
apt_updated=""
apt_install() {
    if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}
command -v wrk >/dev/null || { log "installing wrk"; apt_install wrk; }
# libsystemd's headers are needed to build graced (same check as `make deps`).
[ -f /usr/include/systemd/sd-daemon.h ] || { log "installing libsystemd-dev"; apt_install libsystemd-dev; }

pip_install() {   # pip_install MODULE PACKAGE: installs PACKAGE unless MODULE imports
    python3 -c "import $1" 2>/dev/null && return 0
    log "installing $2"
    python3 -m pip install -q --disable-pip-version-check "$2"
}
pip_install gunicorn gunicorn
pip_install supervisor supervisor
pip_install matplotlib matplotlib
# Circus is optional: if it cannot be installed or run on this Python, the peer is
# skipped and results.md says why.
export BENCH_CIRCUS_NOTE=""
if ! pip_install circus circus >bench/out/circus-install.log 2>&1; then
    BENCH_CIRCUS_NOTE="pip install circus failed on $(python3 --version 2>&1): $(tail -1 bench/out/circus-install.log)"
elif ! python3 -c "import circus.circusd" >>bench/out/circus-install.log 2>&1; then
    BENCH_CIRCUS_NOTE="circus does not import on $(python3 --version 2>&1): $(tail -1 bench/out/circus-install.log)"
fi
[ -n "$BENCH_CIRCUS_NOTE" ] && log "Circus will be skipped: $BENCH_CIRCUS_NOTE"

# --- graced, release build ------------------------------------------------------
log "building graced (release, static Swift stdlib; the first build takes a few minutes)"
release_flags=$(make -s release-flags)
# shellcheck disable=SC2086 # the flags are words
swift build $release_flags --scratch-path .build-release 2>&1 | tail -3
# shellcheck disable=SC2086
GRACED="$(swift build $release_flags --scratch-path .build-release --show-bin-path)/graced"
[ -x "$GRACED" ] || { echo "no graced binary at $GRACED" >&2; exit 1; }

# --- the Swift example worker (its own package; its peers fail with a note if it does not build) ---
log "building examples/swift-worker (release; SwiftNIO, the first build takes a few minutes)"
swift build -c release --package-path examples/swift-worker 2>&1 | tail -3 || log "examples/swift-worker did not build"

# --- the Go net/http example (examples/readiness/go; its peers fail with a note if it does not build) ---
log "building examples/readiness/go (go build into bench/out/go/)"
mkdir -p bench/out/go
command -v go >/dev/null || { log "installing golang-go"; apt_install golang-go || log "golang-go did not install"; }
(cd examples/readiness/go && go build -o ../../../bench/out/go/readiness-server .) 2>&1 | tail -3 \
    || log "examples/readiness/go did not build"

# --- the benchmark --------------------------------------------------------------
# exec: bench.py gets our signals directly and stops everything it started.
exec python3 bench/bench.py --graced "$GRACED" "$@"
