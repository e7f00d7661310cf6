#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The remote cells of the fault matrix: fault-remote.sh FAULT PHASE, where
# the destination side is the agent, `qmigrate serve --stdio`
# (docs/remote.md), and the fault hits the agent or its ssh.
#
#   agent-kill  prepare, perform, finish: the agent, started by --dest exec:
#               on this host and attached to a destination QEMU the cell
#               started (--dst-qmp), SIGKILLed by qmp-fault exactly at the
#               phase's first command (docs/fault-matrix.md): on the
#               destination's QMP, which the agent reaches through the
#               proxy, or on the source's for perform.  The exec: command is
#               a wrapper that writes its pid (exec keeps it) where the proxy
#               reads it.
#   ssh-cut     perform: between the two network namespaces of netns-lib.sh
#               over real OpenSSH, the agent launching the destination QEMU;
#               the ssh client that carries the agent's channel SIGKILLed by
#               qmp-fault at the source's second query-migrate poll,
#               mid-stream (--bandwidth 2 keeps 64 MiB from completing
#               before it).  An `ssh` first in qmigrate's PATH writes its pid,
#               then execs the real one.  Direct tcp: a tunnel passes the
#               source QEMU its stream's fd over QMP (getfd), which the proxy
#               cannot carry.
#
# Then it checks what fault-cell.sh checks: the fault was made, the exit
# status, the result's "vm", each QEMU's fate (its table's words), the
# memory check on the side that has the VM, the proxy ended (qmigrate let go
# of the QMP connection), and that nothing is left: no agent process, no
# QEMU the agent launched, nothing in either runtime directory.
# Exit 0 pass, 1 fail, 2 the cell does not exist, 77 skipped (no network
# namespaces here, as netns-lib.sh says).  Needs QMIGRATE, QEMU, top_srcdir,
# top_builddir (make faultcheck sets them).
set -euo pipefail

fault=${1:?FAULT} phase=${2:?PHASE}
: "${QMIGRATE:?QMIGRATE must name the qmigrate binary}"
# The agent and ssh need absolute paths: they run elsewhere.
case $QMIGRATE in /*) ;; *) QMIGRATE=$PWD/$QMIGRATE ;; esac
QEMU=$(command -v "${QEMU:-qemu-system-x86_64}")
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$PWD}
image=$top_builddir/tests/guest/guest.img
memcheck=$top_builddir/tests/guest/qm-memcheck
proxy=$top_builddir/tests/helpers/qmp-fault
mib=64 rate=64

# Expected, as in fault-cell.sh's `want`: exit status, the result's vm, the
# source's and the destination's fate.
#   agent-kill.prepare: the agent dies at its first command to the
#     destination, which it never changed: it waits as it did.
#   agent-kill.perform: the source fails the job as the channel closes and
#     cancels its migration if it started; the destination's incoming side
#     was started in prepare, and no agent stops it: it waits, or exits once
#     the stream it accepted breaks.
#   agent-kill.finish: the destination holds the whole VM, paused, and
#     nobody resumes it; the agent may have resumed it just before it died,
#     so the source stays paused and says unknown (docs/remote.md).  The
#     cell then does what the error says: looks at the destination, resumes
#     it there and checks its memory; the VM ends in one place.
#   ssh-cut.perform: the agent sees its channel close and stops the QEMU it
#     launched (docs/remote.md); the source cancels its migration and runs.
declare -A want=(
	[agent-kill.prepare]="1 source runs waiting"
	[agent-kill.perform]="1 source runs incoming|gone"
	[agent-kill.finish]="3 unknown postmigrate paused"
	[ssh-cut.perform]="1 source runs gone"
)
[ -n "${want[$fault.$phase]:-}" ] || { echo "no cell $fault/$phase" >&2 && exit 2; }
read -r want_rc want_vm want_src want_dst <<<"${want[$fault.$phase]}"

dir=$(mktemp -d "${TMPDIR:-/tmp}/qm-fr-XXXXXX")
chmod 0700 "$dir"
fail() {
	echo "FAIL $fault/$phase: $*" >&2
	for log in "$dir"/migrate.out "$dir"/migrate.err "$dir"/proxy.err "$dir"/*/qemu.log \
		"${run_dir:-/nonexistent}/qemu.log"; do
		[ ! -s "$log" ] || sed "s|^|  ${log#"$dir"/}: |" "$log" | tail -n 15 >&2
	done
	exit 1
}
# The machine's /proc is one for every run: names of this run only.
vm_prefix=$(basename "$dir")
# shellcheck source=qemu-lib.sh
. "$top_srcdir/tests/integration/qemu-lib.sh"
# shellcheck source=remote-lib.sh
. "$top_srcdir/tests/integration/remote-lib.sh"
# shellcheck source=fault-lib.sh
. "$top_srcdir/tests/integration/fault-lib.sh"

