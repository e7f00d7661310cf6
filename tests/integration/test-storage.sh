#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# migrate --launch-dest --copy-storage (docs/storage.md): the disks move
# with the VM over NBD.  The test guest runs in a QEMU started by `qmigrate
# launch` with its boot disk (a qcow2 overlay), a raw disk and a qcow2 disk,
# each filled with its own pattern by qemu-io before the start:
#
#   an image at a mapped path exists: refused, the file left as it was;
#   --copy-storage inc of a disk without a backing file: refused in begin;
#   --copy-storage all with --disk-map to new paths: the destination runs
#   the VM, each destination image equals its source (qemu-img compare), the
#   progress lines and the result carry the disks' figures, and the guest's
#   memory is checked;
#   a second VM (--copy-storage-disk vdb, its copy capped by --bandwidth so
#   that it lasts) whose destination is killed during the mirror: the source
#   runs on, its disk unchanged, no mirror or NBD node left on it, and no
#   image left where the destination's were; and a third, the same with
#   the mirror's NBD connection in the tunnel;
#   --copy-storage inc of a VM whose disks are qcow2 overlays on shared
#   backing files: the destination's images are overlays on the same files,
#   equal to the source's (qemu-img compare), and only the top layers
#   travelled (the result's storage_bytes), the memory checked;
#   --copy-storage all through the destination agent (`qmigrate serve`
#   over --dest exec:), which creates and serves the images: they equal the
#   source's, the memory checked, the agent gone.
# make check sets QMIGRATE, QEMU, top_srcdir and top_builddir.
set -euo pipefail
. "$(dirname "$0")/test-env.sh" qmigrate-storage
rate=64
mib=32
vm_prefix=storage

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

# tunables NAME: the destination QEMU ($dst_pid), which served the disks,
# keeps what its allocator frees (engine/launch.h, QM_LAUNCH_NBD_TUNABLES)
tunables() {
	[ -n "${GLIBC_TUNABLES:-}" ] ||
		grep -qz '^GLIBC_TUNABLES=glibc\.malloc\.mmap_threshold=' "/proc/$dst_pid/environ" ||
		fail "$1: the destination that served the disks was started without its malloc tunables"
}

mkdir -m 0700 "$dir/vm" "$dir/inc" "$dir/rem" "$dir/run" "$dir/dst" "$dir/dsti" \
	"$dir/dstr" "$dir/agent"
v=$dir/vm
qemu-img create -q -f qcow2 -F raw -b "$image" "$v/boot.qcow2"
qemu-img create -q -f raw "$v/data.raw" 16M
qemu-io -f raw -c "write -P 0xa5 0 16M" "$v/data.raw" >/dev/null
qemu-img create -q -f qcow2 "$v/data.qcow2" 32M
qemu-io -f qcow2 -c "write -P 0x3c 1M 8M" -c "write -P 0xc3 24M 4M" "$v/data.qcow2" >/dev/null
guest_xml vm 7a1b2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e "$(guest_disk raw "$v/data.raw" vdb)$(guest_disk qcow2 "$v/data.qcow2" vdc)" >"$v/vm.xml"
maps=(--disk-map "$v/boot.qcow2=$dir/dst/boot.qcow2"
	--disk-map "$v/data.raw=$dir/dst/data.raw" --disk-map "$v/data.qcow2=$dir/dst/data.qcow2")
guest_launch vm

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
[ "$rc" = 1 ] && [[ $result == *StorageUnsupported*'has no backing file'* && $result == *'"changed":false'* ]] ||
	fail "inc of a disk without a backing file exited $rc: $result"
[ -z "$(ls -A "$dir/dst")" ] || fail "the refused inc left images: $(ls "$dir/dst")"

migrate vm --copy-storage all "${maps[@]}" ||
	fail "migrate --copy-storage all exited $?: $(tail -n 3 "$dir/vm.err")"
