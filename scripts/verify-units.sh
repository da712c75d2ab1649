#!/bin/bash
# Runs `systemd-analyze verify` on the shipped units. It needs the ExecStart= binary to
# exist and only warns (exit 0) on unknown keys, so the units are checked against the
# built binary and any output on stderr counts as a failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$(cd "$root" && swift build --show-bin-path)/graced}"
work="$(mktemp -d /tmp/graced-units-XXXXXX)"
trap 'rm -rf "$work"' EXIT
for unit in "$root"/etc/systemd/*; do
    sed "s#/usr/local/bin/graced#$bin#g" "$unit" > "$work/$(basename "$unit")"
done
# A template is verified through an instance of it.
cp "$work/graced@.service" "$work/graced@example.service"
status=0
for unit in graced.service graced@example.service graced.socket; do
    if ! out="$(cd "$work" && systemd-analyze verify "./$unit" 2>&1)" || [ -n "$out" ]; then
        echo "systemd-analyze verify $unit:"; echo "$out"; status=1
    else
        echo "systemd-analyze verify $unit: ok"
    fi
done
exit $status
