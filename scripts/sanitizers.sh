#!/usr/bin/env bash
# Runs the unit tests and a subset of the integration tests under AddressSanitizer and
# ThreadSanitizer.
#
#   scripts/sanitizers.sh [address] [thread]        (default: both)
#
# Each sanitizer builds in its own scratch path (.build-asan, .build-tsan; git-ignored),
# so the main .build is never touched. The integration tests run the graced binary found
# next to the test runner, i.e. the one built in that scratch path: graced itself runs
# sanitized, and so do the helper processes the harness starts from it.
#
# What runs:
#   unit tests         SupervisorCoreTests (all of them, PropertyTests included)
#   integration tests  the suites in INTEGRATION below: serving and what a worker receives
#                      (CoreTests), the control socket (ControlSocketTests), reloads
#                      (ReloadTests, without its load suite), supervision, stop, output
#                      and config checking (CoreSupervisionTests).
#                      Left out: ReloadTests/UnderLoad (8 reloads under a load generator,
#                      gunicorn: minutes even unsanitized, and a timing test), SystemdTests
#                      (needs systemd peers and fixed timing), ExampleWorkerTests (tests of
#                      the Python example and the harness, no graced code), and suites
#                      added later. Override with SANITIZER_INTEGRATION_FILTER (a regex
#                      for swift test --filter; empty to skip the integration tests).
#                      Under ThreadSanitizer, CoreTests' workerRunsAsTheConfiguredUser...
#                      is skipped: the spawn helper (Sources/CSystemd/spawn.c, run_child)
#                      resets every signal to SIG_DFL, glibc's reserved SIGSETXID (33)
#                      included, before setgroups/setresgid/setresuid; in a TSan process
#                      those calls then raise signal 33 in the child, which dies at once
#                      ("killed by signal 33"). Not a race and not seen without TSan (a
#                      plain multi-threaded C program doing the same is fine), but see the
#                      hardening issue: resetting 32/33 after the id changes avoids it.
#
# Reports: every sanitized process writes its report to $SCRATCH/sanitizer-logs/<kind>.<pid>
# (log_path), because graced's stderr is captured by the harness. The script prints an
# excerpt of each report and fails if there is one.
#
# Leaks: LeakSanitizer runs with ASan, with TOMLKit's leaks suppressed (TOMLTable has no
# deinit, and its accessors strdup strings that are never freed: every config parse
# leaks, see fuzz/README.md) and XCTest's (its runner's suite objects, in the test
# process). Any other leak, in graced or the tests, is reported.
#
# Environment: SANITIZER_PARALLEL=1 runs tests in parallel (default: --no-parallel, since
# sanitized processes are 2-15x slower and the integration tests have timeouts).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

kinds=("$@")
[ ${#kinds[@]} -eq 0 ] && kinds=(address thread)

UNIT_FILTER='^SupervisorCoreTests\.'
INTEGRATION='^IntegrationTests\.(CoreTests|ControlSocketTests|ReloadTests|CoreSupervisionTests)/'
integration_filter=${SANITIZER_INTEGRATION_FILTER-$INTEGRATION}
parallel=--no-parallel
[ "${SANITIZER_PARALLEL:-0}" = 1 ] && parallel=--parallel

overall=0
results=()

for kind in "${kinds[@]}"; do
    case "$kind" in
    address) scratch="$root/.build-asan"; skip='UnderLoad' ;;
    thread) scratch="$root/.build-tsan"; skip='UnderLoad|workerRunsAsTheConfiguredUserWithoutRootGroups' ;;
    *) echo "unknown sanitizer '$kind' (address or thread)"; exit 2 ;;
    esac
    logs="$scratch/sanitizer-logs"
    mkdir -p "$scratch"
    rm -rf "$logs"
    mkdir -p "$logs"

    cat >"$scratch/lsan-suppressions.txt" <<'EOF'
# TOMLKit 0.6.0 never frees what toml++ allocates (see scripts/sanitizers.sh)
leak:TOMLKit
leak:tableCreateFromString
leak:tableGetKeys
leak:nodeAs
# XCTest's runner keeps its suite objects to the end (the test process, not graced)
leak:libXCTest.so
EOF
    # Options for every sanitized process: the test runner, graced, its helpers.
    export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0"
    export LSAN_OPTIONS="suppressions=$scratch/lsan-suppressions.txt:print_suppressions=0"
    export TSAN_OPTIONS="log_path=$logs/tsan:halt_on_error=0:second_deadlock_stack=1"
    # The Swift backtracer reads the stack in a way ASan flags; ASan prints the stack.
    export SWIFT_BACKTRACE="enable=no"

    echo "== $kind: building in $scratch"
    if ! nice -n 10 swift build --build-tests --sanitize="$kind" --scratch-path "$scratch" >"$scratch/build.log" 2>&1; then
        tail -30 "$scratch/build.log"
        results+=("$kind: BUILD FAILED (see $scratch/build.log)")
        overall=1
        continue
    fi

    run() {  # name, filter
        local name=$1 filter=$2 log="$scratch/test-$1.log"
        echo "== $kind: $name tests (log: $log)"
        local start=$(date +%s)
        nice -n 10 swift test --skip-build --sanitize="$kind" --scratch-path "$scratch" $parallel \
            --filter "$filter" --skip "$skip" >"$log" 2>&1
        local rc=$?
        local closing
        closing=$(grep -a -E '^(✔|✘|􁁛|􀢄)? ?Test run with [0-9]+ tests?' "$log" | tail -1)
        [ -z "$closing" ] && closing=$(grep -a -E 'Test run with|Executed [0-9]+ tests?' "$log" | tail -1)
        results+=("$kind/$name: exit $rc in $(($(date +%s) - start))s: ${closing:-no summary line (see $log)}")
        if [ $rc -ne 0 ]; then
            overall=1
            grep -a -E '✘|􀢄|failed|error:' "$log" | grep -v '^$' | head -20 | sed 's/^/   /'
        fi
    }
    run unit "$UNIT_FILTER"
    [ -n "$integration_filter" ] && run integration "$integration_filter"

    reports=$(find "$logs" -type f | sort)
    if [ -n "$reports" ]; then
        overall=1
        results+=("$kind: $(echo "$reports" | wc -l) sanitizer report(s) in $logs")
        for report in $reports; do
            echo "---- $report"
            grep -a -E '^(WARNING|ERROR|SUMMARY|    #[0-9]+ )' "$report" | head -25
        done
    else
        results+=("$kind: no sanitizer report")
    fi
done

echo
echo "== sanitizer summary"
printf '%s\n' "${results[@]}"
exit $overall
