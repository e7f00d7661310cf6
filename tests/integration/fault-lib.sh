# shellcheck shell=bash disable=SC2154,SC2034 # the caller sets dir, mib...; reads rc, vm, dpid
# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the fault matrix's cell scripts (fault-cell.sh, fault-remote.sh)
# after qemu-lib.sh and remote-lib.sh: what a cell checks of each QEMU.
#
#   side_is NAME PID QMP FATE   the QEMU PID (its QMP socket QMP) ended as
#                               FATE says (fault-cell.sh's table `want`);
#                               for runs, src_pid must be PID (wait_pass)
#   cell_dst                    starts the destination, the test guest's
#                               QEMU waiting (-S -incoming defer) in
#                               $dir/dst; sets dpid (src_pid is kept)
#   cell_ended PID              qmigrate (PID, a child) ended within 180 s:
#                               sets rc, result and vm; the fault ($at) was
#                               made ($dir/fired)
#   cell_released PROXY-PID     the proxy ended (qmigrate let go of its QMP
#                               connections), $dir/run holds nothing, and
#                               rc and vm are want_rc and want_vm

side_is() { # NAME PID QMP FATE
	local name=$1 pid=$2 qmp=$3 fate=$4 status
	case $fate in
	gone)
		for _ in $(seq 100); do gone "$pid" && return 0; sleep 0.1; done
		fail "the $name QEMU (pid $pid) still runs"
		;;
	runs)
		kill -0 "$pid" 2>/dev/null || fail "the $name QEMU is gone"
		status=$(qmp "$qmp" query-status) || fail "the $name QEMU does not answer"
		[[ $status == *'"running"'* ]] || fail "the $name QEMU is not running: $status"
		wait_pass "$name"
		dst_qmp=$qmp memory_check "$name"
		;;
	postmigrate | paused)
		kill -0 "$pid" 2>/dev/null || fail "the $name QEMU is gone"
		# A destination that received the whole VM may still be loading
		# its last bytes (at most 10 s).
		for _ in $(seq 100); do
			status=$(qmp "$qmp" query-status) || fail "the $name QEMU does not answer"
			[[ $status == *'"inmigrate"'* ]] || break
			sleep 0.1
		done
		[[ $status == *"\"$fate\""* ]] || fail "the $name QEMU is not $fate: $status"
		;;
	incoming)
		kill -0 "$pid" 2>/dev/null || fail "the $name QEMU is gone"
		status=$(qmp "$qmp" query-status) || fail "the $name QEMU does not answer"
		[[ $status == *'"inmigrate"'* ]] || fail "the $name QEMU is not waiting: $status"
		;;
	waiting)
		kill -0 "$pid" 2>/dev/null || fail "the $name QEMU is gone"
		status=$(qmp "$qmp" query-status) || fail "the $name QEMU does not answer"
		[[ $status == *'"inmigrate"'* ]] || fail "the $name QEMU is not waiting: $status"
		status=$(qmp "$qmp" query-migrate) || fail "query-migrate on the $name"
		[[ $status != *'"status"'* ]] || fail "the $name QEMU's incoming side was started: $status"
		;;
	esac
}

cell_ended() { # PID
	rc=0
	for _ in $(seq 1800); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$1" 2>/dev/null && fail "qmigrate still runs after 180 s"
	wait "$1" || rc=$?
	forget "$1"
	result=$(tail -n 1 "$dir/migrate.out")
	[ -s "$dir/fired" ] || fail "the fault was never made (no $at)"
	vm=$(sed -n 's/.*"vm":"\([^"]*\)".*/\1/p' <<<"$result")
}

cell_released() { # PROXY-PID
	for _ in $(seq 100); do gone "$1" && break; sleep 0.1; done
	gone "$1" || fail "qmigrate left a QMP connection open (the proxy still serves it)"
	wait "$1" 2>/dev/null || true
	forget "$1"
	[ -z "$(ls -A "$dir/run")" ] || fail "qmigrate left $(ls -A "$dir/run") in its runtime directory"
	[[ "|$want_rc|" == *"|$rc|"* ]] || fail "qmigrate exited $rc, not $want_rc: $result"
	[[ "|$want_vm|" == *"|$vm|"* ]] || fail "the result says vm '$vm', not '$want_vm': $result"
}

cell_dst() {
	local spid=$src_pid
	start "$dir/dst" -nodefaults -display none -machine "pc,accel=$accel" \
		-name "guest=$vm_prefix-src" -qmp "unix:$dir/dst/qmp.sock,server=on,wait=off" \
		-serial "file:$dir/dst/serial.log" -m "$mib" \
		-drive "file=$image,format=raw,if=ide,snapshot=on" \
		-fw_cfg "name=opt/org.qmigrate/dirty-rate,string=$rate" -S -incoming defer
	dpid=$src_pid
	src_pid=$spid
}
