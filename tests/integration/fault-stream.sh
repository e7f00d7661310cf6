#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# One stream or filesystem cell of the fault matrix: fault-stream.sh FAULT PHASE
# (docs/fault-matrix.md).  The test guest runs in a source QEMU; qmigrate
# migrates it and the fault happens at an exact point, made without timing:
#
#   tunnel-cut.perform   the tunnelled stream (--dest exec: to the agent on
#                        this host, --transport tunnel) cut after CUT_AT bytes
#                        by tests/helpers/stream-cut, both ways at once;
#   tunnel-deaf.perform  the same relay stops reading after CUT_AT bytes and
#                        never closes: qmigrate's --stall-timeout ends it;
#   rundir.prepare       the runtime directory (--runtime-dir) on a read-only
#                        mount: prepare cannot make its socket directory there;
#   enospc.prepare       --copy-storage all, the second disk mapped onto a
#                        full filesystem: prepare cannot write its qcow2 image
#                        (and must remove the first disk's, made elsewhere);
#   enospc.perform       the same filesystem with 2 MiB free: the image is
#                        made, and the mirror fills it before it is in step.
#
# The mounts are made in a mount namespace of qmigrate's own (unshare -m,
# private), never on the host.  Then the cell checks what fault-cell.sh
# checks: qmigrate's exit status and message, the result's "vm" is the
# source, which runs the guest (it keeps making passes) with its memory
# intact; the destination is gone (nothing qmigrate, its agent or the relay
# started still runs); and nothing is left in a runtime directory or where
# the image would have gone.  Exit 0 pass, 1 fail, 2 the cell does not
# exist.  Needs QMIGRATE, QEMU, top_srcdir, top_builddir (make faultcheck
# sets them), and root for the mounts.  To look into a failure:
# FAULT_AGENT_V=-vv logs the agent's debug lines into migrate.err, and
# FAULT_LOG_LINES (15) is how much of each log the failure shows.
set -euo pipefail

fault=${1:?FAULT} phase=${2:?PHASE}
: "${QMIGRATE:?QMIGRATE must name the qmigrate binary}"
QEMU=$(command -v "${QEMU:-qemu-system-x86_64}")
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$PWD}
image=$top_builddir/tests/guest/guest.img
memcheck=$top_builddir/tests/guest/qm-memcheck
cut=$top_builddir/tests/helpers/stream-cut
# A name of its own: another run of the matrix may have a QEMU named fault-src.
mib=64 rate=64 vm_prefix=fstream-$$
# Bytes of the migration stream that pass before the cut: an eighth of the
# guest's RAM, which is never all zero pages (the guest writes its pattern).
CUT_AT=$((8 << 20))

case $fault.$phase in
tunnel-cut.perform | tunnel-deaf.perform | rundir.prepare | enospc.prepare | enospc.perform) ;;
*) echo "no cell $fault/$phase" >&2 && exit 2 ;;
esac

