#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# One cell of the fault matrix: fault-cell.sh FAULT PHASE.
#
# The test guest runs in a source QEMU, a destination waits with -S
# -incoming defer, and `qmigrate migrate` reaches both through qmp-fault
# (tests/helpers/qmp-fault.c), which makes FAULT happen when PHASE sends
# its first command (docs/fault-matrix.md has the table), before that
# command goes on.  Then the cell checks what the rules promise
# (/work/shared/DESIGN.md, the five phases and their rollback):
#   - the fault was made (qmp-fault says so), and qmigrate's exit status;
#   - the result's "vm" names the expected side, and that side runs the
#     guest (it keeps making passes) with its memory intact;
#   - the other QEMU is gone, or left as it was (still running, or still
#     waiting for a migration), as the rules say for that phase;
#   - qmigrate let go of both QMP connections (the proxy ended), and its
#     runtime directory holds nothing.
# Exit 0 pass, 1 fail, 2 the cell does not exist.  Needs QMIGRATE, QEMU,
# top_srcdir, top_builddir (make faultcheck sets them).
set -euo pipefail

fault=${1:?FAULT} phase=${2:?PHASE}
: "${QMIGRATE:?QMIGRATE must name the qmigrate binary}"
QEMU=$(command -v "${QEMU:-qemu-system-x86_64}")
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$PWD}
image=$top_builddir/tests/guest/guest.img
memcheck=$top_builddir/tests/guest/qm-memcheck
proxy=$top_builddir/tests/helpers/qmp-fault
mib=64 rate=64 vm_prefix=fault

