#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# migrate --launch-dest --copy-storage (docs/storage.md): the disks move
# with the VM over NBD.  The test guest runs in a QEMU started by `qmigrate
# launch` with its boot disk (a qcow2 overlay), a raw disk and a qcow2 disk,
# each filled with its own pattern by qemu-io before the start:
#
#   an image at a mapped path exists: refused, the file left as it was;
#   --copy-storage inc: refused as not yet supported;
#   --copy-storage all with --disk-map to new paths: the destination runs
#   the VM, each destination image equals its source (qemu-img compare), the
#   progress lines and the result carry the disks' figures, and the guest's
#   memory is checked;
#   a second VM (--copy-storage-disk vdb, its copy capped by --bandwidth so
#   that it lasts) whose destination is killed during the mirror: the source
#   runs on, its disk unchanged, no mirror or NBD node left on it, and no
#   image left where the destination's were.
# make check sets QMIGRATE, QEMU, top_srcdir and top_builddir.
set -euo pipefail
. "$(dirname "$0")/test-env.sh" qmigrate-storage
rate=64
mib=32

fail() {
	echo "FAIL: $*" >&2
	for log in "$dir"/*.err "$dir"/*/qmigrate-vm-*/qemu.log; do
		[ ! -s "$log" ] || sed "s|^|  $log: |" "$log" | tail -n 30 >&2
	done
	exit 1
}
. "$top_srcdir/tests/integration/remote-lib.sh"

guest_setup
HOST=3d1219c7-c4c5-404a-aa1f-6d2a48adfda4

