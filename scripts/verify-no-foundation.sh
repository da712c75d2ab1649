#!/usr/bin/env bash
# Fails if BINARY links or contains Foundation or ICU (issue 11: graced stays small; the
# facts measured here: Foundation costs 5-11 MB of RSS, ICU a 70 MB static binary).
#
#   scripts/verify-no-foundation.sh [--strict] BINARY
#
# Looks three ways, so it works on dynamic and static (--static-swift-stdlib) builds,
# stripped or not:
#   1. dynamic dependencies (readelf NEEDED, and ldd): libFoundation*, lib_FoundationICU,
#      libCoreFoundation, libicu*;
#   2. symbols (nm, when not stripped): Swift symbols of the modules Foundation,
#      FoundationInternationalization, FoundationNetworking, FoundationXML ($s10Foundation...),
#      ICU's C++ namespace (icu_NN) and swift-foundation-icu's renamed C API (swift_u*);
#   3. strings: mangled Foundation type names in Swift metadata (10Foundation4DataV...),
#      ICU's data (icudt76l-...), CoreFoundation's CFRunLoop.
# FoundationEssentials (no ICU, about 1 MB: swift-argument-parser uses it on Linux for
# --experimental-dump-help) is reported but allowed, unless --strict.
# Exit status: 0 clean, 1 found, 2 usage.
set -uo pipefail

strict=0
if [ "${1:-}" = "--strict" ]; then strict=1; shift; fi
binary=${1:-}
if [ -z "$binary" ] || [ ! -f "$binary" ]; then
    echo "usage: $0 [--strict] BINARY" >&2
    exit 2
fi
for tool in readelf nm strings; do
    command -v "$tool" >/dev/null || { echo "$0: $tool is missing (binutils)" >&2; exit 2; }
done

found=()
note=()

foundation_libs='lib(Foundation|FoundationInternationalization|FoundationNetworking|FoundationXML|CoreFoundation|_FoundationICU|_FoundationCShims|icu[a-z0-9_]*)\.so'
needed=$(readelf -d "$binary" 2>/dev/null | grep NEEDED | grep -oE '\[[^]]+\]' | tr -d '[]')
linked=$( { printf '%s\n' "$needed"; ldd "$binary" 2>/dev/null | awk '{print $1}'; } | sort -u | grep -E "$foundation_libs" | tr '\n' ' ')
[ -n "$linked" ] && found+=("links $linked")
if printf '%s\n' "$needed" | grep -q 'libFoundationEssentials\.so'; then
    note+=("links libFoundationEssentials.so")
fi

symbols=$(nm -a "$binary" 2>/dev/null; nm -D "$binary" 2>/dev/null)
foundation_symbols=$(printf '%s\n' "$symbols" | grep -cE '\$s(10Foundation|30FoundationInternationalization|20FoundationNetworking|13FoundationXML|15CoreFoundation)[0-9A-Za-z_]')
icu_symbols=$(printf '%s\n' "$symbols" | grep -cE 'icu_[0-9]+|(^| )swift_u[a-z]+_[A-Za-z]|(^| )u(col|brk|cal|dat|num|loc|res|trans)_[a-zA-Z]+_[0-9]+$')
essentials_symbols=$(printf '%s\n' "$symbols" | grep -cE '\$s20FoundationEssentials')
[ "$foundation_symbols" -gt 0 ] && found+=("$foundation_symbols Foundation symbols, e.g. $(printf '%s\n' "$symbols" | grep -m1 -oE '\$s(10Foundation|30FoundationInternationalization|20FoundationNetworking|13FoundationXML|15CoreFoundation)[0-9A-Za-z_]*')")
[ "$icu_symbols" -gt 0 ] && found+=("$icu_symbols ICU symbols, e.g. $(printf '%s\n' "$symbols" | grep -m1 -oE '[^ ]*(icu_[0-9]+|swift_u[a-z]+_)[^ ]*')")
[ "$essentials_symbols" -gt 0 ] && note+=("$essentials_symbols FoundationEssentials symbols")

text=$(strings -a -n 8 "$binary")
metadata=$(printf '%s\n' "$text" | grep -oE '(^|[^0-9])10Foundation[0-9]+[A-Za-z_]+' | head -1)
icu_data=$(printf '%s\n' "$text" | grep -oE 'icudt[0-9]+[lb]' | head -1)
cf=$(printf '%s\n' "$text" | grep -oE '_?CFRunLoop[A-Za-z]*' | head -1)
[ -n "$metadata" ] && found+=("Foundation type metadata (${metadata#?})")
[ -n "$icu_data" ] && found+=("ICU data ($icu_data)")
[ -n "$cf" ] && found+=("CoreFoundation ($cf)")
if printf '%s\n' "$text" | grep -qE '20FoundationEssentials[0-9]'; then note+=("FoundationEssentials type metadata"); fi

if [ "$strict" = 1 ] && [ ${#note[@]} -gt 0 ]; then
    found+=("${note[@]}")
    note=()
fi
for line in "${note[@]}"; do echo "note: $binary: $line (FoundationEssentials is allowed; --strict forbids it)"; done
if [ ${#found[@]} -gt 0 ]; then
    for line in "${found[@]}"; do echo "FAIL: $binary: $line"; done
    exit 1
fi
echo "ok: $binary has no Foundation and no ICU"
