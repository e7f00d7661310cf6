#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# qmigrate launch --lease: the VM's leases stay held as long as its QEMU runs,
# after qmigrate exited and after a QMP client came and went (QEMU 7.2 closes
# an unused fd set's fds when the last monitor disconnects; launch pins one).
# A second launch of the VM, from "another host" (--host-uuid), fails with
# LeaseHeld naming the first host, and starts no QEMU; the lease files are
# 0600.  Once the first QEMU is killed by its pid, a new launch takes them at
# the next generation.  A lease named only by the description's <lease> is
# taken and held the same way: a launch with --lease of that file then fails
# LeaseHeld.  No guest is needed: QEMU idles in its BIOS.
# make check sets QMIGRATE, QEMU, top_srcdir and top_builddir.
set -euo pipefail
. "$(dirname "$0")/test-env.sh" qmigrate-lease

HOST_A=3d1219c7-c4c5-404a-aa1f-6d2a48adfda4
HOST_B=9f8e7d6c-5b4a-4392-8171-605f4e3d2c1b
VM=6e1b2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e

fail() {
	echo "FAIL: $*" >&2
	for log in "$dir"/qmigrate-vm-*/qemu.log; do
		[ ! -e "$log" ] || sed "s|^|  $log: |" "$log" >&2
	done
	exit 1
}

pick_accel
case $accel in
kvm) type=kvm ;;
*) type=qemu ;;
esac

cat >"$dir/vm.xml" <<XML
<domain type="$type">
  <name>lease-test</name>
  <uuid>$VM</uuid>
  <memory unit="MiB">32</memory>
  <os>
    <type arch="x86_64" machine="pc">hvm</type>
  </os>
  <devices>
    <emulator>$QEMU</emulator>
  </devices>
</domain>
XML

vm_lease=$dir/vm.lease
disk_lease=$dir/disk.lease

# The same VM whose description names the lease itself.
sed "s|<devices>|<devices><lease><target path=\"$dir/vm.lease\"/></lease>|" \
	"$dir/vm.xml" >"$dir/vm-leased.xml"

launch() { # OUT ARGS...: qmigrate launch --json into OUT and OUT.err; its status
	local out=$1
	shift
	"$QMIGRATE" launch --json --runtime-dir "$dir" --timeout 20 "$@" "${xml:-$dir/vm.xml}" \
		>"$out" 2>"$out.err"
}
vm_dirs() {
	find "$dir" -maxdepth 1 -name 'qmigrate-vm-*' | wc -l
}

launch "$dir/first" --host-uuid "$HOST_A" --lease "$vm_lease" --lease "$disk_lease" ||
	fail "the first launch exited $?: $(cat "$dir/first.err")"
pid=$(json_field "$(cat "$dir/first")" pid)
qmp=$(json_field "$(cat "$dir/first")" qmp)
[ -n "$pid" ] && [ -n "$qmp" ] || fail "the first launch printed '$(cat "$dir/first")'"
pids+=("$pid")
kill -0 "$pid" || fail "QEMU $pid is not running after launch returned"

for f in "$vm_lease" "$disk_lease"; do
	[ "$(stat -c '%a %F' "$f")" = "600 regular file" ] ||
		fail "$f is $(stat -c '%a %F' "$f"), not a 0600 regular file"
	printf 'owner-host-uuid=%s\nvm-uuid=%s\ngeneration=1\n' "$HOST_A" "$VM" |
		cmp -s - "$f" || fail "$f holds '$(cat "$f")'"
done

# QEMU holds both in its fd sets; a QMP client comes and goes (twice).
fdsets=$(qmp "$qmp" query-fdsets) || fail "query-fdsets failed"
for f in "$vm_lease" "$disk_lease"; do
	grep -qF "\"opaque\":\"qmigrate-lease:$f\"" <<<"$fdsets" ||
		fail "QEMU's fd sets lack $f: $fdsets"
done
qmp "$qmp" query-status | grep -q '"running":true' || fail "the VM is not running"

