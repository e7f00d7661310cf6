#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# migrate --launch-dest --lease: the lease moves with the VM.  The test
# guest runs in a QEMU started by `qmigrate launch --lease` (host A), and
# migrates, as host B, to destinations qmigrate launches:
#
#   a second lease that QEMU does not hold: refused (LeaseNotHeld), nothing
#   changed; a destination whose cont fails (its disk copy held for writing
#   by a third QEMU, so an induced finish failure): the source takes the
#   lease back (host A, generation 3) and runs on; a local migration, the
#   lease named only by --domain's description (<lease>, no --lease): the
#   source QEMU is gone and the destination holds the lease (generation 4,
#   in its fd sets, after qmigrate exited and QMP clients came and went);
#   from there through an agent (--dest exec:, host C): first the same
#   induced failure (the agent's error says where it left the lease, the
#   source takes it from there: generation 6), then the migration (7), the
#   lease named by --lease and by the description (one lease).
#
# After each step the lease file stays 0600 and a new launch of the VM
# fails with LeaseHeld naming the holder; the guest's memory is checked at
# the end.
# make check sets QMIGRATE, QEMU, top_srcdir and top_builddir.
set -euo pipefail
. "$(dirname "$0")/test-env.sh" qmigrate-lease-migrate
rate=64
mib=64

HOST_A=3d1219c7-c4c5-404a-aa1f-6d2a48adfda4
HOST_B=9f8e7d6c-5b4a-4392-8171-605f4e3d2c1b
HOST_C=5c4b3a29-1807-4f6e-9d5c-4b3a29180706
HOST_D=0d1e2f30-4152-4637-8899-aabbccddeeff # where the refused launches try
VM=7a1b2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e

fail() {
	echo "FAIL: $*" >&2
	for log in "$dir"/*.err "$dir"/*/qmigrate-vm-*/qemu.log; do
		[ ! -s "$log" ] || sed "s|^|  $log: |" "$log" | tail -n 30 >&2
	done
	exit 1
}
# wait_pass and memory_check, for the guest whose files are in dir/vm
. "$top_srcdir/tests/integration/remote-lib.sh"

guest_setup
qemu-img create -q -f qcow2 -F raw -b "$image" "$dir/overlay.qcow2"

cat >"$dir/vm.xml" <<XML
<domain type="$type" xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0">
  <name>lease-migrate</name>
  <uuid>$VM</uuid>
  <memory unit="MiB">$mib</memory>
  <os>
    <type arch="x86_64" machine="pc">hvm</type>
    <boot dev="hd"/>
  </os>
  <devices>
    <emulator>$QEMU</emulator>
    <disk type="file" device="disk">
      <driver name="qemu" type="qcow2"/>
      <source file="$dir/overlay.qcow2"/>
      <target dev="hda" bus="ide"/>
    </disk>
    <serial type="file">
      <source path="$dir/vm/serial.log"/>
      <target port="0"/>
    </serial>
  </devices>
  <qemu:commandline>
    <qemu:arg value="-fw_cfg"/>
    <qemu:arg value="name=opt/org.qmigrate/dirty-rate,string=$rate"/>
  </qemu:commandline>
</domain>
XML

lease=$dir/vm.lease
# The same VM whose description names the lease itself (<lease>).
sed "s|<devices>|<devices><lease><target path=\"$lease\"/></lease>|" \
	"$dir/vm.xml" >"$dir/vm-leased.xml"
refused_launch() { # HOLDER: a new launch of the VM fails, LeaseHeld naming HOLDER
	if "$QMIGRATE" launch --json --runtime-dir "$dir/src" --host-uuid "$HOST_D" \
		--lease "$lease" "$dir/vm.xml" >"$dir/again.out" 2>"$dir/again.err"; then
		again=$(json_field "$(cat "$dir/again.out")" pid)
		[ -z "$again" ] || pids+=("$again")
		fail "a second launch started while host $1 held the lease"
	fi
	grep -q LeaseHeld "$dir/again.err" || fail "the second launch: $(cat "$dir/again.err")"
	grep -qF "the lease $lease is held by host $1" "$dir/again.err" ||
		fail "the refusal does not name the lease and host $1: $(cat "$dir/again.err")"
}

lease_is() { # HOST GENERATION WHEN: the file says HOST took it last, at GENERATION
	printf 'owner-host-uuid=%s\nvm-uuid=%s\ngeneration=%s\n' "$1" "$VM" "$2" | cmp -s - "$lease" ||
		fail "$lease holds '$(cat "$lease")' $3, not host $1 at generation $2"
	[ "$(stat -c '%a %F' "$lease")" = "600 regular file" ] ||
		fail "$lease is $(stat -c '%a %F' "$lease") $3, not a 0600 regular file"
}
# migrate_vm NAME QMP ARGS...: migrates the VM at QMP as host B with the lease
# (--lease, else with leased=desc the description's <lease>, with leased=both
# both); its exit status, the result in $result
migrate_vm() {
	local name=$1 qmp=$2 rc=0 xml=$dir/vm.xml
	local given=(--lease "$lease")
	shift 2
	case ${leased:-option} in
	desc) xml=$dir/vm-leased.xml given=() ;;
	both) xml=$dir/vm-leased.xml ;;
	esac
	"$QMIGRATE" migrate --json --src-qmp "$qmp" --launch-dest --domain "$xml" \
		--host-uuid "$HOST_B" --allow-same-host "${given[@]}" "$@" \
		>"$dir/$name.out" 2>"$dir/$name.err" || rc=$?
	result=$(tail -n 1 "$dir/$name.out")
	return "$rc"
}
# cont_fails NAME QMP HOST GENERATION ARGS...: the destination's disk is the
# copy the holder QEMU keeps: its cont fails, and the source (HOST) takes the
# lease back at GENERATION and runs on
cont_fails() {
	local name=$1 qmp=$2 host=$3 gen=$4
	shift 4
	! migrate_vm "$name" "$qmp" --disk-map "$dir/overlay.qcow2=$dir/copy.qcow2" "$@" ||
		fail "$name: the migration to a destination that cannot resume succeeded"
	[[ $result == *'"status":"failed"'* && $result == *'write\" lock'* ]] ||
		fail "$name: the induced failure is not cont's: $result"
	source_runs vm
	lease_is "$host" "$gen" "after $name"
	refused_launch "$host"
}

