#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for SECONDS (default 60), then prints the
# executions, coverage and findings per target.
#
#   fuzz/run.sh [SECONDS] [TARGET ...]      TARGET: config, control, notify (default: all)
#
# Environment:
#   FUZZ_CHUNK=120          restart the fuzzer process at least this often (seconds); see
#                           "Leaks" in fuzz/README.md (TOMLKit, the former config parser,
#                           leaked on every parse)
#   FUZZ_NO_BUILD=1         reuse the binaries in .build-fuzz
#   GRACED_FUZZ_STRICT=1    fuzz-notify also checks the properties known to fail (README)
#   FUZZ_EXTRA="-seed=1"    more libFuzzer flags
#
# The working corpus grows in .build-fuzz/corpus/<target> (git-ignored; kept between runs),
# seeded from fuzz/corpus/<target> (committed; never written). Crashing, leaking or slow
# inputs are written to fuzz/findings/<target>-{crash,timeout,oom,...}-<sha1>.
# Exit status: 0 if nothing was found, 1 if something was, 2 if the build failed.
set -uo pipefail

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(config control notify)
chunk=${FUZZ_CHUNK:-120}

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$fuzz_dir")
scratch="$root/.build-fuzz"
bin="$scratch/release"
mkdir -p "$fuzz_dir/findings"

if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
    echo "building the fuzz targets in $scratch (release, -sanitize=fuzzer,address) ..."
    # -Xcc/-Xcxx: the C code (CSystemd) gets coverage and ASan too.
    if ! (cd "$fuzz_dir" && nice -n 10 swift build -c release --scratch-path "$scratch" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
        -Xcc -fsanitize=fuzzer-no-link,address -Xcxx -fsanitize=fuzzer-no-link,address \
        >"$scratch.log" 2>&1); then
        tail -30 "$scratch.log"
        echo "build failed (full log: $scratch.log)"
        exit 2
    fi
fi

# Leaks are reported separately (below), not as findings (TOMLKit, the former config
# parser, leaked on every parse). The Swift runtime's backtracer trips ASan (a stack read in its memory
# server) after a fatalError, so it is off: ASan's own report has the stack.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:symbolize=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export SWIFT_BACKTRACE="enable=no"

max_len_for() {
    case "$1" in
    config) echo 16384 ;;
    control) echo 4096 ;;
    notify) echo 4200 ;;
    esac
}

status=0
summary=()
for target in "${targets[@]}"; do
    exe="$bin/fuzz-$target"
    [ -x "$exe" ] || { echo "no such target: $target ($exe)"; exit 2; }
    corpus="$scratch/corpus/$target"
    seeds="$fuzz_dir/corpus/fuzz-$target"
    mkdir -p "$corpus"
    log="$scratch/fuzz-$target.log"
    : >"$log"
    marker=$(mktemp)
    executions=0
    elapsed=0
    found=""
    echo "== fuzz-$target for ${seconds}s (log: $log)"
    while [ "$elapsed" -lt "$seconds" ]; do
        slice=$((seconds - elapsed))
        [ "$slice" -gt "$chunk" ] && slice=$chunk
        start=$(date +%s)
        # shellcheck disable=SC2086
        nice -n 10 "$exe" "$corpus" "$seeds" \
            -max_total_time="$slice" -max_len="$(max_len_for "$target")" -timeout=10 \
            -rss_limit_mb=4096 -print_final_stats=1 -reload=0 -dict="$fuzz_dir/dict/fuzz-$target.dict" \
            -artifact_prefix="$fuzz_dir/findings/$target-" ${FUZZ_EXTRA:-} >"$log.chunk" 2>&1
        rc=$?
        elapsed=$((elapsed + $(date +%s) - start))
        cat "$log.chunk" >>"$log"
        runs=$(grep -a 'stat::number_of_executed_units' "$log.chunk" | tail -1 | awk '{print $2}')
        rm -f "$log.chunk"
        executions=$((executions + ${runs:-0}))
        if [ "$rc" -ne 0 ]; then
            found=$(find "$fuzz_dir/findings" -name "$target-*" -newer "$marker" | sort | tr '\n' ' ')
            echo "   fuzzer stopped (exit $rc) after ${elapsed}s: ${found:-no artifact written}"
            grep -a -m1 -E 'invariant violated|ERROR: AddressSanitizer|ERROR: libFuzzer|Fatal error' "$log" | cut -c1-300 | sed 's/^/   /'
            status=1
            break
        fi
    done
    rm -f "$marker"
    cov=$(grep -a -E '^#[0-9]+' "$log" | tail -1 | grep -o -E 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+')
    rate=$((elapsed > 0 ? executions / elapsed : 0))
    line="fuzz-$target: ${elapsed}s, $executions executions (${rate}/s), $cov, findings: ${found:-none}"
    echo "   $line"
    summary+=("$line")
done

# One parse of the sample configuration under LeakSanitizer: what each reload leaks.
if [[ " ${targets[*]} " == *" config "* ]]; then
    leak=$(ASAN_OPTIONS=detect_leaks=1 "$bin/fuzz-config" "$fuzz_dir/corpus/fuzz-config/etc-graced.conf" 2>&1 | grep -a 'SUMMARY: AddressSanitizer' || true)
    summary+=("leaks per ConfigLoader.parse of etc/graced.conf: ${leak:-none}")
fi

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $status