# The first qmigrate has exited; its QEMU still holds the leases.
before=$(vm_dirs)
if launch "$dir/second" --host-uuid "$HOST_B" --lease "$disk_lease"; then
	second=$(json_field "$(cat "$dir/second")" pid)
	[ -z "$second" ] || pids+=("$second")
	fail "a second launch started while the lease was held: $(cat "$dir/second")"
fi
err=$(cat "$dir/second.err")
grep -q "LeaseHeld" <<<"$err" || fail "the second launch did not fail with LeaseHeld: $err"
grep -qF "the lease $disk_lease is held by host $HOST_A" <<<"$err" ||
	fail "the refusal does not name the lease and its holder: $err"
[ "$(vm_dirs)" = "$before" ] || fail "the refused launch left a runtime directory behind"
kill -0 "$pid" || fail "QEMU $pid stopped during the refused launch"
grep -q '^generation=1$' "$disk_lease" || fail "the refused launch wrote $disk_lease"

# QEMU gone, the leases are free: a new launch takes them, one generation on.
stop "$pid"
# init reaps it (qmigrate launch has exited): a zombie holds no descriptor.
gone "$pid" || fail "QEMU $pid survived"
forget "$pid"
launch "$dir/third" --host-uuid "$HOST_B" --lease "$vm_lease" --lease "$disk_lease" ||
	fail "a launch after QEMU $pid was killed exited $?: $(cat "$dir/third.err")"
third=$(json_field "$(cat "$dir/third")" pid)
[ -n "$third" ] || fail "the third launch printed '$(cat "$dir/third")'"
pids+=("$third")
for f in "$vm_lease" "$disk_lease"; do
	printf 'owner-host-uuid=%s\nvm-uuid=%s\ngeneration=2\n' "$HOST_B" "$VM" |
		cmp -s - "$f" || fail "$f holds '$(cat "$f")' after the third launch"
done
stop "$third"
forget "$third"

# --host-uuid without a lease anywhere is a usage error, before any QEMU.
status=0
launch "$dir/nolease" --host-uuid "$HOST_A" || status=$?
[ "$status" = 2 ] || fail "--host-uuid without leases exited $status: $(cat "$dir/nolease.err")"
grep -q "neither --lease nor the description names one" "$dir/nolease.err" ||
	fail "--host-uuid without leases said: $(cat "$dir/nolease.err")"

# The lease named only by the description is held just the same.
xml=$dir/vm-leased.xml launch "$dir/fourth" --host-uuid "$HOST_A" ||
	fail "a launch with the lease in its description exited $?: $(cat "$dir/fourth.err")"
fourth=$(json_field "$(cat "$dir/fourth")" pid)
[ -n "$fourth" ] || fail "the fourth launch printed '$(cat "$dir/fourth")'"
pids+=("$fourth")
printf 'owner-host-uuid=%s\nvm-uuid=%s\ngeneration=3\n' "$HOST_A" "$VM" |
	cmp -s - "$vm_lease" || fail "$vm_lease holds '$(cat "$vm_lease")' after the fourth launch"
grep -q '^generation=2$' "$disk_lease" || fail "the fourth launch took $disk_lease"
grep -qF "\"opaque\":\"qmigrate-lease:$vm_lease\"" <<<"$(qmp "$(json_field "$(cat "$dir/fourth")" qmp)" query-fdsets)" ||
	fail "the fourth QEMU's fd sets lack $vm_lease"
if launch "$dir/fifth" --host-uuid "$HOST_B" --lease "$vm_lease"; then
	fifth=$(json_field "$(cat "$dir/fifth")" pid)
	[ -z "$fifth" ] || pids+=("$fifth")
	fail "a launch started while the description's lease was held: $(cat "$dir/fifth")"
fi
grep -qF "the lease $vm_lease is held by host $HOST_A" "$dir/fifth.err" ||
	fail "the launch against the description's lease did not fail LeaseHeld: $(cat "$dir/fifth.err")"
stop "$fourth"
forget "$fourth"
echo "PASS: leases held by QEMU $pid after qmigrate exited; a second launch refused LeaseHeld; taken again at generation 2 once it was killed; a lease named only by the description held the same way"
