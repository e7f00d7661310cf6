#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# cli/qmigrate.bash, driven as bash drives it (COMP_WORDS, COMP_CWORD, the
# function complete -p names): subcommands, every option of every
# subcommand's help and nothing else, the choices of an option, paths for
# an option that takes one, nothing for a number, a job's verbs.
# make check sets QMIGRATE and top_srcdir.
set -euo pipefail

: "${QMIGRATE:?QMIGRATE must name the qmigrate binary}"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
dir=$(mktemp -d "${TMPDIR:-/tmp}/qmigrate-completion-XXXXXX")
chmod 0700 "$dir"
trap 'rm -rf "$dir"' EXIT
failures=0

# shellcheck source=../cli/qmigrate.bash
. "$top_srcdir/cli/qmigrate.bash"
func=$(complete -p qmigrate | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
[ -n "$func" ] || { echo "FAIL: the script registers no completion for qmigrate"; exit 1; }

# complete WORDS...: the replies for the last word, one per line, sorted.
complete_words() {
	COMP_WORDS=("$QMIGRATE" "$@")
	COMP_CWORD=$#
	COMPREPLY=()
	"$func" qmigrate "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	[ "${#COMPREPLY[@]}" -eq 0 ] || printf '%s\n' "${COMPREPLY[@]}" | sort
}
expect() { # WANT WORDS...: WANT is the replies, space-separated
	local want=$1 got
	shift
	got=$(complete_words "$@" | tr '\n' ' ' | sed 's/ $//')
	if [ "$got" = "$want" ]; then
		echo "ok: qmigrate $* -> ${want:-(nothing)}"
	else
		echo "FAIL: qmigrate $* -> '$got', not '$want'"
		failures=$((failures + 1))
	fi
}

expect "describe" de
expect "launch" help la
expect "job" j
expect "--help --version" --
expect "--launch-dest" migrate --launch-d
expect "--lease" migrate --lea
expect "tcp tunnel unix" migrate --transport ""
expect "tunnel" migrate --dst-qmp x --transport tu
expect "" migrate --timeout ""
expect "" launch --host-uuid ""
expect "force-complete" job ctl.sock f
expect "set-bandwidth set-downtime" job --timeout 5 ctl.sock set-

# Paths, for an option that takes one and for a positional argument.
mkdir "$dir/vms"
: >"$dir/vms/guest.xml"
expect "$dir/vms/guest.xml" migrate --domain "$dir/vms/g"
expect "$dir/vms/guest.xml" launch "$dir/vms/gu"

# Every subcommand: "--" offers exactly the options its help documents.
for cmd in $("$QMIGRATE" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'); do
	[ "$cmd" != help ] || continue
	want=$("$QMIGRATE" help "$cmd" | grep -oE '^  (-[a-zA-Z], |    )?--[a-z0-9-]+' |
		sed -E 's/^ +(-[a-zA-Z], )?//' | sort -u | tr '\n' ' ' | sed 's/ $//')
	[ -n "$want" ] || { echo "FAIL: qmigrate help $cmd lists no option"; failures=$((failures + 1)); }
	expect "$want" "$cmd" --
done

[ "$failures" -eq 0 ] || { echo "FAIL: $failures completion(s) wrong"; exit 1; }
echo "PASS: completion"