disk() { # FORMAT FILE DEV
	printf '\n    <disk type="file" device="disk">\n      <driver name="qemu" type="%s"/>\n      <source file="%s"/>\n      <target dev="%s" bus="virtio"/>\n    </disk>' "$1" "$2" "$3"
}
# launch NAME: starts dir/NAME/vm.xml with `qmigrate launch`; sets src_pid, src_qmp;
# with a second argument, does not wait for the guest's first pass
launch() {
	"$QMIGRATE" launch --json --runtime-dir "$dir/$1" "$dir/$1/vm.xml" \
		>"$dir/$1/launch.out" 2>"$dir/$1.err" || fail "$1: launch exited $?"
	src_pid=$(json_field "$(cat "$dir/$1/launch.out")" pid)
	src_qmp=$(json_field "$(cat "$dir/$1/launch.out")" qmp)
	[ -n "$src_pid" ] && [ -S "$src_qmp" ] || fail "$1: launch printed $(cat "$dir/$1/launch.out")"
	pids+=("$src_pid")
	ln -s "$src_qmp" "$dir/$1/qmp.sock" # where remote-lib looks
	[ $# -gt 1 ] || wait_pass "$1"
}
# migrate NAME ARGS...: migrates dir/NAME's VM; its exit status, the result in $result
migrate() {
	local name=$1 rc=0
	shift
	"$QMIGRATE" migrate --json --src-qmp "$src_qmp" --launch-dest --domain "$dir/$name/vm.xml" \
		--runtime-dir "$dir/run" --host-uuid "$HOST" --allow-same-host "$@" \
		>"$dir/$name/migrate.out" 2>"$dir/$name.err" || rc=$?
	result=$(tail -n 1 "$dir/$name/migrate.out")
	return "$rc"
}

mkdir -m 0700 "$dir/vm" "$dir/kill" "$dir/run" "$dir/dst"
v=$dir/vm
qemu-img create -q -f qcow2 -F raw -b "$image" "$v/boot.qcow2"
qemu-img create -q -f raw "$v/data.raw" 16M
qemu-io -f raw -c "write -P 0xa5 0 16M" "$v/data.raw" >/dev/null
qemu-img create -q -f qcow2 "$v/data.qcow2" 32M
qemu-io -f qcow2 -c "write -P 0x3c 1M 8M" -c "write -P 0xc3 24M 4M" "$v/data.qcow2" >/dev/null
storage_domain vm 7a1b2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e "$(disk raw "$v/data.raw" vdb)$(disk qcow2 "$v/data.qcow2" vdc)" >"$v/vm.xml"
maps=(--disk-map "$v/boot.qcow2=$dir/dst/boot.qcow2"
	--disk-map "$v/data.raw=$dir/dst/data.raw" --disk-map "$v/data.qcow2=$dir/dst/data.qcow2")
launch vm

# An image where one goes already: refused, before anything changed, and left alone.
echo "someone's file" >"$dir/dst/data.raw"
! migrate vm --copy-storage all "${maps[@]}" || fail "a migration over an existing image succeeded"
[[ $result == *StorageExists* && $result == *'"changed":false'* ]] ||
	fail "the existing image is not refused as such: $result"
[ "$(cat "$dir/dst/data.raw")" = "someone's file" ] || fail "the existing file was touched"
[ ! -e "$dir/dst/boot.qcow2" ] && [ ! -e "$dir/dst/data.qcow2" ] ||
	fail "the refused migration left images: $(ls "$dir/dst")"
rm "$dir/dst/data.raw"
rc=0
migrate vm --copy-storage inc "${maps[@]}" || rc=$?
[ "$rc" = 2 ] && grep -q "not yet supported" "$dir/vm.err" || fail "--copy-storage inc exited $rc: $(cat "$dir/vm.err")"

migrate vm --copy-storage all "${maps[@]}" ||
	fail "migrate --copy-storage all exited $?: $(tail -n 3 "$dir/vm.err")"
arrived vm
forget "$src_pid"
memory_check vm
stop "$dst_pid"
forget "$dst_pid"
for f in boot.qcow2 data.raw data.qcow2; do
	qemu-img compare -q "$v/$f" "$dir/dst/$f" || fail "the destination's $f differs from the source's"
	[ "$(stat -c %a "$dir/dst/$f")" = 600 ] || fail "$dir/dst/$f is not 0600"
done
[[ $result == *'"storage_disks":3'* ]] || fail "the result does not count 3 disks: $result"
grep -q '"status":"mirror".*"storage_total_bytes":[1-9]' "$v/migrate.out" ||
	fail "no progress line shows the disks while they are mirrored"
qemu-img info "$dir/dst/data.qcow2" | grep -q "file format: qcow2" || fail "data.qcow2 is not qcow2 there"

# ---- the destination killed during the mirror ----------------------------------------
k=$dir/kill
qemu-img create -q -f qcow2 -F raw -b "$image" "$k/boot.qcow2"
qemu-img create -q -f raw "$k/data.raw" 64M
qemu-io -f raw -c "write -P 0x5a 0 64M" "$k/data.raw" >/dev/null
sum=$(sha256sum <"$k/data.raw")
storage_domain kill 8b2c3d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f "$(disk raw "$k/data.raw" vdb)" >"$k/vm.xml"
launch kill no-memory-check # its memory is not checked: no need to wait for a pass
"$QMIGRATE" migrate --json --src-qmp "$src_qmp" --launch-dest --domain "$k/vm.xml" \
	--runtime-dir "$dir/run" --host-uuid "$HOST" --allow-same-host \
	--copy-storage-disk vdb --bandwidth 4 --disk-map "$k/data.raw=$dir/dst/kill.raw" \
	>"$k/migrate.out" 2>"$dir/kill.err" &
mig=$!
pids+=("$mig")
for _ in $(seq 600); do
	grep -q '"storage_transferred_bytes":[1-9]' "$k/migrate.out" && break
	kill -0 "$mig" 2>/dev/null || fail "kill: migrate ended before the mirror copied"
	sleep 0.1
done
grep -q '"storage_transferred_bytes":[1-9]' "$k/migrate.out" || fail "kill: the mirror did not start in 60 s"
[ -f "$dir/dst/kill.raw" ] || fail "kill: no destination image during the mirror"
victim=
for p in /proc/[0-9]*; do
	proc_read "${p#/proc/}" && [[ $proc_argv == *"$dir/dst/kill.raw"* ]] &&
		[[ $proc_argv != *"$QMIGRATE"* ]] && victim=${p#/proc/}
done
[ -n "$victim" ] || fail "kill: no destination QEMU found"
kill -KILL "$victim"
ended kill "$mig" 1
[[ $result == *'"vm":"source"'* ]] || fail "kill: the result does not leave the VM on the source: $result"
source_runs kill
[ ! -e "$dir/dst/kill.raw" ] || fail "kill: the destination's image was left behind"
[ "$(sha256sum <"$k/data.raw")" = "$sum" ] || fail "kill: the source's disk changed"
jobs=$(qmp "$src_qmp" query-block-jobs) || fail "kill: query-block-jobs"
[ "$jobs" = '[]' ] || fail "kill: the source still has block jobs: $jobs"
! qmp "$src_qmp" query-named-block-nodes | grep -q qmigrate-nbd ||
	fail "kill: an NBD node is left on the source"
wait_pass kill
echo "PASS: an existing image refused and left alone; inc refused; a raw, a qcow2 and the boot disk copied with the VM (qemu-img compare, memory checked); a destination killed during the mirror left the source running, its disk unchanged, no node or image behind"