arrived vm
forget "$src_pid"
tunables vm
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
# killed NAME UUID TRANSPORT: a VM whose destination is killed while its disk
# is mirrored over TRANSPORT
killed() {
	local name=$1 k=$dir/$1 sum mig victim jobs copying
	mkdir -m 0700 "$k"
	qemu-img create -q -f qcow2 -F raw -b "$image" "$k/boot.qcow2"
	qemu-img create -q -f raw "$k/data.raw" 64M
	qemu-io -f raw -c "write -P 0x5a 0 64M" "$k/data.raw" >/dev/null
	sum=$(sha256sum <"$k/data.raw")
	guest_xml "$name" "$2" "$(guest_disk raw "$k/data.raw" vdb)" >"$k/vm.xml"
	guest_launch "$name" no-memory-check # its memory is not checked: no need to wait for a pass
	"$QMIGRATE" migrate --json --src-qmp "$src_qmp" --launch-dest --domain "$k/vm.xml" \
		--runtime-dir "$dir/run" --host-uuid "$HOST" --allow-same-host --transport "$3" \
		--copy-storage-disk vdb --bandwidth 4 --disk-map "$k/data.raw=$dir/dst/$name.raw" \
		>"$k/migrate.out" 2>"$dir/$name.err" &
	mig=$!
	pids+=("$mig")
	# a progress line with the mirror's bytes and its rate (issue 15, item 2)
	copying='"storage_transferred_bytes":[1-9].*"storage_mbps":[1-9]'
	for _ in $(seq 600); do
		grep -qs "$copying" "$k/migrate.out" && break
		kill -0 "$mig" 2>/dev/null || fail "$name: migrate ended before the mirror copied"
		sleep 0.1
	done
	grep -q "$copying" "$k/migrate.out" ||
		fail "$name: no progress line in 60 s shows the mirror copying at a rate: $(tail -n 2 "$k/migrate.out")"
	[ -f "$dir/dst/$name.raw" ] || fail "$name: no destination image during the mirror"
	victim=
	for p in /proc/[0-9]*; do
		proc_read "${p#/proc/}" && [[ $proc_argv == *"$dir/dst/$name.raw"* ]] &&
			[[ $proc_argv != *"$QMIGRATE"* ]] && victim=${p#/proc/}
	done
	[ -n "$victim" ] || fail "$name: no destination QEMU found"
	kill -KILL "$victim"
	ended "$name" "$mig" 1
	[[ $result == *'"vm":"source"'* ]] || fail "$name: the result does not leave the VM on the source: $result"
	source_runs "$name"
	[ ! -e "$dir/dst/$name.raw" ] || fail "$name: the destination's image was left behind"
	[ "$(sha256sum <"$k/data.raw")" = "$sum" ] || fail "$name: the source's disk changed"
	jobs=$(qmp "$src_qmp" query-block-jobs) || fail "$name: query-block-jobs"
	[ "$jobs" = '[]' ] || fail "$name: the source still has block jobs: $jobs"
	! qmp "$src_qmp" query-named-block-nodes | grep -q qmigrate-nbd ||
		fail "$name: an NBD node is left on the source"
	wait_pass "$name"
	stop "$src_pid"
	forget "$src_pid"
}
killed kill 8b2c3d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f unix
killed tkill 1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d tunnel

# ---- --copy-storage inc: only the top layers travel ------------------------------------
i=$dir/inc
qemu-img create -q -f qcow2 -F raw -b "$image" "$i/boot.qcow2"
qemu-img create -q -f raw "$i/base.raw" 32M
qemu-io -f raw -c "write -P 0x11 0 32M" "$i/base.raw" >/dev/null
qemu-img create -q -f qcow2 -F raw -b "$i/base.raw" "$i/top.qcow2"
qemu-io -f qcow2 -c "write -P 0x22 4M 2M" "$i/top.qcow2" >/dev/null
guest_xml inc 9c3d4e5f-6a7b-4d8e-9f0a-1b2c3d4e5f6a "$(guest_disk qcow2 "$i/top.qcow2" vdb)" >"$i/vm.xml"
guest_launch inc
migrate inc --copy-storage inc --disk-map "$i/boot.qcow2=$dir/dsti/boot.qcow2" \
	--disk-map "$i/top.qcow2=$dir/dsti/top.qcow2" ||
	fail "migrate --copy-storage inc exited $?: $(tail -n 3 "$dir/inc.err")"
arrived inc
forget "$src_pid"
memory_check inc
stop "$dst_pid"
forget "$dst_pid"
for f in boot top; do
	qemu-img compare -q "$i/$f.qcow2" "$dir/dsti/$f.qcow2" || fail "inc: the destination's $f.qcow2 differs"
done
[[ $(qemu-img info --output=json "$dir/dsti/top.qcow2") == *"\"backing-filename\": \"$i/base.raw\""* ]] ||
	fail "inc: the destination's top.qcow2 is not an overlay on $i/base.raw: $(qemu-img info "$dir/dsti/top.qcow2")"
copied=$(json_field "$result" storage_bytes)
# The data disk's top layer is 2 MiB of its 32; the boot overlay holds next to nothing.
[ "${copied:-0}" -ge $((2 << 20)) ] && [ "$copied" -lt $((6 << 20)) ] ||
	fail "inc: the mirrors copied ${copied:-no} bytes, not the top layers' 2 MiB: $result"

# ---- through the destination agent (--dest exec:) --------------------------------------
r=$dir/rem
qemu-img create -q -f qcow2 -F raw -b "$image" "$r/boot.qcow2"
qemu-img create -q -f qcow2 "$r/data.qcow2" 16M
qemu-io -f qcow2 -c "write -P 0x6b 2M 6M" "$r/data.qcow2" >/dev/null
guest_xml rem 0d4e5f6a-7b8c-4e9f-8a1b-2c3d4e5f6a7b "$(guest_disk qcow2 "$r/data.qcow2" vdb)" >"$r/vm.xml"
guest_launch rem
migrate rem --copy-storage all --dest "exec:$QMIGRATE serve --stdio --runtime-dir $dir/agent" \
	--disk-map "$r/boot.qcow2=$dir/dstr/boot.qcow2" --disk-map "$r/data.qcow2=$dir/dstr/data.qcow2" ||
	fail "migrate --copy-storage all --dest exec: exited $?: $(tail -n 3 "$dir/rem.err")"
arrived rem
forget "$src_pid"
[[ $dst_qmp == "$dir/agent/"* ]] || fail "rem: the destination $dst_qmp is not the agent's"
tunables rem
memory_check rem
stop "$dst_pid"
forget "$dst_pid"
for f in boot data; do
	qemu-img compare -q "$r/$f.qcow2" "$dir/dstr/$f.qcow2" || fail "rem: the destination's $f.qcow2 differs"
	[ "$(stat -c %a "$dir/dstr/$f.qcow2")" = 600 ] || fail "rem: $dir/dstr/$f.qcow2 is not 0600"
done
[[ $result == *'"storage_disks":2'* ]] || fail "rem: the result does not count 2 disks: $result"
echo "PASS: an existing image refused and left alone; inc of a disk without a backing file refused; a raw, a qcow2 and the boot disk copied with the VM (qemu-img compare, memory checked); a destination killed during the mirror, direct and tunnelled, left the source running, its disk unchanged, no node or image behind; inc copied only the top layers ($copied bytes) onto the shared backing files; the agent over exec: created, served and filled the images"