pick_accel 2>/dev/null
[ -r "$image" ] || fail "no guest image at $image"
[ -x "$memcheck" ] || fail "no $memcheck"
[ -x "$proxy" ] || fail "no $proxy"

run_dir='' # the directory of the QEMU the agent launched, if any
if [ "$fault" = ssh-cut ]; then
	# shellcheck source=netns-lib.sh
	. "$top_srcdir/tests/integration/netns-lib.sh"
	netns_setup # exits 77 where this machine allows no namespaces
	remote_exit() {
		netns_exit
		[ -z "$run_dir" ] || rm -rf "$run_dir"
	}
	trap remote_exit EXIT
	qemu_in=(ip netns exec "$NETNS_SRC")
fi

if [ "$fault" = ssh-cut ]; then
	# Without -name: the agent, which sees this machine's /proc, would find
	# the source QEMU by its name and refuse (VmExists), since the source
	# pid that begin's cookie gives it is the proxy's, its QMP peer.
	boot_qemu src -nodefaults -display none -machine "pc,accel=$accel" \
		-qmp "unix:$dir/src/qmp.sock,server=on,wait=off" -serial "file:$dir/src/serial.log" \
		-m "$mib" -drive "file=$image,format=raw,if=ide,snapshot=on" \
		-fw_cfg "name=opt/org.qmigrate/dirty-rate,string=$rate"
else
	boot src
fi
guest_ready src
spid=$src_pid
dpid='' dst_sock=''
if [ "$fault" = agent-kill ]; then
	dst_sock=$dir/dst/qmp.sock
	cell_dst
fi

# The wrappers: the agent's (exec:), and ssh's (first in qmigrate's PATH).
mkdir -m 0700 "$dir/bin" "$dir/p" "$dir/run" "$dir/agent-run"
cat >"$dir/bin/agent" <<'EOF'
#!/bin/sh
echo $$ >"$FAULT_DIR/agent.pid"
exec "$@"
EOF
real_ssh=$(command -v ssh)
cat >"$dir/bin/ssh" <<EOF
#!/bin/sh
echo \$\$ >"$dir/ssh.pid"
exec "$real_ssh" "\$@"
EOF
chmod 0700 "$dir/bin/agent" "$dir/bin/ssh"

src_qmp=$dir/src/qmp.sock dst_qmp=$dst_sock proxied=() opts=()
case $fault.$phase in
agent-kill.prepare) at=dst:query-status:1 ;;
agent-kill.perform) at=src:migrate-set-capabilities:1 ;;
agent-kill.finish) at=dst:query-status:2 ;;
# begin's query-migrate is the 1st, perform's first poll the 2nd.
ssh-cut.perform) at=src:query-migrate:3 ;;
esac
case $fault in
agent-kill)
	action=signal:KILL:@$dir/agent.pid
	# Another host uuid stands for another host.
	opts=(--dest "exec:$dir/bin/agent $QMIGRATE serve --stdio --runtime-dir $dir/agent-run"
		--host-uuid 0b5e6f1c-9d1e-4c59-8a53-1f2e3d4c5b6a)
	;;
ssh-cut)
	action=signal:KILL:@$dir/ssh.pid
	# Both namespaces share /etc/machine-id: one host uuid.
	opts=(--dest "ssh://$NETNS_DST_ADDR:$NETNS_SSH_PORT" --remote-qmigrate "$QMIGRATE"
		--allow-same-host --launch-dest --transport tcp --bandwidth 2)
	for o in "${netns_ssh_options[@]}"; do
		[[ $o == BatchMode=* ]] || opts+=(--ssh-option "$o")
	done
	;;
esac
if [ "$fault" = ssh-cut ]; then
	# Behind the proxy, the source's QMP peer is the proxy, whose command
	# line is no QEMU's: the description comes from the QEMU itself.
	"$QMIGRATE" describe --qmp "$src_qmp" >"$dir/vm.xml" || fail "describe the source"
	opts+=(--domain "$dir/vm.xml")
