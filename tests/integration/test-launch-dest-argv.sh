#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# --launch-dest alone: every QEMU command line the test helpers use
# (tests/helpers/qemu.c on pc, q35 and none, scripts/bench/lib.sh,
# tests/integration/test-cli.sh; scripts/demo's has the options of the
# helper's pc line in another order) migrates into a destination that
# qmigrate starts from the source's own command line, with no description.  Where
# the test guest runs, its memory is checked on the destination
# (qm-memcheck); the destination's serial file is its own, in its runtime
# directory, and the source's is left as it was.
#
# Every QEMU is started here by argv and killed by its pid; every wait is
# bounded.  make check sets QMIGRATE, QEMU, top_srcdir and top_builddir.
set -euo pipefail
# shellcheck source=test-env.sh source-path=SCRIPTDIR
. "$(dirname "$0")/test-env.sh" qmigrate-launch-argv
# The guest dirties at most this many MiB/s (tests/helpers/pair.h, GENTLE):
# under TCG an uncapped guest of more RAM could out-dirty the stream.
rate=64
mib=64

fail() {
	echo "FAIL: $*" >&2
	for log in "$dir"/*/qemu.log "$dir"/*/migrate.err "$dir"/*/run/*/qemu.log; do
		[ ! -s "$log" ] || sed "s|^|  $log: |" "$log" | tail -n 40 >&2
	done
	exit 1
}
# the guests booted ahead, their passes and memory_check
. "$top_srcdir/tests/integration/remote-lib.sh"

pick_accel
[ -r "$image" ] || fail "no guest image at $image"
[ -x "$memcheck" ] || fail "no $memcheck"

dst_pid= dst_qmp=
migrate() { # NAME: migrates dir/NAME with --launch-dest alone; sets dst_pid, dst_qmp
	local name=$1 d=$dir/$1 out
	mkdir -m 0700 "$d/run"
	"$QMIGRATE" migrate --json --src-qmp "$d/qmp.sock" --launch-dest --runtime-dir "$d/run" \
		>"$d/migrate.out" 2>"$d/migrate.err" ||
		fail "$name: migrate --launch-dest exited $?: $(tail -n 3 "$d/migrate.err")"
	out=$(tail -n 1 "$d/migrate.out")
	[[ $out == *'"status":"completed"'* && $out == *'"vm":"destination"'* ]] ||
		fail "$name: $out"
	dst_pid=$(sed -n 's/.*"dst_pid":\([0-9]*\).*/\1/p' <<<"$out")
	dst_qmp=$(sed -n 's/.*"dst_qmp":"\([^"]*\)".*/\1/p' <<<"$out")
	[ -n "$dst_pid" ] && [ -S "$dst_qmp" ] || fail "$name: no destination in '$out'"
	pids+=("$dst_pid")
	[[ $dst_qmp == "$d/run/"* ]] || fail "$name: the destination's socket $dst_qmp is not under $d/run"
	kill -0 "$dst_pid" || fail "$name: the destination (pid $dst_pid) is not running"
	# No disk to serve: the environment as it is (engine/launch.h, serves_disks)
	[ -n "${GLIBC_TUNABLES:-}" ] || ! grep -qz '^GLIBC_TUNABLES=' "/proc/$dst_pid/environ" ||
		fail "$name: a destination that serves no disk was given GLIBC_TUNABLES"
	# After success the source QEMU quits.
	for _ in $(seq 100); do kill -0 "$src_pid" 2>/dev/null || break; sleep 0.1; done
	! kill -0 "$src_pid" 2>/dev/null || fail "$name: the source QEMU still runs"
}

serial_check() { # NAME: the destination writes its own serial file; the source's stays
	local name=$1 d=$dir/$1 dst_serial
	dst_serial=$(dirname "$dst_qmp")/serial0.log
	[ -f "$dst_serial" ] || fail "$name: no serial file in the destination's directory"
	[ "$(passes "$d/serial.log")" -gt 0 ] || fail "$name: the source's serial file was emptied"
}