dir=$(mktemp -d "${TMPDIR:-/tmp}/qmigrate-fault-XXXXXX")
chmod 0700 "$dir"
fail() {
	echo "FAIL $fault/$phase: $*" >&2
	for log in "$dir"/migrate.out "$dir"/migrate.err "$dir"/proxy.err "$dir"/*/qemu.log; do
		[ ! -s "$log" ] || sed "s|^|  ${log#"$dir"/}: |" "$log" | tail -n 15 >&2
	done
	exit 1
}
# shellcheck source=qemu-lib.sh
. "$top_srcdir/tests/integration/qemu-lib.sh"
# shellcheck source=remote-lib.sh
. "$top_srcdir/tests/integration/remote-lib.sh"
# shellcheck source=fault-lib.sh
. "$top_srcdir/tests/integration/fault-lib.sh"

# The first command of each phase, on the side that runs it.
case $phase in
begin) at=src:query-status:1 ;;
prepare) at=dst:query-status:1 ;;
perform) at=src:migrate-set-capabilities:1 ;;
finish) at=dst:query-status:2 ;;
confirm) at=src:quit:1 ;;
*) echo "no phase '$phase'" >&2 && exit 2 ;;
esac

# What each cell must end with: exit status, the result's vm, then what
# becomes of the source and of the destination QEMU:
#   runs       it runs the guest, memory intact (the side that has the VM)
#   waiting    left as it was: still waiting for a migration
#   postmigrate  the source, paused for good after the migration completed,
#              left because qmigrate lost its QMP or quit failed
#   gone       its process ended (killed by the fault, or stopped by qmigrate)
declare -A want=(
	[kill-src.begin]="1 source gone waiting"
	[kill-dst.begin]="1 source runs gone"
	[stop-dst.begin]="1 source runs waiting"
	[close-src.begin]="1 source runs waiting"
	[close-dst.begin]="1 source runs waiting"
	[error.begin]="1 source runs waiting"
	[cancel.begin]="1 source runs gone"
	[kill-src.prepare]="1|3 source|unknown gone gone"
	[kill-dst.prepare]="1 source runs gone"
	[stop-dst.prepare]="1 source runs waiting"
	[close-src.prepare]="1 source runs gone"
	[close-dst.prepare]="1 source runs waiting"
	[error.prepare]="1 source runs gone"
	[cancel.prepare]="1 source runs gone"
	[kill-src.perform]="3 unknown gone gone"
	[kill-dst.perform]="1 source runs gone"
	[stop-dst.perform]="1 source runs gone"
	[close-src.perform]="3 unknown runs gone"
	[close-dst.perform]="1 source runs gone"
	[error.perform]="1 source runs gone"
	[cancel.perform]="1 source runs gone"
	[kill-src.finish]="0 destination gone runs"
	[kill-dst.finish]="1 source runs gone"
	[close-src.finish]="0 destination postmigrate runs"
	[stop-dst.finish]="1 source runs gone"
	[close-dst.finish]="1 source runs gone"
	[error.finish]="1 source runs gone"
	[cancel.finish]="0 destination gone runs"
	[kill-src.confirm]="0 destination gone runs"
	[stop-dst.confirm]="0 destination gone runs"
	[close-src.confirm]="0 destination postmigrate runs"
	[close-dst.confirm]="0 destination gone runs"
	[error.confirm]="0 destination postmigrate runs"
)
# kill-src.prepare: the SIGKILL lands at the destination's command, and
# qmigrate sees the source's socket close once the kernel has torn the
# killed QEMU down: before perform's first command (nothing went to the
# source: vm source) or after it (unknown).  Either way both QEMUs are gone.
[ -n "${want[$fault.$phase]:-}" ] || { echo "no cell $fault/$phase" >&2 && exit 2; }
read -r want_rc want_vm want_src want_dst <<<"${want[$fault.$phase]}"

pick_accel 2>/dev/null
[ -r "$image" ] || fail "no guest image at $image"
[ -x "$memcheck" ] && [ -x "$proxy" ] || fail "no $memcheck or $proxy"

case $fault in
kill-src) action=signal:KILL:@$dir/src.pid ;;
kill-dst) action=signal:KILL:@$dir/dst.pid ;;
stop-dst) action=signal:STOP:@$dir/dst.pid ;;
close-src) action=close:src ;;
close-dst) action=close:dst ;;
error) action=error ;;
cancel) action=signal:INT:@$dir/qmigrate.pid ;;
esac
# Only the sides the fault needs go through the proxy: the side whose
# command is the trigger, and the side it hangs up.  qmigrate kills a
# destination that ignores quit, or whose QMP went, by its QMP peer's pid:
# the proxy's destination socket is bound by the QEMU process itself
# (qmp-fault --bind-exec), so that the peer is QEMU, as without the proxy.
mkdir -m 0700 "$dir/p" "$dir/run"
src_qmp=$dir/src/qmp.sock dst_qmp=$dir/dst/qmp.sock proxied=() dst_in=()
[ "${at%%:*}" != src ] && [ "$fault" != close-src ] || src_qmp=$dir/p/src.sock
if [ "${at%%:*}" = dst ] || [ "$fault" = close-dst ]; then
	dst_qmp=$dir/p/dst.sock
	dst_in=("$proxy" --bind-exec "$dst_qmp")
fi

boot src
guest_ready src
spid=$src_pid
echo "$spid" >"$dir/src.pid"
qemu_in=("${dst_in[@]}")
cell_dst
qemu_in=()
echo "$dpid" >"$dir/dst.pid"
[ "$src_qmp" = "$dir/src/qmp.sock" ] || proxied+=(--src "$dir/src/qmp.sock:$src_qmp")
[ "$dst_qmp" = "$dir/dst/qmp.sock" ] || proxied+=(--dst "$dir/dst/qmp.sock:$dst_qmp@$dpid")
"$proxy" "${proxied[@]}" --at "$at" --do "$action" --fired "$dir/fired" 2>"$dir/proxy.err" &
proxy_pid=$!
pids+=("$proxy_pid")
for _ in $(seq 100); do [ -S "$src_qmp" ] && [ -S "$dst_qmp" ] && break; sleep 0.05; done
[ -S "$src_qmp" ] && [ -S "$dst_qmp" ] || fail "the proxy did not listen"

# The pid file is written before qmigrate runs, for the proxy's SIGINT.
(
	echo "$BASHPID" >"$dir/qmigrate.pid"
	exec "$QMIGRATE" migrate --json --src-qmp "$src_qmp" --dst-qmp "$dst_qmp" \
		--runtime-dir "$dir/run" --stall-timeout 5
) >"$dir/migrate.out" 2>"$dir/migrate.err" &
mpid=$!
pids+=("$mpid")
cell_ended "$mpid"

# A stopped destination runs again, so that what it holds can be seen.
[ "$fault" != stop-dst ] || kill -CONT "$dpid" 2>/dev/null || true

cell_released "$proxy_pid"

side_is src "$spid" "$dir/src/qmp.sock" "$want_src"
src_pid=$dpid # wait_pass watches this pid
side_is dst "$dpid" "$dir/dst/qmp.sock" "$want_dst"
echo "PASS $fault/$phase: vm=$vm, exit $rc, source $want_src, destination $want_dst"
