#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# migrate --launch-dest --copy-storage all while the guest writes its disk
# (docs/storage.md, tests/guest/README: the disk mode).  Two test guests,
# started by `qmigrate launch`, rewrite 16 records of their IDE data disk
# (hdb: a raw one, a qcow2 one) after every pass, and read each back first.
# Each migrates with its disks to new paths (a third qcow2 one through the
# destination agent over --dest exec:; a qcow2 one through the tunnel, and
# a raw one through the tunnel and the agent); then on the destination:
#
#   the guest completed two more passes there, so at least one whole disk
#   round read back, on the copied disk, every record the source wrote;
#   the memory check (qm-memcheck) on a dump;
#   the disk check (qm-diskcheck) of the destination's image, the QEMU gone
#   (a qcow2 one converted to raw), against that dump: every record whole,
#   and each holds the rounds the memory says were completed, or the round
#   in progress up to one boundary.
#
# And the guest's own check: a third guest, whose records are zeroed under
# it, says so on its serial port and halts; qm-memcheck reports it.
#
# make check sets QMIGRATE, QEMU, top_srcdir and top_builddir.
set -euo pipefail
. "$(dirname "$0")/test-env.sh" qmigrate-storage-writes
rate=64
mib=32
vm_prefix=writes

fail() {
	echo "FAIL: $*" >&2
	for log in "$dir"/*.err "$dir"/*/qmigrate-vm-*/qemu.log "$dir"/*/serial.log; do
		[ ! -s "$log" ] || sed "s|^|  $log: |" "$log" | tail -n 30 >&2
	done
	exit 1
}
. "$top_srcdir/tests/integration/remote-lib.sh"

guest_setup
[ -x "$top_builddir/tests/guest/qm-diskcheck" ] || fail "no qm-diskcheck in $top_builddir/tests/guest"
HOST=3d1219c7-c4c5-404a-aa1f-6d2a48adfda4

declare -A vm_pid vm_qmp
# launch NAME UUID FORMAT: starts the guest NAME with `qmigrate launch`, without waiting
launch() {
	local d=$dir/$1 out
	mkdir -m 0700 "$d"
	qemu-img create -q -f qcow2 -F raw -b "$image" "$d/boot.qcow2"
	qemu-img create -q -f "$3" "$d/data.$3" 8M
	disk_mode_xml "$1" "$2" "$3" "$d/data.$3" >"$d/vm.xml"
	"$QMIGRATE" launch --json --runtime-dir "$d" "$d/vm.xml" >"$d/launch.out" 2>"$dir/$1.err" ||
		fail "$1: launch exited $?"
	out=$(cat "$d/launch.out")
	vm_pid[$1]=$(json_field "$out" pid)
	vm_qmp[$1]=$(json_field "$out" qmp)
	if [ -z "${vm_pid[$1]}" ] || [ ! -S "${vm_qmp[$1]}" ]; then fail "$1: launch printed $out"; fi
	pids+=("${vm_pid[$1]}")
}

# writes NAME FORMAT [exec] [tunnel]: migrates NAME with its disks (exec:
# through the destination agent, `qmigrate serve` over --dest exec:, which
# creates and serves the images; tunnel: the NBD connections ride the
# tunnel's pumps, and between hosts also two multifd channels, each in a
# stream process of its own), then checks its memory and disk
writes() {
	local name=$1 fmt=$2 d=$dir/$1 dst=$dir/dst-$1 run=$dir/run-$1 serial rc=0 where how=() carried
	local log=${QMIGRATE_LOG:-err}
	src_pid=${vm_pid[$name]}
	wait_pass "$name"
	mkdir -m 0700 "$dst" "$run"
	where=(--runtime-dir "$run" --host-uuid "$HOST")
	[ "${3:-}" != exec ] || where=(--dest "exec:$QMIGRATE serve --stdio --runtime-dir $run")
	if [ "${4:-}" = tunnel ]; then
		how=(--transport tunnel)
		log=info
		[ "${3:-}" != exec ] || how+=(--multifd 2)
	fi
	QMIGRATE_LOG=$log "$QMIGRATE" migrate --json --src-qmp "${vm_qmp[$name]}" --launch-dest \
		--domain "$d/vm.xml" "${where[@]}" --allow-same-host --copy-storage all "${how[@]}" \
		--disk-map "$d/boot.qcow2=$dst/boot.qcow2" --disk-map "$d/data.$fmt=$dst/data.$fmt" \
		>"$d/migrate.out" 2>"$dir/$name.err" || rc=$?
	result=$(tail -n 1 "$d/migrate.out")
	[ "$rc" = 0 ] || fail "$name: migrate --copy-storage all exited $rc: $(tail -n 3 "$dir/$name.err")"
	arrived "$name"
	forget "$src_pid"
	[[ $result == *'"storage_disks":2'* ]] || fail "$name: the result does not count 2 disks: $result"
	if [ "${4:-}" = tunnel ]; then
		# The mirrors wrote into the tunnel's socket, and its pumps carried both disks' connections.
		grep -q "mirroring 2 disk(s) to .*/nbd-tunnel.sock$" "$dir/$name.err" ||
			fail "$name: the mirrors did not go into the tunnel: $(grep mirroring "$dir/$name.err")"
		carried=$(sed -n 's/.*tunnel: \([0-9]*\) NBD connection(s) carried \([0-9]*\) bytes.*/\1 \2/p' \
			"$dir/$name.err")
		[ "${carried%% *}" = 2 ] && [ "${carried##* }" -gt 0 ] ||
			fail "$name: the tunnel did not carry both disks: '${carried:-nothing}'"
	fi
	# the destination's serial log (docs/domain.md: DIR/serialN.log on one host)
	serial=("$run"/qmigrate-vm-*/serial0.log)
	disk_check "$name" "$fmt" "$dst/data.$fmt" "${serial[0]}"
}

