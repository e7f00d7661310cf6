#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `qmigrate serve` at the command line, without QEMU and without a source:
# its usage errors, and the sessions that end before a migration began (the
# source's end of stdin, garbage instead of a frame, a stream socket that
# does not exist).  Only protocol may reach stdout: the agent's hello frame
# and nothing else.  Every run is bounded by timeout(1) and in the
# foreground: nothing outlives it.  make check sets QMIGRATE, top_srcdir and
# top_builddir.
set -euo pipefail

: "${QMIGRATE:?QMIGRATE must name the qmigrate binary}"

dir=$(mktemp -d "${TMPDIR:-/tmp}/qmigrate-serve-XXXXXX")
chmod 0700 "$dir"
trap 'rm -rf "$dir"' EXIT
trap 'exit 130' INT TERM HUP

failures=0
fail() {
	echo "FAIL: $*" >&2
	echo "  exit status: $rc" >&2
	od -An -c "$dir/out" | head -n 8 | sed 's/^/  stdout: /' >&2
	sed 's/^/  stderr: /' "$dir/err" >&2
	failures=$((failures + 1))
}
pass() {
	echo "ok: $*"
}
check() { # TITLE CONDITION...: runs the condition (a command), reports the result
	local title=$1
	shift
	if "$@"; then pass "$title"; else fail "$title"; fi
}

# run INPUT ARGS...: qmigrate with stdin from the file INPUT, bounded; sets $rc and $err.
run() {
	local input=$1
	shift
	rc=0
	timeout -k 5 20 "$QMIGRATE" "$@" <"$input" >"$dir/out" 2>"$dir/err" || rc=$?
	err=$(cat "$dir/err")
}

# stdout holds exactly one frame, and it is a hello: magic, version 1, length.
one_hello_frame() {
	local size len
	size=$(stat -c %s "$dir/out")
	[ "$size" -gt 12 ] || return 1
	[ "$(head -c 4 "$dir/out")" = QMPP ] || return 1
	[ "$(od -An -tu1 -j4 -N4 "$dir/out" | tr -s ' ')" = " 0 1 0 0" ] || return 1
	len=$(od -An -tu1 -j8 -N4 "$dir/out" |
		awk '{ print ((($1 * 256 + $2) * 256 + $3) * 256 + $4) }')
	[ $((12 + len)) -eq "$size" ] || return 1
	tail -c +13 "$dir/out" | grep -q '"type":"hello"'
}

# ---- usage ----------------------------------------------------------------------
run /dev/null serve
check "serve without --stdio is a usage error (exit 2), stdout empty" \
	eval '[ $rc -eq 2 ] && [ ! -s "$dir/out" ] && [[ $err == *"--stdio is required"* ]]'
run /dev/null serve --stdio extra
check "serve with an argument is a usage error (exit 2)" \
	eval '[ $rc -eq 2 ] && [ ! -s "$dir/out" ] && [[ $err == *"extra"* ]]'

# ---- sessions that end before a migration ------------------------------------------
mkdir -m 0700 "$dir/rt"
run /dev/null serve --stdio --runtime-dir "$dir/rt"
check "serve --stdio with stdin at its end exits 1 at once, PeerClosed" \
	eval '[ $rc -eq 1 ] && [[ $err == *"(PeerClosed)"* ]]'
check "...its stdout holds only its hello frame" one_hello_frame
check "...and it left nothing in its runtime directory" \
	eval '[ -z "$(ls -A "$dir/rt")" ]'

printf 'Welcome to the destination host!\n' >"$dir/banner"
run "$dir/banner" serve --stdio --runtime-dir "$dir/rt"
check "serve --stdio with garbage on stdin exits 1 with a PeerProtocol error" \
	eval '[ $rc -eq 1 ] && [[ $err == *"magic"*"(PeerProtocol)"* ]]'
check "...its stdout holds only its hello frame" one_hello_frame
check "...and it left nothing in its runtime directory" \
	eval '[ -z "$(ls -A "$dir/rt")" ]'

# A frame that announces more than the bound: refused from its header.
printf 'QMPP\0\1\0\0\177\377\377\377' >"$dir/huge"
run "$dir/huge" serve --stdio --runtime-dir "$dir/rt"
check "serve --stdio refuses an oversized frame from its header (PeerProtocol)" \
	eval '[ $rc -eq 1 ] && [[ $err == *"over the bound"*"(PeerProtocol)"* ]]'
check "...its stdout holds only its hello frame" one_hello_frame

run /dev/null serve --stdio --stream "$dir/nonexistent/x.sock"
check "serve --stdio --stream to a missing socket exits 1 naming it" \
	eval '[ $rc -eq 1 ] && [ ! -s "$dir/out" ] &&
	      [[ $err == *"$dir/nonexistent/x.sock"*"No such file or directory"* ]]'

if [ "$failures" -ne 0 ]; then
	echo "$failures check(s) failed" >&2
	exit 1
fi