mkdir -m 0700 "$dir/src" "$dir/run" "$dir/vm"
"$QMIGRATE" launch --json --runtime-dir "$dir/src" --host-uuid "$HOST_A" --lease "$lease" \
	"$dir/vm.xml" >"$dir/launch.out" 2>"$dir/launch.err" ||
	fail "launch --lease exited $?: $(cat "$dir/launch.err")"
out=$(cat "$dir/launch.out")
src_pid=$(json_field "$out" pid)
src_qmp=$(json_field "$out" qmp)
[ -n "$src_pid" ] && [ -S "$src_qmp" ] || fail "launch printed '$out'"
pids+=("$src_pid")
ln -s "$src_qmp" "$dir/vm/qmp.sock" # where remote-lib's source_runs looks
wait_pass vm

# Two leases, one the source QEMU does not hold: refused before anything changed.
! migrate_vm refused "$src_qmp" --runtime-dir "$dir/run" --lease "$dir/other.lease" ||
	fail "a migration with a lease the source does not hold succeeded"
[[ $result == *LeaseNotHeld* && $result == *"qmigrate launch --lease $dir/other.lease"* ]] ||
	fail "the refusal does not say LeaseNotHeld and how to start the VM: $result"
[[ $result == *'"vm":"source"'* && $result == *'"changed":false'* ]] ||
	fail "the refused migration changed something: $result"
qmp "$src_qmp" query-status | grep -q '"running":true' || fail "the source stopped"
grep -q '^generation=1$' "$lease" || fail "the refused migration wrote $lease: $(cat "$lease")"
wait_pass vm

# An induced finish failure: the destination opens its disk from a copy
# (--disk-map) that a third QEMU holds for writing.  An incoming QEMU takes
# its images' locks only when the VM resumes, so the migration completes,
# the destination takes the lease, and its cont fails.  It gives the lease
# back; confirm takes it again for the source (host A), then resumes it.
qemu-img create -q -f qcow2 -F raw -b "$image" "$dir/copy.qcow2"
launched_pid=$src_pid
start "$dir/holder" -nodefaults -display none -machine "pc,accel=$accel" -S \
	-qmp "unix:$dir/holder/qmp.sock,server=on,wait=off" \
	-drive "file=$dir/copy.qcow2,format=qcow2,if=ide"
holder=$src_pid
src_pid=$launched_pid
cont_fails rollback "$src_qmp" "$HOST_A" 3 --runtime-dir "$dir/run"
wait_pass vm

# The lease only in --domain's description: it moves all the same.
leased=desc migrate_vm migrate "$src_qmp" --runtime-dir "$dir/run" ||
	fail "migrate with the description's lease exited $?: $(tail -n 3 "$dir/migrate.err")"
arrived vm
forget "$src_pid"
lease_is "$HOST_B" 4 "after the migration"
fdsets=$(qmp "$dst_qmp" query-fdsets) || fail "query-fdsets failed"
grep -qF "\"opaque\":\"qmigrate-lease:$lease\"" <<<"$fdsets" ||
	fail "the destination's fd sets lack the lease: $fdsets"

# qmigrate exited and QMP clients came and went: a new start of the VM is refused.
refused_launch "$HOST_B"

# ---- again, from that destination, through an agent (exec:) as host C -----------------
# Begin finds the lease in the fd set finish gave that QEMU (add-fd); the
# agent's hello carries lockstate, and its finish takes the lease (or, when
# its cont fails, gives it back and says at which generation).
mkdir -m 0700 "$dir/agent"
src_pid=$dst_pid
ln -sf "$dst_qmp" "$dir/vm/qmp.sock"
agent_uri="exec:$QMIGRATE serve --stdio --host-uuid $HOST_C --runtime-dir $dir/agent"
# First the induced failure again, in the agent: its error carries where
# its finish left the lease, and the source takes it back from there.
cont_fails remote-rollback "$dst_qmp" "$HOST_B" 6 --dest "$agent_uri" --transport tcp
stop "$holder"
forget "$holder"
# Named both ways, it is one lease (the agent launches from that description).
leased=both migrate_vm remote "$dst_qmp" --dest "$agent_uri" --transport tcp ||
	fail "migrate --dest exec: --lease exited $?: $(tail -n 3 "$dir/remote.err")"
arrived vm
forget "$src_pid"
lease_is "$HOST_C" 7 "after the migration through the agent"
refused_launch "$HOST_C"

memory_check vm
stop "$dst_pid"
forget "$dst_pid"
echo "PASS: a failed cont gave the lease back to the source (generation 3, host A); then it moved with the VM to host B (4, named only by the description) then through an agent: a failed cont there gave it back to host B (6), and it moved to host C (7); the destination holds it; memory checked"