launch plant 4b0c1d2e-3f4a-4b5c-9d6e-8f9a0b1c2d3e raw
launch raw 5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f raw
launch qcow2 6d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a qcow2
launch exec 7e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a6b qcow2
launch tunnel 8f4a5b6c-7d8e-4f9a-8b1c-2d3e4f5a6b7c qcow2
launch xtunnel 9a5b6c7d-8e9f-4a0b-9c2d-3e4f5a6b7c8d raw

# Lost disk writes, planted: every record zeroed behind QEMU's back (all of
# them: the guest may be between reading a record and rewriting it).
src_pid=${vm_pid[plant]}
wait_pass plant
for i in $(seq 0 15); do
	dd if=/dev/zero of="$dir/plant/data.raw" bs=512 seek=$((8 + i * 1024)) count=1 conv=notrunc status=none
done
# The serial line arrives a character at a time: wait for the whole of it.
for _ in $(seq 600); do
	grep -qE '^qm-guest: lost .* found 0x[0-9a-f]{16}$' "$dir/plant/serial.log" && break
	sleep 0.1
done
want='^qm-guest: lost write: disk at 0x0000000000[0-7][0-9a-f]1000 expected 0x314b534944474d51 found 0x0000000000000000$'
grep -qE "$want" "$dir/plant/serial.log" ||
	fail "plant: the guest does not report a zeroed record: $(tail -c 300 "$dir/plant/serial.log")"
qmp "${vm_qmp[plant]}" stop >/dev/null || fail "plant: stop"
qmp "${vm_qmp[plant]}" pmemsave "{\"val\": 0, \"size\": $((mib << 20)), \"filename\": \"$dir/plant/mem\"}" \
	>/dev/null || fail "plant: pmemsave"
rc=0
"$memcheck" --ram-mib "$mib" "$dir/plant/mem" >"$dir/plant/memcheck" 2>&1 || rc=$?
if [ "$rc" != 1 ] || ! grep -qE "lost disk write: sector [0-9]+, byte 0x[0-9a-f]+000 of the disk held 0x0, expected 0x314b534944474d51" "$dir/plant/memcheck"; then
	fail "plant: qm-memcheck exited $rc: $(cat "$dir/plant/memcheck")"
fi
stop "$src_pid"
forget "$src_pid"
rm -f "$dir/plant/mem"

writes raw raw
writes qcow2 qcow2
writes exec qcow2 exec
writes tunnel qcow2 local tunnel
writes xtunnel raw exec tunnel
echo "PASS: zeroed records caught by the guest and reported by qm-memcheck; a raw and a qcow2 data disk copied while the guest rewrote them, locally and through the agent over exec:, each directly and through the tunnel (between hosts with two multifd channels); on the destination the guest read every record back, and the memory and disk checks agree"
