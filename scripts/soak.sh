#!/bin/sh
# The full soak of issue 6 ("hardening"): N reloads (default 1,000) of the real graced
# under steady load, outside the normal test run.
#
#     scripts/soak.sh [N]            # N reloads, default 1000
#     GRACED_BIN=/path/to/graced scripts/soak.sh 1000   # another graced binary
#
# It runs the suite's soak test (Tests/IntegrationTests/SoakTests.swift) with
# GRACED_SOAK_RELOADS=N: graced supervises examples/worker.py --work-ms 2 (ready =
# "notify") on a free port in a temporary directory, 8 client threads send requests on
# a new connection each, and `graced reload` runs N times back to back. Afterwards it
# checks and prints: failed requests (must be 0), graced's open fds after the first
# and the last reload (must be equal), graced's VmRSS at reload N/10 (100 for N=1000)
# and at the end (growth must stay under 1 MiB), zombies below graced (must be none),
# the Recv-Q of graced's control and notify sockets (must be 0), `graced status`
# against the process table, and the time taken. A 1,000-reload soak takes some
# 3-6 minutes on two cores.
#
# Exit status: 0 if every check passed, 1 otherwise; the full output of `swift test`
# is kept in $SOAK_LOG (default /tmp/graced-soak-N.log).

set -eu

N="${1:-1000}"
case "$N" in
    ''|*[!0-9]*) echo "usage: $0 [N]   (N reloads, a number; default 1000)" >&2; exit 2 ;;
esac
if [ "$N" -lt 20 ]; then
    echo "$0: N must be at least 20" >&2
    exit 2
fi

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOG="${SOAK_LOG:-/tmp/graced-soak-$N.log}"
cd "$ROOT"

echo "graced soak: $N reloads under load (output in $LOG)"
if ! swift build --build-tests >"$LOG.build" 2>&1; then
    echo "build failed; see $LOG.build" >&2
    grep -E "error:" "$LOG.build" | head -20 >&2 || true
    exit 1
fi

start=$(date +%s)
status=0
GRACED_SOAK_RELOADS="$N" swift test --skip-build --filter 'IntegrationTests.SoakTests' >"$LOG" 2>&1 || status=$?
end=$(date +%s)

# The figures (lines the test prints start with SOAK), then the verdict.
grep -E '^SOAK' "$LOG" || true
if [ "$status" -ne 0 ]; then
    echo "--- failed expectations:"
    grep -E 'Expectation failed|Issue recorded|error:' "$LOG" | head -40 || true
fi
echo "soak of $N reloads: $([ "$status" -eq 0 ] && echo PASSED || echo FAILED) in $((end - start))s wall time"
[ "$status" -eq 0 ] || exit 1