# Each guest boots while the case before it runs: no case waits for its own boot.
boot_machine() { # NAME MACHINE EXTRA-ARGS...: the test guest, the helper's way
	local d=$dir/$1
	boot_qemu "$1" -nodefaults -display none -machine "$2,accel=$accel" \
		-qmp "unix:$d/qmp.sock,server=on,wait=off" -serial "file:$d/serial.log" \
		-m "$mib" -drive "file=$image,format=raw,if=ide,snapshot=on" "${@:3}"
}

capped=(-fw_cfg "name=opt/org.qmigrate/dirty-rate,string=$rate")

# ---- tests/helpers/qemu.c: the guest, capped ------------------------------------
boot_machine helper-pc pc "${capped[@]}"
# ---- ... with a second QMP monitor, started paused, then run
d=$dir/helper-paused
boot_machine helper-paused pc -qmp "unix:$d/qmp2.sock,server=on,wait=off" "${capped[@]}" -S
qmp "$d/qmp.sock" cont >/dev/null || fail "helper-paused: cont"
guest_ready helper-pc
migrate helper-pc
memory_check helper-pc
serial_check helper-pc
stop "$dst_pid"
echo "ok: helper-pc: migrated with --launch-dest alone, memory checked"

# ---- tests/helpers/qemu.c: a second QMP monitor, started paused, then run --------
# ---- (and tests/integration/test-guest.c's guest on q35 boots meanwhile)
boot_machine helper-q35 q35 "${capped[@]}"
guest_ready helper-paused
migrate helper-paused
[ ! -e "$(dirname "$dst_qmp")/qmp2.sock" ] || fail "helper-paused: the second monitor came along"
qmp "$dst_qmp" query-status | grep -q '"running"' || fail "helper-paused: not running there"
memory_check helper-paused
stop "$dst_pid"
echo "ok: helper-paused: migrated with --launch-dest alone, memory checked"

# ---- tests/integration/test-guest.c: the guest on q35 -----------------------------
boot_machine bench pc
guest_ready helper-q35
migrate helper-q35
qmp "$dst_qmp" qom-get '{"path": "/machine", "property": "type"}' | grep -q q35 ||
	fail "helper-q35: the destination is not a q35 machine"
memory_check helper-q35
stop "$dst_pid"
echo "ok: helper-q35: migrated with --launch-dest alone, memory checked"

# ---- scripts/bench/lib.sh: its line, uncapped (64 MiB fit in any downtime) -------
guest_ready bench
migrate bench
memory_check bench
stop "$dst_pid"
echo "ok: bench: migrated with --launch-dest alone, memory checked"

# ---- tests/helpers/qemu.c's default and test-cli.sh: machine none, no RAM --------
# Nothing runs in them, so there is no memory to check: the machine arrives.
d=$dir/none
start "$d" -nodefaults -display none -machine "none,accel=$accel" \
	-qmp "unix:$d/qmp.sock,server=on,wait=off" -serial "file:$d/serial.log"
src_kvm=$(qmp "$d/qmp.sock" query-kvm)
migrate none
[ "$(qmp "$dst_qmp" query-kvm)" = "$src_kvm" ] || fail "none: another accelerator there"
qmp "$dst_qmp" qom-get '{"path": "/machine", "property": "type"}' | grep -q none-machine ||
	fail "none: the destination is another machine"
stop "$dst_pid"
echo "ok: none: migrated with --launch-dest alone"

d=$dir/cli-accel
start "$d" -nodefaults -display none -machine none -accel kvm -accel tcg \
	-qmp "unix:$d/qmp.sock,server=on,wait=off"
src_kvm=$(qmp "$d/qmp.sock" query-kvm)
migrate cli-accel
[ "$(qmp "$dst_qmp" query-kvm)" = "$src_kvm" ] || fail "cli-accel: another accelerator there"
stop "$dst_pid"
echo "ok: cli-accel: migrated with --launch-dest alone"
echo "PASS: launch-dest from the source's command line"
