#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# qmigrate describe against real QEMUs started with every command line the
# test helpers use (tests/helpers/qemu.c, scripts/demo and scripts/bench,
# tests/integration/test-cli.sh): the description holds QEMU's facts, and
# QEMU launched from it (qmigrate launch --incoming) is the same machine:
# the same target, machine type, memory, vCPUs and accelerator.  The demo's
# guest then migrates into it and goes on running there.  A QEMU with an
# option that names a host resource is refused, by name.
#
# Every QEMU is started here by argv and killed by its pid; every wait is
# bounded.  The serial port's file is moved into the destination's directory
# with sed, standing in for the destination rewrite, so that the destination
# does not truncate the source's.
# make check sets QMIGRATE, QEMU, top_srcdir and top_builddir.
set -euo pipefail
# shellcheck source=test-env.sh source-path=SCRIPTDIR
. "$(dirname "$0")/test-env.sh" qmigrate-describe
fail() {
	echo "FAIL: $*" >&2
	for log in "$dir"/*/qemu.log "$dir"/*/*/qemu.log; do
		[ ! -s "$log" ] || sed "s|^|  $log: |" "$log" >&2
	done
	exit 1
}

pick_accel
[ -r "$image" ] || fail "no guest image at $image"

# What makes two QEMUs the same machine, as QEMU tells it.
machine_facts() { # SOCKET
	qmp "$1" query-target
	qmp "$1" qom-get '{"path": "/machine", "property": "type"}'
	qmp "$1" query-memory-size-summary
	qmp "$1" query-kvm
	qmp "$1" query-cpus-fast | grep -o '"cpu-index"' | wc -l
}

dst_pid= dst_qmp=
describe_and_launch() { # NAME MACHINE MIB: describes dir/NAME, launches it, compares
	local name=$1 machine=$2 mib=$3 d=$dir/$1 out
	"$QMIGRATE" describe --qmp "$d/qmp.sock" >"$d/vm.xml" 2>"$d/err" ||
		fail "$name: describe exited $?: $(cat "$d/err")"
	grep -q "machine=\"$machine\"" "$d/vm.xml" || fail "$name: not machine $machine: $(cat "$d/vm.xml")"
	grep -q "<memory unit=\"MiB\">$mib</memory>" "$d/vm.xml" || fail "$name: not $mib MiB"
	grep -q "<emulator>$QEMU</emulator>" "$d/vm.xml" || fail "$name: not the emulator $QEMU"
	case $accel in
	kvm) grep -q '<domain[^>]* type="kvm"' "$d/vm.xml" || fail "$name: not kvm" ;;
	*) grep -q '<domain[^>]* type="qemu"' "$d/vm.xml" || fail "$name: not tcg" ;;
	esac
	! grep -q 'qmp.sock' "$d/vm.xml" || fail "$name: the source's QMP socket is in the description"
	mkdir -m 0700 "$d/dst"
	sed "s|$d/serial.log|$d/dst/serial.log|" "$d/vm.xml" >"$d/dst.xml"
	out=$("$QMIGRATE" launch --incoming --json --runtime-dir "$d/dst" "$d/dst.xml" 2>"$d/err") ||
		fail "$name: launch exited $?: $(cat "$d/err")"
	dst_pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' <<<"$out")
	dst_qmp=$(sed -n 's/.*"qmp":"\([^"]*\)".*/\1/p' <<<"$out")
	[ -n "$dst_pid" ] && [ -n "$dst_qmp" ] || fail "$name: launch printed '$out'"
	pids+=("$dst_pid")
	[ "$(machine_facts "$d/qmp.sock")" = "$(machine_facts "$dst_qmp")" ] ||
		fail "$name: the launched QEMU is another machine:
$(machine_facts "$d/qmp.sock")
---
$(machine_facts "$dst_qmp")"
	echo "ok: $name: described and launched as the same machine ($machine, $mib MiB)"
}

# ---- the command's own contract ---------------------------------------------------
rc=0
"$QMIGRATE" describe --help >"$dir/out" 2>&1 || rc=$?
[ $rc = 0 ] && grep -q '^Usage: qmigrate describe ' "$dir/out" || fail "describe --help: $rc"
"$QMIGRATE" help | grep -q '^  describe  *[^ ]' || fail "qmigrate help does not list describe"
rc=0
"$QMIGRATE" describe >"$dir/out" 2>"$dir/err" || rc=$?
[ $rc = 2 ] && grep -q -- '--qmp PATH is required' "$dir/err" || fail "describe without --qmp: $rc"
rc=0
"$QMIGRATE" describe -t 1 --qmp "$dir/missing.sock" >"$dir/out" 2>"$dir/err" || rc=$?
[ $rc = 1 ] && [ ! -s "$dir/out" ] && grep -q "$dir/missing.sock" "$dir/err" ||
	fail "describe of a missing socket: $rc: $(cat "$dir/err")"

# ---- tests/helpers/qemu.c: its defaults (-machine none) -----------------------
d=$dir/helper-none
start "$d" -nodefaults -display none -machine "none,accel=$accel" \
	-qmp "unix:$d/qmp.sock,server=on,wait=off" -serial "file:$d/serial.log"
describe_and_launch helper-none none 0
stop "$src_pid"
stop "$dst_pid"

