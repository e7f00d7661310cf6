#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The man pages against the code they document.
# qmigrate(1), cli/qmigrate.1: its commands are those of `qmigrate --help`;
# each command's options (one per .TP tag under ".SS qmigrate CMD", with its
# short form and whether it takes an argument) are exactly those of
# `qmigrate help CMD` and of the struct option table and optstring in
# cli/cmd-CMD.c; the options before the command, the exit codes and the
# environment variables are those of cli/main.c, cli/cli.h and the sources'
# getenv calls; every option an example uses exists.
# libqmigrate(3), include/libqmigrate.3: it names every function the library
# exports, no qm_ or QM_ name the header lacks, and its example program
# compiles and links against the library.
# Both pages: groff -man -ww reports nothing (when groff is installed).
# make check sets QMIGRATE, top_srcdir and top_builddir.
set -euo pipefail

: "${QMIGRATE:?QMIGRATE must name the qmigrate binary}"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$PWD}
page1=$top_srcdir/cli/qmigrate.1
page3=$top_srcdir/include/libqmigrate.3
dir=$(mktemp -d "${TMPDIR:-/tmp}/qmigrate-man-XXXXXX")
chmod 0700 "$dir"
trap 'rm -rf "$dir"' EXIT
export LC_ALL=C
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}
# same WHAT A B: the files A and B (sorted lists) are equal.
same() {
	if diff -u "$2" "$3" >"$dir/diff"; then
		echo "ok: $1 ($(wc -l <"$2") the same)"
	else
		fail "$1 differ (- $(basename "$2"), + $(basename "$3")):"
		sed -n '3,$p' "$dir/diff" | grep '^[-+]'
	fi
}

