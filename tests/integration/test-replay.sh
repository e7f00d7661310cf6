#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# qmigrate replay against transcripts of real migrations: a migration
# between two QEMUs of the test guest, recorded with --qmp-log, replays
# without them to the same exit code, status, "vm" and QEMU's own figures;
# so does a recorded failure (a destination with more memory than the
# source, which QEMU refuses).  A transcript missing a command's lines
# diverges, and says which command; a malformed one is refused by its line.
# The replay's sockets go in a 0700 directory that is gone afterwards.
#
# Every QEMU is started here by argv and killed by its pid; every wait is
# bounded (timeout(1) around each replay).
# make check sets QMIGRATE, QEMU, top_srcdir and top_builddir.
set -euo pipefail
# shellcheck source=test-env.sh source-path=SCRIPTDIR
. "$(dirname "$0")/test-env.sh" qmigrate-replay
fail() {
	echo "FAIL: $*" >&2
	for log in "$dir"/*/qemu.log; do
		[ ! -s "$log" ] || sed "s|^|  $log: |" "$log" >&2
	done
	exit 1
}

pick_accel
[ -r "$image" ] || fail "no guest image at $image"
mkdir -m 0700 "$dir/rt"

# ---- the command's own contract ---------------------------------------------------
rc=0
"$QMIGRATE" help replay >"$dir/out" 2>&1 || rc=$?
[ $rc = 0 ] && grep -q '^Usage: qmigrate replay FILE' "$dir/out" || fail "help replay: $rc"
"$QMIGRATE" --help | grep -q '^  replay  *[^ ]' || fail "qmigrate --help does not list replay"
rc=0
"$QMIGRATE" replay >"$dir/out" 2>"$dir/err" || rc=$?
[ $rc = 2 ] && grep -q 'FILE is required' "$dir/err" || fail "replay without FILE: $rc"
rc=0
"$QMIGRATE" replay "$dir/missing.qmp" >"$dir/out" 2>"$dir/err" || rc=$?
[ $rc = 2 ] && grep -q "$dir/missing.qmp: No such file" "$dir/err" ||
	fail "replay of a missing file: $rc: $(cat "$dir/err")"

# migrate SRC DST NAME [OPTIONS]: records dir/NAME.qmp; sets mrc, mresult.
migrate() {
	local src=$1 dst=$2 name=$3
	shift 3
	mrc=0
	"$QMIGRATE" migrate --json --src-qmp "$src" --dst-qmp "$dst" \
		--qmp-log "$dir/$name.qmp" "$@" >"$dir/$name.out" 2>"$dir/$name.err" || mrc=$?
	mresult=$(tail -n 1 "$dir/$name.out")
	[[ $mresult == '{"event":"result"'* ]] || fail "$name: migrate printed no result: $(cat "$dir/$name.err")"
}
# replay NAME [OPTIONS]: replays dir/NAME.qmp; sets rrc, rresult.
replay() {
	local name=$1
	shift
	rrc=0
	timeout 120 "$QMIGRATE" replay "$dir/$name.qmp" --json --runtime-dir "$dir/rt" "$@" \
		>"$dir/$name.replay" 2>"$dir/$name.replay.err" || rrc=$?
	rresult=$(tail -n 1 "$dir/$name.replay")
	[ -z "$(ls -A "$dir/rt")" ] || fail "$name: the replay left $(ls -A "$dir/rt")"
}
# same NAME FIELD...: the recorded and the replayed results agree on each FIELD.
same() {
	local name=$1 f
	shift
	for f in "$@"; do
		[ "$(json_field "$mresult" "$f")" = "$(json_field "$rresult" "$f")" ] ||
			fail "$name: $f is '$(json_field "$mresult" "$f")' recorded, '$(json_field "$rresult" "$f")' replayed:
$mresult
$rresult
$(cat "$dir/$name.replay.err")"
	done
}

guest() { # NAME [QEMU ARGS]: a QEMU of the test guest in dir/NAME
	local d=$dir/$1
	shift
	start "$d" -nodefaults -display none -machine "pc,accel=$accel" -m 64 \
		-drive "file=$image,format=raw,if=ide,snapshot=on" \
		-qmp "unix:$d/qmp.sock,server=on,wait=off" "$@"
}

# record NAME RC STATUS [DESTINATION QEMU ARGS]: a migration between two new QEMUs
# of the guest, recorded in dir/NAME.qmp, that must exit RC with STATUS; the
# QEMUs are stopped afterwards, so that the replay has only the transcript.
record() {
	local name=$1 want_rc=$2 want_status=$3 src dst
	shift 3
	guest "$name-src"
	src=$src_pid
	guest "$name-dst" "$@" -S -incoming defer
	dst=$src_pid
	migrate "$dir/$name-src/qmp.sock" "$dir/$name-dst/qmp.sock" "$name"
	[ "$mrc" = "$want_rc" ] && [ "$(json_field "$mresult" status)" = "$want_status" ] ||
		fail "$name: the recorded migration: $mrc: $mresult"
	stop "$src"
	stop "$dst"
	forget "$src"
	forget "$dst"
}

# ---- a migration that completes ------------------------------------------------
record ok 0 completed
replay ok
[ "$rrc" = "$mrc" ] || fail "ok: replay exited $rrc, the migration $mrc: $(cat "$dir/ok.replay.err")"
same ok status vm changed total_ms downtime_ms setup_ms transferred_bytes passes
# It says what the migration said, and no more: nothing under KVM; under TCG
# begin's warning that QEMU before 9.0 may lose writes, from the recorded query-kvm.
cmp -s "$dir/ok.err" "$dir/ok.replay.err" ||
	fail "ok: the replay said: $(cat "$dir/ok.replay.err"); the migration: $(cat "$dir/ok.err")"
echo "ok: a completed migration ($(wc -l <"$dir/ok.qmp") transcript lines) replays to $rresult"

# ---- a migration that fails: the destination has twice the memory -------------------
record bad 1 failed -m 128
replay bad
[ "$rrc" = "$mrc" ] || fail "bad: replay exited $rrc, the migration $mrc: $(cat "$dir/bad.replay.err")"
same bad status vm changed class
! grep -q diverged "$dir/bad.replay.err" || fail "bad: the replay diverged: $(cat "$dir/bad.replay.err")"
echo "ok: a failed migration replays to the same failure: $rresult"

# ---- a transcript without a command's lines: the replay says so -------------------------
grep -v '"side":"source","dir":"send","msg":{"execute":"query-kvm"' "$dir/ok.qmp" |
	grep -v '"side":"source","dir":"recv","msg":{"return":{"enabled":' >"$dir/cut.qmp"
replay cut
grep -q "no reply to 'query-kvm' from the source QEMU" "$dir/cut.replay.err" &&
	grep -qE 'the replay diverged from the transcript: [0-9]+ commands? it never answered' "$dir/cut.replay.err" ||
	fail "cut: the divergence is not reported: $rrc: $(cat "$dir/cut.replay.err")"
echo "ok: a command the transcript lacks is named: $(head -n 1 "$dir/cut.replay.err")"

# ---- a malformed transcript: refused by its line, nothing started ------------------------
{ head -n 3 "$dir/ok.qmp"; echo '{"side":"source","dir":"recv","msg":'; } >"$dir/broken.qmp"
replay broken
[ "$rrc" = 2 ] && grep -q "broken.qmp:4: not a JSON object" "$dir/broken.replay.err" ||
	fail "broken: $rrc: $(cat "$dir/broken.replay.err")"
[ ! -s "$dir/broken.replay" ] || fail "broken: the replay printed $(cat "$dir/broken.replay")"
echo "ok: a malformed transcript: $(cat "$dir/broken.replay.err")"
echo "PASS: replay"