fi
if [ "${at%%:*}" = src ]; then
	proxied+=(--src "$src_qmp:$dir/p/src.sock")
	src_qmp=$dir/p/src.sock
else
	proxied+=(--dst "$dst_qmp:$dir/p/dst.sock")
	dst_qmp=$dir/p/dst.sock
fi
[ -z "$dst_qmp" ] || opts+=(--dst-qmp "$dst_qmp")
"$proxy" "${proxied[@]}" --at "$at" --do "$action" --fired "$dir/fired" 2>"$dir/proxy.err" &
proxy_pid=$!
pids+=("$proxy_pid")
for _ in $(seq 100); do [ -S "$dir/p/${at%%:*}.sock" ] && break; sleep 0.05; done
[ -S "$dir/p/${at%%:*}.sock" ] || fail "the proxy did not listen"

(
	[ "$fault" != ssh-cut ] || exec ip netns exec "$NETNS_SRC" env PATH="$dir/bin:$PATH" \
		"$QMIGRATE" migrate --json --src-qmp "$src_qmp" "${opts[@]}" --runtime-dir "$dir/run" \
		--stall-timeout 5
	exec env FAULT_DIR="$dir" "$QMIGRATE" migrate --json --src-qmp "$src_qmp" "${opts[@]}" \
		--runtime-dir "$dir/run" --stall-timeout 5
) </dev/null >"$dir/migrate.out" 2>"$dir/migrate.err" &
mpid=$!
pids+=("$mpid")
cell_ended "$mpid"
# The result names the QEMU the agent launched by its QMP socket, in its directory.
if [ "$fault" = ssh-cut ]; then
	run_dir=$(dirname "$(json_field "$result" dst_qmp)")
	[[ $run_dir == */qmigrate-vm-?????? ]] || fail "no launched QEMU's directory in $result"
fi

cell_released "$proxy_pid"
# Every cell's agent had started on the destination's QEMU, or may have: an
# attached one's incoming side, say (docs/remote.md).
[[ $result == *'"changed":true'* ]] || fail "the result says nothing changed: $result"

# Nothing of the agent's is left: no agent or stream relay, no QEMU of this
# run's VM but the cell's own, nothing in the agent's directories.
leftover() { # the pids of processes of this run that qmigrate or its agent started
	local p
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		if [ "$p" = "$spid" ] || [ "$p" = "$dpid" ] || ! proc_read "$p"; then continue; fi
		case " $proc_argv " in
		*" $QMIGRATE serve --stdio"* | *" guest=$vm_prefix-"*) echo "$p" ;;
		*)
			# The QEMU the agent launched, by its directory.
			[ -z "$run_dir" ] || [[ $proc_argv != *"$run_dir/"* ]] || echo "$p"
			;;
		esac
	done
}
for _ in $(seq 100); do
	left=$(leftover)
	[ -z "$left" ] && break
	sleep 0.1
done
[ -z "$left" ] || fail "still running: $(for p in $left; do proc_read "$p" && echo "$p: $proc_argv"; done)"
[ -z "$(ls -A "$dir/agent-run")" ] || fail "the agent left $(ls -A "$dir/agent-run")"
if [ -n "$run_dir" ]; then
	for _ in $(seq 100); do [ -e "$run_dir" ] || break; sleep 0.1; done
	[ ! -e "$run_dir" ] || fail "the agent left $run_dir"
fi

side_is src "$spid" "$dir/src/qmp.sock" "$want_src"
if [ -n "$dpid" ]; then
	if [ "$want_dst" = "incoming|gone" ]; then
		want_dst=gone
		gone "$dpid" || want_dst=incoming
	fi
	side_is dst "$dpid" "$dst_sock" "$want_dst"
fi
if [ "$vm" = unknown ]; then
	# What the error says: look at the destination before resuming the
	# source.  The destination holds the whole VM: it runs it.
	qmp "$dst_sock" cont >/dev/null || fail "cont on the destination"
	src_pid=$dpid
	side_is dst "$dpid" "$dst_sock" runs
	want_dst="paused, then resumed by the cell"
fi
echo "PASS $fault/$phase: vm=$vm, exit $rc, source $want_src, destination $want_dst"