# section PAGE NAME: the lines of the .SH NAME section of PAGE.
section() {
	awk -v name="$2" '/^\.SH / { sub(/^\.SH +"?/, ""); sub(/"$/, ""); on = ($0 == name); next }
		on' "$1"
}
# unescape: troff's escapes in the pages' option names and examples.
unescape() {
	sed -e 's/\\-/-/g' -e 's/\\e/\\/g' -e "s/\\\\(aq/'/g" -e 's/\\(dq/"/g' -e 's/\\f[BIRP]//g'
}
# tags: the options of the .TP tags on stdin, one a line: "[-x,]--name[=]",
# "=" when it takes an argument (anything on the tag besides the names).
tags() {
	awk 'prev == ".TP" && /^\.[BIR]+ +\\-/ { print } { prev = $0 }' | while read -r line; do
		long=$(grep -oE '\\-\\-[a-z0-9]+(\\-[a-z0-9]+)*' <<<"$line" | head -n 1 | unescape || true)
		rest=$(sed -E -e 's/^\.[BIR]+ +//' -e 's/\\-\\-[a-z0-9]+(\\-[a-z0-9]+)*//' <<<"$line")
		short=$(grep -oE '^\\-[a-zA-Z]' <<<"$rest" | unescape || true)
		rest=$(sed -E -e 's/^\\-[a-zA-Z]//' -e 's/", "//' -e 's/\\f[BIRP]//g' -e 's/[" ]//g' <<<"$rest")
		printf '%s%s%s\n' "${short:+$short,}" "$long" "${rest:+=}"
	done | sort
}
# page_options CMD: the options of ".SS qmigrate CMD" in qmigrate(1).
page_options() {
	section "$page1" COMMANDS |
		awk -v cmd="$1" '/^\.SS / { on = ($0 == ".SS qmigrate " cmd); next } on' | tags
}
# help_options CMD: the option lines of `qmigrate help CMD`: "  --name ARG",
# "  -x, --name ARG" or "      --name ARG"; ARG is one space after the name.
help_options() {
	"$QMIGRATE" help "$1" |
		sed -nE 's/^  (-([a-zA-Z]), |    )?--([a-z0-9-]+)( [^ ])?.*/\2,--\3\4/p' |
		sed -E -e 's/^,//' -e 's/^([a-zA-Z]),/-\1,/' -e 's/ [^ ]$/=/' | sort
}
# code_options FILE: the struct option table and optstring of FILE.
code_options() {
	local optstring
	optstring=$(sed -nE 's/.*getopt_long\([^"]*"([^"]*)".*/\1/p' "$1")
	sed -nE "s/^[[:space:]]*\{ \"([a-z0-9-]+)\", ([a-z]+)_argument, NULL, ([^ ]+) \},.*/\1 \2 \3/p" "$1" |
		while read -r name arg val; do
			short=
			if [[ $val =~ ^\'(.)\'$ ]] && [[ $optstring == *"${BASH_REMATCH[1]}"* ]]; then
				short=-${BASH_REMATCH[1]},
			fi
			eq='='
			[ "$arg" != no ] || eq=
			printf '%s--%s%s\n' "$short" "$name" "$eq"
		done | sort
}

# ---- qmigrate(1): the commands and their options -------------------------
"$QMIGRATE" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' | sort >"$dir/help-commands"
section "$page1" COMMANDS | sed -n 's/^\.SS "\{0,1\}qmigrate \([a-z-]*\)"\{0,1\}$/\1/p' | sort >"$dir/page-commands"
[ -s "$dir/help-commands" ] || fail "qmigrate --help lists no command"
same "the commands of qmigrate --help and of qmigrate(1)" "$dir/help-commands" "$dir/page-commands"
for f in "$top_srcdir"/cli/cmd-*.c; do
	f=${f##*/cmd-}
	echo "${f%.c}"
done | sort >"$dir/code-commands"
grep -vx help "$dir/help-commands" >"$dir/help-commands-run" || true
same "the commands of qmigrate --help and the files cli/cmd-*.c" "$dir/help-commands-run" "$dir/code-commands"

mapfile -t commands <"$dir/help-commands"
for cmd in "${commands[@]}"; do
	page_options "$cmd" >"$dir/$cmd.page"
	if [ "$cmd" = help ]; then
		[ ! -s "$dir/help.page" ] || fail "qmigrate(1) gives 'help' options: $(cat "$dir/help.page")"
		continue
	fi
	help_options "$cmd" >"$dir/$cmd.help"
	code_options "$top_srcdir/cli/cmd-$cmd.c" >"$dir/$cmd.code"
	[ -s "$dir/$cmd.code" ] || fail "no struct option table in cli/cmd-$cmd.c"
	same "$cmd: the options of qmigrate help $cmd and of qmigrate(1)" "$dir/$cmd.help" "$dir/$cmd.page"
	same "$cmd: the options of cli/cmd-$cmd.c and of qmigrate help $cmd" "$dir/$cmd.code" "$dir/$cmd.help"
done

# The options before the command: cli/main.c's comparisons of argv[1], and
# the usage line of qmigrate --help (long names only there).
grep -E 'strcmp\(argv\[1\], "-' "$top_srcdir/cli/main.c" | while read -r line; do
	grep -oE '"-[-a-zA-Z]+"' <<<"$line" | tr -d '"' | sort | paste -sd, -
done | sed -E 's/^(--[a-z-]+),(-[a-zA-Z])$/\2,\1/' | sort >"$dir/global.code"
section "$page1" OPTIONS | tags >"$dir/global.page"
same "the options before the command in cli/main.c and qmigrate(1)" "$dir/global.code" "$dir/global.page"
"$QMIGRATE" --help | head -n 1 | grep -oE '\[--[a-z-]+\]' | tr -d '[]' | sort >"$dir/global.help"
sed 's/^-.,//' "$dir/global.page" | sort >"$dir/global.page-long"
same "the options before the command in qmigrate --help and qmigrate(1)" "$dir/global.help" "$dir/global.page-long"

# Exit codes: cli/cli.h's enum, the tags of EXIT STATUS.
sed -nE 's/^[[:space:]]*EXIT_[A-Z]+ = ([0-9]+),.*/\1/p' "$top_srcdir/cli/cli.h" | sort >"$dir/exit.code"
section "$page1" "EXIT STATUS" | awk 'prev == ".TP" { print } { prev = $0 }' |
	sed -n 's/^\.B \([0-9]*\)$/\1/p' | sort >"$dir/exit.page"
[ -s "$dir/exit.code" ] || fail "no exit codes in cli/cli.h"
same "the exit codes of cli/cli.h and qmigrate(1)" "$dir/exit.code" "$dir/exit.page"

# Environment: every variable the command or the library reads, and every
# one qmigrate --help names, is under ENVIRONMENT.
section "$page1" ENVIRONMENT | awk 'prev == ".TP" { print } { prev = $0 }' |
	sed -n 's/^\.B \([A-Z_]*\)$/\1/p' | sort -u >"$dir/env.page"
{
	grep -rhoE 'getenv\("[A-Z_]+"\)' "$top_srcdir"/{cli,engine,qmp,tunnel,util,xml} |
		sed -E 's/.*"(.*)".*/\1/'
	"$QMIGRATE" --help | sed -n '/^Environment:/,/^$/s/^  \([A-Z_]*\)=.*/\1/p'
} | sort -u >"$dir/env.code"
comm -23 "$dir/env.code" "$dir/env.page" >"$dir/env.missing"
if [ -s "$dir/env.code" ] && [ ! -s "$dir/env.missing" ]; then
	echo "ok: qmigrate(1) names every environment variable read ($(paste -sd' ' "$dir/env.code"))"
else
	fail "qmigrate(1)'s ENVIRONMENT lacks: $(paste -sd' ' "$dir/env.missing")"
fi

# Every option an example gives to a command is one of that command's.
section "$page1" EXAMPLES | unescape | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' |
	grep -E '^qmigrate [a-z]' | while read -r _ cmd args; do
	for word in $args; do
		[[ $word == --* ]] || continue
		grep -qE "^(-.,)?${word}=?\$" "$dir/$cmd.code" ||
			echo "qmigrate $cmd has no option $word"
	done
done >"$dir/examples"
if [ -s "$dir/examples" ]; then
	fail "qmigrate(1)'s examples: $(cat "$dir/examples")"
else
	echo "ok: every option in qmigrate(1)'s examples exists"
fi

# ---- libqmigrate(3) --------------------------------------------------------
unescape <"$page3" >"$dir/page3"
sed -n '/global:/,/local:/s/^[[:space:]]*\([a-z0-9_]*\);.*/\1/p' "$top_srcdir/libqmigrate.sym" |
	sort -u >"$dir/exported"
[ -s "$dir/exported" ] || fail "no symbols in libqmigrate.sym"
while read -r fn; do
	grep -qw "$fn" "$dir/page3" || echo "$fn"
done <"$dir/exported" >"$dir/unnamed"
if [ -s "$dir/unnamed" ]; then
	fail "libqmigrate(3) does not name: $(paste -sd' ' "$dir/unnamed")"
else
	echo "ok: libqmigrate(3) names all $(wc -l <"$dir/exported") exported functions"
fi
grep -oE '\b(qm|QM)_[A-Za-z0-9_]+' "$dir/page3" | sort -u | while read -r name; do
	grep -qw "$name" "$top_srcdir/include/qmigrate.h" || echo "$name"
done >"$dir/unknown"
if [ -s "$dir/unknown" ]; then
	fail "libqmigrate(3) names what include/qmigrate.h lacks: $(paste -sd' ' "$dir/unknown")"
else
	echo "ok: every qm_/QM_ name in libqmigrate(3) is in include/qmigrate.h"
fi

# The example program: the first .EX block under EXAMPLES, built as a user
# would (the build's compiler and sanitizers, libtool, libqmigrate.la and
# -lev, as qmigrate.pc says).
section "$page3" EXAMPLES | awk '/^\.EX/ { on = 1; next } /^\.EE/ { exit } on' | unescape >"$dir/example.c"
make_var() {
	sed -n "s/^$1 = //p" "$top_builddir/Makefile"
}
cc=$(make_var CC)
cflags=$(make_var SANITIZER_CFLAGS)
ldflags="$(make_var SANITIZER_LDFLAGS) $(make_var EV_LIBS)"
# shellcheck disable=SC2086 # the flags are words
if ! grep -q 'int main' "$dir/example.c"; then
	fail "libqmigrate(3) has no example program"
elif ! ${cc:-cc} $cflags -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Werror \
	-I"$top_srcdir/include" -c -o "$dir/example.o" "$dir/example.c" >"$dir/log" 2>&1; then
	fail "libqmigrate(3)'s example does not compile:"
	cat "$dir/log"
elif ! "$top_builddir/libtool" --quiet --mode=link ${cc:-cc} -o "$dir/example" "$dir/example.o" \
	"$top_builddir/libqmigrate.la" $ldflags >"$dir/log" 2>&1; then
	fail "libqmigrate(3)'s example does not link against libqmigrate.la:"
	cat "$dir/log"
else
	echo "ok: libqmigrate(3)'s example compiles with -Wall -Wextra -Werror and links"
	# It runs: a source that is not there fails the job before it changed
	# anything, and the VM is said to be on the source.
	rc=0
	out=$(timeout 30 "$dir/example" "$dir/missing-src.sock" "$dir/missing-dst.sock" 2>"$dir/log") ||
		rc=$?
	if [ "$rc" -eq 1 ] && [ "$out" = "failed; the VM: source" ] &&
		grep -q '^ConnectionFailed: ' "$dir/log"; then
		echo "ok: the example runs: '$out'"
	else
		fail "libqmigrate(3)'s example exited $rc, printed '$out' and: $(cat "$dir/log")"
	fi
fi

# ---- both pages: groff's warnings ------------------------------------------
if command -v groff >/dev/null; then
	for page in "$page1" "$page3"; do
		out=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
		if [ -n "$out" ]; then
			fail "groff -man -ww warns on ${page#"$top_srcdir"/}: $out"
		else
			echo "ok: groff -man -ww -z ${page#"$top_srcdir"/}: no warnings"
		fi
	done
else
	echo "SKIPPED PART: groff is not installed: the pages' troff was not checked"
fi

[ "$failures" -eq 0 ] || { echo "FAIL: $failures check(s) of the man pages failed"; exit 1; }
echo "PASS: the man pages"