# ---- tests/helpers/qemu.c: the guest on pc, a second QMP, paused ------------------
d=$dir/helper-pc
start "$d" -nodefaults -display none -machine "pc,accel=$accel" \
	-qmp "unix:$d/qmp.sock,server=on,wait=off" \
	-qmp "unix:$d/qmp2.sock,server=on,wait=off" -serial "file:$d/serial.log" -m 64 \
	-drive "file=$image,format=raw,if=ide,snapshot=on" \
	-fw_cfg name=opt/org.qmigrate/dirty-rate,string=5 -S
describe_and_launch helper-pc pc-i440fx-7.2 64
"$QMIGRATE" describe --facts --qmp "$d/qmp2.sock" >"$d/facts" 2>"$d/err" ||
	fail "helper-pc: describe --facts exited $?: $(cat "$d/err")"
grep -q '"machine-type": "pc-i440fx-7.2-machine"' "$d/facts" ||
	fail "helper-pc: --facts lacks the machine type: $(head -c 300 "$d/facts")"
grep -q "\"pid\": $src_pid," "$d/facts" || fail "helper-pc: --facts names another pid"
grep -q "<source path=\"$d/serial.log\"/>" "$d/vm.xml" || fail "helper-pc: no serial file"
grep -q 'dirty-rate,string=5' "$d/vm.xml" || fail "helper-pc: the fw_cfg entry is gone"
grep -q "file=$image,format=raw,if=ide,snapshot=on" "$d/vm.xml" || fail "helper-pc: no drive"
! grep -q 'qmp2.sock' "$d/vm.xml" || fail "helper-pc: the second QMP socket is in the description"
stop "$src_pid"
stop "$dst_pid"

# ---- test-cli.sh: machine none, a list of accelerators --------------------------
d=$dir/cli-accel
start "$d" -nodefaults -display none -machine none -accel kvm -accel tcg \
	-qmp "unix:$d/qmp.sock,server=on,wait=off"
# The list is typed as the one that runs: this QEMU picks KVM when it works.
case $(qmp "$d/qmp.sock" query-kvm) in
*'"enabled":true'*) cli_accel=kvm ;;
*) cli_accel=tcg ;;
esac
saved_accel=$accel
accel=$cli_accel
describe_and_launch cli-accel none 0
accel=$saved_accel
stop "$src_pid"
stop "$dst_pid"

# ---- scripts/demo and scripts/bench: the guest runs, then migrates -----------------
d=$dir/demo
start "$d" -nodefaults -display none -machine "pc,accel=$accel" -m 64 \
	-drive "file=$image,format=raw,if=ide,snapshot=on" \
	-fw_cfg name=opt/org.qmigrate/dirty-rate,string=0 \
	-qmp "unix:$d/qmp.sock,server=on,wait=off" -serial "file:$d/serial.log"
demo_src=$src_pid
describe_and_launch demo pc-i440fx-7.2 64
"$QMIGRATE" migrate --json --src-qmp "$d/qmp.sock" --dst-qmp "$dst_qmp" --qmp-log "$d/qmp.log" \
	>"$d/migrate.out" 2>"$d/migrate.err" || fail "demo: migrate exited $?: $(cat "$d/migrate.err")"
grep -q '"status":"completed"' "$d/migrate.out" || fail "demo: $(tail -n1 "$d/migrate.out")"
# The QMP transcript (--qmp-log): migrate went to the source, migrate-incoming
# to the destination, and both QEMUs' greetings came back.
[ "$(stat -c %a "$d/qmp.log")" = 600 ] || fail "demo: the QMP log's mode is $(stat -c %a "$d/qmp.log")"
for want in '"side":"source","dir":"send","msg":{"execute":"migrate",' \
	'"side":"destination","dir":"send","msg":{"execute":"migrate-incoming",' \
	'"side":"source","dir":"recv","msg":{"QMP":' '"side":"destination","dir":"recv","msg":{"QMP":'; do
	grep -qF "$want" "$d/qmp.log" || fail "demo: the QMP log lacks $want"
done
echo "ok: demo: the QMP log has $(wc -l <"$d/qmp.log") messages, migrate and migrate-incoming"
# The guest prints a '.' a pass: it goes on on the destination's serial port.
for _ in $(seq 300); do
	[ -s "$d/dst/serial.log" ] && grep -q '\.' "$d/dst/serial.log" && break
	kill -0 "$dst_pid" 2>/dev/null || fail "demo: the destination exited"
	sleep 0.1
done
grep -q '\.' "$d/dst/serial.log" || fail "demo: the guest made no pass on the destination in 30 s"
qmp "$dst_qmp" query-status | grep -q '"running"' || fail "demo: not running on the destination"
echo "ok: demo: migrated into the launched description, the guest runs there"
stop "$demo_src"
stop "$dst_pid"

# ---- a host resource that is not on the rewrite list: refused, by name -----------
d=$dir/refused
start "$d" -nodefaults -display none -machine "none,accel=$accel" \
	-qmp "unix:$d/qmp.sock,server=on,wait=off" \
	-object "memory-backend-file,id=m0,size=1M,mem-path=$d/mem"
rc=0
"$QMIGRATE" describe --qmp "$d/qmp.sock" >"$d/out" 2>"$d/err" || rc=$?
[ "$rc" = 1 ] || fail "refused: describe exited $rc, not 1"
[ ! -s "$d/out" ] || fail "refused: describe printed a description: $(cat "$d/out")"
grep -q -- '-object memory-backend-file: guest memory in a host file' "$d/err" ||
	fail "refused: the message does not name the option: $(cat "$d/err")"
kill -0 "$src_pid" || fail "refused: QEMU did not survive being described"
echo "ok: refused: $(cat "$d/err")"
stop "$src_pid"
echo "PASS: describe"
