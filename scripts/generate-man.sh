#!/usr/bin/env bash
# Regenerates man/graced.1 from the command-line definition: swift-argument-parser's
# generate-manual tool reads `graced --experimental-dump-help`, then this script turns
# blank lines into paragraphs and adds EXIT STATUS, ENVIRONMENT, FILES and SEE ALSO.
#
#   scripts/generate-man.sh [GRACED_BINARY]     (default: the debug build)
#
# The tool is built from the swift-argument-parser checkout (`swift build --product
# generate-manual`), offline. The `swift package generate-manual` plugin does the same
# but first builds graced again in release mode, which takes far longer.
# MAN_DATE=YYYY-MM-DD overrides the date (default: the last commit's).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin_dir=$(swift build --show-bin-path)
graced=${1:-$bin_dir/graced}
tool=$bin_dir/generate-manual-tool
[ -x "$graced" ] || { echo "no graced binary at $graced (swift build first)" >&2; exit 2; }
if [ ! -x "$tool" ]; then
    nice -n 10 swift build --product generate-manual >&2
fi
date=${MAN_DATE:-$(git log -1 --format=%cs 2>/dev/null || date -u +%Y-%m-%d)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$tool" "$graced" --date "$date" --authors "the graced authors" --output-directory "$out"

extra=$(cat <<'MDOC'
.Sh "EXIT STATUS"
.Bl -tag -width 3n
.It 0
Success.
.It 1
A failure, whose reason is printed: a fatal runtime error of
.Nm Cm run ,
a failed reload (the previous generation still serves).
.It 2
Bad usage on any subcommand (an unknown option, a missing or invalid argument), or an
invalid configuration
.Pf ( Nm Cm run ,
.Nm Cm check ) .
.It 3
No supervisor answered at the control socket, it refused the request, or it runs
another configuration than the one
.Fl -config
(or
.Ev GRACED_CONFIG )
names.
.It 4
.Nm Cm reload Fl -timeout
expired before the verdict. The reload goes on;
.Nm Cm status
tells the outcome.
.El
.Sh ENVIRONMENT
.Bl -tag -width 6n
.It Ev GRACED_CONFIG
The configuration file when
.Fl -config
is not given.
.It Ev RUNTIME_DIRECTORY
Where the control socket is by default
.Pq Pa graced.sock
when the configuration sets no
.Cm control_socket .
.El
.Sh FILES
.Bl -tag -width 6n
.It Pa /etc/graced/graced.conf
The default configuration.
.It Pa /run/graced.sock
The default control socket without
.Ev RUNTIME_DIRECTORY .
.It Pa share/bash-completion/completions/graced , share/zsh/site-functions/_graced , share/fish/vendor_completions.d/graced.fish
Shell completions, under the installation prefix
.Pq Pa /usr/local .
.El
.Sh "SEE ALSO"
.Xr sd_listen_fds 3 ,
.Xr sd_notify 3 ,
.Xr systemd.service 5 ,
.Xr systemd.socket 5
MDOC
)

# Blank lines are not paragraphs in mdoc; the generic EXIT STATUS gives way to ours.
awk -v extra="$extra" '
    /^$/ { print ".Pp"; next }
    /^\.Sh "EXIT STATUS"$/ { skip = 1; next }
    skip && /^\.Ex -std$/ { next }
    /^\.Sh AUTHORS$/ { print extra; skip = 0 }
    { print }
' "$out/graced.1" >"$root/man/graced.1"
echo "wrote man/graced.1" >&2
