# shellcheck shell=bash disable=SC2154 # the caller sets dir, mib...
# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the fault matrix's cell scripts (fault-cell.sh, fault-remote.sh)
# after qemu-lib.sh and remote-lib.sh: what a cell checks of each QEMU.
#
#   side_is NAME PID QMP FATE   the QEMU PID (its QMP socket QMP) ended as
#                               FATE says (fault-cell.sh's table `want`);
#                               for runs, src_pid must be PID (wait_pass)

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