dir=$(mktemp -d "${TMPDIR:-/tmp}/qmigrate-fstream-XXXXXX")
chmod 0700 "$dir"
fail() {
	echo "FAIL $fault/$phase: $*" >&2
	for log in "$dir"/migrate.out "$dir"/migrate.err "$dir"/*/qemu.log; do
		[ ! -s "$log" ] || sed "s|^|  ${log#"$dir"/}: |" "$log" | tail -n "${FAULT_LOG_LINES:-15}" >&2
	done
	exit 1
}
# shellcheck source-path=SCRIPTDIR source=qemu-lib.sh
. "$top_srcdir/tests/integration/qemu-lib.sh"
# shellcheck source-path=SCRIPTDIR source=remote-lib.sh
. "$top_srcdir/tests/integration/remote-lib.sh"
# shellcheck source-path=SCRIPTDIR source=fault-lib.sh
. "$top_srcdir/tests/integration/fault-lib.sh"

guest_setup 2>/dev/null
[ -x "$cut" ] || fail "no $cut"
mkdir -m 0700 "$dir/run" "$dir/agent" "$dir/mnt" "$dir/img"

# in_namespace ARGS...: qmigrate ARGS in a mount namespace of its own, where
# $dir/mnt is a tmpfs: read-only (rundir), full to its last block
# (enospc.prepare), or with FREE_KIB left (enospc.perform).
# What is left on it afterwards goes to $dir/left, before the namespace (and
# the tmpfs) ends with the last process in it.
in_namespace() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	timeout 300 unshare -m --propagation private bash -c '
		set -u
		m=$1 fault=$2 out=$3 free=$4
		shift 4
		if [ "$fault" = rundir ]; then
			mount -t tmpfs -o ro,size=1m,mode=0700 qmigrate-ro "$m" || exit 90
		else
			mount -t tmpfs -o size=$((free + 1024))k,mode=0700 qmigrate-full "$m" || exit 90
			if [ "$free" = 0 ]; then
				dd if=/dev/zero of="$m/fill" bs=4k 2>/dev/null
			else
				dd if=/dev/zero of="$m/fill" bs=1k count=1024 2>/dev/null
			fi
			[ -s "$m/fill" ] || exit 91
			[ "$(df -k --output=avail "$m" | tail -n 1)" -le "$free" ] || exit 92
		fi
		rc=0
		"$@" || rc=$?
		ls -A "$m" >"$out"
		exit "$rc"
	' in-namespace "$dir/mnt" "$fault" "$dir/left" "$free_kib" "$QMIGRATE" "$@"
}

# ---- the source ------------------------------------------------------------------
if [ "$fault" = enospc ]; then
	# Storage migration needs the disks' node names that `qmigrate launch` gives.
	mkdir -m 0700 "$dir/src"
	qemu-img create -q -f qcow2 -F raw -b "$image" "$dir/src/boot.qcow2"
	# Its second disk holds 8 MiB of data: more than the 2 MiB left for its copy.
	qemu-img create -q -f qcow2 "$dir/src/data.qcow2" 8M
	qemu-io -f qcow2 -c "write -P 0x5a 0 8M" "$dir/src/data.qcow2" >/dev/null
	guest_xml src 5c0ffee0-1d2e-4f3a-8b4c-5d6e7f8a9b0c \
		"$(guest_disk qcow2 "$dir/src/data.qcow2" vdb)" >"$dir/src/vm.xml"
	guest_launch src
	spid=$src_pid
else
	boot src
	guest_ready src
	spid=$src_pid src_qmp=$dir/src/qmp.sock
fi

# ---- the migration, with its fault -----------------------------------------------
dpid='' free_kib=0
[ "$fault.$phase" != enospc.perform ] || free_kib=2048
case $fault in
tunnel-cut | tunnel-deaf)
	agent="$QMIGRATE serve --stdio ${FAULT_AGENT_V:-} --runtime-dir $dir/agent"
	set -- --dest "exec:$cut --after $CUT_AT --do ${fault#tunnel-} --if-arg --stream \
--fired $dir/fired -- $agent" --launch-dest --allow-same-host --transport tunnel \
		--runtime-dir "$dir/run" --stall-timeout 5
	;;
rundir)
	cell_dst
	set -- --dst-qmp "$dir/dst/qmp.sock" --transport unix --runtime-dir "$dir/mnt"
	;;
enospc)
	set -- --launch-dest --domain "$dir/src/vm.xml" --allow-same-host \
		--host-uuid 3d1219c7-c4c5-404a-aa1f-6d2a48adfda4 --runtime-dir "$dir/run" \
		--copy-storage all --disk-map "$dir/src/boot.qcow2=$dir/img/boot.qcow2" \
		--disk-map "$dir/src/data.qcow2=$dir/mnt/data.qcow2"
	;;
esac
started=$SECONDS
rc=0
case $fault in
tunnel-*)
	timeout 300 "$QMIGRATE" migrate --json --src-qmp "$src_qmp" "$@" \
		>"$dir/migrate.out" 2>"$dir/migrate.err" || rc=$?
	;;
*) in_namespace migrate --json --src-qmp "$src_qmp" "$@" >"$dir/migrate.out" 2>"$dir/migrate.err" || rc=$? ;;
esac
took=$((SECONDS - started))
result=$(tail -n 1 "$dir/migrate.out")
vm=$(sed -n 's/.*"vm":"\([^"]*\)".*/\1/p' <<<"$result")
msg=$(sed -n 's/.*"message":"\([^"]*\)".*/\1/p' <<<"$result")

# ---- what it must have left -----------------------------------------------------
case $rc in
90 | 91 | 92) fail "the namespace's tmpfs could not be made as the cell needs (exit $rc)" ;;
124) fail "qmigrate still ran after 300 s" ;;
1) ;;
*) fail "qmigrate exited $rc, not 1: $result" ;;
esac
[ "$vm" = source ] || fail "the result says vm '$vm', not 'source': $result"
case $fault in
tunnel-cut | tunnel-deaf)
	grep -q "^${fault#tunnel-} $CUT_AT\$" "$dir/fired" 2>/dev/null ||
		fail "the relay made no fault at $CUT_AT bytes: $(cat "$dir/fired" 2>/dev/null)"
	# The cut breaks the tunnel; the deaf relay stalls it.
	[[ $fault == tunnel-cut && $msg == *tunnel* || $fault == tunnel-deaf && $msg == *stall* ]] ||
		fail "the message does not say how the stream failed: '$msg'"
	# Ended by the stall timeout (5 s) plus the bounded teardown.
	[ "$fault" != tunnel-deaf ] || [ "$took" -lt 60 ] || fail "qmigrate took $took s to end"
	;;
rundir)
	[[ $msg == *"$dir/mnt"* && $msg == *"Read-only"* ]] ||
		fail "the message does not name the read-only directory: '$msg'"
	;;
enospc)
	[[ $msg == *"No space left"* ]] ||
		fail "the message does not say the image's filesystem is full: '$msg'"
	[ "$phase" != prepare ] || [[ $msg == *"$dir/mnt/data.qcow2"* ]] ||
		fail "the message does not name the image: '$msg'"
	;;
esac
if [ "$fault" = rundir ] || [ "$fault" = enospc ]; then
	[ "$(cat "$dir/left")" = "$([ "$fault" = enospc ] && echo fill)" ] ||
		fail "qmigrate left $(tr '\n' ' ' <"$dir/left") on the $fault filesystem"
fi

# Nothing that qmigrate, the agent, the relay or a launched QEMU started runs
# on: each of them has $dir/ in its command line, as the source QEMU does.
for _ in $(seq 100); do
	left=
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" != "$spid" ] && [ "$p" != "$dpid" ] && proc_read "$p" &&
			[[ $proc_argv == *"$dir/"* ]] && left=$p
	done
	[ -z "$left" ] && break
	sleep 0.1
done
if [ -n "$left" ]; then
	pids+=("$left")
	fail "a process qmigrate or its agent started still runs: $left: $proc_argv"
fi
for d in run agent img; do
	[ -z "$(ls -A "$dir/$d")" ] || fail "qmigrate left $(ls -A "$dir/$d") in $dir/$d"
done

# The destination QEMU that the test started waited for this VM: stopped.
if [ -n "$dpid" ]; then
	for _ in $(seq 100); do gone "$dpid" && break; sleep 0.1; done
	gone "$dpid" || fail "the destination QEMU (pid $dpid) still runs"
fi
# The source runs the guest, its memory intact.
kill -0 "$spid" 2>/dev/null || fail "the source QEMU is gone"
status=$(qmp "$src_qmp" query-status) || fail "the source QEMU does not answer"
[[ $status == *'"running"'* ]] || fail "the source QEMU is not running: $status"
src_pid=$spid
wait_pass src
dst_qmp=$src_qmp memory_check src
echo "PASS $fault/$phase: vm=$vm, exit $rc in $took s, source runs, nothing left: $msg"
